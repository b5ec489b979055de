//! Revocation: a token stops verifying (`verify_current`, `/validate`) when its account is
//! disabled or its password changes — at once in the process that made the change, within
//! `revocation_check_secs` in the others — with one database read per user per interval.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, header};
use mp3converter_auth::{AuthError, UserDirectory};
use tower::ServiceExt;

use crate::common::{Fixture, PASSWORD};

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

fn revoked(result: Result<mp3converter_core::Claims, AuthError>) -> bool {
    matches!(result, Err(AuthError::InvalidToken(why)) if why == "revoked")
}

#[tokio::test]
async fn tokens_carry_the_generation_and_a_change_here_revokes_them_at_once() {
    let fx = Fixture::new().await;
    fx.user("ann@example.com").await;
    let token = fx
        .service
        .login("ann@example.com", PASSWORD, IP)
        .await
        .unwrap();
    let claims = fx.service.verify_current(&token).await.unwrap();
    assert_eq!(claims.generation, 0);

    fx.service.disable_user("ann@example.com").await.unwrap();
    assert!(revoked(fx.service.verify_current(&token).await));
    // The signature alone is still fine: revocation is the account's state, not the token's.
    assert!(fx.service.verify(&token).is_ok());

    fx.service.enable_user("ann@example.com").await.unwrap();
    assert!(
        revoked(fx.service.verify_current(&token).await),
        "re-enabling does not bring old tokens back"
    );
    let again = fx
        .service
        .login("ann@example.com", PASSWORD, IP)
        .await
        .unwrap();
    let claims = fx.service.verify_current(&again).await.unwrap();
    assert_eq!(claims.generation, 2);

    fx.service
        .set_password("ann@example.com", "another password 1")
        .await
        .unwrap();
    assert!(revoked(fx.service.verify_current(&again).await));
}

#[tokio::test]
async fn a_change_made_by_another_process_is_seen_after_the_check_interval() {
    let fx = Fixture::with(|c| c.revocation_check_secs = 30).await;
    let user = fx.user("bo@example.com").await;
    let token = fx
        .service
        .login("bo@example.com", PASSWORD, IP)
        .await
        .unwrap();
    fx.service.verify_current(&token).await.unwrap();

    // Another process (the CLI, another gateway) shares only the database.
    let elsewhere = UserDirectory::new(fx.db.clone());
    elsewhere.disable_user(user.id.as_str()).await.unwrap();
    fx.clock.advance(Duration::from_secs(29));
    assert!(
        fx.service.verify_current(&token).await.is_ok(),
        "the account is read once per interval, not per request"
    );
    fx.clock.advance(Duration::from_secs(1));
    assert!(revoked(fx.service.verify_current(&token).await));
}

#[tokio::test]
async fn a_login_after_a_change_elsewhere_is_accepted_at_once() {
    let fx = Fixture::new().await;
    let user = fx.user("cy@example.com").await;
    let old = fx
        .service
        .login("cy@example.com", PASSWORD, IP)
        .await
        .unwrap();
    fx.service.verify_current(&old).await.unwrap();

    let elsewhere = UserDirectory::new(fx.db.clone());
    elsewhere
        .change_password(&user.id, PASSWORD, "a new password 9")
        .await
        .unwrap();
    let new = fx
        .service
        .login("cy@example.com", "a new password 9", IP)
        .await
        .unwrap();
    // The newer generation makes this process read the account again instead of refusing.
    assert_eq!(fx.service.verify_current(&new).await.unwrap().generation, 1);
    assert!(revoked(fx.service.verify_current(&old).await));
}

#[tokio::test]
async fn validate_refuses_a_revoked_token() {
    let fx = Fixture::new().await;
    fx.user("di@example.com").await;
    let token = fx
        .service
        .login("di@example.com", PASSWORD, IP)
        .await
        .unwrap();
    let validate = |token: String| {
        let router = mp3converter_auth::router(fx.service.clone());
        async move {
            let request = Request::post("/validate")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(Body::empty())
                .unwrap();
            router.oneshot(request).await.unwrap().status()
        }
    };
    assert_eq!(validate(token.clone()).await, 200);
    fx.service.disable_user("di@example.com").await.unwrap();
    assert_eq!(validate(token).await, 403);
}
