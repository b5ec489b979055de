//! Conformance checks of the retention janitor's queries: the `keep` flag, which jobs are due,
//! claims that succeed once, and which blob keys jobs still need.

use mp3converter_core::{FailureReason, Job, JobId};

use super::transitions::audio;
use super::{QUEUE, create_sample_user, queued_job, sample_job, video_message};
use crate::{AudioOutput, Database, RetentionCandidate};

/// Sets `finished_at` directly, so the checks do not depend on the clock.
async fn set_finished_at(db: &Database, id: &JobId, at: i64) {
    sqlx::query(&db.sql("UPDATE jobs SET finished_at = $1 WHERE id = $2"))
        .bind(at)
        .bind(id.as_str())
        .execute(&db.pool)
        .await
        .expect("set finished_at");
}

/// A queued job of a new owner, converted to done with audio at `audio/<id>.mp3`, finished at `at`.
async fn done_job(db: &Database, email: &str, at: i64) -> Job {
    let job = queued_job(db, email, 1_700_000_000_000).await;
    db.mark_converting(&job.id).await.unwrap();
    let output = AudioOutput {
        key: format!("audio/{}.mp3", job.id),
        ..audio()
    };
    db.mark_done(&job.id, &output, None).await.unwrap();
    set_finished_at(db, &job.id, at).await;
    db.get_job(&job.id).await.unwrap().unwrap()
}

async fn failed_job(db: &Database, email: &str, at: i64) -> Job {
    let job = queued_job(db, email, 1_700_000_000_000).await;
    let reason = FailureReason {
        code: "corrupt-media".into(),
        message: "damaged".into(),
    };
    db.mark_failed(&job.id, &reason, None).await.unwrap();
    set_finished_at(db, &job.id, at).await;
    db.get_job(&job.id).await.unwrap().unwrap()
}

fn ids(candidates: &[RetentionCandidate]) -> Vec<JobId> {
    candidates.iter().map(|c| c.id.clone()).collect()
}

/// `keep` is stored on creation, can be set and cleared, and is `false` for a missing job.
pub async fn keep_flag_is_stored_and_can_be_changed(db: &Database) {
    let owner = create_sample_user(db, "keeper@example.com").await;
    let mut job = sample_job(&owner, 1_700_000_000_000);
    job.keep = true;
    db.create_job_with_message(&job, &video_message(&job, "video-keep", QUEUE))
        .await
        .unwrap();
    assert!(db.get_job(&job.id).await.unwrap().unwrap().keep);
    assert!(db.set_job_keep(&job.id, false).await.unwrap());
    assert!(!db.get_job(&job.id).await.unwrap().unwrap().keep);
    assert!(db.set_job_keep(&job.id, true).await.unwrap());
    assert!(db.get_job(&job.id).await.unwrap().unwrap().keep);
    assert!(!db.set_job_keep(&JobId::generate(), true).await.unwrap());
}

/// Sources are due for done jobs finished before the cutoff and not kept; expiry also takes
/// failed jobs; each claim succeeds once; kept, recent and unfinished jobs are never due.
pub async fn retention_finds_due_jobs_by_age_and_respects_keep(db: &Database) {
    let old = done_job(db, "old@example.com", 1_000).await;
    let recent = done_job(db, "recent@example.com", 5_000).await;
    let kept = done_job(db, "kept@example.com", 1_000).await;
    db.set_job_keep(&kept.id, true).await.unwrap();
    let failed = failed_job(db, "failed@example.com", 1_500).await;
    let queued = queued_job(db, "queued@example.com", 1_000).await;
    let cutoff = 2_000;

    let sources = db.sources_due(cutoff, 100).await.unwrap();
    assert_eq!(ids(&sources), vec![old.id.clone()], "sources due");
    assert_eq!(
        sources[0].video_key.as_deref(),
        Some(old.video_key.as_str())
    );
    assert!(db.mark_source_deleted(&old.id, cutoff).await.unwrap());
    assert!(
        !db.mark_source_deleted(&old.id, cutoff).await.unwrap(),
        "claimed twice"
    );
    for other in [&recent, &kept, &failed] {
        assert!(!db.mark_source_deleted(&other.id, cutoff).await.unwrap());
    }
    assert!(db.sources_due(cutoff, 100).await.unwrap().is_empty());

    let due = db.jobs_due_to_expire(cutoff, 100).await.unwrap();
    assert_eq!(
        ids(&due),
        vec![old.id.clone(), failed.id.clone()],
        "oldest first"
    );
    assert_eq!(
        due[0].video_key, None,
        "the old job's source is gone already"
    );
    assert_eq!(due[0].audio_key, old.audio_key);
    assert_eq!(due[1].video_key.as_deref(), Some(failed.video_key.as_str()));
    assert_eq!(due[1].audio_key, None);
    assert_eq!(db.jobs_due_to_expire(cutoff, 1).await.unwrap().len(), 1);

    for job in [&recent, &kept, &queued] {
        assert!(!db.expire_job(&job.id, cutoff).await.unwrap(), "{job:?}");
    }
    assert!(db.expire_job(&old.id, cutoff).await.unwrap());
    assert!(
        !db.expire_job(&old.id, cutoff).await.unwrap(),
        "expired twice"
    );
    assert!(db.expire_job(&failed.id, cutoff).await.unwrap());
    assert!(db.jobs_due_to_expire(cutoff, 100).await.unwrap().is_empty());
    let expired = db.get_job(&old.id).await.unwrap().unwrap();
    assert_eq!(expired.state, mp3converter_core::JobState::Expired);
    let kept_now = db.get_job(&kept.id).await.unwrap().unwrap();
    assert_eq!(kept_now.state, mp3converter_core::JobState::Done);
}

/// The keys jobs still need: videos of live jobs whose source was not removed and audio of live
/// jobs; nothing of expired jobs; nothing unknown. Works across statement chunks.
pub async fn referenced_blob_keys_are_what_live_jobs_need(db: &Database) {
    let queued = queued_job(db, "ref-queued@example.com", 1_000).await;
    let done = done_job(db, "ref-done@example.com", 1_000).await;
    let trimmed = done_job(db, "ref-trimmed@example.com", 1_000).await;
    assert!(db.mark_source_deleted(&trimmed.id, 2_000).await.unwrap());
    let expired = done_job(db, "ref-expired@example.com", 1_000).await;
    assert!(db.expire_job(&expired.id, 2_000).await.unwrap());

    let audio = |j: &Job| j.audio_key.clone().unwrap();
    let mut keys: Vec<String> = (0..450).map(|i| format!("video/orphan-{i}")).collect();
    keys.extend([
        queued.video_key.clone(),
        done.video_key.clone(),
        audio(&done),
        trimmed.video_key.clone(),
        audio(&trimmed),
        expired.video_key.clone(),
        audio(&expired),
    ]);
    let mut referenced: Vec<String> = db
        .referenced_blob_keys(&keys)
        .await
        .unwrap()
        .into_iter()
        .collect();
    referenced.sort();
    let mut expected = vec![
        queued.video_key.clone(),
        done.video_key.clone(),
        audio(&done),
        audio(&trimmed),
    ];
    expected.sort();
    assert_eq!(referenced, expected);
    assert!(db.referenced_blob_keys(&[]).await.unwrap().is_empty());
}
