//! Tests of the ffmpeg fallback: real conversions of the fixtures (skipped without ffmpeg) and
//! sandbox behaviour with fake `ffmpeg` scripts.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::sandbox::Run;
use super::*;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/media")
        .join(name)
}

/// The default config when ffmpeg is installed; `None` (after saying so) otherwise.
fn real_ffmpeg() -> Option<EngineConfig> {
    let config = EngineConfig::default();
    if available(&config) {
        Some(config)
    } else {
        eprintln!("skipping: ffmpeg not installed");
        None
    }
}

fn plan(duration_secs: Option<f64>) -> Plan {
    Plan {
        pipeline: Pipeline::Ffmpeg,
        reason: Some("test".into()),
        duration_secs,
        title: None,
    }
}

/// The audio length of a fixture as ffprobe declares it: the selected stream's duration where
/// the container indexes its streams, the container's otherwise (MPEG-TS/PS and FLV streams
/// carry only estimates; AVI's container duration is the video's).
fn source_secs(report: &ProbeReport, track: usize) -> f64 {
    let stream = report.audio_streams[track].duration_secs;
    let secs = match report.container.as_str() {
        "mpegts" | "mpegps" | "flv" => report.duration_secs,
        _ => stream.or(report.duration_secs),
    };
    secs.expect("the fixture declares a duration")
}

struct Converted {
    report: ConvertReport,
    summary: Mp3Summary,
    source: ProbeReport,
    bytes: Vec<u8>,
    progress: Vec<f64>,
}

/// Probes and converts a fixture with the real ffmpeg, as the engine would.
fn convert_fixture(
    name: &str,
    options: &ConvertOptions,
    config: &EngineConfig,
) -> Result<Converted, MediaError> {
    let input = fixture(name);
    let source = probe(&input, config)?;
    let dir = tempfile::tempdir()?;
    let output = dir.path().join("out.mp3.part");
    let mut plan = plan(source.duration_secs);
    plan.title = options.title.clone();
    let seen = Mutex::new(Vec::new());
    let report_progress = |f: f64| seen.lock().unwrap().push(f);
    let cancel = AtomicBool::new(false);
    let control = Control {
        progress: &report_progress,
        cancel: &cancel,
    };
    let tagging = crate::testaudio::titled(options.title.as_deref());
    let report = convert(&input, &output, options, config, &plan, &tagging, control)?;
    let summary = Mp3Summary::read(&output)?.expect("the output is an MP3");
    let bytes = std::fs::read(&output)?;
    let progress = seen.into_inner().unwrap();
    Ok(Converted {
        report,
        summary,
        source,
        bytes,
        progress,
    })
}

/// The frame ids of the ID3v2.4 tag at the start of `mp3`.
fn id3_frame_ids(mp3: &[u8]) -> Vec<String> {
    let end = crate::mp3frame::id3v2_len(mp3);
    assert_eq!(mp3[3], 4, "ID3v2.4");
    let mut ids = Vec::new();
    let mut at = 10;
    while at + 10 <= end && mp3[at] != 0 {
        // v2.4 frame sizes are syncsafe: 7 bits a byte.
        let size = mp3[at + 4..at + 8]
            .iter()
            .fold(0usize, |n, &b| (n << 7) | usize::from(b & 0x7F));
        ids.push(String::from_utf8_lossy(&mp3[at..at + 4]).into_owned());
        at += 10 + size;
    }
    ids
}

// --- real ffmpeg --------------------------------------------------------------------------------

