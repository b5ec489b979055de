//! Accounts: login, user management by admins, password changes, and the course's curl flow.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::authz::status;
use crate::common::{FakeUser, Form, TestApp, body_json, body_text, fixture, get};

fn basic(credentials: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    )
}

fn login(authorization: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/login");
    if let Some(a) = authorization {
        b = b.header(header::AUTHORIZATION, a);
    }
    b.body(Body::empty()).unwrap()
}

fn login_as(credentials: &str) -> Request<Body> {
    login(Some(&basic(credentials)))
}

#[tokio::test]
async fn login_answers_the_token_as_text_or_the_course_errors() {
    let app = TestApp::spawn().await;
    let response = app
        .send(login(Some(&basic("alice@example.com:alice-pw"))))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, app.alice.token());

    for (auth, status, text) in [
        (None, StatusCode::UNAUTHORIZED, "missing credentials"),
        (
            Some("Basic"),
            StatusCode::UNAUTHORIZED,
            "missing credentials",
        ),
        (
            Some("Basic %%%"),
            StatusCode::UNAUTHORIZED,
            "missing credentials",
        ),
        (
            Some("Bearer x"),
            StatusCode::UNAUTHORIZED,
            "missing credentials",
        ),
        (
            Some(&*basic("alice@example.com:wrong")),
            StatusCode::UNAUTHORIZED,
            "invalid credentials",
        ),
        (
            Some(&*basic("nobody@example.com:x")),
            StatusCode::UNAUTHORIZED,
            "invalid credentials",
        ),
    ] {
        let response = app.send(login(auth)).await;
        assert_eq!(response.status(), status, "{auth:?}");
        assert_eq!(body_text(response).await, text, "{auth:?}");
    }
    let response = app.send(login(Some(&basic("limited@example.com:x")))).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()[header::RETRY_AFTER], "3");
}

fn json_request(
    method: Method,
    uri: &str,
    user: &FakeUser,
    body: serde_json::Value,
) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, user.bearer())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

#[tokio::test]
async fn user_management_is_for_admins_and_everyone_can_change_their_password() {
    let app = TestApp::spawn().await;
    let new_user = json!({"email": "carol@example.com", "password": "carol-pw"});
    assert_eq!(
        status(&app, Method::GET, "/api/v1/users", &app.alice).await,
        StatusCode::FORBIDDEN
    );
    let response = app
        .send(json_request(
            Method::POST,
            "/api/v1/users",
            &app.alice,
            new_user.clone(),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_json(response).await["code"], "forbidden");

    let response = app
        .send(json_request(
            Method::POST,
            "/api/v1/users",
            &app.admin,
            new_user.clone(),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let carol = body_json(response).await;
    assert_eq!(
        (carol["email"].as_str(), carol["admin"].as_bool()),
        (Some("carol@example.com"), Some(false))
    );
    let response = app
        .send(json_request(
            Method::POST,
            "/api/v1/users",
            &app.admin,
            new_user,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    let response = app
        .send(json_request(
            Method::POST,
            "/api/v1/users",
            &app.admin,
            json!({"email": 1}),
        ))
        .await;
    // A body of the wrong shape is 400 (the document has no 422).
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response).await["code"], "invalid-body");
    // A body that is not JSON at all is 415.
    let request = Request::post("/api/v1/users")
        .header("authorization", app.admin.bearer())
        .header("content-type", "text/plain")
        .body(Body::from("email=a"))
        .unwrap();
    assert_eq!(
        app.send(request).await.status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let users = body_json(
        app.send(get("/api/v1/users", Some(&app.admin.bearer())))
            .await,
    )
    .await;
    assert_eq!(users.as_array().unwrap().len(), 4);
    let disable = format!("/api/v1/users/{}/disable", carol["id"].as_str().unwrap());
    assert_eq!(
        status(&app, Method::POST, &disable, &app.alice).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&app, Method::POST, &disable, &app.admin).await,
        StatusCode::NO_CONTENT
    );
    let response = app.send(login_as("carol@example.com:carol-pw")).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Disabling can be undone, by an admin only.
    let enable = disable.replace("/disable", "/enable");
    assert_eq!(
        status(&app, Method::POST, &enable, &app.alice).await,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        status(&app, Method::POST, &enable, &app.admin).await,
        StatusCode::NO_CONTENT
    );
    let response = app.send(login_as("carol@example.com:carol-pw")).await;
    assert_eq!(response.status(), StatusCode::OK);

    let me = body_json(app.send(get("/api/v1/me", Some(&app.alice.bearer()))).await).await;
    assert_eq!(me["id"], app.alice.view.id.to_string());
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["admin"], false);
    assert_eq!(me["usage"]["jobs_today"], 0, "{me}");
    assert_eq!(
        me["limits"]["jobs_per_day"],
        serde_json::Value::Null,
        "{me}"
    );
    let change = |old: &str| json!({"old_password": old, "new_password": "new-pw"});
    let response = app
        .send(json_request(
            Method::PUT,
            "/api/v1/me/password",
            &app.alice,
            change("wrong"),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .send(json_request(
            Method::PUT,
            "/api/v1/me/password",
            &app.alice,
            change("alice-pw"),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.send(login_as("alice@example.com:new-pw"))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn course_curl_flow_works_unchanged() {
    let app = TestApp::spawn().await;
    let token = body_text(app.send(login_as("bob@example.com:bob-pw")).await).await;
    let bearer = format!("Bearer {token}");
    let form = Form::new().file("file", "video.mp4", &fixture("mp4-aac-faststart.mp4"));
    let response = app.send(form.request("/upload", Some(&bearer))).await;
    assert_eq!(body_text(response).await, "success!");
    let jobs = body_json(app.send(get("/api/v1/jobs", Some(&bearer))).await).await;
    let id: mp3converter_core::JobId = jobs[0]["id"].as_str().unwrap().parse().unwrap();
    app.finish(&id, b"ID3 fake mp3 bytes").await;
    let response = app
        .send(get(&format!("/download?fid={id}"), Some(&bearer)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body_text(response).await, "ID3 fake mp3 bytes");
}

#[tokio::test]
async fn a_slow_request_is_answered_503_after_the_timeout() {
    let app = TestApp::with_config(mp3converter_gateway::GatewayConfig {
        request_timeout_secs: 1,
        ..Default::default()
    })
    .await;
    let started = std::time::Instant::now();
    let response = app.send(login_as("slow@example.com:x")).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body_json(response).await["code"], "timeout");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}
