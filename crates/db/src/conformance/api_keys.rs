//! Conformance checks of the API keys' rows: lookup by hash with the user's state, owner-only
//! listing and revocation, a unique hash, and `last_used_at` written at most once per interval.

use mp3converter_core::UserId;

use super::create_sample_user;
use crate::{ApiKey, Database, DbError};

fn key(id: &str, user: &UserId, hash: &str, created_at: i64) -> ApiKey {
    ApiKey {
        id: id.to_owned(),
        user_id: user.clone(),
        name: format!("deploy script {id}"),
        scopes: vec!["jobs:read".to_owned(), "jobs:write".to_owned()],
        prefix: "mp3c_Ab12".to_owned(),
        last4: "wxyz".to_owned(),
        secret_hash: hash.to_owned(),
        created_at,
        expires_at: Some(created_at + 86_400_000),
        last_used_at: None,
    }
}

/// A key is found by its hash with its user's state; listed and revoked by its owner only; a
/// second key with the same hash is a conflict; a use is recorded at most once per interval.
pub async fn api_keys_are_found_by_hash_listed_and_revoked_by_their_owner(db: &Database) {
    let alice = create_sample_user(db, "keys-alice@example.com").await;
    let bob = create_sample_user(db, "keys-bob@example.com").await;
    let first = key(
        "00000000-0000-4000-8000-00000000000a",
        &alice.id,
        &"a1".repeat(32),
        1_000,
    );
    let second = ApiKey {
        scopes: vec!["jobs:read".to_owned()],
        expires_at: None,
        ..key(
            "00000000-0000-4000-8000-00000000000b",
            &alice.id,
            &"b2".repeat(32),
            2_000,
        )
    };
    db.create_api_key(&first).await.unwrap();
    db.create_api_key(&second).await.unwrap();
    let twin = key(
        "00000000-0000-4000-8000-00000000000c",
        &bob.id,
        &first.secret_hash,
        3_000,
    );
    assert!(
        matches!(db.create_api_key(&twin).await, Err(DbError::Conflict(_))),
        "a second key with the same hash must be refused"
    );

    assert_eq!(
        db.list_api_keys(&alice.id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );
    assert_eq!(db.list_api_keys(&bob.id).await.unwrap(), vec![]);
    assert_eq!(db.count_api_keys(&alice.id).await.unwrap(), 2);
    assert_eq!(db.count_api_keys(&bob.id).await.unwrap(), 0);

    let grant = db
        .api_key_by_hash(&first.secret_hash)
        .await
        .unwrap()
        .expect("found by hash");
    assert_eq!(grant.key, first);
    assert_eq!(grant.email, alice.email);
    assert!(!grant.admin);
    assert!(!grant.disabled);
    assert_eq!(grant.token_generation, alice.token_generation);
    assert_eq!(db.api_key_by_hash(&"c3".repeat(32)).await.unwrap(), None);

    db.set_disabled(&alice.id, true).await.unwrap();
    let grant = db
        .api_key_by_hash(&first.secret_hash)
        .await
        .unwrap()
        .unwrap();
    assert!(grant.disabled, "the user's state is read with the key");
    assert_eq!(grant.token_generation, alice.token_generation + 1);

    assert!(db.touch_api_key(&first.id, 100_000, 60_000).await.unwrap());
    assert!(
        !db.touch_api_key(&first.id, 130_000, 60_000).await.unwrap(),
        "a second use within the interval is not written"
    );
    assert!(db.touch_api_key(&first.id, 160_000, 60_000).await.unwrap());
    let listed = db.list_api_keys(&alice.id).await.unwrap();
    assert_eq!(listed[0].last_used_at, Some(160_000));
    assert_eq!(listed[1].last_used_at, None);

    assert!(
        !db.delete_api_key(&first.id, &bob.id).await.unwrap(),
        "someone else's key is not revoked"
    );
    assert!(db.delete_api_key(&first.id, &alice.id).await.unwrap());
    assert!(!db.delete_api_key(&first.id, &alice.id).await.unwrap());
    assert_eq!(db.api_key_by_hash(&first.secret_hash).await.unwrap(), None);
    assert_eq!(db.list_api_keys(&alice.id).await.unwrap(), vec![second]);
}
