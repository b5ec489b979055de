//! Conformance checks of quotas and dedup: an admin's overrides, usage (storage, jobs today —
//! deleted ones included — and jobs in progress), the per-day counter under concurrent
//! creations, finding a reusable job, and a reused job that shares its audio.

use mp3converter_core::{Job, JobState, now_millis};

use super::transitions::audio;
use super::{QUEUE, create_sample_user, join, sample_job, video_message};
use crate::{AudioOutput, Database, QuotaOverrides, QuotaUsage, utc_day};

async fn create(db: &Database, job: &Job) {
    db.create_job_with_message(job, &video_message(job, "video", QUEUE))
        .await
        .expect("create job");
}

async fn convert(db: &Database, job: &Job, output: &AudioOutput) {
    db.mark_converting(&job.id).await.unwrap();
    db.mark_done(&job.id, output, None).await.unwrap();
}

/// Overrides are stored per user, read back as set, and removed when all are `None`.
pub async fn quota_overrides_are_stored_per_user_and_cleared(db: &Database) {
    let alice = create_sample_user(db, "quota-alice@example.com").await;
    let bob = create_sample_user(db, "quota-bob@example.com").await;
    assert_eq!(
        db.quota_overrides(&alice.id).await.unwrap(),
        QuotaOverrides::default()
    );
    let set = QuotaOverrides {
        storage_bytes: Some(5_000_000_000_000),
        jobs_per_day: Some(0),
        concurrent_jobs: None,
        max_upload_bytes: Some(1),
    };
    db.set_quota_overrides(&alice.id, &set).await.unwrap();
    db.set_quota_overrides(&alice.id, &set).await.unwrap();
    assert_eq!(db.quota_overrides(&alice.id).await.unwrap(), set);
    assert_eq!(
        db.quota_overrides(&bob.id).await.unwrap(),
        QuotaOverrides::default()
    );
    db.set_quota_overrides(&alice.id, &QuotaOverrides::default())
        .await
        .unwrap();
    assert_eq!(
        db.quota_overrides(&alice.id).await.unwrap(),
        QuotaOverrides::default()
    );
}

/// Storage is videos not yet removed plus audio (shared audio once); jobs today count every
/// creation of this UTC day, deleted jobs too, concurrent ones included; in progress is queued,
/// downloading and converting.
pub async fn quota_usage_counts_storage_jobs_today_and_jobs_in_progress(db: &Database) {
    let owner = create_sample_user(db, "usage@example.com").await;
    let now = now_millis();
    assert_eq!(
        db.quota_usage(&owner.id, now).await.unwrap(),
        QuotaUsage::default()
    );
    let mut a = sample_job(&owner, now);
    a.video_size = 1_000;
    let mut b = sample_job(&owner, now);
    b.video_size = 20;
    // Two creations at once both count.
    join(create(db, &a), create(db, &b)).await;
    let usage = db.quota_usage(&owner.id, now).await.unwrap();
    assert_eq!(
        usage,
        QuotaUsage {
            storage_bytes: 1_020,
            jobs_today: 2,
            concurrent_jobs: 2
        }
    );
    convert(
        db,
        &a,
        &AudioOutput {
            key: "audio/usage-a.mp3".into(),
            size: 300,
            ..audio()
        },
    )
    .await;
    // A reuse of `a`: its video is gone at once and its audio is `a`'s.
    let mut again = sample_job(&owner, now);
    again.video_size = 1_000;
    let a_done = db.get_job(&a.id).await.unwrap().unwrap();
    let message = video_message(&again, &format!("mp3-{}", again.id), QUEUE);
    db.create_reused_job(&again, &a_done, &message, None)
        .await
        .unwrap();
    let usage = db.quota_usage(&owner.id, now).await.unwrap();
    assert_eq!(usage.storage_bytes, 1_000 + 20 + 300);
    assert_eq!(usage.jobs_today, 3);
    assert_eq!(usage.concurrent_jobs, 1, "b only");

    assert!(db.delete_job(&b.id).await.unwrap());
    let usage = db.quota_usage(&owner.id, now).await.unwrap();
    assert_eq!(usage.jobs_today, 3, "a deleted job still counts today");
    assert_eq!(usage.concurrent_jobs, 0);
    assert_eq!(usage.storage_bytes, 1_300);
    // Tomorrow starts again at 0.
    let tomorrow = (utc_day(now) + 1) * 86_400_000;
    assert_eq!(
        db.quota_usage(&owner.id, tomorrow)
            .await
            .unwrap()
            .jobs_today,
        0
    );
}

