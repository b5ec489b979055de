//! Conversion options are refused at the door: a control character in `title` (a NUL made a job
//! retry for 13 minutes), an over-long title, out-of-range numbers. 400 `invalid-options` naming
//! the field from `POST /api/v1/jobs` and `POST /upload`; the CLI's `convert` and `upload` refuse
//! before converting or sending; the engine refuses such options permanently.

use std::process::Stdio;

use mp3converter_core::ConvertOptions;
use mp3converter_media::{Control, EngineConfig};
use mp3converter_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, fixture};
use tokio::io::AsyncWriteExt;

const BOUNDARY: &str = "door-options-91b3";

/// A form with the fixture as its file and `fields` as text fields.
fn form(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\
             Content-Type: video/mp4\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(&std::fs::read(fixture("mp4-aac-faststart.mp4")).unwrap());
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn post(app: &TestApp, path: &str, token: &str, body: Vec<u8>) -> (u16, String) {
    let res = app
        .http
        .post(app.url(path))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn job_count(app: &TestApp, token: &str) -> usize {
    let jobs: Vec<serde_json::Value> = app
        .http
        .get(app.url("/api/v1/jobs"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jobs.len()
}

#[tokio::test]
async fn bad_options_are_400_naming_the_field_on_both_upload_routes() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let long = "x".repeat(201);
    let cases: [(&[(&str, &str)], &str); 6] = [
        (&[("title", "a\0b")], "title"),
        (&[("title", "forged\r\nline")], "title"),
        (&[("title", "\u{1b}[31mred")], "title"),
        (&[("title", long.as_str())], "title"),
        (&[("options", r#"{"title": "nul\u0000"}"#)], "title"),
        (&[("track", "100000")], "track"),
    ];
    for (fields, field) in cases {
        let (status, body) = post(&app, "/api/v1/jobs", &token, form(fields)).await;
        assert_eq!(status, 400, "{fields:?}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["code"], "invalid-options", "{fields:?}: {body}");
        assert!(
            json["message"].as_str().unwrap().contains(field),
            "{fields:?}: the message should name {field}: {body}"
        );
        let (status, body) = post(&app, "/upload", &token, form(fields)).await;
        assert_eq!(status, 400, "/upload {fields:?}: {body}");
        assert!(body.contains(field), "/upload {fields:?}: {body}");
    }
    assert_eq!(job_count(&app, &token).await, 0, "no job may exist");
    // A printable title in any script is fine.
    let (status, body) = post(
        &app,
        "/api/v1/jobs",
        &token,
        form(&[("title", "Ça — 日本 🎵")]),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

#[test]
fn the_engine_refuses_such_options_permanently() {
    // Defence in depth: a job carrying them (from before this check, or a forged message)
    // fails at once instead of being retried as an I/O error.
    let dir = tempfile::tempdir().unwrap();
    let options = ConvertOptions {
        title: Some("a\0b".into()),
        ..Default::default()
    };
    let e = mp3converter_media::convert(
        &fixture("mp4-aac-faststart.mp4"),
        &dir.path().join("out.mp3"),
        &options,
        &EngineConfig::default(),
        Control::none(),
    )
    .unwrap_err();
    assert!(e.is_permanent(), "{e}");
    assert_eq!(e.code(), "invalid-options");
}

#[test]
fn cli_convert_refuses_a_control_character_before_converting() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp3");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_mp3converter"))
        .arg("convert")
        .arg(fixture("mp4-aac-faststart.mp4"))
        .arg("-o")
        .arg(&out)
        .args(["--title", "forged\nline"])
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("title"), "{stderr}");
    assert!(!out.exists(), "nothing may be written");
}

#[tokio::test]
async fn cli_upload_refuses_a_control_character_before_sending() {
    let app = TestApp::spawn().await;
    let config = tempfile::tempdir().unwrap();
    let cli = |args: Vec<String>, stdin: String| {
        let config = config.path().to_path_buf();
        async move {
            let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mp3converter"))
                .args(&args)
                .env("MP3CONVERTER_CLIENT_DIR", &config)
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
    };
    let login = cli(
        vec!["login".into(), "--server".into(), app.base.clone()],
        format!("{ADMIN_EMAIL}\n{ADMIN_PASSWORD}\n"),
    )
    .await;
    assert!(
        login.status.success(),
        "{}",
        String::from_utf8_lossy(&login.stderr)
    );
    let file = fixture("mp4-aac-faststart.mp4").display().to_string();
    let upload = cli(
        vec!["upload".into(), file, "--title".into(), "bell\u{7}".into()],
        String::new(),
    )
    .await;
    assert!(!upload.status.success());
    let stderr = String::from_utf8_lossy(&upload.stderr);
    assert!(stderr.contains("title"), "{stderr}");
    let token = app.admin_token().await;
    assert_eq!(job_count(&app, &token).await, 0, "nothing may be sent");
}
