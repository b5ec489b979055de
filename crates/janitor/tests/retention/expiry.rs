//! Source videos after the grace period, audio and failed jobs after retention, kept jobs.

use mp3converter_core::JobState;
use mp3converter_janitor::PassReport;
use mp3converter_queue::EventBus;

use crate::support::{DAY, HOUR, Harness, later, rules};

#[tokio::test]
async fn source_video_is_removed_after_the_grace_period_and_only_then() {
    let mut h = Harness::new().await;
    let job = h.done().await;
    let audio = job.audio_key.clone().unwrap();
    let janitor = h.janitor(rules());

    let early = janitor.run_once(later(DAY - HOUR)).await.unwrap();
    assert_eq!(early, PassReport::default(), "inside the grace period");
    assert!(h.exists(&job.video_key).await);

    let report = janitor.run_once(later(DAY + HOUR)).await.unwrap();
    assert_eq!(report.sources_deleted, 1, "{report:?}");
    assert_eq!((report.audio_deleted, report.jobs_expired), (0, 0));
    assert!(!h.exists(&job.video_key).await, "the source is gone");
    assert!(h.exists(&audio).await, "the audio stays");
    assert_eq!(h.job(&job).await.state, JobState::Done);

    let again = janitor.run_once(later(DAY + 2 * HOUR)).await.unwrap();
    assert_eq!(again, PassReport::default(), "removed once");
    h.cleanup().await;
}

#[tokio::test]
async fn audio_expires_after_the_retention_period_and_the_job_says_so() {
    let mut h = Harness::new().await;
    let job = h.done().await;
    let audio = job.audio_key.clone().unwrap();
    let mut events = h.events.subscribe();
    let janitor = h.janitor(rules());

    let kept_so_far = janitor.run_once(later(7 * DAY - HOUR)).await.unwrap();
    assert_eq!(kept_so_far.jobs_expired, 0);
    assert!(h.exists(&audio).await);

    let report = janitor.run_once(later(7 * DAY + HOUR)).await.unwrap();
    assert_eq!(
        (report.jobs_expired, report.audio_deleted),
        (1, 1),
        "{report:?}"
    );
    assert!(h.keys().await.is_empty(), "every blob of the job is gone");
    let expired = h.job(&job).await;
    assert_eq!(expired.state, JobState::Expired);
    assert_eq!(
        expired.audio_key.as_deref(),
        Some(audio.as_str()),
        "the row keeps its history"
    );

    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        seen.push((event.job_id, event.state));
    }
    assert!(
        seen.contains(&(job.id.clone(), JobState::Expired)),
        "{seen:?}"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn failed_job_expires_with_its_video() {
    let mut h = Harness::new().await;
    let job = h.failed().await;
    let janitor = h.janitor(rules());
    let report = janitor.run_once(later(DAY + HOUR)).await.unwrap();
    assert_eq!(
        report,
        PassReport::default(),
        "a failed job has no grace period of its own"
    );
    assert!(h.exists(&job.video_key).await);

    let report = janitor.run_once(later(7 * DAY + HOUR)).await.unwrap();
    assert_eq!(
        (report.jobs_expired, report.sources_deleted),
        (1, 1),
        "{report:?}"
    );
    assert_eq!(h.job(&job).await.state, JobState::Expired);
    assert!(!h.exists(&job.video_key).await);
    h.cleanup().await;
}

#[tokio::test]
async fn kept_job_is_left_alone() {
    let mut h = Harness::new().await;
    let job = h.done().await;
    assert!(h.db().set_job_keep(&job.id, true).await.unwrap());
    let janitor = h.janitor(rules());

    let report = janitor.run_once(later(365 * DAY)).await.unwrap();
    assert_eq!(report, PassReport::default());
    let after = h.job(&job).await;
    assert_eq!((after.state, after.keep), (JobState::Done, true));
    assert!(h.exists(&job.video_key).await);
    assert!(h.exists(job.audio_key.as_deref().unwrap()).await);

    // Once un-kept, the rules apply again.
    assert!(h.db().set_job_keep(&job.id, false).await.unwrap());
    let report = janitor.run_once(later(365 * DAY)).await.unwrap();
    assert_eq!(report.jobs_expired, 1, "{report:?}");
    h.cleanup().await;
}

#[tokio::test]
async fn audio_shared_by_a_reused_job_stays_until_the_last_job_expires() {
    let mut h = Harness::new().await;
    let first = h.done().await;
    let audio = first.audio_key.clone().unwrap();
    // The same upload again, done at once with the first job's audio (dedup).
    let mut again = first.clone();
    again.id = mp3converter_core::JobId::generate();
    again.video_key = format!("video/{}", again.id);
    let message = mp3converter_db::conformance::video_message(
        &again,
        "mp3",
        mp3converter_db::MessageRoute::Outbox,
    );
    let again = h
        .db()
        .create_reused_job(&again, &first, &message, None)
        .await
        .unwrap()
        .unwrap();
    assert!(h.db().set_job_keep(&again.id, true).await.unwrap());
    let janitor = h.janitor(rules());

    let report = janitor.run_once(later(7 * DAY + HOUR)).await.unwrap();
    assert_eq!(
        (report.jobs_expired, report.audio_deleted),
        (1, 0),
        "{report:?}"
    );
    assert_eq!(h.job(&first).await.state, JobState::Expired);
    assert!(h.exists(&audio).await, "the reused job still needs it");

    assert!(h.db().set_job_keep(&again.id, false).await.unwrap());
    let report = janitor.run_once(later(7 * DAY + HOUR)).await.unwrap();
    assert_eq!(
        (report.jobs_expired, report.audio_deleted),
        (1, 1),
        "{report:?}"
    );
    assert!(!h.exists(&audio).await);
    h.cleanup().await;
}
