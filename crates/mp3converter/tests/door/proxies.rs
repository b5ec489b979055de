//! `server.trusted_proxies`: `X-Forwarded-For` counts only from a trusted peer, right-most
//! untrusted hop wins, so one client behind the ingress cannot make everyone's login 429, and a
//! client cannot pick its own address by sending the header.

use mp3converter_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};
use reqwest::StatusCode;

/// One login attempt as sent through a proxy that set `X-Forwarded-For: forwarded`.
async fn login(app: &TestApp, forwarded: &str, email: &str, password: &str) -> StatusCode {
    app.http
        .post(app.url("/login"))
        .basic_auth(email, Some(password))
        .header("x-forwarded-for", forwarded)
        .send()
        .await
        .unwrap()
        .status()
}

/// Wrong passwords for a different unknown account each time, from `forwarded` (as chosen by
/// `forwarded_for(i)`), until the per-client limit answers 429; panics if it never does.
async fn fail_until_limited(app: &TestApp, forwarded_for: impl Fn(usize) -> String) {
    for i in 0..100 {
        let email = format!("nobody-{i}@example.com");
        match login(app, &forwarded_for(i), &email, "wrong-password").await {
            StatusCode::TOO_MANY_REQUESTS => return,
            StatusCode::UNAUTHORIZED => {}
            other => panic!("attempt {i}: {other}"),
        }
    }
    panic!("100 failed logins from one client were never limited");
}

#[tokio::test]
async fn without_trusted_proxies_a_forged_forwarded_for_is_ignored() {
    let app = TestApp::spawn().await;
    // A new forged address on every attempt: the limit still sees one client (the peer).
    fail_until_limited(&app, |i| format!("203.0.113.{}", i % 250 + 1)).await;
    assert_eq!(
        login(&app, "198.51.100.200", ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "a forged X-Forwarded-For escaped the limit of its real address"
    );
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_client_has_its_own_login_limit() {
    let app = TestApp::spawn_with(|c| {
        c.server.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    })
    .await;
    // Client A, seen by the proxy as 198.51.100.1, exhausts its own limit.
    fail_until_limited(&app, |_| "198.51.100.1".to_string()).await;
    // Client B behind the same proxy still logs in.
    assert_eq!(
        login(&app, "198.51.100.2", ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::OK,
        "client A's failures limited client B"
    );
    // A cannot become a fresh client by writing its own entry in front of the proxy's: the
    // right-most untrusted hop is still A.
    assert_eq!(
        login(
            &app,
            "198.51.100.99, 198.51.100.2, 198.51.100.1",
            ADMIN_EMAIL,
            ADMIN_PASSWORD
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "a spoofed left-most X-Forwarded-For entry was believed"
    );
    // Hops that are themselves trusted proxies are skipped.
    assert_eq!(
        login(&app, "198.51.100.1, 127.0.0.1", ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// The auth role alone, and a gateway role in front of it (sharing its data dir), both on
/// 127.0.0.1. The gateway trusts 127.0.0.1 as its ingress; the auth role trusts it (the gateway)
/// only when `auth_trusts_the_gateway`.
async fn split_roles(auth_trusts_the_gateway: bool) -> (TestApp, TestApp) {
    let auth = TestApp::spawn_with(|c| {
        c.server.roles = "auth".parse().unwrap();
        if auth_trusts_the_gateway {
            c.server.trusted_proxies = "127.0.0.1/32".parse().unwrap();
        }
    })
    .await;
    let mut config = auth.config.clone();
    config.server.roles = "gateway".parse().unwrap();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.server.trusted_proxies = "127.0.0.1/32".parse().unwrap();
    config.auth.url = Some(auth.base.clone());
    let gateway = TestApp::restart(config).await;
    (auth, gateway)
}

#[tokio::test]
async fn a_login_forwarded_to_the_auth_role_keeps_the_clients_address() {
    let (_auth, gateway) = split_roles(true).await;
    fail_until_limited(&gateway, |_| "198.51.100.1".to_string()).await;
    assert_eq!(
        login(&gateway, "198.51.100.2", ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::OK,
        "the auth role limited client B for client A's failures"
    );
}

#[tokio::test]
async fn the_auth_role_ignores_forwarded_for_from_peers_it_does_not_trust() {
    let (_auth, gateway) = split_roles(false).await;
    // The gateway forwards each client's address, but auth does not trust the gateway: every
    // login counts against the gateway's address, as a stranger's forged header would.
    fail_until_limited(&gateway, |i| format!("198.51.100.{}", i % 250 + 1)).await;
    assert_eq!(
        login(&gateway, "203.0.113.7", ADMIN_EMAIL, ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}
