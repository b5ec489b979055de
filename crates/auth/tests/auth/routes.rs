//! The HTTP routes through `oneshot`: the seed's status codes and bodies, rate limits, JWKS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tower::ServiceExt as _;

use crate::common::{Fixture, PASSWORD};

pub(crate) fn basic(email: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{email}:{password}")))
}

pub(crate) async fn call(
    fx: &Fixture,
    method: &str,
    uri: &str,
    auth: Option<&str>,
    from: Option<&str>,
) -> (StatusCode, Response<Body>) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(value) = auth {
        request = request.header(header::AUTHORIZATION, value);
    }
    let mut request = request.body(Body::empty()).unwrap();
    if let Some(addr) = from {
        let addr: SocketAddr = addr.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(addr));
    }
    let response = mp3converter_auth::router(fx.service.clone())
        .oneshot(request)
        .await
        .unwrap();
    (response.status(), response)
}

pub(crate) async fn text(response: Response<Body>) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

pub(crate) async fn login(
    fx: &Fixture,
    email: &str,
    password: &str,
    from: Option<&str>,
) -> (StatusCode, Response<Body>) {
    call(fx, "POST", "/login", Some(&basic(email, password)), from).await
}

#[tokio::test]
async fn login_returns_the_jwt_as_text_and_validate_returns_its_claims() {
    let fx = Fixture::new().await;
    let user = fx.user("kim@example.com").await;
    let (status, response) = login(&fx, "kim@example.com", PASSWORD, None).await;
    assert_eq!(status, 200);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let token = text(response).await;
    assert_eq!(token.split('.').count(), 3);

    let (status, response) = call(
        &fx,
        "POST",
        "/validate",
        Some(&format!("Bearer {token}")),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let claims: serde_json::Value = serde_json::from_str(&text(response).await).unwrap();
    assert_eq!(claims["sub"], user.id.to_string());
    assert_eq!(claims["username"], "kim@example.com");
    assert_eq!(claims["admin"], false);
}

#[tokio::test]
async fn unreadable_basic_headers_are_401_missing_credentials() {
    let fx = Fixture::new().await;
    fx.user("lee@example.com").await;
    let headers = [
        None,
        Some(String::new()),
        Some("Basic".into()),
        Some("Basic %%%not-base64%%%".into()),
        Some(format!("Basic {}", STANDARD.encode("no-colon-here"))),
        Some(format!("Basic {}", STANDARD.encode(":"))),
        Some(format!("Basic {}", STANDARD.encode("lee@example.com:"))),
        Some(format!("Bearer {}", STANDARD.encode("lee@example.com:x"))),
    ];
    for auth in headers {
        let (status, response) = call(&fx, "POST", "/login", auth.as_deref(), None).await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(text(response).await, "missing credentials", "{auth:?}");
    }
}

#[tokio::test]
async fn wrong_password_unknown_and_disabled_users_get_the_identical_401() {
    let fx = Fixture::new().await;
    fx.user("mo@example.com").await;
    fx.user("nia@example.com").await;
    fx.service.disable_user("nia@example.com").await.unwrap();
    let mut answers = Vec::new();
    for (email, password) in [
        ("mo@example.com", "wrong password"),
        ("ghost@example.com", PASSWORD),
        ("nia@example.com", PASSWORD),
    ] {
        let (status, response) = login(&fx, email, password, None).await;
        let headers = format!("{:?}", response.headers());
        answers.push((status, headers, text(response).await));
    }
    assert_eq!(answers[0].0, 401);
    assert_eq!(answers[0].2, "invalid credentials");
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
}

#[tokio::test]
async fn too_many_attempts_from_one_ip_are_429_until_the_window_ends() {
    let fx = Fixture::with(|c| c.login_limit_per_ip = 3).await;
    fx.user("ola@example.com").await;
    let ip = Some("203.0.113.5:40000");
    for n in 0..3 {
        let (status, _) = login(&fx, &format!("u{n}@example.com"), "wrong password", ip).await;
        assert_eq!(status, 401);
    }
    let (status, response) = login(&fx, "ola@example.com", PASSWORD, ip).await;
    assert_eq!(status, 429);
    assert_eq!(response.headers()[header::RETRY_AFTER], "60");

    let (status, _) = login(&fx, "ola@example.com", PASSWORD, Some("198.51.100.7:1")).await;
    assert_eq!(status, 200, "another client is not limited");

    fx.clock.advance(Duration::from_secs(45));
    let (_, response) = login(&fx, "ola@example.com", PASSWORD, ip).await;
    assert_eq!(response.headers()[header::RETRY_AFTER], "15");
    fx.clock.advance(Duration::from_secs(15));
    let (status, _) = login(&fx, "ola@example.com", PASSWORD, ip).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn strangers_wrong_passwords_never_lock_the_owner_out() {
    let fx = Fixture::new().await;
    fx.user("pat@example.com").await;
    fx.user("quinn@example.com").await;
    // Three strangers hammer Pat's account with wrong passwords: each gets its three free
    // guesses checked, and then only 429s.
    for from in [
        "203.0.113.1:4000",
        "203.0.113.2:4000",
        "[2001:db8:9::1]:4000",
    ] {
        let mut statuses = Vec::new();
        for n in 0..15 {
            let guess = format!("guess number {n}");
            statuses.push(login(&fx, "pat@example.com", &guess, Some(from)).await.0);
        }
        let checked = statuses.iter().filter(|s| **s == 401).count();
        assert!(checked <= 3, "{from}: {statuses:?}");
        assert!(statuses[3..].iter().all(|s| *s == 429), "{statuses:?}");
    }
    // Pat, from her own address, still gets in with her password.
    let (status, _) = login(&fx, "pat@example.com", PASSWORD, Some("192.0.2.10:5")).await;
    assert_eq!(status, 200, "the owner was locked out by strangers");
    // A stranger that already failed stays refused while the account is over its limit, even
    // after its own back-off.
    fx.clock.advance(Duration::from_secs(30));
    let (status, response) = login(
        &fx,
        "pat@example.com",
        "guess again!",
        Some("203.0.113.1:4000"),
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(response.headers()[header::RETRY_AFTER], "30");
    assert_eq!(text(response).await, "too many login attempts");
    assert_eq!(login(&fx, "quinn@example.com", PASSWORD, None).await.0, 200);
}

#[tokio::test]
async fn a_failing_client_backs_off_exponentially_until_it_succeeds() {
    let fx = Fixture::new().await;
    fx.user("pia@example.com").await;
    let from = Some("198.51.100.20:1");
    for _ in 0..3 {
        assert_eq!(
            login(&fx, "pia@example.com", "typo typo", from).await.0,
            401
        );
    }
    let (status, response) = login(&fx, "pia@example.com", PASSWORD, from).await;
    assert_eq!(status, 429);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    fx.clock.advance(Duration::from_secs(1));
    assert_eq!(
        login(&fx, "pia@example.com", "typo typo", from).await.0,
        401
    );
    let (status, response) = login(&fx, "PIA@example.com", PASSWORD, from).await;
    assert_eq!(
        status, 429,
        "every spelling of the account shares the back-off"
    );
    assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    fx.clock.advance(Duration::from_secs(2));
    assert_eq!(login(&fx, "pia@example.com", PASSWORD, from).await.0, 200);
    // The success forgot the client's failures: in the next window (the account's own count of
    // failures is per window) it has three free guesses again.
    fx.clock.advance(Duration::from_secs(60));
    for _ in 0..3 {
        assert_eq!(
            login(&fx, "pia@example.com", "typo typo", from).await.0,
            401
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_passwords_are_counted_before_they_are_checked() {
    let fx = Arc::new(Fixture::with(|c| c.login_limit_per_ip = 1_000).await);
    fx.user("ray@example.com").await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..30 {
        let fx = fx.clone();
        tasks.spawn(async move {
            let guess = format!("parallel guess {n}");
            login(&fx, "ray@example.com", &guess, Some("203.0.113.77:1"))
                .await
                .0
        });
    }
    let statuses = tasks.join_all().await;
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((checked, refused), (3, 27), "{statuses:?}");
}

#[tokio::test]
async fn validate_without_a_usable_bearer_header_is_401_and_never_500() {
    let fx = Fixture::new().await;
    for auth in [
        None,
        Some(""),
        Some("Bearer"),
        Some("Bearer "),
        Some("token-without-scheme"),
        Some("Basic abc"),
    ] {
        let (status, response) = call(&fx, "POST", "/validate", auth, None).await;
        assert_eq!(status, 401, "{auth:?}");
        assert_eq!(text(response).await, "missing credentials");
    }
}

#[tokio::test]
async fn validate_with_a_bad_or_expired_token_is_403_not_authorized() {
    let fx = Fixture::new().await;
    let user = fx.user("rae@example.com").await;
    let mut expired = fx
        .service
        .issuer()
        .claims_for(&user, mp3converter_core::now_millis() / 1000 - 100_000);
    expired.exp = mp3converter_core::now_millis() / 1000 - 60;
    let expired = fx.service.issuer().sign(&expired).unwrap();
    for token in ["garbage", "a.b.c", expired.as_str()] {
        let (status, response) = call(
            &fx,
            "POST",
            "/validate",
            Some(&format!("Bearer {token}")),
            None,
        )
        .await;
        assert_eq!(status, 403, "{token}");
        assert_eq!(text(response).await, "not authorized");
    }
}

#[tokio::test]
async fn the_jwks_is_served_as_json() {
    let fx = Fixture::new().await;
    let (status, response) = call(&fx, "GET", "/.well-known/jwks.json", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    let body = text(response).await;
    assert_eq!(body, fx.service.jwks_json());
    mp3converter_auth::TokenVerifier::from_jwks(&body, "mp3converter", "mp3converter").unwrap();
}

#[tokio::test]
async fn login_while_the_database_is_down_is_503() {
    let fx = Fixture::new().await;
    fx.user("sam@example.com").await;
    fx.db.close().await;
    let (status, response) = login(&fx, "sam@example.com", PASSWORD, None).await;
    assert_eq!(status, 503);
    assert_eq!(text(response).await, "service unavailable");
}
