//! Every output format, end to end through the engine: the file ffmpeg decodes without an error,
//! at the source's length (within one codec frame), rate and channels, with the title readable
//! by ffprobe, and sounding like the source. Needs ffmpeg (installed by `.ci/run`); skipped with
//! a message without it.

mod meter;

use std::path::{Path, PathBuf};
use std::process::Command;

use mp3converter_media::{
    AudioFormat, Control, ConvertOptions, EngineConfig, MediaError, Pipeline, convert,
    ffmpeg_available,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/media")
        .join(name)
}

fn need_ffmpeg() -> bool {
    let ok = ffmpeg_available(&EngineConfig::default());
    if !ok {
        eprintln!("skipping: ffmpeg is not installed (CI installs it; apt-get install ffmpeg)");
    }
    ok
}

/// What ffprobe says of a file's first audio stream.
#[derive(Debug)]
struct Probed {
    codec: String,
    rate: u32,
    channels: u32,
    title: Option<String>,
}

fn ffprobe(path: &Path) -> Probed {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-print_format", "json", "-show_format"])
        .args(["-show_streams", "-select_streams", "a:0"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stream = &json["streams"][0];
    let number = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<f64>().ok());
    let tags = [&json["format"]["tags"], &stream["tags"]];
    let title = tags.iter().find_map(|t| {
        t.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("title"))
            .and_then(|(_, v)| v.as_str().map(str::to_owned))
    });
    Probed {
        codec: stream["codec_name"].as_str().unwrap_or_default().to_owned(),
        rate: number(&stream["sample_rate"]).unwrap_or(0.0) as u32,
        channels: stream["channels"].as_u64().unwrap_or(0) as u32,
        title,
    }
}

