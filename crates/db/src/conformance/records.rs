//! Conformance checks of the notification record and the outbox.

use super::{create_sample_user, queued_job, sample_job, video_message};
use crate::{Database, Route};

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
        db.create_job_with_message(&job, &video_message(&job, "video-outbox", Route::Outbox))
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
