//! Conformance checks of the users repository.

use mp3converter_core::{Role, UserId, now_millis};

use crate::{Database, DbError, User};

/// A user with a fresh id, created `offset_ms` after a fixed time.
pub fn sample_user(email: &str, role: Role, offset_ms: i64) -> User {
    User {
        id: UserId::generate(),
        email: email.to_owned(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(),
        role,
        disabled: false,
        created_at: 1_700_000_000_000 + offset_ms,
        token_generation: 0,
    }
}

/// Creates and returns a sample user.
pub async fn create_sample_user(db: &Database, email: &str) -> User {
    let user = sample_user(email, Role::User, now_millis() % 1_000_000);
    db.create_user(&user).await.expect("create user");
    user
}

/// A second user with the same email in other letters is a conflict; lookups ignore case and
/// the stored spelling is kept.
pub async fn users_have_case_insensitively_unique_emails(db: &Database) {
    let alice = sample_user("Alice@Example.com", Role::User, 0);
    db.create_user(&alice).await.expect("create alice");
    let twin = sample_user("alice@example.COM", Role::Admin, 1);
    let err = db.create_user(&twin).await.expect_err("duplicate email");
    assert!(matches!(err, DbError::Conflict(_)), "got {err:?}");
    assert!(!err.is_retryable());

    let found = db
        .user_by_email("ALICE@example.com")
        .await
        .unwrap()
        .expect("found by email in other case");
    assert_eq!(found, alice);
    assert_eq!(found.email, "Alice@Example.com");
    assert!(db.user_by_email("bob@example.com").await.unwrap().is_none());
    assert!(db.user_by_id(&twin.id).await.unwrap().is_none());
}

/// By id, list (oldest first), count, password change and disabling; missing users are
/// `NotFound`.
pub async fn users_can_be_found_listed_and_changed(db: &Database) {
    let before = db.count_users().await.unwrap();
    let admin = sample_user("root@example.com", Role::Admin, 10_000);
    let user = sample_user("user@example.com", Role::User, 20_000);
    db.create_user(&user).await.unwrap();
    db.create_user(&admin).await.unwrap();
    assert_eq!(db.count_users().await.unwrap(), before + 2);

    let got = db.user_by_id(&admin.id).await.unwrap().expect("by id");
    assert_eq!(got.role, Role::Admin);
    let listed: Vec<UserId> = db
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    let (a, u) = (
        listed
            .iter()
            .position(|id| *id == admin.id)
            .expect("admin listed"),
        listed
            .iter()
            .position(|id| *id == user.id)
            .expect("user listed"),
    );
    assert!(a < u, "list is oldest first");

    db.set_password(&user.id, "$argon2id$new").await.unwrap();
    db.set_disabled(&user.id, true).await.unwrap();
    let changed = db.user_by_id(&user.id).await.unwrap().unwrap();
    assert_eq!(changed.password_hash, "$argon2id$new");
    assert!(changed.disabled);
    db.set_disabled(&user.id, false).await.unwrap();
    let enabled = db.user_by_id(&user.id).await.unwrap().unwrap();
    assert!(!enabled.disabled);
    assert_eq!(
        enabled.token_generation,
        user.token_generation + 3,
        "a password change, a disable and an enable each revoke the tokens issued before"
    );

    let ghost = UserId::generate();
    assert!(matches!(
        db.set_password(&ghost, "x").await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.set_disabled(&ghost, true).await,
        Err(DbError::NotFound)
    ));
}

/// Lookups find an account by its canonical email only (ASCII case and surrounding ASCII
/// whitespace aside): accented, padded, NUL-terminated or full-width spellings find nothing,
/// whatever the engine's collation would say.
pub async fn user_lookups_match_the_canonical_email_only(db: &Database) {
    let admin = sample_user("admin@example.com", Role::Admin, 30_000);
    db.create_user(&admin).await.expect("create admin");
    for same in [
        "admin@example.com",
        "ADMIN@Example.COM",
        " admin@example.com\t",
    ] {
        let found = db.user_by_email(same).await.unwrap();
        assert_eq!(found.map(|u| u.id), Some(admin.id.clone()), "{same:?}");
    }
    for other in [
        "ádmin@example.com",
        "Ádmin@example.com",
        "admin@exämple.com",
        "a\u{301}dmin@example.com",
        "ａdmin@example.com",
        "admin@example.com\u{0}",
        "admin@example.com\u{a0}",
        "admin@example.com\u{200b}",
        "admin@example.com.",
        "admin @example.com",
    ] {
        let found = db.user_by_email(other).await.unwrap();
        assert!(found.is_none(), "{other:?} found {found:?}");
    }
    // A spelling that only a collation would equate is another key, not a duplicate.
    let accented = sample_user("ádmin@example.com", Role::User, 30_001);
    db.create_user(&accented).await.expect("a distinct key");
    let found = db
        .user_by_email("ádmin@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.id, accented.id);
}

/// Every process asking for a server secret gets the value stored first.
pub async fn server_secrets_are_created_once_and_shared(db: &Database) {
    let name = format!("test-{}", UserId::generate());
    let first = db.server_secret(&name, || "one".into()).await.unwrap();
    assert_eq!(first, "one");
    let again = db.server_secret(&name, || "two".into()).await.unwrap();
    assert_eq!(again, "one", "an existing secret is never replaced");
}
