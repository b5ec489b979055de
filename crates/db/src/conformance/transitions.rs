//! Conformance checks of guarded job state changes and the messages they write.

use mp3converter_core::{FailureReason, Job, JobId, JobState};

use super::{QUEUE, queued_job, video_message};
use crate::{AudioOutput, Database, DbError, MessageRoute, OutboundMessage, Transition};

pub(super) fn audio() -> AudioOutput {
    AudioOutput {
        key: "audio/x.mp3".to_owned(),
        size: 3_000_000,
        duration_secs: 61.25,
    }
}

/// queued -> converting -> done writes the audio and ONE `mp3` message; finishing again, or
/// starting or failing a done job, changes nothing.
pub async fn done_job_writes_one_mp3_message_even_when_finished_twice(db: &Database) {
    let job = queued_job(db, "done@example.com", 1_700_000_000_000).await;
    let mp3 = |job: &Job| OutboundMessage {
        queue: "mp3-done".to_owned(),
        message_id: job.id.to_string(),
        payload: format!(r#"{{"job_id":"{}"}}"#, job.id),
        route: QUEUE,
        fair_key: None,
    };
    assert_eq!(
        db.mark_converting(&job.id).await.unwrap(),
        Transition::Applied
    );
    assert!(db.update_progress(&job.id, 0.5).await.unwrap());
    let mid = db.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (mid.state, mid.attempts, mid.progress),
        (JobState::Converting, 1, 0.5)
    );

    let first = db
        .mark_done(&job.id, &audio(), Some(&mp3(&job)))
        .await
        .unwrap();
    assert_eq!(first, Transition::Applied);
    let done = db.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.audio_key.as_deref(), Some("audio/x.mp3"));
    assert_eq!(
        (done.audio_size, done.duration_secs),
        (Some(3_000_000), Some(61.25))
    );
    assert_eq!(done.progress, 1.0);
    assert!(done.finished_at.is_some());
    assert_eq!(db.queue_depth("mp3-done").await.unwrap(), 1);

    let again = db
        .mark_done(&job.id, &audio(), Some(&mp3(&job)))
        .await
        .unwrap();
    assert_eq!(again, Transition::AlreadyDone);
    assert_eq!(
        db.queue_depth("mp3-done").await.unwrap(),
        1,
        "no second mp3 message"
    );
    assert_eq!(
        db.mark_converting(&job.id).await.unwrap(),
        Transition::AlreadyDone
    );
    let reason = FailureReason {
        code: "late".to_owned(),
        message: "late failure".to_owned(),
    };
    assert_eq!(
        db.mark_failed(&job.id, &reason, Some(&mp3(&job)))
            .await
            .unwrap(),
        Transition::AlreadyDone
    );
    assert!(!db.update_progress(&job.id, 0.1).await.unwrap());
    assert_eq!(db.queue_depth("mp3-done").await.unwrap(), 1);
    assert_eq!(db.get_job(&job.id).await.unwrap().unwrap(), done);
}

/// A queued job cannot jump to done; nothing is written.
pub async fn done_requires_a_converting_job(db: &Database) {
    let job = queued_job(db, "jump@example.com", 1_700_000_000_000).await;
    let msg = video_message(&job, "mp3-jump", QUEUE);
    let t = db.mark_done(&job.id, &audio(), Some(&msg)).await.unwrap();
    assert_eq!(t, Transition::Refused(JobState::Queued));
    assert_eq!(db.queue_depth("mp3-jump").await.unwrap(), 0);
    assert_eq!(
        db.get_job(&job.id).await.unwrap().unwrap().state,
        JobState::Queued
    );
}

/// Failing stores the reason and writes the failure message once; a failed job cannot finish.
pub async fn failed_job_is_announced_once(db: &Database) {
    let job = queued_job(db, "fail@example.com", 1_700_000_000_000).await;
    let reason = FailureReason {
        code: "no-audio-track".to_owned(),
        message: "the video has no audio track".to_owned(),
    };
    let msg = video_message(&job, "mp3-fail", MessageRoute::Outbox);
    let before = db.outbox_batch(1000).await.unwrap().len();
    assert_eq!(
        db.mark_failed(&job.id, &reason, Some(&msg)).await.unwrap(),
        Transition::Applied
    );
    assert_eq!(
        db.mark_failed(&job.id, &reason, Some(&msg)).await.unwrap(),
        Transition::Refused(JobState::Failed)
    );
    assert_eq!(db.outbox_batch(1000).await.unwrap().len(), before + 1);
    let failed = db.get_job(&job.id).await.unwrap().unwrap();
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("no-audio-track"));
    assert_eq!(
        failed.error_message.as_deref(),
        Some("the video has no audio track")
    );
    assert!(failed.finished_at.is_some());
    assert_eq!(
        db.mark_done(&job.id, &audio(), None).await.unwrap(),
        Transition::Refused(JobState::Failed)
    );
    assert_eq!(
        db.mark_converting(&job.id).await.unwrap(),
        Transition::Refused(JobState::Failed)
    );
}

/// State changes of a job that does not exist are `NotFound`.
pub async fn transitions_of_a_missing_job_are_not_found(db: &Database) {
    let ghost = JobId::generate();
    assert!(matches!(
        db.mark_converting(&ghost).await,
        Err(DbError::NotFound)
    ));
    assert!(matches!(
        db.mark_done(&ghost, &audio(), None).await,
        Err(DbError::NotFound)
    ));
    assert!(!db.update_progress(&ghost, 0.3).await.unwrap());
    assert!(db.get_job(&ghost).await.unwrap().is_none());
}

/// done -> expired, but not queued -> expired; delete removes the row once.
pub async fn jobs_expire_and_can_be_deleted(db: &Database) {
    let job = queued_job(db, "expire@example.com", 1_700_000_000_000).await;
    assert_eq!(
        db.mark_expired(&job.id).await.unwrap(),
        Transition::Refused(JobState::Queued)
    );
    db.mark_converting(&job.id).await.unwrap();
    db.mark_done(&job.id, &audio(), None).await.unwrap();
    assert_eq!(db.mark_expired(&job.id).await.unwrap(), Transition::Applied);
    assert_eq!(
        db.get_job(&job.id).await.unwrap().unwrap().state,
        JobState::Expired
    );

    assert!(db.delete_job(&job.id).await.unwrap());
    assert!(db.get_job(&job.id).await.unwrap().is_none());
    assert!(!db.delete_job(&job.id).await.unwrap());
}

/// Two converters finishing the same job at the same moment: exactly one wins and exactly one
/// `mp3` message is written.
pub async fn racing_finishers_write_one_mp3_message(db: &Database) {
    for round in 0..5 {
        let job = queued_job(db, &format!("race{round}@example.com"), 1_700_000_000_000).await;
        db.mark_converting(&job.id).await.unwrap();
        let queue = format!("mp3-race-{}", job.id);
        let msg = video_message(&job, &queue, QUEUE);
        let (a, b) = super::join(
            db.mark_done(&job.id, &audio(), Some(&msg)),
            db.mark_done(&job.id, &audio(), Some(&msg)),
        )
        .await;
        let mut outcomes = [a.unwrap(), b.unwrap()];
        outcomes.sort_by_key(|t| *t != Transition::Applied);
        assert_eq!(outcomes, [Transition::Applied, Transition::AlreadyDone]);
        assert_eq!(db.queue_depth(&queue).await.unwrap(), 1, "round {round}");
    }
}
