//! End-to-end engine tests over the committed fixtures (`tests/fixtures/media`): every file takes
//! the expected route, and every output decodes cleanly with the right length, rate and channels.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use mp3converter_media::{
    Control, ConvertOptions, ConvertReport, EngineChoice, EngineConfig, MediaError, Pipeline,
    convert, ffmpeg_available, probe,
};
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/media")
        .join(name)
}

/// What an MP3 decodes to (gapless trimming applied from its info frame).
#[derive(Debug)]
struct Decoded {
    rate: u32,
    channels: usize,
    samples: u64,
    peak: f32,
}

fn decode_mp3(path: &Path) -> Decoded {
    let file = std::fs::File::open(path).unwrap();
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    hint.with_extension("mp3");
    let mut reader = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .expect("output must be a readable MP3");
    assert_eq!(reader.format_info().short_name, "mp3");
    let track = reader
        .tracks()
        .iter()
        .find(|t| t.track_type() == Some(TrackType::Audio))
        .unwrap()
        .clone();
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .unwrap()
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .unwrap();
    let (mut samples, mut rate, mut channels, mut peak) = (0u64, 0, 0, 0f32);
    let mut planes: Vec<Vec<f32>> = Vec::new();
    while let Some(packet) = reader.next_packet().expect("output must demux cleanly") {
        let buf = decoder
            .decode(&packet)
            .expect("every output frame must decode");
        rate = buf.spec().rate();
        channels = buf.spec().channels().count();
        samples += buf.frames() as u64;
        buf.copy_to_vecs_planar::<f32>(&mut planes);
        peak = planes.iter().flatten().fold(peak, |m, s| m.max(s.abs()));
    }
    Decoded {
        rate,
        channels,
        samples,
        peak,
    }
}

fn engine(choice: EngineChoice) -> EngineConfig {
    EngineConfig {
        engine: choice,
        ..EngineConfig::default()
    }
}

fn run(
    name: &str,
    options: &ConvertOptions,
    config: &EngineConfig,
) -> Result<(ConvertReport, Decoded), MediaError> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp3");
    let report = convert(&fixture(name), &out, options, config, Control::none())?;
    assert_eq!(
        std::fs::metadata(&out).unwrap().len(),
        report.bytes,
        "report.bytes is the file size"
    );
    let decoded = decode_mp3(&out);
    Ok((report, decoded))
}

/// Skips a test that needs the ffmpeg binary when it is not installed.
fn need_ffmpeg() -> bool {
    let ok = ffmpeg_available(&EngineConfig::default());
    if !ok {
        eprintln!("skipping: ffmpeg is not installed (CI installs it; apt-get install ffmpeg)");
    }
    ok
}

/// Checks route, rate, channels and that the decoded length is within one MP3 frame of `secs`.
fn check(name: &str, route: Pipeline, secs: f64, rate: u32, channels: usize) {
    let (report, d) = run(name, &ConvertOptions::default(), &EngineConfig::default())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(report.route, route, "{name}: route");
    assert_eq!(
        (d.rate, d.channels),
        (rate, channels),
        "{name}: rate/channels"
    );
    let expected = (secs * f64::from(rate)) as i64;
    let frame = if rate >= 32_000 { 1152 } else { 576 };
    assert!(
        (d.samples as i64 - expected).abs() <= frame,
        "{name}: decoded {} samples, expected {expected} ± {frame}",
        d.samples
    );
    assert!(d.peak > 0.05, "{name}: output is silent (peak {})", d.peak);
    assert!(
        (report.duration_secs - secs).abs() < 0.03,
        "{name}: reported {} s",
        report.duration_secs
    );
}

