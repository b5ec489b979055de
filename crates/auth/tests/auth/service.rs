//! `AuthService`: logins, claims, user management and the first admin.

use std::net::{IpAddr, Ipv4Addr};

use mp3converter_auth::{AuthError, DEFAULT_ADMIN_EMAIL};
use mp3converter_core::Role;

use crate::common::{Fixture, PASSWORD};

const IP: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));

#[tokio::test]
async fn login_returns_a_token_whose_claims_describe_the_user() {
    let fx = Fixture::new().await;
    let user = fx.user("Alice@Example.com").await;
    let admin = fx.admin("root@example.com").await;

    let token = fx
        .service
        .login("alice@EXAMPLE.com", PASSWORD, IP)
        .await
        .unwrap();
    let claims = fx.service.verify(&token).unwrap();
    assert_eq!(claims.sub, user.id.to_string());
    assert_eq!(claims.username, "alice@example.com");
    assert!(!claims.admin);
    assert_eq!(claims.iss, "mp3converter");
    assert_eq!(claims.aud, "mp3converter");
    assert_eq!(claims.exp - claims.iat, 86_400);

    let token = fx
        .service
        .login("root@example.com", PASSWORD, IP)
        .await
        .unwrap();
    let claims = fx.service.verify(&token).unwrap();
    assert_eq!(claims.sub, admin.id.to_string());
    assert!(claims.admin);
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_user_are_the_same_error() {
    let fx = Fixture::new().await;
    fx.user("bob@example.com").await;
    fx.user("carol@example.com").await;
    fx.service.disable_user("carol@example.com").await.unwrap();

    for (email, password) in [
        ("bob@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        ("carol@example.com", PASSWORD),
        ("bob@example.com", ""),
    ] {
        let err = fx.service.login(email, password, IP).await.unwrap_err();
        assert!(
            matches!(err, AuthError::InvalidCredentials),
            "{email}: {err:?}"
        );
        assert_eq!(err.to_string(), "invalid credentials");
    }
}

#[tokio::test]
async fn password_hashes_are_argon2id_phc_strings_and_never_the_password() {
    let fx = Fixture::new().await;
    let user = fx.user("dave@example.com").await;
    assert!(
        user.password_hash.starts_with("$argon2id$v=19$"),
        "{}",
        user.password_hash
    );
    assert_ne!(user.password_hash, PASSWORD);
    assert!(!user.password_hash.contains(PASSWORD));
    assert!(!format!("{user:?}").contains(&user.password_hash));
    let stored = fx
        .db
        .user_by_email("dave@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.password_hash, user.password_hash);
}

#[tokio::test]
async fn create_user_checks_the_email_the_password_and_duplicates() {
    let fx = Fixture::new().await;
    fx.user("erin@example.com").await;
    let dup = fx
        .service
        .create_user("ERIN@example.com", PASSWORD, Role::User)
        .await;
    assert!(matches!(dup, Err(AuthError::EmailTaken)), "{dup:?}");
    let bad = fx
        .service
        .create_user("not-an-email", PASSWORD, Role::User)
        .await;
    assert!(matches!(bad, Err(AuthError::InvalidEmail)));
    let weak = fx
        .service
        .create_user("frank@example.com", "short", Role::User)
        .await;
    assert!(matches!(weak, Err(AuthError::WeakPassword(_))));
    assert_eq!(fx.service.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn change_password_needs_the_old_one_and_replaces_it() {
    let fx = Fixture::new().await;
    let user = fx.user("gina@example.com").await;
    let wrong = fx
        .service
        .change_password(&user.id, "not it at all", "new password 1")
        .await;
    assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
    let weak = fx
        .service
        .change_password(&user.id, PASSWORD, "2short")
        .await;
    assert!(matches!(weak, Err(AuthError::WeakPassword(_))));
    fx.service
        .change_password(&user.id, PASSWORD, "new password 1")
        .await
        .unwrap();
    fx.service
        .login("gina@example.com", "new password 1", IP)
        .await
        .unwrap();
    assert!(
        fx.service
            .login("gina@example.com", PASSWORD, IP)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn set_password_and_disable_work_by_email_or_id() {
    let fx = Fixture::new().await;
    let user = fx.user("hank@example.com").await;
    fx.service
        .set_password("HANK@example.com", "set by admin")
        .await
        .unwrap();
    fx.service
        .login("hank@example.com", "set by admin", IP)
        .await
        .unwrap();
    let missing = fx
        .service
        .set_password("nobody@example.com", "whatever123")
        .await;
    assert!(matches!(missing, Err(AuthError::NotFound)));

    let disabled = fx.service.disable_user(user.id.as_str()).await.unwrap();
    assert!(disabled.disabled);
    assert!(
        fx.service
            .login("hank@example.com", "set by admin", IP)
            .await
            .is_err()
    );
    fx.service.enable_user("hank@example.com").await.unwrap();
    fx.service
        .login("hank@example.com", "set by admin", IP)
        .await
        .unwrap();
    assert!(matches!(
        fx.service.disable_user("ghost@example.com").await,
        Err(AuthError::NotFound)
    ));
}

#[tokio::test]
async fn ensure_admin_generates_a_password_once_when_none_is_given() {
    let fx = Fixture::new().await;
    let mut kept = None;
    let (email, password) = fx
        .service
        .ensure_admin(None, None, |email, password| {
            kept = Some((email.to_owned(), password.to_owned()));
            Ok(())
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(email, DEFAULT_ADMIN_EMAIL);
    assert_eq!(password.len(), 20);
    assert_eq!(kept, Some((email.clone(), password.clone())));
    let token = fx.service.login(&email, &password, IP).await.unwrap();
    assert!(fx.service.verify(&token).unwrap().admin);

    let again = fx
        .service
        .ensure_admin(None, None, |_, _| panic!("nothing to keep"));
    assert_eq!(again.await.unwrap(), None);
    assert_eq!(fx.service.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_generated_password_that_cannot_be_kept_creates_no_admin() {
    let fx = Fixture::new().await;
    let failed = fx
        .service
        .ensure_admin(None, None, |_, _| {
            Err(AuthError::Internal("read-only data dir".into()))
        })
        .await;
    assert!(matches!(failed, Err(AuthError::Internal(_))), "{failed:?}");
    assert!(fx.service.list_users().await.unwrap().is_empty());
}

#[tokio::test]
async fn ensure_admin_with_a_given_password_returns_nothing_to_print() {
    let fx = Fixture::new().await;
    let created = fx
        .service
        .ensure_admin(
            Some("Boss@Example.com"),
            Some("given admin password"),
            |_, _| Ok(()),
        )
        .await
        .unwrap();
    assert_eq!(created, None);
    let users = fx.service.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].email, "boss@example.com");
    assert_eq!(users[0].role, Role::Admin);
    fx.service
        .login("boss@example.com", "given admin password", IP)
        .await
        .unwrap();

    let fresh = Fixture::new().await;
    let weak = fresh
        .service
        .ensure_admin(None, Some("weak"), |_, _| Ok(()))
        .await;
    assert!(matches!(weak, Err(AuthError::WeakPassword(_))));
}

#[tokio::test]
async fn ensure_admin_does_nothing_when_users_exist() {
    let fx = Fixture::new().await;
    fx.user("ivy@example.com").await;
    assert_eq!(
        fx.service
            .ensure_admin(None, None, |_, _| Ok(()))
            .await
            .unwrap(),
        None
    );
    assert_eq!(fx.service.list_users().await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_database_outage_is_unavailable_not_invalid_credentials() {
    let fx = Fixture::new().await;
    fx.user("jay@example.com").await;
    fx.db.close().await;
    let err = fx
        .service
        .login("jay@example.com", PASSWORD, IP)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Unavailable(_)), "{err:?}");
    assert_eq!(err.status(), 503);
}
