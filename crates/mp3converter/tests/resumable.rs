//! Resumable uploads on the whole system: an upload survives a restart of the server between two
//! PATCHes and converts, and `mp3converter upload` resumes by itself after its connection is
//! cut.

use std::process::Stdio;
use std::time::{Duration, Instant};

use mp3converter_core::{JobId, JobState};
use mp3converter_testkit::proxy::Proxy;
use mp3converter_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, fixture, mp3_secs};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

const TUS: &str = "1.0.0";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn wait_for_state(app: &TestApp, id: &JobId, state: JobState) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let job = app.backends.db.get_job(id).await.unwrap().unwrap();
        if job.state == state {
            return;
        }
        assert!(Instant::now() < deadline, "job stuck in {:?}", job.state);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upload_survives_a_restart_between_two_patches_and_converts() {
    let video = std::fs::read(fixture("mp4-aac-faststart.mp4")).unwrap();
    let half = video.len() / 2;
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let created = app
        .http
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&token)
        .header("tus-resumable", TUS)
        .header("upload-length", video.len())
        .header("upload-metadata", "filename dGFsay5tcDQ=")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let patch = |app: &TestApp, offset: usize, bytes: Vec<u8>| {
        app.http
            .patch(app.url(&location))
            .bearer_auth(&token)
            .header("tus-resumable", TUS)
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset)
            .body(bytes)
            .send()
    };
    let first = patch(&app, 0, video[..half].to_vec()).await.unwrap();
    assert_eq!(first.status(), 204);

    // The server stops; another starts on the same data (as after a crash: all an upload is
    // lives in the database and the blob store).
    let (config, data) = app.stop().await;
    let app = TestApp::restart(config).await;
    let head = app
        .http
        .head(app.url(&location))
        .bearer_auth(&token)
        .header("tus-resumable", TUS)
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["upload-offset"], half.to_string().as_str());
    let last = patch(&app, half, video[half..].to_vec()).await.unwrap();
    assert_eq!(last.status(), 204);
    let id: JobId = last.headers()["x-job-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();

    let job = app.backends.db.get_job(&id).await.unwrap().unwrap();
    assert_eq!(job.original_name, "talk.mp4");
    assert_eq!(job.video_sha256, hex(&Sha256::digest(&video)));
    wait_for_state(&app, &id, JobState::Done).await;
    let audio = app
        .http
        .get(app.url(&format!("/api/v1/jobs/{id}/audio")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 200);
    let secs = mp3_secs(&audio.bytes().await.unwrap());
    let expected =
        mp3converter_media::probe(&fixture("mp4-aac-faststart.mp4"), &Default::default())
            .unwrap()
            .duration_secs
            .unwrap();
    assert!((secs - expected).abs() < 0.1, "{secs} s vs {expected} s");
    drop(data);
}

/// A WAV file of `secs` seconds of 48 kHz stereo noise (what sniffing takes for audio).
fn noise_wav(path: &std::path::Path, secs: u32) -> Vec<u8> {
    let data_len = secs * 48_000 * 4;
    let mut wav = Vec::with_capacity(44 + data_len as usize);
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data_len).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&48_000u32.to_le_bytes());
    wav.extend_from_slice(&(48_000u32 * 4).to_le_bytes());
    wav.extend_from_slice(&4u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data_len.to_le_bytes());
    let mut x: u32 = 0x1234_5678;
    for _ in 0..data_len / 4 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        wav.extend_from_slice(&(x >> 2).to_le_bytes());
    }
    std::fs::write(path, &wav).unwrap();
    wav
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_resumes_an_upload_after_its_connection_is_cut() {
    let app = TestApp::spawn().await;
    let proxy = Proxy::start(&app.addr.to_string());
    let server = format!("http://{}", proxy.addr);
    let config = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let file = cwd.path().join("long noise.wav");
    // 10 minutes of stereo noise: 115 MB, several stored segments.
    let wav = noise_wav(&file, 600);
    let cli = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mp3converter"));
        cmd.args(args)
            .env("MP3CONVERTER_CLIENT_DIR", config.path())
            .current_dir(cwd.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        cmd
    };
    let mut login = cli(&["login", "--server", &server]).spawn().unwrap();
    let mut stdin = login.stdin.take().unwrap();
    stdin
        .write_all(format!("{ADMIN_EMAIL}\n{ADMIN_PASSWORD}\n").as_bytes())
        .await
        .unwrap();
    drop(stdin);
    assert!(login.wait().await.unwrap().success());

    let upload = cli(&["upload", file.to_str().unwrap()]).spawn().unwrap();
    // Cut every connection once the server has stored the first segment.
    app.cut_upload_midway(&proxy).await;

    let out = upload.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("resuming in"),
        "it was cut and resumed: {stderr}"
    );
    let id: JobId = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let job = app.backends.db.get_job(&id).await.unwrap().unwrap();
    assert_eq!(job.original_name, "long noise.wav");
    assert_eq!(job.video_size, wav.len() as u64);
    assert_eq!(job.video_sha256, hex(&Sha256::digest(&wav)));
}