#[test]
fn native_fixtures_convert_in_process() {
    for (name, secs, rate, ch) in [
        ("mp4-aac-moov-end.mp4", 3.0, 44_100, 2),
        ("mp4-aac-faststart.mp4", 3.0, 44_100, 2),
        ("mov-aac.mov", 3.0, 44_100, 2),
        ("m4a-alac.m4a", 3.0, 44_100, 2),
        // Matroska does not signal the AAC priming: ffmpeg decodes these 134 144 samples too.
        ("mkv-aac.mkv", 134_144.0 / 44_100.0, 44_100, 2),
        ("mkv-flac.mkv", 3.0, 44_100, 2),
        ("webm-vorbis.webm", 3.0, 44_100, 2),
        ("ogg-vorbis.ogg", 3.0, 44_100, 2),
        ("wav-pcm16.wav", 1.0, 44_100, 2),
        ("wav-48k-mono.wav", 2.0, 48_000, 1),
        ("aac-adts.aac", 134_144.0 / 44_100.0, 44_100, 2), // raw ADTS: no priming info either
        ("mp4-aac-22k.mp4", 3.0, 22_050, 2),
        ("mp4-two-audio.mp4", 3.0, 44_100, 2),
    ] {
        check(name, Pipeline::Native, secs, rate, ch);
    }
}

#[test]
fn mp3_audio_is_copied_frame_for_frame() {
    for name in ["mp3-cbr.mp3", "mp4-mp3.mp4"] {
        check(name, Pipeline::Copy, 3.0, 44_100, 2);
    }
    // The copied audio frames are the source's, byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("copy.mp3");
    convert(
        &fixture("mp3-cbr.mp3"),
        &out,
        &ConvertOptions::default(),
        &EngineConfig::default(),
        Control::none(),
    )
    .unwrap();
    let (src, dst) = (
        std::fs::read(fixture("mp3-cbr.mp3")).unwrap(),
        std::fs::read(&out).unwrap(),
    );
    let tail = 128 * 1000 / 8; // the last second of audio frames
    assert_eq!(&src[src.len() - tail..], &dst[dst.len() - tail..]);
}

#[test]
fn options_that_change_the_audio_re_encode_mp3() {
    let opts = ConvertOptions {
        bitrate: Some(96),
        ..Default::default()
    };
    let (report, d) = run("mp3-cbr.mp3", &opts, &EngineConfig::default()).unwrap();
    assert_eq!(report.route, Pipeline::Native);
    assert_eq!(d.channels, 2);
}

#[test]
fn re_encoding_an_mp3_keeps_every_sample() {
    // The fixture's info frame says how many samples it holds (its encoder delay and padding
    // trimmed); a re-encode writes its own info frame, so a decoder must get the same count.
    let original = decode_mp3(&fixture("mp3-cbr.mp3"));
    for options in [
        ConvertOptions {
            bitrate: Some(96),
            ..Default::default()
        },
        ConvertOptions {
            vbr: Some(4),
            ..Default::default()
        },
    ] {
        let (report, d) = run("mp3-cbr.mp3", &options, &EngineConfig::default()).unwrap();
        assert_eq!(report.route, Pipeline::Native);
        assert_eq!(
            d.samples, original.samples,
            "{options:?}: the re-encode must hold exactly the input's samples"
        );
    }
}

#[test]
fn options_are_applied() {
    let cfg = EngineConfig::default();
    let (r, d) = run(
        "mp4-aac-moov-end.mp4",
        &ConvertOptions {
            mono: true,
            ..Default::default()
        },
        &cfg,
    )
    .unwrap();
    assert_eq!((r.channels, d.channels), (1, 1));

    let (r, d) = run(
        "mp4-aac-moov-end.mp4",
        &ConvertOptions {
            sample_rate: Some(22_050),
            ..Default::default()
        },
        &cfg,
    )
    .unwrap();
    assert_eq!((r.sample_rate, d.rate), (22_050, 22_050));
    assert!(
        (d.samples as i64 - 3 * 22_050).abs() <= 576,
        "{} samples",
        d.samples
    );

    let trim = ConvertOptions {
        start: Some(1.0),
        end: Some(2.5),
        ..Default::default()
    };
    let (r, d) = run("mkv-flac.mkv", &trim, &cfg).unwrap();
    assert!((r.duration_secs - 1.5).abs() < 0.001, "{}", r.duration_secs);
    assert!(
        (d.samples as i64 - 66_150).abs() <= 1152,
        "{} samples",
        d.samples
    );

    let vbr = ConvertOptions {
        vbr: Some(2),
        ..Default::default()
    };
    let (_, d) = run("ogg-vorbis.ogg", &vbr, &cfg).unwrap();
    assert_eq!(d.rate, 44_100);

    let second = ConvertOptions {
        track: Some(1),
        ..Default::default()
    };
    run("mp4-two-audio.mp4", &second, &cfg).unwrap();
    let third = ConvertOptions {
        track: Some(2),
        ..Default::default()
    };
    assert!(matches!(
        run("mp4-two-audio.mp4", &third, &cfg),
        Err(MediaError::NoAudioTrack)
    ));
}

