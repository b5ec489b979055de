//! The web UI in a real browser: the whole application on loopback, driven by
//! `tests/browser/flow.mjs` (playwright-core and Debian's Chromium). It logs in, uploads with
//! progress, plays, downloads, sees failures in words (and retries one the network lost),
//! deletes, is warned before leaving during an upload and sees it as interrupted after a reload,
//! opens a job from its email link, checks that a second user sees none of the first one's jobs
//! and that an admin sees their own files, everyone's under "All files", and manages users
//! (disable, enable). Every page is checked at desktop and phone width, light and dark, for
//! clipped or overflowing controls. A second server with 10-second tokens shows the session
//! ending — by a 401 and by expiry — and the page keeping the chosen file and the view.
//!
//! Runs when `MP3C_TEST_CHROMIUM` is the path of a Chromium binary (CI sets `/usr/bin/chromium`)
//! and `npm ci` has been run in `tests/browser`; otherwise it says so and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

use mp3converter_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

const USERS: [(&str, &str); 2] = [
    ("alice@example.com", "alice-password-1"),
    ("bob@example.com", "bob-password-1"),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_ui_converts_plays_downloads_and_keeps_users_apart() {
    let Ok(chromium) = std::env::var("MP3C_TEST_CHROMIUM") else {
        eprintln!(
            "skipping: set MP3C_TEST_CHROMIUM=/usr/bin/chromium (and run `npm ci` in tests/browser) \
             to run the browser test"
        );
        return;
    };
    let browser_dir = repo().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "MP3C_TEST_CHROMIUM is set but playwright-core is not installed: run `npm ci` in {}",
        browser_dir.display()
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser-test");
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    println!("browser test screenshots: {}", out.display());

    // A limit between the fixtures the flow converts (≤ 31 KB) and m4a-alac.m4a (179 KB).
    // The imported video comes from a local origin, opened by the allow-list.
    let video = std::fs::read(mp3converter_testkit::fixture("mp4-aac-faststart.mp4")).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let import_url = format!(
        "http://{}/talks/imported.mp4",
        listener.local_addr().unwrap()
    );
    let routes = axum::Router::new().route(
        "/talks/imported.mp4",
        axum::routing::get(move || async move { video }),
    );
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    let app = TestApp::spawn_with(|c| {
        c.gateway.max_upload_bytes = 150_000;
        c.import.allow_cidrs = "127.0.0.0/8".parse().unwrap();
    })
    .await;
    add_users(&app, &USERS).await;
    // Tokens that expire while the flow watches (`auth.token_ttl_secs`).
    let short = TestApp::spawn_with(|c| c.auth.token_ttl_secs = SHORT_TTL_SECS).await;
    add_users(&short, &USERS[..1]).await;

    let mut node = Command::new("node");
    node.arg(browser_dir.join("flow.mjs"))
        .current_dir(&browser_dir)
        .env("MP3C_URL", &app.base)
        .env("MP3C_SHORT_URL", &short.base)
        .env("MP3C_SHORT_TTL", SHORT_TTL_SECS.to_string())
        .env("MP3C_IMPORT_URL", &import_url)
        .env("MP3C_TEST_CHROMIUM", &chromium)
        .env("MP3C_OUT", &out)
        .env("MP3C_FIXTURES", repo().join("tests/fixtures/media"))
        .env("MP3C_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("MP3C_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("MP3C_USER1_EMAIL", USERS[0].0)
        .env("MP3C_USER1_PASSWORD", USERS[0].1)
        .env("MP3C_USER2_EMAIL", USERS[1].0)
        .env("MP3C_USER2_PASSWORD", USERS[1].1)
        .env_remove("MP3C_WEB_DIR");
    // The app runs on this runtime: wait for node on a blocking thread.
    let status = tokio::task::spawn_blocking(move || node.status())
        .await
        .unwrap()
        .expect("node runs (is Node.js installed?)");
    assert!(
        status.success(),
        "the browser flow failed ({status}); screenshots so far in {}",
        out.display()
    );

    // The file the browser downloaded is an MP3 of the video's 3 seconds.
    let mp3 = out.join("download.mp3");
    let report = mp3converter_media::probe(&mp3, &Default::default()).unwrap();
    assert_eq!(report.container, "mp3");
    let secs = report.duration_secs.unwrap();
    assert!((secs - 3.0).abs() < 0.05, "{secs} s");

    // What the flow did is what the database holds.
    let id = std::fs::read_to_string(out.join("job-id.txt")).unwrap();
    let job = app
        .backends
        .db
        .get_job(&id.trim().parse().unwrap())
        .await
        .unwrap()
        .expect("the uploaded job exists");
    assert_eq!(job.state, mp3converter_core::JobState::Done);
    assert_eq!(job.options.bitrate, Some(128));
    assert_eq!(job.audio_size, Some(std::fs::metadata(&mp3).unwrap().len()));
    app.stop().await;
    short.stop().await;
}

/// How long the second server's tokens live: long enough to log in and upload, short enough
/// to wait for.
const SHORT_TTL_SECS: u64 = 10;

async fn add_users(app: &TestApp, users: &[(&str, &str)]) {
    let admin = app.admin_token().await;
    for (email, password) in users {
        let res = app
            .http
            .post(app.url("/api/v1/users"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    }
}
