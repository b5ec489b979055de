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

/// The outbox under fair share (RabbitMQ): the batch claim leaves the fair queue's owned rows
/// alone, and the fair claim takes first the owner with no job published and unfinished.
pub async fn fair_outbox_claims_the_owner_with_nothing_running_first(db: &Database) {
    use super::{create_sample_user, sample_job, video_message};
    let tag = uuid::Uuid::now_v7().simple().to_string();
    let video = format!("fair-video-{tag}");
    let alice = create_sample_user(db, &format!("fair-a-{tag}@example.com")).await;
    let bob = create_sample_user(db, &format!("fair-b-{tag}@example.com")).await;
    let now = mp3converter_core::now_millis();
    // Alice has a job published (its message no longer in the outbox) and not finished.
    let running = sample_job(&alice, now - 3_000);
    let elsewhere = format!("fair-elsewhere-{tag}");
    db.create_job_with_message(
        &running,
        &video_message(
            &running,
            &elsewhere,
            MessageRoute::QueueTable { max_attempts: 5 },
        ),
    )
    .await
    .unwrap();
    // Waiting in the outbox: Alice's older job, then Bob's, then a message of no owner.
    let a2 = sample_job(&alice, now - 2_000);
    let b1 = sample_job(&bob, now - 1_000);
    for job in [&a2, &b1] {
        db.create_job_with_message(job, &video_message(job, &video, MessageRoute::Outbox))
            .await
            .unwrap();
    }
    let mp3 = format!("fair-mp3-{tag}");
    let plain = OutboundMessage {
        queue: mp3.clone(),
        message_id: "plain".to_owned(),
        payload: "{}".to_owned(),
        route: MessageRoute::Outbox,
        fair_key: None,
    };
    let mut conn = db.pool.acquire().await.unwrap();
    db.write_outbound(&mut conn, &plain, now).await.unwrap();
    drop(conn);

    let batch = db
        .claim_outbox(1000, "relay", 60_000, Some(&video))
        .await
        .unwrap();
    assert!(batch.iter().all(|r| r.queue != video), "fair rows are held");
    assert!(
        batch.iter().any(|r| r.queue == mp3),
        "other rows go at once"
    );
    let first = db.claim_fair_outbox(&video, "relay", 60_000).await.unwrap();
    assert_eq!(
        first.map(|r| r.message_id),
        Some(b1.id.to_string()),
        "bob has nothing running"
    );
    let second = db.claim_fair_outbox(&video, "relay", 60_000).await.unwrap();
    assert_eq!(second.map(|r| r.message_id), Some(a2.id.to_string()));
    assert!(
        db.claim_fair_outbox(&video, "relay", 60_000)
            .await
            .unwrap()
            .is_none()
    );
}