#[test]
fn chunk_parallel_output_decodes_to_the_same_length() {
    let parallel = EngineConfig {
        threads: 3,
        parallel_min_secs: 0.0,
        chunk_secs: 0.5,
        ..EngineConfig::default()
    };
    let (r, d) = run("mkv-flac.mkv", &ConvertOptions::default(), &parallel).unwrap();
    assert_eq!(r.threads, 3);
    assert!(
        (d.samples as i64 - 3 * 44_100).abs() <= 1152,
        "{} samples",
        d.samples
    );
    let (one, _) = run(
        "mkv-flac.mkv",
        &ConvertOptions::default(),
        &EngineConfig::default(),
    )
    .unwrap();
    assert_eq!(one.threads, 1);
}

#[test]
fn inputs_the_native_path_gets_wrong_go_to_ffmpeg() {
    if !need_ffmpeg() {
        return;
    }
    for (name, secs, ch) in [
        ("avi-mp3.avi", 3.0, 2),
        ("mpegts-aac.ts", 3.0, 2),
        ("mpegps-mp2.mpg", 3.0, 2),
        ("flv-aac.flv", 3.0, 2),
        ("mkv-ac3.mkv", 3.0, 2),
        ("mp4-aac-5.1.mp4", 3.0, 2),
    ] {
        let (report, d) = run(name, &ConvertOptions::default(), &EngineConfig::default()).unwrap();
        assert_eq!(report.route, Pipeline::Ffmpeg, "{name}");
        assert!(
            report.route_reason.is_some(),
            "{name}: the reason is reported"
        );
        assert_eq!(d.channels, ch, "{name}");
        let got = d.samples as f64 / f64::from(d.rate);
        assert!((got - secs).abs() < 0.1, "{name}: {got} s");
    }
    let (report, d) = run(
        "webm-opus.webm",
        &ConvertOptions::default(),
        &EngineConfig::default(),
    )
    .unwrap();
    assert_eq!((report.route, d.rate), (Pipeline::Ffmpeg, 48_000));
}

#[test]
fn the_native_engine_refuses_what_needs_ffmpeg_with_a_clear_message() {
    let native = engine(EngineChoice::Native);
    for (name, what) in [
        ("mpegps-mp2.mpg", "MPEG program stream"),
        ("avi-mp3.avi", "AVI"),
        ("webm-opus.webm", "opus"),
        ("mkv-ac3.mkv", "ac3"),
        ("mp4-aac-5.1.mp4", "6-channel AAC"),
    ] {
        match run(name, &ConvertOptions::default(), &native) {
            Err(
                e @ MediaError::UnsupportedInput {
                    needs_ffmpeg: true, ..
                },
            ) => {
                assert!(e.to_string().contains(what), "{name}: {e}");
                assert!(e.to_string().contains("needs ffmpeg"), "{name}: {e}");
                assert!(e.is_permanent());
            }
            other => panic!("{name}: expected UnsupportedInput, got {other:?}"),
        }
    }
}

