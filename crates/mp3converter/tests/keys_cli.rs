//! `mp3converter keys create|list|revoke` and `MP3CONVERTER_API_KEY`, run as a user would: the
//! real binary against a whole system in-process, with its session in a temp dir.

use std::process::{Output, Stdio};

use mp3converter_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, fixture};
use tokio::io::AsyncWriteExt;

/// Runs `mp3converter ARGS` with its session in `config`, `env` added and `stdin` piped in.
async fn run(config: &std::path::Path, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mp3converter"))
        .args(args)
        .env("MP3CONVERTER_CLIENT_DIR", config)
        .env_remove("MP3CONVERTER_API_KEY")
        .env_remove("MP3CONVERTER_SERVER")
        .envs(env.iter().copied())
        .current_dir(config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.as_bytes()).await.unwrap();
    drop(input);
    child.wait_with_output().await.unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_are_created_listed_used_from_the_environment_and_revoked() {
    let app = TestApp::spawn().await;
    let owner = tempfile::tempdir().unwrap();
    let login = run(
        owner.path(),
        &["login", "--server", app.base.as_str()],
        &[],
        &format!("{ADMIN_EMAIL}\n{ADMIN_PASSWORD}\n"),
    )
    .await;
    ok(&login);

    let created = run(
        owner.path(),
        &[
            "keys",
            "create",
            "--name",
            "ci reader",
            "--scope",
            "jobs:read",
            "--expires-in-days",
            "7",
        ],
        &[],
        "",
    )
    .await;
    let key = ok(&created).trim().to_owned();
    assert!(key.starts_with("mp3c_") && key.len() == 54, "{key}");
    assert!(String::from_utf8_lossy(&created.stderr).contains("shown only now"));

    let listed = ok(&run(owner.path(), &["keys", "list"], &[], "").await);
    assert!(
        listed.contains("ci reader") && listed.contains("jobs:read"),
        "{listed}"
    );
    assert!(
        listed.contains(&key[..9]) && listed.contains(&key[50..]),
        "{listed}"
    );
    assert!(
        !listed.contains(&key),
        "the secret is never listed: {listed}"
    );
    let id = listed
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();

    // A terminal that never logged in: the key from the environment.
    let script = tempfile::tempdir().unwrap();
    let env = [
        ("MP3CONVERTER_API_KEY", key.as_str()),
        ("MP3CONVERTER_SERVER", app.base.as_str()),
    ];
    let jobs = run(script.path(), &["jobs"], &env, "").await;
    ok(&jobs);
    let video = fixture("mp4-aac-faststart.mp4");
    let upload = run(
        script.path(),
        &["upload", video.to_str().unwrap()],
        &env,
        "",
    )
    .await;
    let refused = failed(&upload);
    assert!(
        refused.contains("jobs:write"),
        "a read-only key cannot upload: {refused}"
    );
    let not_logged_in = failed(&run(script.path(), &["jobs"], &[], "").await);
    assert!(
        not_logged_in.contains("MP3CONVERTER_API_KEY"),
        "{not_logged_in}"
    );

    // A key cannot manage keys.
    let more = run(script.path(), &["keys", "create", "--name", "x"], &env, "").await;
    assert!(failed(&more).contains("log in"), "a key cannot create keys");

    let revoked = ok(&run(owner.path(), &["keys", "revoke", id.as_str()], &[], "").await);
    assert!(revoked.contains(&id), "{revoked}");
    let after = failed(&run(script.path(), &["jobs"], &env, "").await);
    assert!(
        after.contains("MP3CONVERTER_API_KEY was refused"),
        "{after}"
    );
    let again = failed(&run(owner.path(), &["keys", "revoke", id.as_str()], &[], "").await);
    assert!(again.contains("no API key"), "{again}");
}
