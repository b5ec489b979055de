//! Quotas: an admin's overrides (`/api/v1/users/{id}/quotas`), usage in `/api/v1/me`, and the
//! refusals of every way in — 429 for jobs per day and jobs at once, 413 for storage and upload
//! size — each with its code and the limit in words; nothing already accepted is touched.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use crate::common::{FakeUser, Form, TestApp, body_json, body_text, fixture, get};

fn put_quotas(user: &FakeUser, by: &FakeUser, body: &Value) -> Request<Body> {
    Request::builder()
        .method("PUT")
        .uri(format!("/api/v1/users/{}/quotas", user.view.id))
        .header("authorization", by.bearer())
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn set_quotas(app: &TestApp, user: &FakeUser, body: Value) -> Value {
    let response = app.send(put_quotas(user, &app.admin, &body)).await;
    assert_eq!(response.status(), StatusCode::OK);
    body_json(response).await
}

async fn me(app: &TestApp, user: &FakeUser) -> Value {
    let response = app.send(get("/api/v1/me", Some(&user.bearer()))).await;
    assert_eq!(response.status(), StatusCode::OK);
    body_json(response).await
}

fn upload(user: &FakeUser, name: &str, bytes: &[u8]) -> Request<Body> {
    Form::new()
        .file("file", name, bytes)
        .request("/api/v1/jobs", Some(&user.bearer()))
}

#[tokio::test]
async fn admins_set_and_read_overrides_and_others_cannot() {
    let app = TestApp::spawn().await;
    let view = set_quotas(
        &app,
        &app.alice,
        json!({"jobs_per_day": 5, "storage_bytes": 0}),
    )
    .await;
    assert_eq!(view["overrides"]["jobs_per_day"], 5);
    assert_eq!(view["overrides"]["storage_bytes"], 0);
    assert_eq!(view["overrides"]["concurrent_jobs"], Value::Null);
    assert_eq!(view["limits"]["jobs_per_day"], 5);
    assert_eq!(
        view["limits"]["storage_bytes"],
        Value::Null,
        "0 is no limit"
    );
    assert_eq!(view["usage"]["jobs_today"], 0);

    let response = app
        .send(
            Request::builder()
                .uri(format!("/api/v1/users/{}/quotas", app.alice.view.id))
                .header("authorization", app.admin.bearer())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await["limits"]["jobs_per_day"], 5);

    // Not an admin: 403, also for one's own quotas; nothing changes.
    let response = app
        .send(put_quotas(&app.alice, &app.alice, &json!({})))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(me(&app, &app.alice).await["limits"]["jobs_per_day"], 5);

    // Unknown user, bad body, a value no database column holds.
    let mut ghost = app.bob.clone();
    ghost.view.id = mp3converter_core::UserId::generate();
    let response = app.send(put_quotas(&ghost, &app.admin, &json!({}))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    for body in [
        json!({"jobs_per_day": -1}),
        json!({"per_day": 1}),
        json!({"storage_bytes": u64::MAX}),
    ] {
        let response = app.send(put_quotas(&app.alice, &app.admin, &body)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
    }

    // An empty body goes back to the defaults.
    let view = set_quotas(&app, &app.alice, json!({})).await;
    assert_eq!(view["limits"]["jobs_per_day"], Value::Null);
}

#[tokio::test]
async fn jobs_per_day_are_counted_with_deleted_ones_and_refused_with_429() {
    let app = TestApp::spawn().await;
    set_quotas(&app, &app.alice, json!({"jobs_per_day": 2})).await;
    let video = fixture("mp4-aac-faststart.mp4");
    let first = app.upload(&app.alice, "a.mp4", &video).await;
    app.upload(&app.alice, "b.mp4", &video).await;
    // Deleting a job does not give it back.
    let response = app
        .send(
            Request::builder()
                .method("DELETE")
                .uri(format!("/api/v1/jobs/{first}"))
                .header("authorization", app.alice.bearer())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(me(&app, &app.alice).await["usage"]["jobs_today"], 2);

    let blobs = app.blob_keys().await;
    let response = app.send(upload(&app.alice, "c.mp4", &video)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=86_400).contains(&retry), "until 00:00 UTC: {retry}");
    let body = body_json(response).await;
    assert_eq!(body["code"], "quota-jobs-per-day");
    assert!(body["message"].as_str().unwrap().contains("(2)"), "{body}");
    assert_eq!(app.blob_keys().await, blobs, "nothing stored");

    // The course's route answers in plain text; another user is not limited.
    let form = Form::new().file("file", "d.mp4", &video);
    let response = app
        .send(form.request("/upload", Some(&app.alice.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(body_text(response).await.contains("in one day"));
    app.upload(&app.bob, "b.mp4", &video).await;
}

#[tokio::test]
async fn jobs_in_progress_are_limited_until_one_finishes() {
    let app = TestApp::spawn().await;
    set_quotas(&app, &app.alice, json!({"concurrent_jobs": 1})).await;
    let video = fixture("mp4-aac-faststart.mp4");
    let first = app.upload(&app.alice, "a.mp4", &video).await;
    let response = app.send(upload(&app.alice, "b.mp4", &video)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(body_json(response).await["code"], "quota-concurrent-jobs");
    assert_eq!(me(&app, &app.alice).await["usage"]["concurrent_jobs"], 1);

    app.finish(&first, b"audio").await;
    assert_eq!(me(&app, &app.alice).await["usage"]["concurrent_jobs"], 0);
    let response = app.send(upload(&app.alice, "b.mp4", &video)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn storage_counts_videos_and_audio_and_refuses_what_does_not_fit() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let size = video.len() as u64;
    let first = app.upload(&app.alice, "a.mp4", &video).await;
    app.finish(&first, &[7u8; 1000]).await;
    let usage = me(&app, &app.alice).await["usage"].clone();
    assert_eq!(usage["storage_bytes"], size + 1000);

    // Room for one more video, not for two.
    set_quotas(
        &app,
        &app.alice,
        json!({"storage_bytes": 2 * size + 1000 + size / 2}),
    )
    .await;
    app.upload(&app.alice, "b.mp4", &video).await;
    let blobs = app.blob_keys().await;
    let response = app.send(upload(&app.alice, "c.mp4", &video)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = body_json(response).await;
    assert_eq!(body["code"], "quota-storage");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("storage quota of"),
        "{body}"
    );
    assert_eq!(
        app.blob_keys().await,
        blobs,
        "the refused video was removed"
    );
}

#[tokio::test]
async fn an_upload_over_the_users_limit_is_refused_before_the_body_is_read() {
    let app = TestApp::spawn().await;
    set_quotas(&app, &app.alice, json!({"max_upload_bytes": 1000})).await;
    assert_eq!(
        me(&app, &app.alice).await["limits"]["max_upload_bytes"],
        1000
    );
    let video = fixture("mp4-aac-faststart.mp4");
    assert!(video.len() > 1000);

    // Refused by its Content-Length …
    let response = app.send(upload(&app.alice, "a.mp4", &video)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = body_json(response).await;
    assert_eq!(body["code"], "quota-upload-size");
    assert!(
        body["message"].as_str().unwrap().contains("1000 bytes"),
        "{body}"
    );
    // … and declared by tus before a byte is sent.
    let response = app
        .send(crate::tus::create(&app.alice, video.len() as u64, ""))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_json(response).await["code"], "quota-upload-size");
    assert!(app.blob_keys().await.is_empty());
    // Bob keeps the server's limit.
    app.upload(&app.bob, "a.mp4", &video).await;
}

#[tokio::test]
async fn the_server_defaults_apply_to_everyone_without_an_override() {
    let mut app = TestApp::spawn().await;
    app.state.quotas.jobs_per_day = 1;
    app.router = mp3converter_gateway::router(app.state.clone());
    assert_eq!(me(&app, &app.bob).await["limits"]["jobs_per_day"], 1);
    let video = fixture("mp4-aac-faststart.mp4");
    app.upload(&app.bob, "a.mp4", &video).await;
    let response = app.send(upload(&app.bob, "b.mp4", &video)).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    // An override of 0 lifts the limit for one user.
    set_quotas(&app, &app.bob, json!({"jobs_per_day": 0})).await;
    let response = app.send(upload(&app.bob, "b.mp4", &video)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
}