#[test]
fn bad_inputs_fail_with_typed_permanent_errors() {
    let cfg = EngineConfig::default();
    let none = ConvertOptions::default();
    assert!(matches!(
        run("mp4-video-only.mp4", &none, &cfg),
        Err(MediaError::NoAudioTrack)
    ));
    assert!(matches!(
        run("truncated.mp4", &none, &cfg),
        Err(MediaError::Corrupt { .. })
    ));
    assert!(matches!(
        run("random.bin", &none, &cfg),
        Err(MediaError::NotMedia)
    ));
    assert!(matches!(
        run("not-media.pdf", &none, &cfg),
        Err(MediaError::NotMedia)
    ));
    assert!(matches!(
        run("empty.bin", &none, &cfg),
        Err(MediaError::Empty)
    ));
    let e = run("mp4-video-only.mp4", &none, &cfg).unwrap_err();
    assert!(e.is_permanent() && e.to_string() == "this video has no audio track");
    let beyond = ConvertOptions {
        start: Some(10.0),
        ..Default::default()
    };
    assert!(matches!(
        run("mkv-flac.mkv", &beyond, &cfg),
        Err(MediaError::EmptySelection)
    ));
    let bad = ConvertOptions {
        bitrate: Some(1000),
        ..Default::default()
    };
    assert!(matches!(
        run("mkv-flac.mkv", &bad, &cfg),
        Err(MediaError::Options(_))
    ));
}

#[test]
fn limits_are_checked_from_the_headers() {
    let short = EngineConfig {
        max_duration_secs: Some(2.0),
        ..EngineConfig::default()
    };
    assert!(matches!(
        run("mkv-flac.mkv", &ConvertOptions::default(), &short),
        Err(MediaError::TooLong { .. })
    ));
    let stereo_only = EngineConfig {
        max_channels: 1,
        ..EngineConfig::default()
    };
    assert!(matches!(
        run("mkv-flac.mkv", &ConvertOptions::default(), &stereo_only),
        Err(MediaError::TooManyChannels {
            channels: 2,
            limit: 1
        })
    ));
}

#[test]
fn a_failed_conversion_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp3");
    let _ = convert(
        &fixture("truncated.mp4"),
        &out,
        &ConvertOptions::default(),
        &EngineConfig::default(),
        Control::none(),
    );
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no partial or temp file is left"
    );
}

#[test]
fn progress_is_reported_and_cancel_stops_the_conversion() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp3");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    let progress = move |f: f64| sink.lock().unwrap().push(f);
    let cancel = AtomicBool::new(false);
    convert(
        &fixture("mkv-flac.mkv"),
        &out,
        &ConvertOptions::default(),
        &EngineConfig::default(),
        Control {
            progress: &progress,
            cancel: &cancel,
        },
    )
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.first(), Some(&0.0));
    assert_eq!(seen.last(), Some(&1.0));
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back"
    );
    assert!(
        seen.len() >= 20,
        "at least every 1 %: {} reports",
        seen.len()
    );

    let cancelled = AtomicBool::new(true);
    let err = convert(
        &fixture("mkv-flac.mkv"),
        &dir.path().join("c.mp3"),
        &ConvertOptions::default(),
        &EngineConfig::default(),
        Control {
            progress: &|_| {},
            cancel: &cancelled,
        },
    )
    .unwrap_err();
    assert!(matches!(err, MediaError::Cancelled));
    assert!(!dir.path().join("c.mp3").exists());
}

#[test]
fn title_comes_from_options_else_the_file_name() {
    let (r, _) = run(
        "ogg-vorbis.ogg",
        &ConvertOptions::default(),
        &EngineConfig::default(),
    )
    .unwrap();
    assert_eq!(r.title.as_deref(), Some("ogg-vorbis"));
    let named = ConvertOptions {
        title: Some("My talk".into()),
        ..Default::default()
    };
    let (r, _) = run("ogg-vorbis.ogg", &named, &EngineConfig::default()).unwrap();
    assert_eq!(r.title.as_deref(), Some("My talk"));
}