#[test]
fn ffmpeg_only_inputs_convert_with_their_length_rate_and_stereo() {
    let Some(config) = real_ffmpeg() else { return };
    for name in [
        "avi-mp3.avi",
        "mpegts-aac.ts",
        "mpegps-mp2.mpg",
        "flv-aac.flv",
        "mkv-ac3.mkv",
        "mp4-aac-5.1.mp4",
        "webm-opus.webm",
    ] {
        let c = convert_fixture(name, &ConvertOptions::default(), &config)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let expected = source_secs(&c.source, 0);
        assert!(
            (c.summary.duration_secs - expected).abs() < 0.05,
            "{name}: {} s written, source {expected} s",
            c.summary.duration_secs
        );
        let source_rate = c.source.audio_streams[0].sample_rate.unwrap();
        assert_eq!(c.summary.sample_rate, source_rate, "{name}");
        assert_eq!(
            c.summary.channels, 2,
            "{name} (the 5.1 source is mixed down)"
        );
        assert_eq!(
            c.summary.header.bitrate_kbps,
            Some(192),
            "{name}: default 192k CBR"
        );
        assert!(
            c.summary.xing.as_ref().is_some_and(|x| x.is_info),
            "{name}: Info frame"
        );
        let r = &c.report;
        assert_eq!(
            (r.route, r.route_reason.as_deref()),
            (Pipeline::Ffmpeg, Some("test"))
        );
        assert_eq!(
            (r.sample_rate, r.channels, r.threads),
            (c.summary.sample_rate, 2, 1)
        );
        assert_eq!(r.duration_secs, c.summary.duration_secs);
        assert_eq!(r.bytes, c.bytes.len() as u64);
        assert!(
            id3_frame_ids(&c.bytes).iter().all(|id| id == "TSSE"),
            "{name}: no tags leak"
        );
        assert!(
            c.progress.windows(2).all(|w| w[0] <= w[1]),
            "{name}: {:?}",
            c.progress
        );
        assert!(c.progress.iter().all(|f| (0.0..=1.0).contains(f)));
    }
    // Only the Opus source is not at 44.1 kHz.
    let opus = convert_fixture("webm-opus.webm", &ConvertOptions::default(), &config).unwrap();
    assert_eq!(opus.summary.sample_rate, 48_000);
}

#[test]
fn mono_sample_rate_vbr_and_title_options_are_applied() {
    let Some(config) = real_ffmpeg() else { return };
    let options = ConvertOptions {
        mono: true,
        sample_rate: Some(22_050),
        vbr: Some(4),
        title: Some("Fallback Title".into()),
        ..Default::default()
    };
    let c = convert_fixture("mkv-ac3.mkv", &options, &config).unwrap();
    assert_eq!((c.summary.channels, c.summary.sample_rate), (1, 22_050));
    assert_eq!((c.report.channels, c.report.sample_rate), (1, 22_050));
    assert!(
        c.summary.xing.as_ref().is_some_and(|x| !x.is_info),
        "VBR writes a Xing frame"
    );
    assert!((c.summary.duration_secs - source_secs(&c.source, 0)).abs() < 0.05);
    let mut ids = id3_frame_ids(&c.bytes);
    ids.sort();
    assert_eq!(ids, ["TIT2", "TSSE"]);
    let tag = &c.bytes[..crate::mp3frame::id3v2_len(&c.bytes)];
    assert!(tag.windows(14).any(|w| w == b"Fallback Title"));
}

#[test]
fn trim_keeps_one_second_and_reports_progress() {
    let Some(config) = real_ffmpeg() else { return };
    let options = ConvertOptions {
        start: Some(1.0),
        end: Some(2.0),
        bitrate: Some(128),
        ..Default::default()
    };
    for name in ["avi-mp3.avi", "mp4-aac-5.1.mp4"] {
        let c = convert_fixture(name, &options, &config).unwrap();
        assert!(
            (c.summary.duration_secs - 1.0).abs() < 0.05,
            "{name}: {}",
            c.summary.duration_secs
        );
        assert_eq!(c.summary.header.bitrate_kbps, Some(128));
        let last = c.progress.last().copied().unwrap_or(0.0);
        assert!(
            last > 0.9,
            "{name}: progress {:?} measured against 1 s",
            c.progress
        );
    }
}

#[test]
fn trim_past_the_end_is_an_empty_selection() {
    let Some(config) = real_ffmpeg() else { return };
    let options = ConvertOptions {
        start: Some(10.0),
        end: Some(20.0),
        ..Default::default()
    };
    let err = convert_fixture("mkv-ac3.mkv", &options, &config)
        .err()
        .unwrap();
    assert!(matches!(err, MediaError::EmptySelection), "{err:?}");
}

