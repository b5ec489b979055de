//! Conformance checks of the notification record and the outbox.

use super::{create_sample_user, queued_job, sample_job, video_message};
use crate::{Database, MessageRoute};

/// `record_notification` is true the first time only; `mark_notified` sets the time once.
pub async fn notification_is_recorded_once_per_job(db: &Database) {
    let job = queued_job(db, "notify@example.com", 1_700_000_000_000).await;
    assert!(db.record_notification(&job.id).await.unwrap());
    assert!(!db.record_notification(&job.id).await.unwrap());
    assert!(db.forget_notification(&job.id).await.unwrap());
    assert!(db.record_notification(&job.id).await.unwrap());
    assert!(db.mark_notified(&job.id).await.unwrap());
    let first = db.get_job(&job.id).await.unwrap().unwrap().notified_at;
    assert!(first.is_some());
    assert!(!db.mark_notified(&job.id).await.unwrap());
    assert_eq!(
        db.get_job(&job.id).await.unwrap().unwrap().notified_at,
        first
    );
}

/// The relay reads the outbox oldest first and each row is deleted exactly once.
pub async fn outbox_rows_come_oldest_first_and_are_deleted_once(db: &Database) {
    let owner = create_sample_user(db, "relay@example.com").await;
    let mut ids = Vec::new();
    for t in 0..3 {
        let job = sample_job(&owner, 1_800_000_000_000 + t);
        db.create_job_with_message(
            &job,
            &video_message(&job, "video-outbox", MessageRoute::Outbox),
        )
        .await
        .unwrap();
        ids.push(job.id.to_string());
    }
    let batch: Vec<_> = db
        .outbox_batch(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.queue == "video-outbox")
        .collect();
    let got: Vec<&str> = batch.iter().map(|m| m.message_id.as_str()).collect();
    assert_eq!(got, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(batch.windows(2).all(|w| w[0].created_at <= w[1].created_at));
    for m in &batch {
        assert!(db.delete_outbox(&m.id).await.unwrap());
        assert!(!db.delete_outbox(&m.id).await.unwrap());
    }
    assert!(
        db.outbox_batch(1000)
            .await
            .unwrap()
            .iter()
            .all(|m| m.queue != "video-outbox")
    );
}

/// A claimed outbox row is not handed to a second relay until it is released or its claim
/// runs out; a release by someone else's token changes nothing.
pub async fn outbox_claims_are_exclusive_until_released_or_expired(db: &Database) {
    let owner = create_sample_user(db, "claims@example.com").await;
    let job = sample_job(&owner, 1_800_000_100_000);
    db.create_job_with_message(
        &job,
        &video_message(&job, "video-claims", MessageRoute::Outbox),
    )
    .await
    .unwrap();
    let mine = |rows: Vec<crate::OutboxMessage>| -> Vec<String> {
        rows.into_iter()
            .filter(|m| m.queue == "video-claims")
            .map(|m| m.id)
            .collect()
    };
    let a = mine(
        db.claim_outbox(1000, "relay-a", 60_000, None)
            .await
            .unwrap(),
    );
    assert_eq!(a.len(), 1, "relay a takes the row");
    assert!(
        mine(
            db.claim_outbox(1000, "relay-b", 60_000, None)
                .await
                .unwrap()
        )
        .is_empty()
    );
    assert!(!db.release_outbox(&a[0], "relay-b").await.unwrap());
    assert!(db.release_outbox(&a[0], "relay-a").await.unwrap());
    let b = mine(db.claim_outbox(1000, "relay-b", -1, None).await.unwrap());
    assert_eq!(b, a, "released: relay b takes it");
    // relay b's claim ran out at once (a negative duration): relay c may take the row.
    let c = mine(
        db.claim_outbox(1000, "relay-c", 60_000, None)
            .await
            .unwrap(),
    );
    assert_eq!(c, a);
    assert!(db.delete_outbox(&c[0]).await.unwrap());
    assert!(
        mine(
            db.claim_outbox(1000, "relay-d", 60_000, None)
                .await
                .unwrap()
        )
        .is_empty()
    );
}
