//! The `convert` and `probe` subcommands, run as a user would run them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The binary in a user's environment: none of the test suite's own `MP3C_TEST_*` variables
/// (the binary rightly warns about `MP3C_` variables that are not configuration keys).
fn bin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mp3converter"));
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("MP3C_TEST_") {
            command.env_remove(name);
        }
    }
    command
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/media")
        .join(name)
}

#[test]
fn convert_writes_an_mp3_and_says_what_it_did() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("talk.mp3");
    let o = bin()
        .arg("convert")
        .arg(fixture("mp4-aac-moov-end.mp4"))
        .arg("-o")
        .arg(&out)
        .args(["--bitrate", "128", "--mono", "--start", "0:00.5"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("native path") && stderr.contains("1 ch"),
        "{stderr}"
    );
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(&bytes[..3], b"ID3");
    // Refuses to overwrite without -y, succeeds with it.
    let again = bin()
        .arg("convert")
        .arg(fixture("mp4-aac-moov-end.mp4"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let forced = bin()
        .arg("convert")
        .arg(fixture("mp4-aac-moov-end.mp4"))
        .arg("-o")
        .arg(&out)
        .arg("-y")
        .output();
    assert!(forced.unwrap().status.success());
}

#[test]
fn convert_failure_exits_non_zero_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .arg("convert")
        .arg(fixture("mp4-video-only.mp4"))
        .arg("-o")
        .arg(dir.path().join("x.mp3"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("this video has no audio track"), "{stderr}");
    let bad = bin()
        .arg("convert")
        .arg(fixture("mkv-flac.mkv"))
        .args(["--bitrate", "999"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("999 kbps"));
}

#[test]
fn probe_prints_json() {
    let o = bin()
        .arg("probe")
        .arg(fixture("mp4-two-audio.mp4"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["container"], "mp4");
    assert_eq!(v["route"], "native");
    assert_eq!(v["audio_streams"].as_array().unwrap().len(), 2);
    assert_eq!(v["audio_streams"][1]["codec"], "aac");
    let missing = bin()
        .arg("probe")
        .arg("/nonexistent/file.mp4")
        .output()
        .unwrap();
    assert!(!missing.status.success());
}

#[test]
fn user_commands_manage_accounts_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = bin()
            .args(args)
            .env_remove("MP3C_LOG")
            .arg("--data-dir")
            .arg(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let added = run(&["user", "add", "carol@example.com"], "carol-password-1\n");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    // A command says what it did on stdout and nothing else: no log lines unless -v.
    assert_eq!(
        String::from_utf8_lossy(&added.stdout),
        "created carol@example.com (user)\n"
    );
    assert_eq!(
        String::from_utf8_lossy(&added.stderr),
        "",
        "quiet without -v"
    );
    let verbose = run(
        &["user", "-v", "add", "erin@example.com"],
        "erin-password-1\n",
    );
    assert!(verbose.status.success());
    assert!(
        String::from_utf8_lossy(&verbose.stderr).contains("INFO"),
        "-v shows the log: {}",
        String::from_utf8_lossy(&verbose.stderr)
    );
    let again = run(&["user", "add", "carol@example.com"], "carol-password-1\n");
    assert!(!again.status.success(), "a duplicate email is refused");
    let weak = run(&["user", "add", "dave@example.com"], "short\n");
    assert!(!weak.status.success(), "a short password is refused");
    let listed = String::from_utf8(run(&["user", "list"], "").stdout).unwrap();
    assert!(
        listed.contains("carol@example.com\tuser\tactive"),
        "{listed}"
    );
    assert!(
        run(
            &["user", "passwd", "carol@example.com"],
            "another-password\n"
        )
        .status
        .success()
    );
    assert!(
        run(&["user", "disable", "carol@example.com"], "")
            .status
            .success()
    );
    let listed = String::from_utf8(run(&["user", "list"], "").stdout).unwrap();
    assert!(
        listed.contains("carol@example.com\tuser\tdisabled"),
        "{listed}"
    );
    // Disabling can be undone.
    let enabled = run(&["user", "enable", "carol@example.com"], "");
    assert!(
        enabled.status.success(),
        "{}",
        String::from_utf8_lossy(&enabled.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&enabled.stdout),
        "enabled carol@example.com\n"
    );
    let listed = String::from_utf8(run(&["user", "list"], "").stdout).unwrap();
    assert!(
        listed.contains("carol@example.com\tuser\tactive"),
        "{listed}"
    );
    assert!(
        !run(&["user", "enable", "nobody@example.com"], "")
            .status
            .success(),
        "an unknown account is an error"
    );

    // Quota overrides: set some, keep the rest, show usage; --reset goes back to defaults.
    let quota = |args: &[&str]| {
        let mut all = vec!["user", "quota", "carol@example.com"];
        all.extend_from_slice(args);
        let out = run(&all, "");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let shown = quota(&["--jobs-per-day", "5", "--storage-bytes", "0"]);
    assert!(
        shown.contains("jobs_per_day                         5  today 0"),
        "{shown}"
    );
    assert!(
        shown.contains("storage_bytes                        0  used 0"),
        "{shown}"
    );
    let shown = quota(&["--concurrent-jobs", "2"]);
    assert!(
        shown.contains("jobs_per_day                         5"),
        "kept: {shown}"
    );
    assert!(
        shown.contains("concurrent_jobs                      2  now 0"),
        "{shown}"
    );
    let shown = quota(&["--reset"]);
    assert!(
        shown.contains("jobs_per_day                   default"),
        "{shown}"
    );
    assert!(
        !run(&["user", "quota", "nobody@example.com"], "")
            .status
            .success()
    );
}

#[test]
fn send_test_email_writes_to_the_outbox_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let o = bin()
        .args(["send-test-email", "me@example.com", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let emails: Vec<_> = std::fs::read_dir(dir.path().join("outbox"))
        .unwrap()
        .collect();
    assert_eq!(emails.len(), 1);
}

/// `convert --dry-run`'s JSON for `args` (which must succeed).
fn dry_run(args: &[&str]) -> serde_json::Value {
    let o = bin()
        .arg("convert")
        .args(args)
        .arg("--dry-run")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[test]
fn dry_run_prints_the_estimate_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("talk.mp3");
    let input = fixture("mp4-aac-moov-end.mp4");
    let e = dry_run(&[
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--bitrate",
        "128",
    ]);
    assert!(!out.exists());
    assert_eq!(e["route"], "native");
    assert_eq!(e["format"], "mp3");
    assert_eq!(e["bytes_approximate"], false);
    assert_eq!(e["speed_source"], "measured on this machine");
    let secs = e["duration_secs"].as_f64().unwrap();
    let bytes = e["bytes"].as_f64().unwrap();
    assert!(secs > 0.5, "{e}");
    // 128 kbps over the duration, plus a few frames and the tag.
    let ideal = 16_000.0 * secs;
    assert!(bytes > ideal && bytes < ideal + 3_000.0, "{e}");
    assert!(e["seconds"].as_f64().unwrap() > 0.0, "{e}");

    // The output name chooses the format, a trim shortens the prediction, MP3 is copied.
    let flac = dry_run(&[input.to_str().unwrap(), "-o", "x.flac", "--end", "0.5"]);
    assert_eq!(flac["format"], "flac");
    assert_eq!(flac["bytes_approximate"], true);
    assert_eq!(flac["duration_secs"], 0.5);
    let copy = dry_run(&[fixture("mp3-cbr.mp3").to_str().unwrap()]);
    assert_eq!(copy["route"], "copy");
    assert_eq!(copy["speed_source"], "reference machine");
}

/// `secs` of 44.1 kHz stereo 16-bit WAV: a tone under a pseudo-random noise, the same all along.
fn long_wav(path: &Path, secs: u32) {
    let frames = 44_100 * secs;
    let mut bytes = Vec::with_capacity(44 + frames as usize * 4);
    let data_len = frames * 4;
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_len).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&[1, 0, 2, 0]);
    bytes.extend_from_slice(&44_100u32.to_le_bytes());
    bytes.extend_from_slice(&(44_100u32 * 4).to_le_bytes());
    bytes.extend_from_slice(&[4, 0, 16, 0]);
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_len.to_le_bytes());
    let mut seed: u32 = 0x1234_5678;
    for i in 0..frames {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = f64::from(seed >> 16) / 65_536.0 - 0.5;
        let tone = (f64::from(i) * 2.0 * std::f64::consts::PI * 440.0 / 44_100.0).sin();
        let v = ((0.3 * tone + 0.2 * noise) * 32_767.0) as i16;
        bytes.extend_from_slice(&v.to_le_bytes());
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn dry_run_samples_a_long_input_for_sizes_that_depend_on_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.wav");
    long_wav(&input, 40);
    for (format, extra) in [("flac", None), ("opus", Some("96")), ("mp3", None)] {
        let out = dir.path().join(format!("out.{format}"));
        let mut args = vec![input.to_str().unwrap(), "-o", out.to_str().unwrap()];
        if let Some(kbps) = extra {
            args.extend(["--bitrate", kbps]);
        }
        if format == "mp3" {
            args.extend(["--vbr", "2"]);
        }
        let e = dry_run(&args);
        assert!(!out.exists(), "{format}: the dry run writes nothing");
        assert_eq!(e["bytes_approximate"], true, "{format}: {e}");
        let o = bin().arg("convert").args(&args).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let real = std::fs::metadata(&out).unwrap().len() as f64;
        let predicted = e["bytes"].as_f64().unwrap();
        assert!(
            (predicted / real - 1.0).abs() < 0.1,
            "{format}: predicted {predicted} bytes, wrote {real}"
        );
    }
}

#[test]
fn dry_run_refuses_bad_options_like_convert() {
    let input = fixture("mp4-aac-moov-end.mp4");
    let o = bin()
        .arg("convert")
        .arg(&input)
        .args(["--format", "wav", "--bitrate", "128", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("bitrate does not apply to WAV"), "{stderr}");
}