#[test]
fn the_second_audio_track_can_be_chosen_and_a_third_does_not_exist() {
    let Some(config) = real_ffmpeg() else { return };
    let track = |n| ConvertOptions {
        track: Some(n),
        ..Default::default()
    };
    let c = convert_fixture("mp4-two-audio.mp4", &track(1), &config).unwrap();
    assert_eq!(c.source.audio_streams.len(), 2);
    assert!((c.summary.duration_secs - source_secs(&c.source, 1)).abs() < 0.05);
    let err = convert_fixture("mp4-two-audio.mp4", &track(2), &config)
        .err()
        .unwrap();
    assert!(matches!(err, MediaError::NoAudioTrack), "{err:?}");
}

#[test]
fn video_without_audio_is_no_audio_track() {
    let Some(config) = real_ffmpeg() else { return };
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.mp3.part");
    let err = convert(
        &fixture("mp4-video-only.mp4"),
        &output,
        &ConvertOptions::default(),
        &config,
        &plan(Some(3.0)),
        &Tagging::default(),
        Control::none(),
    )
    .unwrap_err();
    assert!(matches!(err, MediaError::NoAudioTrack), "{err:?}");
    assert!(err.is_permanent());
    let probed = probe(&fixture("mp4-video-only.mp4"), &config).unwrap();
    assert!(probed.audio_streams.is_empty());
}

