//! Tokens: a disabled user (or one whose password changed) loses access on every route and
//! stream within the revocation interval, and no route takes the token from a URL.

use std::time::Duration;

use futures_util::StreamExt;
use mp3converter_testkit::TestApp;

use crate::common::{file_form, finished, fixture, get_as, post_form, user};

const ALICE: (&str, &str) = ("alice@example.com", "alice-password-1");

/// Every role in one process, re-reading accounts every second (the default is 30).
async fn app() -> TestApp {
    TestApp::spawn_with(|c| c.auth.revocation_check_secs = 1).await
}

/// Alice with one finished job: `(token, job id)`.
async fn alice_with_a_job(app: &TestApp, admin: &str) -> (String, String) {
    let alice = user(app, admin, ALICE.0, ALICE.1).await;
    let body = file_form(r#"filename="a.mp4""#, &fixture("mp4-aac-faststart.mp4"));
    let created: serde_json::Value = post_form(app, "/api/v1/jobs", &alice, body)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(finished(app, &alice, &id).await["state"], "done");
    (alice, id)
}

/// The statuses `token` gets on the API, the course's routes, the audio and `/validate`.
async fn statuses(app: &TestApp, token: &str, id: &str) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for path in [
        "/api/v1/jobs".to_string(),
        "/api/v1/me".to_string(),
        format!("/api/v1/jobs/{id}/audio"),
        format!("/download?fid={id}"),
    ] {
        let res = get_as(app, &path, token).await;
        out.push((path, res.status().as_u16()));
    }
    let upload = post_form(
        app,
        "/upload",
        token,
        file_form(r#"filename="b.mp4""#, &fixture("mp4-aac-faststart.mp4")),
    )
    .await;
    out.push(("/upload".into(), upload.status().as_u16()));
    let mint = app
        .http
        .post(app.url(&format!("/api/v1/jobs/{id}/audio-url")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    out.push(("audio-url".into(), mint.status().as_u16()));
    let validate = app
        .http
        .post(app.url("/validate"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    out.push(("/validate".into(), validate.status().as_u16()));
    out
}

/// What a revoked token gets: 401 on the API, the course routes' 403 `not authorized` (as for
/// any invalid token), 403 from `/validate`.
fn refused(id: &str) -> Vec<(String, u16)> {
    vec![
        ("/api/v1/jobs".into(), 401),
        ("/api/v1/me".into(), 401),
        (format!("/api/v1/jobs/{id}/audio"), 401),
        (format!("/download?fid={id}"), 403),
        ("/upload".into(), 403),
        ("audio-url".into(), 401),
        ("/validate".into(), 403),
    ]
}

/// Reads an SSE response to its end (at most 30 s); returns the text.
async fn read_to_end(response: reqwest::Response) -> String {
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(ended.is_ok(), "the event stream did not end: {text}");
    text
}

async fn signed_url(app: &TestApp, token: &str, id: &str) -> String {
    let res = app
        .http
        .post(app.url(&format!("/api/v1/jobs/{id}/audio-url")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    body["url"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_user_loses_every_route_and_stream_at_once() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (alice, id) = alice_with_a_job(&app, &admin).await;
    let url = signed_url(&app, &alice, &id).await;
    assert_eq!(
        app.http.get(app.url(&url)).send().await.unwrap().status(),
        200
    );
    let events = get_as(&app, "/api/v1/events", &alice).await;
    assert_eq!(events.status(), 200);

    let me: serde_json::Value = get_as(&app, "/api/v1/me", &alice)
        .await
        .json()
        .await
        .unwrap();
    let res = app
        .http
        .post(app.url(&format!(
            "/api/v1/users/{}/disable",
            me["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    // This process made the change: no waiting at all.
    assert_eq!(statuses(&app, &alice, &id).await, refused(&id));
    assert_eq!(
        app.http.get(app.url(&url)).send().await.unwrap().status(),
        401,
        "a signed URL issued before is revoked with the token"
    );
    let text = read_to_end(events).await;
    assert!(
        text.contains("event: session-ended\ndata: {\"reason\":\"revoked\"}"),
        "{text}"
    );
    // The admin is not affected.
    let res = get_as(&app, "/api/v1/jobs", &admin).await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_disabled_with_the_cli_loses_access_within_the_check_interval() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (alice, id) = alice_with_a_job(&app, &admin).await;
    let events = get_as(&app, "/api/v1/events", &alice).await;
    assert_eq!(
        get_as(&app, "/api/v1/jobs", &alice).await.status(),
        200,
        "the account is cached as good"
    );

    // Another process (the CLI) changes the shared database; the server learns of it only by
    // reading the account again, within `revocation_check_secs` (1 s here).
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_mp3converter"))
        .args(["user", "disable", ALICE.0])
        .env("MP3C_DATA_DIR", &app.config.data_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let text = read_to_end(events).await;
    assert!(text.contains("event: session-ended"), "{text}");
    let mut last = Vec::new();
    for _ in 0..100 {
        last = statuses(&app, &alice, &id).await;
        if last == refused(&id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, refused(&id));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_revokes_old_tokens_and_the_new_login_works() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (old, id) = alice_with_a_job(&app, &admin).await;
    let second = app.login(ALICE.0, ALICE.1).await;
    let res = app
        .http
        .put(app.url("/api/v1/me/password"))
        .bearer_auth(&old)
        .json(&serde_json::json!({"old_password": ALICE.1, "new_password": "a-new-password-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // Every token issued before, not only the one that made the change.
    assert_eq!(statuses(&app, &old, &id).await, refused(&id));
    assert_eq!(statuses(&app, &second, &id).await, refused(&id));
    let new = app.login(ALICE.0, "a-new-password-2").await;
    let ok = statuses(&app, &new, &id).await;
    assert!(
        ok.iter().all(|(_, status)| (200..300).contains(status)),
        "{ok:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_re_enabled_user_must_log_in_again() {
    let app = app().await;
    let admin = app.admin_token().await;
    let (alice, id) = alice_with_a_job(&app, &admin).await;
    let users = mp3converter_auth::UserDirectory::new(app.backends.db.clone());
    users.disable_user(ALICE.0).await.unwrap();
    users.enable_user(ALICE.0).await.unwrap();
    let mut last = Vec::new();
    for _ in 0..100 {
        last = statuses(&app, &alice, &id).await;
        if last == refused(&id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last, refused(&id), "the old token stays revoked");
    let again = app.login(ALICE.0, ALICE.1).await;
    let res = get_as(&app, "/api/v1/jobs", &again).await;
    assert_eq!(res.status(), 200);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_stream_ends_when_its_token_expires() {
    let app = TestApp::spawn_with(|c| c.auth.token_ttl_secs = 2).await;
    let token = app.admin_token().await;
    let events = get_as(&app, "/api/v1/events", &token).await;
    assert_eq!(events.status(), 200);
    let text = read_to_end(events).await;
    assert!(
        text.contains("event: session-ended\ndata: {\"reason\":\"expired\"}"),
        "{text}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_token_in_the_query_string_is_refused() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let (alice, id) = alice_with_a_job(&app, &admin).await;
    for path in [
        format!("/api/v1/jobs/{id}/audio?access_token={alice}"),
        format!("/api/v1/events?access_token={alice}"),
        format!("/api/v1/jobs/{id}/events?access_token={alice}"),
        format!("/api/v1/jobs?access_token={alice}"),
    ] {
        let res = app.http.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), 401, "{path}");
    }
    // With a signed URL instead, the audio plays, ranges included.
    let url = signed_url(&app, &alice, &id).await;
    let res = app
        .http
        .get(app.url(&url))
        .header("Range", "bytes=0-9")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 206);
    assert_eq!(res.bytes().await.unwrap().len(), 10);
    app.stop().await;
}
