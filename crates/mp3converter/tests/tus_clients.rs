//! Interoperability of the resumable uploads with real tus clients from their registries:
//! tus-js-client in Node and tuspy in Python (tests/tus-clients). Each uploads a video in
//! several PATCHes, stops, resumes from the server's offset in a new upload object, and the job
//! it gets converts. Skipped, with a message, unless `MP3C_TEST_TUS_CLIENTS` names the directory
//! where `npm ci` installed tus-js-client and `MP3C_TEST_TUSPY_PYTHON` a Python with tuspy
//! (`.ci/run` sets both).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use mp3converter_core::{JobId, JobState};
use mp3converter_testkit::{TestApp, fixture};
use sha2::{Digest, Sha256};

fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/tus-clients")
}

/// Runs `program script SERVER TOKEN FILE CHUNK`; its JSON report.
async fn run_client(program: &str, script: &str, app: &TestApp, file: &str) -> serde_json::Value {
    let token = app.admin_token().await;
    let out = tokio::process::Command::new(program)
        .arg(clients_dir().join(script))
        .args([&app.base, &token])
        .arg(fixture(file))
        .arg("10000")
        .current_dir(clients_dir())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {script} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The report's job converts, from exactly the file's bytes, with the options sent as metadata.
async fn check_job(
    app: &TestApp,
    report: &serde_json::Value,
    file: &str,
) -> mp3converter_core::Job {
    assert!(report["firstChunk"].as_u64().unwrap() >= 10_000);
    let id: JobId = report["job"].as_str().unwrap().parse().unwrap();
    let bytes = std::fs::read(fixture(file)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = app.backends.db.get_job(&id).await.unwrap().unwrap();
        assert_eq!(job.original_name, file);
        assert_eq!(job.video_size, bytes.len() as u64);
        let sha: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(job.video_sha256, sha);
        match job.state {
            JobState::Done => return job,
            JobState::Queued | JobState::Converting => {}
            other => panic!("the job ended {other:?}: {:?}", job.error_message),
        }
        assert!(Instant::now() < deadline, "conversion took too long");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tus_js_client_uploads_resumes_and_converts() {
    let Ok(dir) = std::env::var("MP3C_TEST_TUS_CLIENTS") else {
        eprintln!("skipped: set MP3C_TEST_TUS_CLIENTS=1 after `npm ci` in tests/tus-clients");
        return;
    };
    assert!(
        clients_dir().join("node_modules/tus-js-client").is_dir(),
        "MP3C_TEST_TUS_CLIENTS={dir} is set but tests/tus-clients has no node_modules: run `npm ci` there"
    );
    let app = TestApp::spawn().await;
    let report = run_client("node", "upload.mjs", &app, "mp4-aac-faststart.mp4").await;
    let job = check_job(&app, &report, "mp4-aac-faststart.mp4").await;
    assert_eq!(
        job.options.bitrate,
        Some(96),
        "metadata carried the options"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tuspy_uploads_with_checksums_resumes_and_converts() {
    let Ok(python) = std::env::var("MP3C_TEST_TUSPY_PYTHON") else {
        eprintln!(
            "skipped: set MP3C_TEST_TUSPY_PYTHON to a Python with tuspy (tests/tus-clients/requirements.txt)"
        );
        return;
    };
    let app = TestApp::spawn().await;
    let report = run_client(&python, "upload.py", &app, "webm-opus.webm").await;
    let job = check_job(&app, &report, "webm-opus.webm").await;
    assert!(job.options.mono, "metadata carried the options");
}
