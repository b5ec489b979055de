//! The whole system in one process, used the way the course uses it: log in, upload with curl's
//! multipart form, get the email, download the MP3 — plus the v1 flow with live events, owners'
//! isolation, bad input, restarts and many jobs at once.

use std::time::Duration;

use mp3converter_core::JobState;
use mp3converter_testkit::{ADMIN_EMAIL, TestApp, fixture, mp3_secs};
use reqwest::multipart::{Form, Part};

async fn upload(app: &TestApp, token: &str, name: &str, route: &str) -> reqwest::Response {
    let bytes = std::fs::read(fixture(name)).unwrap();
    let form = Form::new().part("file", Part::bytes(bytes).file_name(name.to_string()));
    app.http
        .post(app.url(route))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// Waits until `n` emails have arrived (the notifier sends one per finished job).
async fn wait_for_emails(app: &TestApp, n: usize) -> Vec<String> {
    // Up to two minutes: a loaded CI machine converts slowly; the loop ends as soon as they
    // are there.
    for _ in 0..2400 {
        let msgs = app.smtp.messages();
        if msgs.len() >= n {
            return msgs
                .iter()
                .map(|m| String::from_utf8_lossy(&m.data).into_owned())
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} emails, got {}", app.smtp.messages().len());
}

async fn new_user(app: &TestApp, admin: &str, email: &str) -> String {
    let res = app
        .http
        .post(app.url("/api/v1/users"))
        .bearer_auth(admin)
        .json(&serde_json::json!({"email": email, "password": "user-password-1", "admin": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    app.login(email, "user-password-1").await
}

#[tokio::test]
async fn the_course_flow_login_upload_email_download() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;

    let res = upload(&app, &token, "mp4-aac-moov-end.mp4", "/upload").await;
    assert_eq!(res.status(), 200);
    let job_id = res.headers()["x-job-id"].to_str().unwrap().to_string();
    assert_eq!(
        res.headers()["location"].to_str().unwrap(),
        format!("/api/v1/jobs/{job_id}")
    );
    assert_eq!(res.text().await.unwrap(), "success!");

    let emails = wait_for_emails(&app, 1).await;
    let mail = &emails[0];
    assert!(
        mail.contains(&format!("mp3 file_id: audio/{job_id}.mp3 is now ready!")),
        "{mail}"
    );
    assert!(
        app.smtp.messages()[0]
            .rcpt_to
            .iter()
            .any(|r| r.contains(ADMIN_EMAIL))
    );

    // The fid from the email works with the course's download route.
    let res = app
        .http
        .get(app.url(&format!("/download?fid=audio/{job_id}.mp3")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "audio/mpeg");
    let mp3 = res.bytes().await.unwrap();
    assert!((mp3_secs(&mp3) - 3.0).abs() < 0.05);

    let job = app
        .backends
        .db
        .get_job(&job_id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Done);
    assert!(job.notified_at.is_some());
    app.stop().await;
}

/// The README's step `cat data/outbox/*.eml`: the text part reads as written, with each link
/// whole on its line (no quoted-printable `=3D` or soft line breaks), and the link for people
/// opens the web UI on the job instead of an API route that answers a browser with 401 JSON.
#[tokio::test]
async fn the_outbox_email_has_whole_links_and_one_opens_the_page_of_the_job() {
    let app =
        TestApp::spawn_with(|c| c.mail.backend = mp3converter_mail::MailBackend::Outbox).await;
    let token = app.admin_token().await;
    let res = upload(&app, &token, "mp4-aac-moov-end.mp4", "/upload").await;
    let id = res.headers()["x-job-id"].to_str().unwrap().to_string();

    let outbox = app.config.mail.outbox_dir.clone();
    let mut eml = None;
    for _ in 0..2400 {
        let found = std::fs::read_dir(&outbox).ok().and_then(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "eml"))
        });
        if let Some(path) = found {
            eml = Some(std::fs::read_to_string(path).unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let eml = eml.expect("an .eml in the outbox");
    let text = eml.split("Content-Type: text/html").next().unwrap();
    assert!(
        text.contains(&format!("mp3 file_id: audio/{id}.mp3 is now ready!")),
        "{eml}"
    );
    assert!(text.contains("Content-Transfer-Encoding: 7bit"), "{eml}");
    assert!(!text.contains("=3D") && !text.contains("=\r\n"), "{eml}");
    let page = format!("{}/#/jobs/{id}", app.base);
    assert!(text.contains(&format!("\r\n  {page}\r\n")), "{eml}");
    let download = format!("{}/download?fid=audio/{id}.mp3", app.base);
    assert!(
        text.contains(&format!(
            "\r\n  curl --output audio.mp3 -H 'Authorization: Bearer TOKEN' '{download}'\r\n"
        )),
        "{eml}"
    );
    assert!(!eml.contains("/api/v1/"), "no API links for people: {eml}");
    // The page link is the web UI (the fragment stays in the browser).
    let ui = app.http.get(&page).send().await.unwrap();
    assert_eq!(ui.status(), 200);
    assert!(
        ui.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    app.stop().await;
}

#[tokio::test]
async fn the_v1_flow_streams_progress_until_done() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let res = upload(&app, &token, "mkv-flac.mkv", "/api/v1/jobs").await;
    assert_eq!(res.status(), 201);
    let job: serde_json::Value = res.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_string();

    let mut events = app
        .http
        .get(app.url(&format!("/api/v1/jobs/{id}/events")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !text.contains("\"state\":\"done\"") {
        let chunk = tokio::time::timeout_at(deadline, events.chunk())
            .await
            .expect("done within 60 s")
            .unwrap();
        match chunk {
            Some(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
            None => break,
        }
    }
    assert!(text.contains("\"state\":\"done\""), "{text}");
    let audio = app
        .http
        .get(app.url(&format!("/api/v1/jobs/{id}/audio")))
        .bearer_auth(&token)
        .header("Range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 206);
    assert_eq!(audio.bytes().await.unwrap().len(), 100);
    app.stop().await;
}

#[tokio::test]
async fn owners_see_only_their_jobs_and_admins_see_all() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let alice = new_user(&app, &admin, "alice@example.com").await;
    let bob = new_user(&app, &admin, "bob@example.com").await;

    let res = upload(&app, &alice, "ogg-vorbis.ogg", "/upload").await;
    let id = res.headers()["x-job-id"].to_str().unwrap().to_string();
    wait_for_emails(&app, 1).await;

    for path in [
        format!("/api/v1/jobs/{id}"),
        format!("/api/v1/jobs/{id}/audio"),
        format!("/download?fid={id}"),
    ] {
        let theirs = app
            .http
            .get(app.url(&path))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert_eq!(theirs.status(), 404, "{path}");
        let unknown = path.replace(&id, "01930000-0000-7000-8000-000000000000");
        let missing = app
            .http
            .get(app.url(&unknown))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert_eq!(missing.status(), 404, "{unknown}");
        let own = app
            .http
            .get(app.url(&path))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        assert_eq!(own.status(), 200, "{path}");
        let admins = app
            .http
            .get(app.url(&path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(admins.status(), 200, "{path}");
    }
    let listed: serde_json::Value = app
        .http
        .get(app.url("/api/v1/jobs"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "{listed}");
    app.stop().await;
}

#[tokio::test]
async fn bad_uploads_are_refused_and_bad_videos_fail_with_an_email() {
    let app = TestApp::spawn_with(|c| c.gateway.max_upload_bytes = 100_000).await;
    let token = app.admin_token().await;

    assert_eq!(
        upload(&app, &token, "empty.bin", "/upload").await.status(),
        400
    );
    assert_eq!(
        upload(&app, &token, "not-media.pdf", "/upload")
            .await
            .status(),
        415
    );
    assert_eq!(
        upload(&app, &token, "m4a-alac.m4a", "/upload")
            .await
            .status(),
        413
    ); // 179 KB
    let none = app
        .http
        .post(app.url("/upload"))
        .bearer_auth(&token)
        .multipart(Form::new().text("x", "y"));
    assert_eq!(none.send().await.unwrap().status(), 400);

    let res = upload(&app, &token, "mp4-video-only.mp4", "/upload").await;
    assert_eq!(res.status(), 200);
    let id = res.headers()["x-job-id"].to_str().unwrap().to_string();
    let emails = wait_for_emails(&app, 1).await;
    assert!(
        emails[0].contains("this video has no audio track"),
        "{}",
        emails[0]
    );
    let job = app
        .backends
        .db
        .get_job(&id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Failed);
    assert_eq!(job.error_code.as_deref(), Some("no-audio-track"));
    assert_eq!(job.attempts, 1, "a permanent failure is not retried");
    app.stop().await;
}

#[tokio::test]
async fn many_uploads_at_once_each_convert_and_email_exactly_once() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let uploads = (0..50).map(|_| upload(&app, &token, "ogg-vorbis.ogg", "/upload"));
    let results = futures_util::future::join_all(uploads).await;
    assert!(results.iter().all(|r| r.status() == 200));
    let emails = wait_for_emails(&app, 50).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.smtp.messages().len(), 50, "no duplicates");
    let mut ids: Vec<&str> = emails
        .iter()
        .filter_map(|m| m.split("file_id: ").nth(1))
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50);
    app.stop().await;
}

#[tokio::test]
async fn a_job_interrupted_by_a_restart_completes_once() {
    // A long input so the first app is still converting when it is stopped.
    let dir = tempfile::tempdir().unwrap();
    // Ten minutes (FLAC keeps a pure tone small): its conversion takes seconds even on a fast
    // machine, longer than the shutdown grace, so the stop always lands mid-conversion.
    let wav = dir.path().join("long.flac");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=f=440:d=600",
            "-ac",
            "2",
        ])
        .arg(&wav)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("skipping: ffmpeg is not installed (it generates the long input)");
        return;
    }
    let app = TestApp::spawn_with(|c| {
        c.converter.concurrency = 1;
        c.converter.engine.threads = 1;
        c.server.shutdown_grace_secs = 2;
    })
    .await;
    let token = app.admin_token().await;
    let form = Form::new().part(
        "file",
        Part::bytes(std::fs::read(&wav).unwrap()).file_name("long.flac"),
    );
    let res = app
        .http
        .post(app.url("/upload"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let id: mp3converter_core::JobId = res.headers()["x-job-id"].to_str().unwrap().parse().unwrap();
    // Wait until the conversion has started, then stop the app in the middle of it.
    for _ in 0..200 {
        let job = app.backends.db.get_job(&id).await.unwrap().unwrap();
        if job.state == JobState::Converting && job.progress > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (config, data) = app.stop().await;
    let job = {
        let db = mp3converter::backends::database(&config).await.unwrap();
        db.get_job(&id).await.unwrap().unwrap()
    };
    assert_ne!(
        job.state,
        JobState::Done,
        "the restart must happen mid-conversion"
    );

    let app = TestApp::restart(config).await;
    wait_for_emails(&app, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.smtp.messages().len(), 1, "exactly one email");
    let job = app.backends.db.get_job(&id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Done);
    drop(data);
    app.stop().await;
}