#[test]
fn truncated_mp4_is_corrupt() {
    let Some(config) = real_ffmpeg() else { return };
    let dir = tempfile::tempdir().unwrap();
    let err = convert(
        &fixture("truncated.mp4"),
        &dir.path().join("out.mp3.part"),
        &ConvertOptions::default(),
        &config,
        &plan(None),
        &Tagging::default(),
        Control::none(),
    )
    .unwrap_err();
    match &err {
        MediaError::Corrupt { detail } => assert_eq!(detail, "moov atom not found"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(err.is_permanent());
    let err = probe(&fixture("truncated.mp4"), &config).unwrap_err();
    assert!(matches!(err, MediaError::Corrupt { .. }), "{err:?}");
}

#[test]
fn probe_describes_containers_and_streams() {
    let Some(config) = real_ffmpeg() else { return };
    for (name, container, codec) in [
        ("avi-mp3.avi", "avi", "mp3"),
        ("mpegts-aac.ts", "mpegts", "aac"),
        ("mpegps-mp2.mpg", "mpegps", "mp2"),
        ("flv-aac.flv", "flv", "aac"),
        ("mkv-ac3.mkv", "matroska", "ac3"),
        ("webm-opus.webm", "matroska", "opus"),
        ("mp4-aac-5.1.mp4", "mp4", "aac"),
        ("ogg-vorbis.ogg", "ogg", "vorbis"),
        ("aac-adts.aac", "adts", "aac"),
        ("wav-48k-mono.wav", "wav", "pcm_s16le"),
    ] {
        let r = probe(&fixture(name), &config).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.container, container, "{name}");
        assert_eq!(r.audio_streams.len(), 1, "{name}");
        assert_eq!(r.audio_streams[0].codec, codec, "{name}");
        assert_eq!(
            (r.route, r.route_reason.as_deref()),
            (Pipeline::Ffmpeg, None)
        );
        let secs = r.duration_secs.unwrap();
        assert!((1.9..3.3).contains(&secs), "{name}: {secs}");
    }
    let surround = probe(&fixture("mp4-aac-5.1.mp4"), &config).unwrap();
    let s = &surround.audio_streams[0];
    assert_eq!(
        (s.channels, s.sample_rate, s.profile.as_deref()),
        (Some(6), Some(44_100), Some("LC"))
    );
    let two = probe(&fixture("mp4-two-audio.mp4"), &config).unwrap();
    let indexes: Vec<usize> = two.audio_streams.iter().map(|s| s.index).collect();
    assert_eq!(indexes, [0, 1]);
}

#[test]
fn probe_refuses_what_is_not_media() {
    let Some(config) = real_ffmpeg() else { return };
    for name in ["random.bin", "not-media.pdf"] {
        let err = probe(&fixture(name), &config).unwrap_err();
        assert!(matches!(err, MediaError::NotMedia), "{name}: {err:?}");
    }
    let err = probe(&fixture("empty.bin"), &config).unwrap_err();
    assert!(matches!(err, MediaError::Empty), "{err:?}");
}

// --- fake ffmpeg --------------------------------------------------------------------------------

/// Writes an executable shell script and returns a config that runs it as ffmpeg and ffprobe.
fn fake_ffmpeg(dir: &Path, body: &str) -> EngineConfig {
    let path = dir.join("fake-ffmpeg");
    std::fs::write(&path, format!("#!/bin/bash\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    EngineConfig {
        ffmpeg_path: path.clone(),
        ffprobe_path: path,
        ..EngineConfig::default()
    }
}

fn process_exists(pid: &str) -> bool {
    std::process::Command::new("kill")
        .args(["-0", pid])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

/// Runs a conversion of a small input with `config` (the input's content does not matter).
fn fake_convert(
    config: &EngineConfig,
    plan: &Plan,
    control: Control<'_>,
) -> (Result<ConvertReport, MediaError>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let result = fake_convert_in(dir.path(), b"anything", config, plan, control);
    (result, dir)
}

/// Converts `input_bytes`, written to `dir/in.bin`, into `dir/out.mp3.part`: the only files the
/// confined child may read and write there (a fake ffmpeg reports through the output file).
fn fake_convert_in(
    dir: &Path,
    input_bytes: &[u8],
    config: &EngineConfig,
    plan: &Plan,
    control: Control<'_>,
) -> Result<ConvertReport, MediaError> {
    let input = dir.join("in.bin");
    std::fs::write(&input, input_bytes).unwrap();
    let output = dir.join("out.mp3.part");
    convert(
        &input,
        &output,
        &ConvertOptions::default(),
        config,
        plan,
        &crate::testaudio::titled(plan.title.as_deref()),
        control,
    )
}

/// A fake ffmpeg body line that writes its pid into the output file (the last argument).
const WRITE_PID_TO_OUTPUT: &str = "out=\"${@: -1}\"\necho $$ > \"${out#file:}\"";

/// The pid a fake ffmpeg wrote into `dir/out.mp3.part`, once it is there.
fn pid_in_output(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join("out.mp3.part")).ok()?;
    text.ends_with('\n').then(|| text.trim().to_owned())
}

#[test]
fn timeout_kills_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = fake_ffmpeg(dir.path(), &format!("{WRITE_PID_TO_OUTPUT}\nexec sleep 30"));
    config.ffmpeg_timeout_base = Duration::from_millis(300);
    config.ffmpeg_timeout_per_media_sec = 0.0;
    let sandbox_parent = tempfile::tempdir().unwrap();
    config.temp_dir = Some(sandbox_parent.path().to_owned());
    let io = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let result = fake_convert_in(io.path(), b"x", &config, &plan(Some(10.0)), Control::none());
    let err = result.unwrap_err();
    assert!(
        matches!(err, MediaError::FfmpegTimeout(d) if d == Duration::from_millis(300)),
        "{err:?}"
    );
    assert!(err.is_retryable());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let pid = pid_in_output(io.path()).expect("the fake ffmpeg ran");
    assert!(!process_exists(&pid), "the child was killed and reaped");
    let left = std::fs::read_dir(sandbox_parent.path()).unwrap().count();
    assert_eq!(
        left, 0,
        "the sandbox directory is removed on the kill path too"
    );
}

#[test]
fn cancel_stops_the_child() {
    let dir = tempfile::tempdir().unwrap();
    let config = fake_ffmpeg(dir.path(), &format!("{WRITE_PID_TO_OUTPUT}\nexec sleep 30"));
    let cancel = AtomicBool::new(false);
    let control = Control {
        progress: &|_| {},
        cancel: &cancel,
    };
    let io = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let result = std::thread::scope(|s| {
        s.spawn(|| {
            while pid_in_output(io.path()).is_none() {
                std::thread::sleep(Duration::from_millis(10));
            }
            cancel.store(true, Ordering::Relaxed);
        });
        fake_convert_in(io.path(), b"x", &config, &plan(Some(10.0)), control)
    });
    let err = result.unwrap_err();
    assert!(matches!(err, MediaError::Cancelled), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let pid = pid_in_output(io.path()).unwrap();
    assert!(!process_exists(&pid), "the child was killed and reaped");
}

#[test]
fn limits_working_dir_and_environment_of_the_child() {
    let sandbox_parent = tempfile::tempdir().unwrap();
    let config = EngineConfig {
        ffmpeg_max_memory_bytes: 1 << 30,
        ffmpeg_max_output_bytes: 64 << 20,
        ..EngineConfig::default()
    };
    let timeout = config.ffmpeg_timeout(Some(3.0));
    let run = Run {
        program: Path::new("bash"),
        args: [
            "-c",
            "ulimit -v; ulimit -f; ulimit -t; ulimit -c; pwd; echo \"$TMPDIR\"",
        ]
        .map(OsString::from)
        .to_vec(),
        timeout,
        limits: Limits::new(&config, timeout),
        temp_parent: Some(sandbox_parent.path()),
        reads: &[],
        writes: &[],
    };
    let mut seen = String::new();
    let finished = run
        .run(Control::none(), &mut |line| {
            seen.push_str(&String::from_utf8_lossy(line));
            Ok(())
        })
        .unwrap();
    assert!(finished.status.success(), "{finished:?}");
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines[0], "1048576", "ulimit -v (KiB)");
    assert_eq!(lines[1], "65536", "ulimit -f (KiB in bash)");
    let cpu = Limits::new(&config, timeout).cpu_secs.0;
    assert_eq!(lines[2], cpu.to_string(), "ulimit -t");
    assert!(
        cpu > timeout.as_secs() && cpu < timeout.as_secs() + 30,
        "{cpu} s CPU"
    );
    assert_eq!(lines[3], "0", "no core dumps");
    let workdir = Path::new(lines[4]);
    assert_eq!(lines[5], lines[4], "TMPDIR is the working directory");
    assert!(
        workdir.starts_with(sandbox_parent.path()),
        "{workdir:?} is in config.temp_dir"
    );
    assert!(!workdir.exists(), "the sandbox directory was removed");
    assert_eq!(std::fs::read_dir(sandbox_parent.path()).unwrap().count(), 0);
}

#[test]
fn progress_then_the_report_comes_from_the_mp3() {
    let dir = tempfile::tempdir().unwrap();
    let io = tempfile::tempdir().unwrap();
    // The input is an MP3: the fake ffmpeg "converts" by copying it (it may read only that).
    let body = format!(
        "echo out_time_us=1500000\necho progress=continue\n\
         echo out_time_ms=3000000\necho progress=end\n\
         out=\"${{@: -1}}\"\ncp '{input}' \"${{out#file:}}\"",
        input = io.path().join("in.bin").display(),
    );
    let config = fake_ffmpeg(dir.path(), &body);
    let progress = Mutex::new(Vec::new());
    let report_progress = |f: f64| progress.lock().unwrap().push(f);
    let control = Control {
        progress: &report_progress,
        cancel: &AtomicBool::new(false),
    };
    let mut plan = plan(Some(3.0));
    plan.title = Some("Title".into());
    let mp3 = std::fs::read(fixture("mp3-cbr.mp3")).unwrap();
    let report = fake_convert_in(io.path(), &mp3, &config, &plan, control).unwrap();

    assert_eq!(*progress.lock().unwrap(), [0.5, 1.0]);
    assert_eq!(report.route, Pipeline::Ffmpeg);
    assert_eq!((report.sample_rate, report.channels), (44_100, 2));
    assert!((report.duration_secs - 3.0).abs() < 1e-6);
    assert_eq!(report.bytes, mp3.len() as u64);
}

#[test]
fn missing_or_unexecutable_binary_is_ffmpeg_missing() {
    let dir = tempfile::tempdir().unwrap();
    let not_executable = dir.path().join("ffmpeg");
    std::fs::write(&not_executable, "#!/bin/sh\n").unwrap();
    for path in [dir.path().join("no-such-ffmpeg"), not_executable] {
        let config = EngineConfig {
            ffmpeg_path: path.clone(),
            ffprobe_path: path.clone(),
            ..EngineConfig::default()
        };
        let (result, _io) = fake_convert(&config, &plan(Some(1.0)), Control::none());
        let err = result.unwrap_err();
        assert!(
            matches!(err, MediaError::FfmpegMissing(_)),
            "{path:?}: {err:?}"
        );
        assert!(err.is_retryable() && err.to_string().contains("install ffmpeg"));
        let err = probe(&fixture("mp3-cbr.mp3"), &config).unwrap_err();
        assert!(
            matches!(err, MediaError::FfmpegMissing(_)),
            "{path:?}: {err:?}"
        );
        assert!(!available(&config));
    }
}

#[test]
fn no_stream_message_is_no_audio_track() {
    let dir = tempfile::tempdir().unwrap();
    let config = fake_ffmpeg(
        dir.path(),
        "echo \"Stream map '0:a:0' matches no streams.\" >&2\nexit 1",
    );
    let err = fake_convert(&config, &plan(Some(1.0)), Control::none())
        .0
        .unwrap_err();
    assert!(matches!(err, MediaError::NoAudioTrack), "{err:?}");
}

#[test]
fn other_failures_keep_the_stderr_tail_without_paths() {
    let dir = tempfile::tempdir().unwrap();
    let config = fake_ffmpeg(
        dir.path(),
        "for i in $(seq 1 50); do echo \"noise $i\" >&2; done\n\
         echo \"${@: -1}: Something odd happened\" >&2\nexit 3",
    );
    let err = fake_convert(&config, &plan(Some(1.0)), Control::none())
        .0
        .unwrap_err();
    let MediaError::FfmpegFailed {
        status,
        stderr_tail,
    } = &err
    else {
        panic!("expected FfmpegFailed, got {err:?}");
    };
    assert_eq!(status, "exit status: 3");
    assert!(
        stderr_tail.ends_with("output: Something odd happened"),
        "{stderr_tail}"
    );
    assert!(!stderr_tail.contains("noise 1\n") && stderr_tail.lines().count() == 20);
    assert!(err.is_permanent());
}

#[test]
fn available_caches_a_working_binary() {
    let dir = tempfile::tempdir().unwrap();
    let config = fake_ffmpeg(dir.path(), "echo ffmpeg version fake");
    assert!(available(&config));
    std::fs::remove_file(&config.ffmpeg_path).unwrap();
    assert!(available(&config), "the answer is cached per path");
}

#[test]
fn every_output_format_is_written_with_its_codec_rate_and_length() {
    let Some(config) = real_ffmpeg() else { return };
    // An input only ffmpeg reads, so this is the pipeline's own work for every format.
    let input = fixture("avi-mp3.avi");
    let source = probe(&input, &config).unwrap();
    let expected = source_secs(&source, 0);
    for (format, codec, rate) in [
        (AudioFormat::Opus, "opus", 48_000),
        (AudioFormat::Flac, "flac", 44_100),
        (AudioFormat::Wav, "pcm_s16le", 44_100),
        (AudioFormat::M4a, "aac", 44_100),
        (AudioFormat::Mp3, "mp3", 44_100),
    ] {
        let options = ConvertOptions {
            format: Some(format),
            title: Some("Über \"x\"".into()),
            ..Default::default()
        };
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("out.part");
        let report = convert(
            &input,
            &output,
            &options,
            &config,
            &plan(source.duration_secs),
            &crate::testaudio::titled(options.title.as_deref()),
            Control::none(),
        )
        .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(report.format, format);
        let written = probe(&output, &config).unwrap();
        let stream = &written.audio_streams[0];
        assert_eq!(stream.codec, codec, "{format}");
        assert_eq!(stream.sample_rate, Some(rate), "{format}");
        assert_eq!(stream.channels, Some(2), "{format}");
        let secs = written.duration_secs.unwrap();
        assert!(
            (secs - expected).abs() < 0.05,
            "{format}: {secs} s, source {expected} s"
        );
        assert!((report.duration_secs - secs).abs() < 0.05, "{format}");
        assert_eq!(report.bytes, std::fs::metadata(&output).unwrap().len());
        if format != AudioFormat::Wav {
            // Ogg keeps tags per stream, the other containers per file.
            let title = written.title.as_deref().or(stream.title.as_deref());
            assert_eq!(title, Some("Über \"x\""), "{format}");
        }
    }
}

// --- pure helpers -------------------------------------------------------------------------------

#[test]
fn command_line_for_default_and_full_options() {
    let side = |options: &ConvertOptions, title: Option<&str>| {
        let tagging = crate::testaudio::titled(title);
        SideInputs::write(&tagging, options.format(), &EngineConfig::default()).unwrap()
    };
    let args = |options: &ConvertOptions, side: &SideInputs| -> Vec<String> {
        convert_args(
            Path::new("/in/v.avi"),
            Path::new("/out/a.part"),
            options,
            side,
            Some("avi"),
            Some(300.0),
            None,
        )
        .unwrap()
        .into_iter()
        .map(|a| a.into_string().unwrap())
        .collect()
    };
    let default_side = side(&ConvertOptions::default(), None);
    let default = args(&ConvertOptions::default(), &default_side).join(" ");
    assert_eq!(
        default,
        format!(
            "-nostdin -hide_banner -nostats -loglevel error -progress pipe:1 -y \
             -protocol_whitelist file -format_whitelist {FORMAT_WHITELIST} -f avi \
             -i file:/in/v.avi -protocol_whitelist file -f ffmetadata -i file:{} \
             -map 0:a:0 -map_metadata 1 -map_chapters 1 -vn -sn -dn \
             -c:a libmp3lame -b:a 192k -id3v2_version 4 -write_xing 1 \
             -t 301.000 -f mp3 file:/out/a.part",
            default_side.metadata.display()
        )
    );
    let full = ConvertOptions {
        vbr: Some(2),
        sample_rate: Some(32_000),
        mono: true,
        start: Some(1.5),
        end: Some(4.0),
        track: Some(1),
        ..Default::default()
    };
    let full_side = side(&full, Some("A = B; rm -rf /"));
    let full = args(&full, &full_side);
    let joined = full.join(" ");
    assert!(
        joined.contains("-ss 1.500000 -to 4.000000 -i file:/in/v.avi -protocol_whitelist")
            && joined.contains("-map 0:a:1 -map_metadata 1 -map_chapters 1"),
        "{joined}"
    );
    assert!(
        joined.contains("-q:a 2 -ar 32000 -ac 1") && !joined.contains("-b:a"),
        "{joined}"
    );
    let metadata = std::fs::read_to_string(&full_side.metadata).unwrap();
    assert!(
        metadata.contains("\ntitle=A \\= B\\; rm -rf /\n"),
        "the title is in the metadata file, escaped: {metadata}"
    );
    let opus = ConvertOptions {
        format: Some(AudioFormat::Opus),
        bitrate: Some(96),
        ..Default::default()
    };
    let opus = args(&opus, &side(&opus, None)).join(" ");
    assert!(
        opus.contains(
            "-af aformat=channel_layouts=mono|stereo -c:a libopus -b:a 96k \
             -compression_level 10 -frame_duration 20 -ar 48000 -t 301.000 -f ogg"
        ) && opus.ends_with("-f ogg file:/out/a.part"),
        "{opus}"
    );
    let m4a = ConvertOptions {
        format: Some(AudioFormat::M4a),
        ..Default::default()
    };
    let m4a = args(&m4a, &side(&m4a, None)).join(" ");
    assert!(
        m4a.contains("-c:a aac -profile:a aac_low -b:a 192k -movflags +faststart")
            && m4a.ends_with("-f ipod file:/out/a.part"),
        "{m4a}"
    );
}

#[test]
fn failures_are_classified_from_stderr() {
    let exit1 = ExitStatus::from_raw(1 << 8);
    let t = Duration::from_secs(9);
    let classify = |tail: &str| classify_failure(exit1, tail.to_owned(), t);
    assert!(matches!(
        classify("Output file does not contain any stream"),
        MediaError::NoAudioTrack
    ));
    assert!(matches!(
        classify("input: does not contain any stream"),
        MediaError::NoAudioTrack
    ));
    match classify(
        "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55d0] moov atom not found\ninput: Invalid data found when processing input",
    ) {
        MediaError::Corrupt { detail } => assert_eq!(detail, "moov atom not found"),
        other => panic!("{other:?}"),
    }
    match classify("input: Invalid data found when processing input") {
        MediaError::Corrupt { detail } => {
            assert_eq!(detail, "input: Invalid data found when processing input")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        classify("Conversion failed!"),
        MediaError::FfmpegFailed { .. }
    ));
    let cpu = ExitStatus::from_raw(SIGXCPU);
    assert!(
        matches!(classify_failure(cpu, String::new(), t), MediaError::FfmpegTimeout(d) if d == t)
    );
    let fsize = ExitStatus::from_raw(25);
    match classify_failure(fsize, String::new(), t) {
        MediaError::FfmpegFailed { status, .. } => {
            assert!(status.contains("size limit"), "{status}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn progress_is_throttled_and_measured_against_the_trimmed_length() {
    let trimmed = ConvertOptions {
        start: Some(10.0),
        end: Some(30.0),
        ..Default::default()
    };
    assert_eq!(expected_secs(&plan(Some(100.0)), &trimmed), Some(20.0));
    assert_eq!(expected_secs(&plan(Some(25.0)), &trimmed), Some(15.0));
    assert_eq!(expected_secs(&plan(None), &trimmed), Some(20.0));
    assert_eq!(expected_secs(&plan(None), &ConvertOptions::default()), None);
    assert_eq!(
        expected_secs(&plan(Some(5.0)), &trimmed),
        None,
        "starts after the end"
    );

    let seen = Mutex::new(Vec::new());
    let report = |f: f64| seen.lock().unwrap().push(f);
    let mut p = Progress::new(&report, Some(100.0));
    for line in [
        "frame=1\n",
        "out_time_us=N/A\n",
        "out_time_us=500000\r\n",
        "out_time_us=1000000",
    ] {
        p.line(line.as_bytes());
    }
    p.line(b"out_time_us=1005000"); // +0.005 %: too small and too soon
    p.line(b"out_time_ms=50000000");
    p.line(b"out_time_us=999000000"); // past the end: clamped
    assert_eq!(*seen.lock().unwrap(), [0.01, 0.5, 1.0]);
}

#[test]
fn silences_with_sound_on_both_sides_are_cut_in_their_middle() {
    let printed = "frame:10  pts:88200  pts_time:2\n\
                   lavfi.silence_start=0\n\
                   frame:20  pts:99  pts_time:3\n\
                   lavfi.silence_end=1.5\n\
                   lavfi.silence_duration=1.5\n\
                   lavfi.silence_start=4\n\
                   lavfi.silence_end=7\n\
                   lavfi.silence_duration=3\n\
                   lavfi.silence_start=9.25\n\
                   lavfi.silence_end=10.75\n\
                   lavfi.silence_start=12\n";
    // Leading silence (from 0) and trailing silence (no end) make no cut.
    assert_eq!(cuts_from_silences(printed, 10), [5.5, 10.0]);
    assert_eq!(cuts_from_silences(printed, 1), [5.5]);
    assert!(cuts_from_silences("lavfi.silence_start=nan\nlavfi.silence_end=3\n", 10).is_empty());
}

#[test]
fn filter_values_are_escaped_for_the_option_and_the_graph_parser() {
    assert_eq!(filter_escape("/tmp/a-b_c.txt"), "/tmp/a-b_c.txt");
    // ':' is special to the option parser only: its backslash is escaped again for the graph's.
    assert_eq!(filter_escape("/t:x"), "/t\\\\:x");
    assert_eq!(filter_escape("/t,x"), "/t\\,x");
    assert_eq!(filter_escape("a'b"), "a\\\\\\'b");
}