#[test]
fn probe_describes_streams_and_route() {
    let cfg = EngineConfig::default();
    let p = probe(&fixture("mp4-two-audio.mp4"), &cfg).unwrap();
    assert_eq!(p.container, "mp4");
    assert_eq!(p.audio_streams.len(), 2);
    assert_eq!(p.audio_streams[0].codec, "aac");
    assert_eq!(p.audio_streams[0].sample_rate, Some(44_100));
    assert_eq!(p.audio_streams[0].channels, Some(2));
    assert!((p.duration_secs.unwrap() - 3.0).abs() < 0.05);
    assert_eq!(p.route, Pipeline::Native);

    assert_eq!(
        probe(&fixture("mp3-cbr.mp3"), &cfg).unwrap().route,
        Pipeline::Copy
    );
    let video_only = probe(&fixture("mp4-video-only.mp4"), &cfg).unwrap();
    assert!(video_only.audio_streams.is_empty());
    assert!(matches!(
        probe(&fixture("random.bin"), &cfg),
        Err(MediaError::NotMedia)
    ));
    if need_ffmpeg() {
        let ts = probe(&fixture("mpegts-aac.ts"), &cfg).unwrap();
        assert_eq!(
            (ts.container.as_str(), ts.route),
            ("mpegts", Pipeline::Ffmpeg)
        );
        assert_eq!(ts.audio_streams[0].codec, "aac");
    }
}

/// Copies a fixture into `dir`, replacing the first occurrence of `from` (searched after
/// `marker`) with `to`.
fn patched(dir: &Path, name: &str, marker: &[u8], from: &[u8], to: &[u8]) -> PathBuf {
    let mut bytes = std::fs::read(fixture(name)).unwrap();
    let mut at = None;
    for (i, w) in bytes.windows(marker.len()).enumerate() {
        if w == marker {
            let body = i + marker.len();
            if let Some(j) = bytes[body..body + 64]
                .windows(from.len())
                .position(|w| w == from)
            {
                at = Some(body + j);
                break;
            }
        }
    }
    let at = at.expect("pattern present in fixture");
    bytes[at..at + to.len()].copy_from_slice(to);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn implicit_he_aac_is_detected_from_the_track_timescale() {
    // An MP4 whose AAC core runs at 22.05 kHz on a 44.1 kHz track timescale is how implicit
    // HE-AAC (SBR) looks: the native decoder would produce half-rate audio, so it must not run.
    let dir = tempfile::tempdir().unwrap();
    let path = patched(
        dir.path(),
        "mp4-aac-22k.mp4",
        b"mdhd",
        &22_050u32.to_be_bytes(),
        &44_100u32.to_be_bytes(),
    );
    let out = dir.path().join("out.mp3");
    let err = convert(
        &path,
        &out,
        &ConvertOptions::default(),
        &engine(EngineChoice::Native),
        Control::none(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("HE-AAC"), "{err}");
    if need_ffmpeg() {
        let report = probe(&path, &EngineConfig::default()).unwrap();
        assert_eq!(report.route, Pipeline::Ffmpeg);
        assert!(report.route_reason.unwrap().contains("HE-AAC"));
    }
}

#[test]
fn low_rate_adts_goes_to_ffmpeg_as_possible_he_aac() {
    if !need_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let adts = dir.path().join("low.aac");
    let status = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(fixture("mp4-aac-22k.mp4"))
        .args(["-vn", "-c:a", "copy", "-f", "adts"])
        .arg(&adts)
        .status()
        .unwrap();
    assert!(status.success());
    let p = probe(&adts, &engine(EngineChoice::Native)).unwrap();
    assert_eq!(p.route, Pipeline::Ffmpeg, "{:?}", p.route_reason);
    let (report, d) = {
        let out = dir.path().join("out.mp3");
        let r = convert(
            &adts,
            &out,
            &ConvertOptions::default(),
            &EngineConfig::default(),
            Control::none(),
        )
        .unwrap();
        (r, decode_mp3(&out))
    };
    assert_eq!(report.route, Pipeline::Ffmpeg);
    assert_eq!(d.rate, 22_050);
}
