//! Import from a URL end to end: a local origin server (axum on 127.0.0.1, opened to the import
//! by `import.allow_cidrs`) serves a video, a 404, an HTML page, files too large, a body that
//! never ends and redirect chains; the jobs convert or fail with their `import-*` codes. Without
//! the allow-list, internal addresses and names are refused at once with 400 `url-not-allowed`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use mp3converter_core::{Job, JobId, JobState, now_millis};
use mp3converter_testkit::{TestApp, fixture, mp3_secs};
use serde_json::{Value, json};

/// Upload limit of the apps here: above the fixture, below the "too large" files.
const LIMIT: u64 = 256 * 1024;

#[derive(Clone)]
struct Origin {
    video: Bytes,
    port: u16,
}

/// Starts the origin server; returns its base URL.
async fn origin() -> String {
    origin_on("127.0.0.1").await
}

/// The origin server on `ip` (any loopback address).
async fn origin_on(ip: &str) -> String {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let state = Origin {
        video: std::fs::read(fixture("mp4-aac-faststart.mp4"))
            .unwrap()
            .into(),
        port: addr.port(),
    };
    let app = Router::new()
        .route("/media/{name}", get(video))
        .route("/page.html", get(page))
        .route("/big-declared.mp4", get(big_declared))
        .route("/big-streamed.mp4", get(big_streamed))
        .route("/endless.mp4", get(endless))
        .route("/slow.mp4", get(slow))
        .route("/hop/{n}", get(hop))
        .route("/to-metadata", get(to_metadata))
        .route("/to-localhost", get(to_localhost))
        .with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

async fn video(State(o): State<Origin>, Path(name): Path<String>) -> Response {
    if name == "missing.mp4" {
        return StatusCode::NOT_FOUND.into_response();
    }
    ([(header::CONTENT_TYPE, "video/mp4")], o.video).into_response()
}

async fn page() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html")],
        "<!DOCTYPE html><html><body>Not a video</body></html>",
    )
        .into_response()
}

/// A body of `len` bytes that starts like the video (so only the size can refuse it), without
/// `Content-Length`.
fn streamed(o: &Origin, len: usize) -> Body {
    let head = o.video.clone();
    let chunks = (head.len()..len)
        .step_by(16 * 1024)
        .map(|_| Ok::<_, Infallible>(Bytes::from(vec![0u8; 16 * 1024])));
    Body::from_stream(futures_util::stream::iter(
        std::iter::once(Ok(head)).chain(chunks),
    ))
}

async fn big_declared(State(o): State<Origin>) -> Response {
    let mut body = o.video.to_vec();
    body.resize(LIMIT as usize * 2, 0);
    ([(header::CONTENT_TYPE, "video/mp4")], body).into_response()
}

async fn big_streamed(State(o): State<Origin>) -> Response {
    Response::new(streamed(&o, LIMIT as usize * 4))
}

/// The video's start, then nothing ever again.
async fn endless(State(o): State<Origin>) -> Response {
    let head = futures_util::stream::iter([Ok::<_, Infallible>(o.video.slice(..4096))]);
    let never = futures_util::stream::pending();
    Response::new(Body::from_stream(futures_util::StreamExt::chain(
        head, never,
    )))
}

