//! Conformance checks of single sign-on: links from a provider's (issuer, subject) to one
//! account, and single-use tickets that expire.

use mp3converter_core::now_millis;

use super::create_sample_user;
use crate::{Database, DbError, SsoTicketPurpose};

/// A link answers its account for exactly its issuer and subject (byte for byte); linking the
/// same pair again is a conflict.
pub async fn sso_links_map_a_provider_subject_to_one_account(db: &Database) {
    let user = create_sample_user(db, "sso-linked@example.com").await;
    let issuer = "https://id.example.com/realms/main";
    assert_eq!(db.sso_link(issuer, "248289761001").await.unwrap(), None);
    db.create_sso_link(issuer, "248289761001", &user.id, now_millis())
        .await
        .unwrap();
    assert_eq!(
        db.sso_link(issuer, "248289761001").await.unwrap(),
        Some(user.id.clone())
    );
    // Another subject, another issuer, another letter case: no account.
    assert_eq!(db.sso_link(issuer, "248289761002").await.unwrap(), None);
    assert_eq!(
        db.sso_link("https://other.example.com", "248289761001")
            .await
            .unwrap(),
        None
    );
    db.create_sso_link(issuer, "Abc", &user.id, 0)
        .await
        .unwrap();
    assert_eq!(db.sso_link(issuer, "abc").await.unwrap(), None);
    let other = create_sample_user(db, "sso-other@example.com").await;
    let again = db
        .create_sso_link(issuer, "248289761001", &other.id, 0)
        .await
        .expect_err("a second link of one subject");
    assert!(matches!(again, DbError::Conflict(_)), "{again:?}");
    assert_eq!(
        db.sso_link(issuer, "248289761001").await.unwrap(),
        Some(user.id)
    );
}

/// A ticket is taken once, only as what it was stored for and only before it expires; storing
/// a ticket removes the expired ones.
pub async fn sso_tickets_are_taken_once_and_only_before_they_expire(db: &Database) {
    let now = now_millis();
    let (login, handoff) = (SsoTicketPurpose::Login, SsoTicketPurpose::Handoff);
    db.put_sso_ticket("hash-1", login, r#"{"state":"s"}"#, now + 60_000, now)
        .await
        .unwrap();
    assert_eq!(db.count_sso_tickets(login, now).await.unwrap(), 1);
    assert_eq!(db.count_sso_tickets(handoff, now).await.unwrap(), 0);
    assert_eq!(db.count_sso_tickets(login, now + 60_001).await.unwrap(), 0);
    assert_eq!(
        db.take_sso_ticket("hash-1", handoff, now).await.unwrap(),
        None
    );
    assert_eq!(
        db.take_sso_ticket("hash-1", login, now).await.unwrap(),
        Some(r#"{"state":"s"}"#.to_string())
    );
    assert_eq!(
        db.take_sso_ticket("hash-1", login, now).await.unwrap(),
        None
    );
    assert_eq!(
        db.take_sso_ticket("unknown", login, now).await.unwrap(),
        None
    );

    db.put_sso_ticket("hash-2", handoff, "token", now + 1_000, now)
        .await
        .unwrap();
    assert_eq!(
        db.take_sso_ticket("hash-2", handoff, now + 1_001)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(
        db.take_sso_ticket("hash-2", handoff, now).await.unwrap(),
        None,
        "and gone"
    );

    db.put_sso_ticket("hash-3", handoff, "stale", now - 1, now - 2)
        .await
        .unwrap();
    db.put_sso_ticket("hash-4", handoff, "fresh", now + 60_000, now)
        .await
        .unwrap();
    assert_eq!(
        db.take_sso_ticket("hash-3", handoff, now - 5)
            .await
            .unwrap(),
        None,
        "the expired ticket was removed when another was stored"
    );
    assert_eq!(
        db.take_sso_ticket("hash-4", handoff, now).await.unwrap(),
        Some("fresh".into())
    );
}
