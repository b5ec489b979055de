//! `/api/v1/webhooks`: the secret is shown once, endpoints are their owner's only, URLs pass the
//! import's SSRF checks (and `import.allow_cidrs` opens a local receiver), limits and bad bodies
//! are refused with a code.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine as _;
use mp3converter_gateway::{ImportConfig, Importer, WebhookSettings};
use serde_json::{Value, json};

use crate::common::{FakeUser, TestApp, body_json, get};

pub fn send_json(method: Method, uri: &str, user: &FakeUser, body: &Value) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", user.bearer())
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

pub fn bare(method: Method, uri: &str, user: &FakeUser) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", user.bearer())
        .body(Body::empty())
        .unwrap()
}

/// An app whose address policy lets webhooks reach loopback (`import.allow_cidrs`), with
/// `settings`.
pub async fn local_app(settings: WebhookSettings) -> TestApp {
    let mut app = TestApp::spawn().await;
    app.state.import = Importer::new(ImportConfig {
        allow_cidrs: "127.0.0.0/8".parse().unwrap(),
        ..ImportConfig::default()
    })
    .unwrap();
    app.state.webhooks = settings;
    app.router = mp3converter_gateway::router(app.state.clone());
    app
}

/// Creates an endpoint of `user` for `url`; returns the answer's JSON (with the secret).
pub async fn create(app: &TestApp, user: &FakeUser, url: &str, events: &[&str]) -> Value {
    let response = app
        .send(send_json(
            Method::POST,
            "/api/v1/webhooks",
            user,
            &json!({"url": url, "events": events, "description": "ci"}),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    body_json(response).await
}

#[tokio::test]
async fn the_secret_is_shown_once_and_the_endpoint_can_be_changed_and_deleted() {
    let app = TestApp::spawn().await;
    let response = app
        .send(send_json(
            Method::POST,
            "/api/v1/webhooks",
            &app.alice,
            &json!({"url": "https://93.184.215.14/hook", "events": ["job.done", "job.done"]}),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created = body_json(response).await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/webhooks/{id}"));
    assert_eq!(created["events"], json!(["job.done"]));
    assert_eq!(created["enabled"], true);
    let secret = created["secret"].as_str().unwrap();
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ prefix"))
        .unwrap();
    assert!((24..=64).contains(&key.len()));

    let list = body_json(
        app.send(get("/api/v1/webhooks", Some(&app.alice.bearer())))
            .await,
    )
    .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(
        list[0].get("secret").is_none(),
        "the list never shows secrets"
    );
    let one = body_json(app.send(get(&location, Some(&app.alice.bearer()))).await).await;
    assert!(one.get("secret").is_none());
    assert_eq!(one["url"], "https://93.184.215.14/hook");

    let changed = app
        .send(send_json(
            Method::PATCH,
            &location,
            &app.alice,
            &json!({"events": ["job.failed", "job.done"], "description": "both", "enabled": false}),
        ))
        .await;
    assert_eq!(changed.status(), StatusCode::OK);
    let changed = body_json(changed).await;
    assert_eq!(changed["events"], json!(["job.failed", "job.done"]));
    assert_eq!(
        (
            changed["description"].as_str(),
            changed["enabled"].as_bool()
        ),
        (Some("both"), Some(false))
    );

    let rotated = app
        .send(bare(
            Method::POST,
            &format!("{location}/rotate"),
            &app.alice,
        ))
        .await;
    assert_eq!(rotated.status(), StatusCode::OK);
    let rotated = body_json(rotated).await;
    assert!(rotated["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_ne!(rotated["secret"].as_str(), Some(secret));
    assert!(
        rotated["previous_secret_until"].as_i64().unwrap()
            > created["created_at"].as_i64().unwrap()
    );

    let deleted = app.send(bare(Method::DELETE, &location, &app.alice)).await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app.send(get(&location, Some(&app.alice.bearer()))).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn private_and_metadata_addresses_and_other_schemes_are_refused() {
    let app = TestApp::spawn().await;
    for (url, code) in [
        ("http://127.0.0.1:8080/hook", "url-not-allowed"),
        ("http://10.0.0.7/hook", "url-not-allowed"),
        ("http://192.168.1.1/hook", "url-not-allowed"),
        ("http://[::1]/hook", "url-not-allowed"),
        ("http://[::ffff:127.0.0.1]/hook", "url-not-allowed"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "url-not-allowed",
        ),
        ("http://2130706433/", "url-not-allowed"),
        ("http://localhost/hook", "url-not-allowed"),
        ("ftp://example.com/hook", "url-not-allowed"),
        ("file:///etc/passwd", "url-not-allowed"),
        ("not a url", "invalid-url"),
        ("https://user:secret@example.com/", "invalid-url"),
    ] {
        let response = app
            .send(send_json(
                Method::POST,
                "/api/v1/webhooks",
                &app.alice,
                &json!({"url": url, "events": ["job.done"]}),
            ))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{url}");
        assert_eq!(body_json(response).await["code"], code, "{url}");
    }
    let long = format!("https://example.com/{}", "a".repeat(3000));
    let response = app
        .send(send_json(
            Method::POST,
            "/api/v1/webhooks",
            &app.alice,
            &json!({"url": long, "events": ["job.done"]}),
        ))
        .await;
    assert_eq!(body_json(response).await["code"], "invalid-url");

    // A change is checked like a creation.
    let created = create(
        &app,
        &app.alice,
        "https://93.184.215.14/hook",
        &["job.done"],
    )
    .await;
    let uri = format!("/api/v1/webhooks/{}", created["id"].as_str().unwrap());
    let response = app
        .send(send_json(
            Method::PATCH,
            &uri,
            &app.alice,
            &json!({"url": "http://169.254.169.254/"}),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response).await["code"], "url-not-allowed");
}

#[tokio::test]
async fn allow_cidrs_lets_a_local_receiver_in() {
    let app = local_app(WebhookSettings::default()).await;
    let created = create(&app, &app.alice, "http://127.0.0.1:9/hook", &["job.done"]).await;
    assert_eq!(created["url"], "http://127.0.0.1:9/hook");
    let response = app
        .send(send_json(
            Method::POST,
            "/api/v1/webhooks",
            &app.alice,
            &json!({"url": "http://10.0.0.7/hook", "events": ["job.done"]}),
        ))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "only the allowed range opens"
    );
}

#[tokio::test]
async fn another_users_endpoint_is_not_found_even_for_an_admin() {
    let app = TestApp::spawn().await;
    let created = create(
        &app,
        &app.alice,
        "https://93.184.215.14/hook",
        &["job.done"],
    )
    .await;
    let uri = format!("/api/v1/webhooks/{}", created["id"].as_str().unwrap());
    for user in [&app.bob, &app.admin] {
        for request in [
            bare(Method::GET, &uri, user),
            send_json(Method::PATCH, &uri, user, &json!({"enabled": false})),
            bare(Method::POST, &format!("{uri}/rotate"), user),
            bare(Method::GET, &format!("{uri}/deliveries"), user),
            bare(Method::GET, &format!("{uri}/deliveries/msg_x"), user),
            bare(
                Method::POST,
                &format!("{uri}/deliveries/msg_x/replay"),
                user,
            ),
            bare(Method::DELETE, &uri, user),
        ] {
            let what = format!("{} {}", request.method(), request.uri());
            let response = app.send(request).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{what}");
            assert_eq!(body_json(response).await["code"], "not-found");
        }
        let list = body_json(
            app.send(get("/api/v1/webhooks", Some(&user.bearer())))
                .await,
        )
        .await;
        assert_eq!(list, json!([]));
    }
    let anonymous = app.send(get("/api/v1/webhooks", None)).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let still = app.send(get(&uri, Some(&app.alice.bearer()))).await;
    assert_eq!(still.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_bodies_and_too_many_endpoints_are_refused_with_a_code() {
    let app = local_app(WebhookSettings {
        max_endpoints_per_user: 2,
        ..WebhookSettings::default()
    })
    .await;
    for (body, code) in [
        (
            json!({"url": "http://127.0.0.1:9/", "events": []}),
            "invalid-events",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["job.started"]}),
            "invalid-events",
        ),
        (json!({"url": "http://127.0.0.1:9/"}), "invalid-body"),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["job.done"], "colour": 1}),
            "invalid-body",
        ),
        (
            json!({"url": "http://127.0.0.1:9/", "events": ["job.done"], "description": "a\u{0}b"}),
            "invalid-description",
        ),
    ] {
        let response = app
            .send(send_json(
                Method::POST,
                "/api/v1/webhooks",
                &app.alice,
                &body,
            ))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body_json(response).await["code"], code, "{body}");
    }
    create(&app, &app.alice, "http://127.0.0.1:9/a", &["job.done"]).await;
    create(&app, &app.alice, "http://127.0.0.1:9/b", &["job.failed"]).await;
    let third = app
        .send(send_json(
            Method::POST,
            "/api/v1/webhooks",
            &app.alice,
            &json!({"url": "http://127.0.0.1:9/c", "events": ["job.done"]}),
        ))
        .await;
    assert_eq!(third.status(), StatusCode::CONFLICT);
    assert_eq!(body_json(third).await["code"], "too-many-webhooks");
    // The limit is per user.
    create(&app, &app.bob, "http://127.0.0.1:9/d", &["job.done"]).await;
}