/// The video in eight parts, 300 ms apart, with its `Content-Length`.
async fn slow(State(o): State<Origin>) -> Response {
    let len = o.video.len();
    let parts = (0..8).map(move |i| {
        let part = o.video.slice(len * i / 8..len * (i + 1) / 8);
        async move {
            if i > 0 {
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Ok::<_, Infallible>(part)
        }
    });
    let body = Body::from_stream(futures_util::StreamExt::then(
        futures_util::stream::iter(parts),
        |part| part,
    ));
    ([(header::CONTENT_LENGTH, len.to_string())], body).into_response()
}

async fn hop(Path(n): Path<u32>) -> Redirect {
    if n == 0 {
        Redirect::temporary("/media/after-hops.mp4")
    } else {
        Redirect::temporary(&format!("/hop/{}", n - 1))
    }
}

async fn to_metadata() -> Redirect {
    Redirect::temporary("http://169.254.169.254/latest/meta-data/")
}

async fn to_localhost(State(o): State<Origin>) -> Redirect {
    Redirect::temporary(&format!("http://127.0.0.1:{}/media/clip.mp4", o.port))
}

async fn import(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    let res = app
        .http
        .post(app.url("/api/v1/jobs"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap())
}

/// Imports `url` and waits for the job to leave `downloading`/`queued`/`converting`.
async fn import_and_wait(app: &TestApp, token: &str, url: &str) -> Value {
    let (status, job) = import(app, token, json!({ "url": url })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["state"], "downloading", "{job}");
    wait_finished(app, token, job["id"].as_str().unwrap()).await
}

/// `GET path` as JSON.
async fn get_json(app: &TestApp, token: &str, path: &str) -> Value {
    let res = app.http.get(app.url(path)).bearer_auth(token).send().await;
    res.unwrap().json().await.unwrap()
}

async fn wait_finished(app: &TestApp, token: &str, id: &str) -> Value {
    for _ in 0..1200 {
        let job = get_json(app, token, &format!("/api/v1/jobs/{id}")).await;
        if matches!(job["state"].as_str(), Some("done" | "failed")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

/// An origin and an app opened to it whose imports may take a minute, with the admin's token.
async fn patient() -> (String, TestApp, String) {
    let base = origin().await;
    let app = TestApp::spawn_with(|c| {
        opened(c);
        c.import.timeout_secs = 60;
    })
    .await;
    let token = app.admin_token().await;
    (base, app, token)
}

/// Starts an import that never finishes by itself; the job as answered.
async fn import_endless(app: &TestApp, token: &str, base: &str) -> Value {
    let (status, job) = import(app, token, json!({ "url": format!("{base}/endless.mp4") })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    job
}

fn opened(config: &mut mp3converter::config::Config) {
    config.import.allow_cidrs = "127.0.0.0/8".parse().unwrap();
    config.import.timeout_secs = 3;
    config.gateway.max_upload_bytes = LIMIT;
}

#[tokio::test]
async fn an_imported_video_converts_like_an_upload_also_after_five_redirects() {
    let base = origin().await;
    let app = TestApp::spawn_with(opened).await;
    let token = app.admin_token().await;

    let job = import_and_wait(&app, &token, &format!("{base}/media/My%20Talk.mp4")).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["original_name"], "My Talk.mp4");
    assert_eq!(
        job["video_size"],
        std::fs::metadata(fixture("mp4-aac-faststart.mp4"))
            .unwrap()
            .len()
    );
    let audio = app
        .http
        .get(app.url(job["links"]["audio"].as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(audio.status(), 200);
    assert!(mp3_secs(&audio.bytes().await.unwrap()) > 0.5);

    // Five redirects are followed; the file's name is the last URL's.
    let job = import_and_wait(&app, &token, &format!("{base}/hop/4")).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["original_name"], "after-hops.mp4");

    // Options come as JSON fields, like the upload form's.
    let (status, job) = import(
        &app,
        &token,
        json!({"url": format!("{base}/media/clip.mp4"), "bitrate": 96, "mono": true, "keep": true}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["options"]["bitrate"], 96);
    assert_eq!(job["keep"], true);
    let job = wait_finished(&app, &token, job["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
}

#[tokio::test]
async fn failed_imports_say_why_in_words_and_leave_no_video() {
    let base = origin().await;
    let app = TestApp::spawn_with(opened).await;
    let token = app.admin_token().await;
    let cases = [
        ("/media/missing.mp4", "import-not-found", "404"),
        ("/page.html", "import-not-media", "HTML"),
        (
            "/big-declared.mp4",
            "import-too-large",
            "256.0 KiB (262144 bytes)",
        ),
        ("/big-streamed.mp4", "import-too-large", "262144 bytes"),
        ("/endless.mp4", "import-timeout", "3 seconds"),
        ("/hop/5", "import-too-many-redirects", "more than 5"),
        ("/to-metadata", "url-not-allowed", "link-local"),
    ];
    for (path, code, words) in cases {
        let job = import_and_wait(&app, &token, &format!("{base}{path}")).await;
        assert_eq!(job["state"], "failed", "{path}: {job}");
        assert_eq!(job["error"]["code"], code, "{path}: {job}");
        let message = job["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{path}: {message}");
    }
    // No partial video is left behind.
    let keys: Vec<_> = futures_util::TryStreamExt::try_collect(app.backends.storage.list("video"))
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn internal_addresses_are_refused_at_once_without_the_allow_list() {
    let base = origin().await;
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let port = base.rsplit(':').next().unwrap();
    for url in [
        format!("{base}/media/clip.mp4"),
        format!("http://localhost:{port}/media/clip.mp4"),
        format!("http://2130706433:{port}/media/clip.mp4"),
        format!("http://0x7f.1:{port}/media/clip.mp4"),
        format!("http://[::ffff:127.0.0.1]:{port}/media/clip.mp4"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::1]/".to_owned(),
        "http://10.0.0.1/a.mp4".to_owned(),
        "ftp://example.com/a.mp4".to_owned(),
    ] {
        let (status, body) = import(&app, &token, json!({ "url": url })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {body}");
        assert_eq!(body["code"], "url-not-allowed", "{url}: {body}");
    }
    let (_, body) = import(
        &app,
        &token,
        json!({"url": format!("http://localhost:{port}/")}),
    )
    .await;
    let message = body["message"].as_str().unwrap();
    assert!(
        message.contains("loopback") && !message.contains("127.0.0.1"),
        "{message}"
    );

    let (status, body) = import(
        &app,
        &token,
        json!({"url": "https://example.com/a.mp4", "colour": 1}),
    )
    .await;
    assert_eq!(
        (status, &body["code"]),
        (StatusCode::BAD_REQUEST, &json!("unknown-field"))
    );
    let (status, body) = import(&app, &token, json!({"link": "https://example.com/"})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Nothing was created.
    assert_eq!(get_json(&app, &token, "/api/v1/jobs").await, json!([]));
}

#[tokio::test]
async fn a_redirect_to_a_refused_address_fails_the_job() {
    // Only the origin's own address is opened: its redirect to 127.0.0.1 stays refused.
    let base = origin_on("127.0.0.2").await;
    let app = TestApp::spawn_with(|c| {
        opened(c);
        c.import.allow_cidrs = "127.0.0.2/32".parse().unwrap();
    })
    .await;
    let token = app.admin_token().await;
    let job = import_and_wait(&app, &token, &format!("{base}/to-localhost")).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "url-not-allowed", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("loopback"),
        "{job}"
    );
}

#[tokio::test]
async fn import_can_be_turned_off() {
    let app = TestApp::spawn_with(|c| c.import.enabled = false).await;
    let token = app.admin_token().await;
    let (status, body) = import(&app, &token, json!({"url": "https://example.com/a.mp4"})).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "import-disabled");
}

#[tokio::test]
async fn a_download_left_by_a_dead_gateway_is_failed_at_the_next_start() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let me = get_json(&app, &token, "/api/v1/me").await;
    let owner = me["id"].as_str().unwrap().parse().unwrap();
    // What a gateway killed mid-download leaves: a `downloading` row, silent for hours.
    let long_ago = now_millis() - 3 * 3600 * 1000;
    let mut job = Job::queued(
        mp3converter_core::NewJob {
            owner_id: owner,
            owner_email: mp3converter_testkit::ADMIN_EMAIL.into(),
            original_name: "talk.mp4".into(),
            video_key: "video/left-behind".into(),
            video_size: 0,
            video_sha256: String::new(),
            options: Default::default(),
        },
        long_ago,
    );
    job.id = JobId::generate();
    job.state = JobState::Downloading;
    app.backends.db.create_downloading_job(&job).await.unwrap();
    let (config, dir) = app.stop().await;

    let app = TestApp::restart(config).await;
    let token = app.admin_token().await;
    let job = wait_finished(&app, &token, job.id.as_str()).await;
    assert_eq!(job["error"]["code"], "import-interrupted", "{job}");
    drop(dir);
}

#[tokio::test]
async fn the_download_shows_its_progress_then_the_job_converts() {
    let base = origin().await;
    let app = TestApp::spawn_with(opened).await;
    let token = app.admin_token().await;
    let (status, job) = import(&app, &token, json!({ "url": format!("{base}/slow.mp4") })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let path = format!("/api/v1/jobs/{}", job["id"].as_str().unwrap());
    let mut seen = Vec::new();
    loop {
        let job = get_json(&app, &token, &path).await;
        if job["state"] != "downloading" {
            break;
        }
        seen.push(job["progress"].as_f64().unwrap());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen.iter().any(|p| *p > 0.0 && *p < 1.0),
        "a partial download was shown: {seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    let job = wait_finished(&app, &token, job["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");
}

#[tokio::test]
async fn deleting_a_downloading_job_stops_its_download() {
    let (base, app, token) = patient().await;
    let job = import_endless(&app, &token, &base).await;
    let path = format!("/api/v1/jobs/{}", job["id"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let res = app
        .http
        .delete(app.url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // The download notices at its next progress step and leaves nothing behind.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let keys: Vec<_> = futures_util::TryStreamExt::try_collect(app.backends.storage.list("video"))
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
    let res = app
        .http
        .get(app.url(&path))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn a_download_cut_by_shutdown_fails_with_import_interrupted() {
    let (base, app, token) = patient().await;
    let job = import_endless(&app, &token, &base).await;
    let id = job["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (config, dir) = app.stop().await;

    let app = TestApp::restart(config).await;
    let token = app.admin_token().await;
    let job = get_json(&app, &token, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "import-interrupted", "{job}");
    drop(dir);
}

#[tokio::test]
async fn one_user_has_at_most_ten_imports_downloading() {
    let (base, app, token) = patient().await;
    for _ in 0..10 {
        import_endless(&app, &token, &base).await;
    }
    let (status, body) = import(
        &app,
        &token,
        json!({ "url": format!("{base}/endless.mp4") }),
    )
    .await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["code"], "too-many-imports");
}
