//! Conformance check of fair share on the database queue: a claim takes the oldest message of
//! the owner with the fewest messages leased, so one owner's backlog cannot starve another's.

use std::time::Duration;

use crate::{Database, MessageRoute, OutboundMessage};

async fn put(db: &Database, queue: &str, id: &str, owner: Option<&str>) {
    let message = OutboundMessage {
        queue: queue.to_owned(),
        message_id: id.to_owned(),
        payload: "{}".to_owned(),
        route: MessageRoute::QueueTable { max_attempts: 5 },
        fair_key: owner.map(str::to_owned),
    };
    let mut conn = db.pool.acquire().await.unwrap();
    let row = uuid::Uuid::now_v7().to_string();
    // One millisecond apart, so "oldest" is well defined on every engine.
    let at = mp3converter_core::now_millis() - 10_000 + i64::from(id.as_bytes()[1]);
    db.insert_queue_message(&mut conn, &row, &message, 5, at)
        .await
        .unwrap();
}

async fn claim(db: &Database, queue: &str) -> String {
    db.claim_message(queue, Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a message")
        .message_id
}

/// With A's backlog queued first, B's one message is claimed as soon as A has more in progress;
/// then A and B alternate by what they have leased; a message without an owner is never held back.
pub async fn claims_share_the_queue_between_owners(db: &Database) {
    let queue = format!("fair-{}", uuid::Uuid::now_v7());
    for id in ["a1", "a2", "a3", "a4"] {
        put(db, &queue, id, Some("alice")).await;
    }
    put(db, &queue, "b5", Some("bob")).await;
    put(db, &queue, "b6", Some("bob")).await;
    put(db, &queue, "n7", None).await;

    assert_eq!(
        claim(db, &queue).await,
        "a1",
        "nothing in progress: oldest first"
    );
    assert_eq!(claim(db, &queue).await, "b5", "bob has none in progress");
    assert_eq!(
        claim(db, &queue).await,
        "n7",
        "a message of no owner is never held back"
    );
    // Both have one leased: the oldest of either.
    assert_eq!(claim(db, &queue).await, "a2");
    assert_eq!(claim(db, &queue).await, "b6", "alice has two, bob one");
    // Bob's backlog is empty: alice's by age.
    assert_eq!(claim(db, &queue).await, "a3");
    assert_eq!(claim(db, &queue).await, "a4");
    assert!(
        db.claim_message(&queue, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none()
    );
}