/// The file decoded by ffmpeg to mono f32 at `rate`; fails the test on any decoding error.
fn decode(path: &Path, rate: u32) -> Vec<f32> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-xerror", "-i"])
        .arg(path)
        .args(["-ac", "1", "-ar", &rate.to_string(), "-f", "f32le", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg decoding {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// The best normalised correlation of `b` against `a` over lags up to 50 ms (the decoders trim
/// the codecs' delays, so the two line up closely), over one second from 0.5 s in.
fn similarity(a: &[f32], b: &[f32]) -> f64 {
    const LAG: usize = 800;
    let (from, n) = (
        8000,
        16_000.min(a.len().min(b.len()).saturating_sub(8000 + LAG)),
    );
    (0..LAG)
        .flat_map(|lag| [(lag, 0), (0, lag)])
        .map(|(la, lb)| {
            let (x, y) = (&a[from + la..from + la + n], &b[from + lb..from + lb + n]);
            let dot: f64 = x
                .iter()
                .zip(y)
                .map(|(p, q)| f64::from(*p) * f64::from(*q))
                .sum();
            let nx: f64 = x.iter().map(|p| f64::from(*p).powi(2)).sum();
            let ny: f64 = y.iter().map(|q| f64::from(*q).powi(2)).sum();
            dot / (nx * ny).sqrt().max(1e-12)
        })
        .fold(f64::MIN, f64::max)
}

/// Samples per channel of one coded frame, for the length tolerance.
fn frame_secs(format: AudioFormat, rate: u32) -> f64 {
    let samples = match format {
        AudioFormat::Mp3 => 1152.0,
        AudioFormat::Opus => 960.0,
        AudioFormat::M4a => 1024.0,
        AudioFormat::Flac | AudioFormat::Wav => 1.0,
    };
    samples / f64::from(rate)
}

struct Case {
    source: &'static str,
    secs: f64,
    rate: u32,
    channels: u32,
}

const SOURCES: [Case; 3] = [
    Case {
        source: "mp4-aac-faststart.mp4",
        secs: 3.0,
        rate: 44_100,
        channels: 2,
    },
    Case {
        source: "mkv-flac.mkv",
        secs: 3.0,
        rate: 44_100,
        channels: 2,
    },
    Case {
        source: "wav-48k-mono.wav",
        secs: 2.0,
        rate: 48_000,
        channels: 1,
    },
];

fn expected(format: AudioFormat) -> (&'static str, Pipeline) {
    match format {
        AudioFormat::Mp3 => ("mp3", Pipeline::Native),
        AudioFormat::Opus => ("opus", Pipeline::Native),
        AudioFormat::Flac => ("flac", Pipeline::Native),
        AudioFormat::Wav => ("pcm_s16le", Pipeline::Native),
        AudioFormat::M4a => ("aac", Pipeline::Ffmpeg),
    }
}

#[test]
fn every_format_decodes_cleanly_at_the_sources_length_with_its_title() {
    if !need_ffmpeg() {
        return;
    }
    let config = EngineConfig::default();
    for case in &SOURCES {
        let source = decode(&fixture(case.source), 16_000);
        let probed_source = ffprobe(&fixture(case.source));
        for format in AudioFormat::ALL {
            let what = format!("{} → {format}", case.source);
            let dir = tempfile::tempdir().unwrap();
            let out = dir.path().join(format!("out.{}", format.extension()));
            let options = ConvertOptions {
                format: Some(format),
                title: Some("Ça va — 日本".into()),
                ..Default::default()
            };
            let report = convert(
                &fixture(case.source),
                &out,
                &options,
                &config,
                Control::none(),
            )
            .unwrap_or_else(|e| panic!("{what}: {e}"));
            let (codec, route) = expected(format);
            assert_eq!(report.route, route, "{what}: {:?}", report.route_reason);
            assert_eq!(report.format, format, "{what}");
            assert_eq!(
                report.bytes,
                std::fs::metadata(&out).unwrap().len(),
                "{what}"
            );

            let p = ffprobe(&out);
            let rate = if format == AudioFormat::Opus {
                48_000
            } else {
                case.rate
            };
            assert_eq!(p.codec, codec, "{what}");
            assert_eq!((p.rate, p.channels), (rate, case.channels), "{what}");
            // The length a player plays: ffmpeg's decode, which honours the gapless data (MP3's
            // LAME frame, Opus's pre-skip and end granule, M4A's edit list).
            let output = decode(&out, 16_000);
            let secs = output.len() as f64 / 16_000.0;
            let tolerance = frame_secs(format, rate) + 0.001;
            assert!(
                (secs - case.secs).abs() <= tolerance,
                "{what}: {secs} s, expected {} ± {tolerance}",
                case.secs
            );
            assert!(
                (report.duration_secs - case.secs).abs() <= tolerance,
                "{what}"
            );
            if format != AudioFormat::Wav {
                assert_eq!(p.title.as_deref(), Some("Ça va — 日本"), "{what}");
            }
            let alike = similarity(&source, &output);
            assert!(
                alike > 0.9,
                "{what}: correlation {alike:.3} with the source"
            );
            // The lossless formats keep every sample of a 16-bit source.
            if matches!(format, AudioFormat::Flac | AudioFormat::Wav)
                && matches!(probed_source.codec.as_str(), "pcm_s16le" | "flac")
            {
                let exact = |p: &Path| {
                    let out = Command::new("ffmpeg")
                        .args(["-v", "error", "-i"])
                        .arg(p)
                        .args(["-f", "s16le", "-"])
                        .output()
                        .unwrap();
                    out.stdout
                };
                assert!(
                    exact(&out) == exact(&fixture(case.source)),
                    "{what}: not bit-exact"
                );
            }
        }
    }
}

#[test]
fn lossless_formats_keep_the_asked_rate_and_mono() {
    if !need_ffmpeg() {
        return;
    }
    for format in [AudioFormat::Flac, AudioFormat::Wav, AudioFormat::Opus] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let options = ConvertOptions {
            format: Some(format),
            mono: true,
            sample_rate: (format != AudioFormat::Opus).then_some(22_050),
            start: Some(0.5),
            end: Some(2.0),
            ..Default::default()
        };
        let report = convert(
            &fixture("mp4-aac-faststart.mp4"),
            &out,
            &options,
            &EngineConfig::default(),
            Control::none(),
        )
        .unwrap_or_else(|e| panic!("{format}: {e}"));
        let p = ffprobe(&out);
        let rate = if format == AudioFormat::Opus {
            48_000
        } else {
            22_050
        };
        assert_eq!((p.rate, p.channels), (rate, 1), "{format}");
        let secs = decode(&out, 16_000).len() as f64 / 16_000.0;
        assert!(
            (secs - 1.5).abs() <= frame_secs(format, rate) + 0.001,
            "{format}: {secs} s"
        );
        assert_eq!(report.channels, 1);
    }
}

#[test]
fn options_a_format_cannot_take_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let refuse = |options: ConvertOptions| {
        let e = convert(
            &fixture("mp4-aac-faststart.mp4"),
            &out,
            &options,
            &EngineConfig::default(),
            Control::none(),
        )
        .unwrap_err();
        assert!(matches!(e, MediaError::Options(_)), "{e}");
        assert_eq!(e.code(), "invalid-options");
        e.to_string()
    };
    assert_eq!(
        refuse(ConvertOptions {
            format: Some(AudioFormat::Flac),
            bitrate: Some(320),
            ..Default::default()
        }),
        "bitrate does not apply to FLAC: it is lossless"
    );
    assert_eq!(
        refuse(ConvertOptions {
            format: Some(AudioFormat::Opus),
            sample_rate: Some(44_100),
            ..Default::default()
        }),
        "sample rate 44100 Hz is not an Ogg Opus rate (48000)"
    );
    assert!(!out.exists(), "nothing was written");
}

#[test]
fn m4a_without_ffmpeg_says_that_ffmpeg_encodes_it() {
    let config = EngineConfig {
        ffmpeg_path: "/nonexistent/ffmpeg".into(),
        ..EngineConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let options = ConvertOptions {
        format: Some(AudioFormat::M4a),
        ..Default::default()
    };
    let e = convert(
        &fixture("mp4-aac-faststart.mp4"),
        &dir.path().join("out.m4a"),
        &options,
        &config,
        Control::none(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "format-needs-ffmpeg");
    assert!(e.is_permanent());
    assert_eq!(
        e.to_string(),
        "M4A (AAC) output is encoded by ffmpeg, which is not installed or is disabled; \
         choose mp3, opus, flac or wav"
    );
}

/// Makes `name` in `dir` with ffmpeg from a `lavfi` source graph: AAC in MP4 at 44.1 kHz
/// stereo, `secs` long.
fn make_input(dir: &Path, name: &str, graph: &str, secs: u32) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", graph])
        .args(["-t", &secs.to_string(), "-ar", "44100", "-ac", "2"])
        .args(["-c:a", "aac", "-b:a", "192k"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// Speech-like (band-limited noise in syllables and pauses), music-like (chords with a slow
/// swell and a beat) and noise, each too quiet or too loud, normalised to −16 and −23 LUFS in
/// each format: ffmpeg's meter finds the target within ±1 LU and the true peak at most 0.5 dB
/// over −1 dBTP. M4A goes through ffmpeg's `loudnorm`, the others through the engine's own.
#[test]
fn loudness_normalisation_lands_on_the_target_under_the_true_peak_ceiling() {
    if !need_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let inputs = [
        make_input(
            dir.path(),
            "speech.mp4",
            "anoisesrc=color=pink:amplitude=0.05:seed=7,bandpass=f=1000:width_type=h:w=2500,\
             tremolo=f=4:d=0.9,volume='if(lt(mod(t,3),2.2),1,0.02)':eval=frame",
            12,
        ),
        make_input(
            dir.path(),
            "music.mp4",
            "aevalsrc='(0.25*sin(2*PI*220*t)+0.2*sin(2*PI*277.2*t)+0.2*sin(2*PI*329.6*t)\
             +0.15*sin(2*PI*110*t))*(0.6+0.4*sin(2*PI*0.25*t))\
             +0.6*exp(-30*mod(t,0.5))*sin(2*PI*60*t)'",
            12,
        ),
        make_input(
            dir.path(),
            "noise.mp4",
            "anoisesrc=color=white:amplitude=0.7:seed=3",
            12,
        ),
    ];
    let config = EngineConfig::default();
    for input in &inputs {
        let (source_lufs, _) = meter::ebur128(input);
        for (format, target) in [
            (AudioFormat::Mp3, -16.0),
            (AudioFormat::Opus, -16.0),
            (AudioFormat::Flac, -23.0),
            (AudioFormat::M4a, -16.0),
        ] {
            let what = format!(
                "{} ({source_lufs} LUFS) → {format} at {target}",
                input.display()
            );
            let out = dir.path().join(format!("out.{}", format.extension()));
            let options = ConvertOptions {
                format: Some(format),
                loudness: Some(target),
                ..Default::default()
            };
            let report = convert(input, &out, &options, &config, Control::none())
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let done = report.loudness.expect("the report says what was done");
            assert!(
                (done.source_lufs - source_lufs).abs() < 1.0,
                "{what}: {done:?}"
            );
            let (lufs, peak) = meter::ebur128(&out);
            assert!((lufs - target).abs() <= 1.0, "{what}: {lufs} LUFS");
            assert!(peak <= -0.5, "{what}: true peak {peak} dBTP");
        }
    }
}