/// A done job with the same owner, content, name and options is found (the newest); a
/// different name (also only in letter case), options, owner, or a job not done is not. The
/// reused job is done with the shared audio, which stays referenced until both jobs are gone.
pub async fn reusable_jobs_match_owner_content_name_and_options(db: &Database) {
    let owner = create_sample_user(db, "dedup@example.com").await;
    let other = create_sample_user(db, "dedup-other@example.com").await;
    let now = now_millis();
    let first = sample_job(&owner, now - 2_000);
    create(db, &first).await;
    let probe = sample_job(&owner, now);
    assert!(
        db.reusable_job(&probe).await.unwrap().is_none(),
        "not done yet"
    );
    let output = AudioOutput {
        key: format!("audio/{}.mp3", first.id),
        ..audio()
    };
    convert(db, &first, &output).await;
    let found = db.reusable_job(&probe).await.unwrap().expect("reusable");
    assert_eq!(found.id, first.id);

    let mut renamed = sample_job(&owner, now);
    renamed.original_name = renamed.original_name.to_uppercase();
    let mut other_options = sample_job(&owner, now);
    other_options.options.bitrate = Some(192);
    let mut other_content = sample_job(&owner, now);
    other_content.video_sha256 = "cd".repeat(32);
    let mut with_cover = sample_job(&owner, now);
    with_cover.options.cover = true;
    for job in [
        renamed,
        other_options,
        other_content,
        with_cover,
        sample_job(&other, now),
    ] {
        assert!(db.reusable_job(&job).await.unwrap().is_none(), "{job:?}");
    }

    let queue = format!("mp3-{}", probe.id);
    let message = video_message(&probe, &queue, QUEUE);
    let reused = db
        .create_reused_job(&probe, &found, &message, None)
        .await
        .unwrap()
        .unwrap();
    let stored = db.get_job(&probe.id).await.unwrap().unwrap();
    assert_eq!(stored, reused);
    assert_eq!(stored.state, JobState::Done);
    assert_eq!(stored.reused_from.as_ref(), Some(&first.id));
    assert_eq!(stored.audio_key.as_deref(), Some(output.key.as_str()));
    assert_eq!(stored.audio_size, Some(output.size));
    assert_eq!(stored.duration_secs, Some(output.duration_secs));
    assert_eq!(stored.progress, 1.0);
    assert!(stored.finished_at.is_some());
    // Its message went out with it.
    let queued = db
        .claim_message(&queue, std::time::Duration::from_secs(60))
        .await
        .unwrap()
        .expect("message");
    assert_eq!(queued.message_id, probe.id.to_string());
    // Its own video is not needed; the shared audio is, by each job for the other.
    let keys = vec![output.key.clone(), probe.video_key.clone()];
    let live = db.referenced_blob_keys(&keys).await.unwrap();
    assert_eq!(live.len(), 1);
    assert!(live.contains(&output.key));
    for (job, other) in [(&first, &probe), (&probe, &first)] {
        let shared = db.blob_keys_shared(&keys, &job.id).await.unwrap();
        assert!(shared.contains(&output.key), "{} uses it", other.id);
    }
    assert!(db.delete_job(&first.id).await.unwrap());
    assert!(
        db.blob_keys_shared(&keys, &probe.id)
            .await
            .unwrap()
            .is_empty(),
        "the last job's blobs are its own to delete"
    );
}
