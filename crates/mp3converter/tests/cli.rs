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
