//! API keys: `/api/v1/keys` (create, list, revoke), and keys as bearer tokens on the API and the
//! course routes, limited to their scopes.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::common::{FakeUser, Form, TestApp, body_json, body_text, fixture, get};

fn send_json(method: Method, uri: &str, auth: &str, body: Option<Value>) -> Request<Body> {
    let b = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, auth);
    match body {
        Some(v) => b
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(v.to_string()))
            .unwrap(),
        None => b.body(Body::empty()).unwrap(),
    }
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

/// Creates a key for `user` (logged in) and returns the whole answer.
async fn create_key(app: &TestApp, user: &FakeUser, body: Value) -> Value {
    let response = app
        .send(send_json(
            Method::POST,
            "/api/v1/keys",
            &user.bearer(),
            Some(body),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    body_json(response).await
}

async fn key_with(app: &TestApp, user: &FakeUser, scopes: &[&str]) -> String {
    let created = create_key(app, user, json!({"name": "script", "scopes": scopes})).await;
    created["key"].as_str().unwrap().to_owned()
}

async fn status(app: &TestApp, request: Request<Body>) -> (StatusCode, String) {
    let response = app.send(request).await;
    let status = response.status();
    (status, body_text(response).await)
}

async fn list(app: &TestApp, user: &FakeUser) -> Vec<Value> {
    let response = app.send(get("/api/v1/keys", Some(&user.bearer()))).await;
    assert_eq!(response.status(), StatusCode::OK);
    body_json(response).await.as_array().unwrap().clone()
}

#[tokio::test]
async fn keys_are_created_listed_and_revoked_and_the_secret_is_shown_once() {
    let app = TestApp::spawn().await;
    let created = create_key(
        &app,
        &app.alice,
        json!({"name": " deploy ", "scopes": ["jobs:read", "jobs:write"], "expires_in_days": 30}),
    )
    .await;
    let key = created["key"].as_str().unwrap();
    assert!(key.starts_with("mp3c_") && key.len() == 54, "{key}");
    assert_eq!(created["name"], "deploy");
    assert_eq!(created["scopes"], json!(["jobs:read", "jobs:write"]));
    let day = 24 * 3600 * 1000;
    let expires = created["expires_at"].as_i64().unwrap();
    let made = created["created_at"].as_i64().unwrap();
    assert_eq!(expires - made, 30 * day);
    assert!(key.starts_with(created["prefix"].as_str().unwrap()));
    assert!(key.ends_with(created["last4"].as_str().unwrap()));

    let listed = list(&app, &app.alice).await;
    assert_eq!(listed.len(), 1);
    let text = serde_json::to_string(&listed).unwrap();
    assert!(!text.contains(key) && !text.contains(&key[9..30]), "{text}");
    assert!(listed[0].get("key").is_none() && listed[0].get("secret_hash").is_none());
    assert_eq!(listed[0]["id"], created["id"]);
    assert_eq!(listed[0]["last_used_at"], Value::Null);
    assert!(
        list(&app, &app.bob).await.is_empty(),
        "keys are their owner's"
    );

    let uri = format!("/api/v1/keys/{}", created["id"].as_str().unwrap());
    let (s, body) = status(
        &app,
        send_json(Method::DELETE, &uri, &app.bob.bearer(), None),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another user's key: {body}");
    let (s, _) = status(
        &app,
        send_json(Method::DELETE, &uri, &app.alice.bearer(), None),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(list(&app, &app.alice).await.is_empty());
    let (s, _) = status(
        &app,
        send_json(Method::DELETE, &uri, &app.alice.bearer(), None),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn key_scopes_are_enforced_on_the_api_and_the_course_routes() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let id = app.upload(&app.alice, "a.mp4", &video).await;
    app.finish(&id, b"ID3 audio").await;
    let read = bearer(&key_with(&app, &app.alice, &["jobs:read"]).await);
    let write = bearer(&key_with(&app, &app.alice, &["jobs:write"]).await);

    for uri in [
        "/api/v1/jobs".to_owned(),
        format!("/api/v1/jobs/{id}"),
        "/api/v1/me".into(),
    ] {
        assert_eq!(
            status(&app, get(&uri, Some(&read))).await.0,
            StatusCode::OK,
            "{uri}"
        );
        let (s, body) = status(&app, get(&uri, Some(&write))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{uri}");
        assert!(
            body.contains("insufficient-scope") && body.contains("jobs:read"),
            "{body}"
        );
    }
    let me = body_json(app.send(get("/api/v1/me", Some(&read))).await).await;
    assert_eq!(me["email"], "alice@example.com");
    let download = format!("/download?fid={id}");
    let (s, body) = status(&app, get(&download, Some(&read))).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "ID3 audio"));
    let (s, body) = status(&app, get(&download, Some(&write))).await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::FORBIDDEN, "not authorized")
    );

    let upload = |auth: &str| {
        Form::new()
            .file("file", "b.mp4", &video)
            .request("/upload", Some(auth))
    };
    let (s, body) = status(&app, upload(&read)).await;
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::FORBIDDEN, "not authorized")
    );
    let (s, body) = status(&app, upload(&write)).await;
    assert_eq!((s, body.as_str()), (StatusCode::OK, "success!"));
    let api_upload = Form::new()
        .file("file", "c.mp4", &video)
        .request("/api/v1/jobs", Some(&read));
    let (s, body) = status(&app, api_upload).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let delete = format!("/api/v1/jobs/{id}");
    let (s, _) = status(&app, send_json(Method::DELETE, &delete, &read, None)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = status(&app, send_json(Method::DELETE, &delete, &write, None)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = status(&app, get("/api/v1/users", Some(&read))).await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "user management needs the admin scope"
    );
}

#[tokio::test]
async fn admin_scope_is_for_administrators_and_only_it_manages_users() {
    let app = TestApp::spawn().await;
    let (s, body) = status(
        &app,
        send_json(
            Method::POST,
            "/api/v1/keys",
            &app.alice.bearer(),
            Some(json!({"name": "x", "scopes": ["admin"]})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(body.contains("admin-scope-forbidden"), "{body}");

    let bobs = app
        .upload(&app.bob, "b.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let admin_key = bearer(&key_with(&app, &app.admin, &["admin", "jobs:read"]).await);
    let reader = bearer(&key_with(&app, &app.admin, &["jobs:read"]).await);
    assert_eq!(
        status(&app, get("/api/v1/users", Some(&admin_key))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, get("/api/v1/users", Some(&reader))).await.0,
        StatusCode::FORBIDDEN
    );
    let bobs_job = format!("/api/v1/jobs/{bobs}");
    assert_eq!(
        status(&app, get(&bobs_job, Some(&admin_key))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        status(&app, get(&bobs_job, Some(&reader))).await.0,
        StatusCode::NOT_FOUND,
        "without the admin scope an administrator's key sees its user's jobs only"
    );
}

#[tokio::test]
async fn a_key_cannot_manage_keys_or_change_the_password() {
    let app = TestApp::spawn().await;
    let key = bearer(&key_with(&app, &app.admin, &["jobs:read", "jobs:write", "admin"]).await);
    let id = list(&app, &app.admin).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({"name": "more", "scopes": ["jobs:read"]});
    let password = json!({"old_password": "admin-pw", "new_password": "something-long"});
    for request in [
        send_json(Method::POST, "/api/v1/keys", &key, Some(body)),
        send_json(Method::GET, "/api/v1/keys", &key, None),
        send_json(Method::DELETE, &format!("/api/v1/keys/{id}"), &key, None),
        send_json(Method::PUT, "/api/v1/me/password", &key, Some(password)),
    ] {
        let (s, body) = status(&app, request).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
        assert!(body.contains("login-required"), "{body}");
    }
    assert_eq!(list(&app, &app.admin).await.len(), 1);
}

#[tokio::test]
async fn invalid_requests_are_400_with_a_code_and_the_number_of_keys_is_limited() {
    let app = TestApp::spawn().await;
    let now = mp3converter_core::now_millis();
    for (body, code) in [
        (
            json!({"name": "x", "scopes": ["jobs:delete"]}),
            "unknown-scope",
        ),
        (json!({"name": "x", "scopes": []}), "invalid-scopes"),
        (
            json!({"name": "  ", "scopes": ["jobs:read"]}),
            "invalid-name",
        ),
        (
            json!({"name": "a\u{7}b", "scopes": ["jobs:read"]}),
            "invalid-name",
        ),
        (
            json!({"name": "x".repeat(101), "scopes": ["jobs:read"]}),
            "invalid-name",
        ),
        (
            json!({"name": "x", "scopes": ["jobs:read"], "expires_at": now - 1}),
            "invalid-expiry",
        ),
        (
            json!({"name": "x", "scopes": ["jobs:read"], "expires_in_days": 0}),
            "invalid-expiry",
        ),
        (
            json!({"name": "x", "scopes": ["jobs:read"], "secret": "mine"}),
            "invalid-body",
        ),
    ] {
        let request = send_json(Method::POST, "/api/v1/keys", &app.bob.bearer(), Some(body));
        let (s, text) = status(&app, request).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{text}");
        assert!(text.contains(code), "{code}: {text}");
    }
    for _ in 0..50 {
        key_with(&app, &app.bob, &["jobs:read"]).await;
    }
    let request = send_json(
        Method::POST,
        "/api/v1/keys",
        &app.bob.bearer(),
        Some(json!({"name": "one too many", "scopes": ["jobs:read"]})),
    );
    let (s, text) = status(&app, request).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert!(text.contains("too-many-keys"), "{text}");
}

#[tokio::test]
async fn expired_revoked_and_disabled_users_keys_are_refused_at_once() {
    let app = TestApp::spawn().await;
    let soon = mp3converter_core::now_millis() + 700;
    let created = create_key(
        &app,
        &app.alice,
        json!({"name": "short", "scopes": ["jobs:read"], "expires_at": soon}),
    )
    .await;
    let expiring = bearer(created["key"].as_str().unwrap());
    assert_eq!(
        status(&app, get("/api/v1/jobs", Some(&expiring))).await.0,
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    let (s, body) = status(&app, get("/api/v1/jobs", Some(&expiring))).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert!(body.contains("key-expired"), "{body}");

    let created = create_key(
        &app,
        &app.alice,
        json!({"name": "r", "scopes": ["jobs:read"]}),
    )
    .await;
    let revoked = bearer(created["key"].as_str().unwrap());
    assert_eq!(
        status(&app, get("/api/v1/jobs", Some(&revoked))).await.0,
        StatusCode::OK
    );
    let uri = format!("/api/v1/keys/{}", created["id"].as_str().unwrap());
    let (s, _) = status(
        &app,
        send_json(Method::DELETE, &uri, &app.alice.bearer(), None),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = status(&app, get("/api/v1/jobs", Some(&revoked))).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "revocation is immediate on this gateway"
    );
    assert!(body.contains("invalid-token"), "{body}");

    let bobs = bearer(&key_with(&app, &app.bob, &["jobs:read"]).await);
    assert_eq!(
        status(&app, get("/api/v1/jobs", Some(&bobs))).await.0,
        StatusCode::OK
    );
    app.state
        .db
        .set_disabled(&app.bob.view.id, true)
        .await
        .unwrap();
    let disable = format!("/api/v1/users/{}/disable", app.bob.view.id);
    let (s, _) = status(
        &app,
        send_json(Method::POST, &disable, &app.admin.bearer(), None),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, body) = status(&app, get("/api/v1/jobs", Some(&bobs))).await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a disabled user's key stops: {body}"
    );
}

#[tokio::test]
async fn wrong_or_malformed_keys_are_401_never_500() {
    let app = TestApp::spawn().await;
    let real = key_with(&app, &app.alice, &["jobs:read", "jobs:write"]).await;
    let mut typo = real.clone().into_bytes();
    typo[20] = if typo[20] == b'A' { b'B' } else { b'A' };
    let typo = String::from_utf8(typo).unwrap();
    let created = create_key(
        &app,
        &app.alice,
        json!({"name": "gone", "scopes": ["jobs:read"]}),
    )
    .await;
    let gone = created["key"].as_str().unwrap().to_owned();
    let uri = format!("/api/v1/keys/{}", created["id"].as_str().unwrap());
    app.send(send_json(Method::DELETE, &uri, &app.alice.bearer(), None))
        .await;
    let wrong = [
        "mp3c_".to_owned(),
        "mp3c_abc".to_owned(),
        format!("{real}x"),
        real[..53].to_owned(),
        typo,
        gone,
        format!("mp3c_{}", "\u{e9}".repeat(24)),
    ];
    for key in &wrong {
        let (s, body) = status(&app, get("/api/v1/jobs", Some(&bearer(key)))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{key}: {body}");
        // A header that is not visible ASCII counts as no header at all.
        let code = if key.is_ascii() {
            "invalid-token"
        } else {
            "missing-credentials"
        };
        assert!(body.contains(code), "{key}: {body}");
        if key.is_ascii() {
            let (s, body) = status(&app, get("/download?fid=x", Some(&bearer(key)))).await;
            assert_eq!(
                (s, body.as_str()),
                (StatusCode::FORBIDDEN, "not authorized"),
                "{key}"
            );
        }
    }
}

#[tokio::test]
async fn last_use_is_recorded() {
    let app = TestApp::spawn().await;
    let key = bearer(&key_with(&app, &app.alice, &["jobs:read"]).await);
    assert_eq!(list(&app, &app.alice).await[0]["last_used_at"], Value::Null);
    let before = mp3converter_core::now_millis();
    assert_eq!(
        status(&app, get("/api/v1/jobs", Some(&key))).await.0,
        StatusCode::OK
    );
    let used = list(&app, &app.alice).await[0]["last_used_at"]
        .as_i64()
        .unwrap();
    assert!(used >= before, "{used} < {before}");
    assert_eq!(
        status(&app, get("/api/v1/me", Some(&key))).await.0,
        StatusCode::OK
    );
    assert_eq!(
        list(&app, &app.alice).await[0]["last_used_at"].as_i64(),
        Some(used),
        "not written again within a minute"
    );
}

#[tokio::test]
async fn an_event_stream_opened_with_a_key_ends_when_the_key_is_revoked() {
    use futures_util::StreamExt;
    let app = TestApp::spawn().await;
    let created = create_key(
        &app,
        &app.alice,
        json!({"name": "feed", "scopes": ["jobs:read"]}),
    )
    .await;
    let key = created["key"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    let stream = app.send(get("/api/v1/events", Some(&bearer(key)))).await;
    assert_eq!(stream.status(), StatusCode::OK);

    let response = app
        .send(send_json(
            Method::DELETE,
            &format!("/api/v1/keys/{id}"),
            &app.alice.bearer(),
            None,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // The stream's last message says why, then it ends.
    let mut body = stream.into_body().into_data_stream();
    let mut text = String::new();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(chunk) = body.next().await {
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end: {text}");
    assert!(
        text.contains("event: session-ended\ndata: {\"reason\":\"revoked\"}"),
        "{text}"
    );
}
