//! Conformance checks of the URL import's job operations: a `downloading` job has no message
//! until its video is stored; then `queued` and its `video` message come in one transaction;
//! failures and stale downloads are guarded by the state.

use std::time::Duration;

use mp3converter_core::{FailureReason, JobState};

use super::{create_sample_user, sample_job};
use crate::{Database, DbError, Transition};

/// A downloading job: no message until finished, progress only while downloading, then
/// queued with its final name, size and hash and exactly one `video` message; a second finish
/// or a failure afterwards changes nothing.
pub async fn downloading_job_is_queued_with_its_message_once(db: &Database) {
    let owner = create_sample_user(db, "import-finish@example.com").await;
    let mut job = sample_job(&owner, 1_700_000_500_000);
    job.state = JobState::Downloading;
    job.video_size = 0;
    job.video_sha256 = String::new();
    let queue = format!("video-{}", job.id);
    db.create_downloading_job(&job).await.unwrap();
    assert_eq!(db.queue_depth(&queue).await.unwrap(), 0);
    assert_eq!(db.count_downloading_jobs(&owner.id).await.unwrap(), 1);
    assert!(db.update_download_progress(&job.id, 0.25).await.unwrap());
    let stored = db.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.state, stored.progress),
        (JobState::Downloading, 0.25)
    );

    job.original_name = "talk.webm".into();
    job.video_size = 1234;
    job.video_sha256 = "cd".repeat(32);
    assert_eq!(
        db.finish_download_and_enqueue_video(&job, &queue)
            .await
            .unwrap(),
        Transition::Applied
    );
    let stored = db.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Queued);
    assert_eq!(
        (
            stored.original_name.as_str(),
            stored.video_size,
            stored.progress
        ),
        ("talk.webm", 1234, 0.0)
    );
    assert_eq!(stored.video_sha256, "cd".repeat(32));
    assert_eq!(db.count_downloading_jobs(&owner.id).await.unwrap(), 0);
    let claimed = db
        .claim_message(&queue, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the video message");
    assert_eq!(claimed.message_id, job.id.as_str());

    assert_eq!(
        db.finish_download_and_enqueue_video(&job, &queue)
            .await
            .unwrap(),
        Transition::Refused(JobState::Queued)
    );
    assert!(!db.update_download_progress(&job.id, 0.5).await.unwrap());
    let reason = FailureReason {
        code: "import-failed".into(),
        message: "x".into(),
    };
    assert!(!db.fail_download(&job.id, &reason).await.unwrap());
    assert_eq!(
        db.queue_depth(&queue).await.unwrap(),
        1,
        "the claimed message only"
    );
}

/// A failed download gets no message and cannot be finished; a deleted one is not found.
pub async fn failed_or_deleted_download_gets_no_message(db: &Database) {
    let owner = create_sample_user(db, "import-fail@example.com").await;
    let mut job = sample_job(&owner, 1_700_000_600_000);
    job.state = JobState::Downloading;
    let queue = format!("video-{}", job.id);
    db.create_downloading_job(&job).await.unwrap();
    let reason = FailureReason {
        code: "import-not-found".into(),
        message: "the server answered 404 Not Found".into(),
    };
    assert!(db.fail_download(&job.id, &reason).await.unwrap());
    let stored = db.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!(stored.state, JobState::Failed);
    assert_eq!(stored.error_code.as_deref(), Some("import-not-found"));
    assert!(stored.finished_at.is_some());
    assert_eq!(
        db.finish_download_and_enqueue_video(&job, &queue)
            .await
            .unwrap(),
        Transition::Refused(JobState::Failed)
    );
    assert_eq!(db.queue_depth(&queue).await.unwrap(), 0);

    let mut gone = sample_job(&owner, 1_700_000_600_001);
    gone.state = JobState::Downloading;
    db.create_downloading_job(&gone).await.unwrap();
    assert!(db.delete_job(&gone.id).await.unwrap());
    assert!(matches!(
        db.finish_download_and_enqueue_video(&gone, &queue).await,
        Err(DbError::NotFound)
    ));
    assert_eq!(db.queue_depth(&queue).await.unwrap(), 0);
}

/// Only downloads silent since before the cut-off are failed; fresh ones and other states stay.
pub async fn stale_downloads_are_failed_and_fresh_ones_kept(db: &Database) {
    let owner = create_sample_user(db, "import-stale@example.com").await;
    let mut stale = sample_job(&owner, 1_000);
    stale.state = JobState::Downloading;
    db.create_downloading_job(&stale).await.unwrap();
    let mut fresh = sample_job(&owner, 5_000);
    fresh.state = JobState::Downloading;
    db.create_downloading_job(&fresh).await.unwrap();
    let queued = sample_job(&owner, 1_000);
    db.create_job_and_enqueue_video(&queued, "video-stale-check")
        .await
        .unwrap();

    let reason = FailureReason {
        code: "import-interrupted".into(),
        message: "the server stopped".into(),
    };
    let failed = db.fail_stale_downloads(2_000, &reason, 100).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, stale.id);
    assert_eq!(failed[0].state, JobState::Failed);
    assert_eq!(failed[0].error_code.as_deref(), Some("import-interrupted"));
    let fresh = db.get_job(&fresh.id).await.unwrap().unwrap();
    assert_eq!(fresh.state, JobState::Downloading);
    let queued = db.get_job(&queued.id).await.unwrap().unwrap();
    assert_eq!(queued.state, JobState::Queued);
    assert!(
        db.fail_stale_downloads(2_000, &reason, 100)
            .await
            .unwrap()
            .is_empty()
    );
}
