//! The retention `keep` flag: set and cleared by the owner or an admin, 404 for anyone else,
//! 409 once the job expired, and settable on upload.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};

use crate::common::{FakeUser, Form, TestApp, body_json, fixture, get};

fn keep(method: Method, id: &str, user: &FakeUser) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(format!("/api/v1/jobs/{id}/keep"))
        .header("authorization", user.bearer())
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn owner_and_admin_keep_a_job_and_others_get_404() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let job = |_: ()| async { app.state.db.get_job(&id).await.unwrap().unwrap() };
    assert!(!job(()).await.keep);

    let response = app.send(keep(Method::PUT, id.as_str(), &app.alice)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await["keep"], true);
    assert!(job(()).await.keep);
    let view = body_json(
        app.send(get(
            &format!("/api/v1/jobs/{id}"),
            Some(&app.alice.bearer()),
        ))
        .await,
    )
    .await;
    assert_eq!(view["keep"], true);

    for method in [Method::PUT, Method::DELETE] {
        let response = app.send(keep(method.clone(), id.as_str(), &app.bob)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method}");
    }
    assert!(job(()).await.keep, "bob changed nothing");

    let response = app
        .send(keep(Method::DELETE, id.as_str(), &app.admin))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_json(response).await["keep"], false);
    assert!(!job(()).await.keep);

    let missing = mp3converter_core::JobId::generate();
    let response = app
        .send(keep(Method::PUT, missing.as_str(), &app.alice))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_expired_job_cannot_be_kept() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    app.finish(&id, b"ID3 audio").await;
    app.state.db.mark_expired(&id).await.unwrap();
    let response = app.send(keep(Method::PUT, id.as_str(), &app.alice)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(body_json(response).await["code"], "expired");
    assert!(!app.state.db.get_job(&id).await.unwrap().unwrap().keep);
}

#[tokio::test]
async fn keep_can_be_asked_for_on_upload() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let form = Form::new()
        .text("keep", "true")
        .file("file", "a.mp4", &video);
    let response = app
        .send(form.request("/api/v1/jobs", Some(&app.alice.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let view = body_json(response).await;
    assert_eq!(view["keep"], true);

    let form = Form::new()
        .text("keep", "forever")
        .file("file", "a.mp4", &video);
    let response = app
        .send(form.request("/api/v1/jobs", Some(&app.alice.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.state.db.list_jobs(10).await.unwrap().len(), 1);
}
