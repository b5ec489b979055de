//! Conformance checks of creating, reading and listing jobs, and the fixtures the other job
//! checks share.

use mp3converter_core::{ConvertOptions, Job, JobId, NewJob, UserId};

use super::create_sample_user;
use crate::{Database, MessageRoute, OutboundMessage};

pub(super) const QUEUE: MessageRoute = MessageRoute::QueueTable { max_attempts: 5 };

/// A queued job of `owner` created at `created_at`.
pub fn sample_job(owner: &crate::User, created_at: i64) -> Job {
    Job::queued(
        NewJob {
            owner_id: owner.id.clone(),
            owner_email: owner.email.clone(),
            original_name: "Holiday clip (1).mp4".to_owned(),
            video_key: format!("videos/{}", uuid::Uuid::now_v7()),
            video_size: 5_000_000_000,
            video_sha256: "ab".repeat(32),
            options: ConvertOptions {
                bitrate: Some(128),
                mono: true,
                start: Some(1.5),
                title: Some("Ünïcødé ✓".to_owned()),
                ..Default::default()
            },
        },
        created_at,
    )
}

/// The `video` message of `job`, routed by `route`.
pub fn video_message(job: &Job, queue: &str, route: MessageRoute) -> OutboundMessage {
    let body = crate::enqueue::video_uploaded(job);
    OutboundMessage {
        queue: queue.to_owned(),
        message_id: job.id.to_string(),
        payload: serde_json::to_string(&body).expect("serialize message"),
        route,
        fair_key: Some(job.owner_id.to_string()),
    }
}

pub(super) async fn queued_job(db: &Database, email: &str, created_at: i64) -> Job {
    let owner = create_sample_user(db, email).await;
    let job = sample_job(&owner, created_at);
    let q = format!("video-{}", job.id);
    db.create_job_with_message(&job, &video_message(&job, &q, QUEUE))
        .await
        .expect("create job");
    job
}

/// Every field of a job survives the round trip; with `QueueTable` its message is in the
/// queue table, with `Outbox` in the outbox.
pub async fn job_and_its_message_are_stored_together(db: &Database) {
    let owner = create_sample_user(db, "roundtrip@example.com").await;
    let job = sample_job(&owner, 1_700_000_000_123);
    let msg = video_message(&job, "video-roundtrip", QUEUE);
    db.create_job_with_message(&job, &msg).await.unwrap();
    assert_eq!(db.get_job(&job.id).await.unwrap().as_ref(), Some(&job));
    assert_eq!(db.queue_depth("video-roundtrip").await.unwrap(), 1);
    let claimed = db
        .claim_message("video-roundtrip", std::time::Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the job's message is queued");
    assert_eq!(
        (claimed.message_id, claimed.payload),
        (msg.message_id, msg.payload)
    );

    let relayed = sample_job(&owner, 1_700_000_000_456);
    let before = db.outbox_batch(1000).await.unwrap().len();
    db.create_job_with_message(
        &relayed,
        &video_message(&relayed, "video-relay", MessageRoute::Outbox),
    )
    .await
    .unwrap();
    let outbox = db.outbox_batch(1000).await.unwrap();
    assert_eq!(outbox.len(), before + 1);
    assert!(outbox.iter().any(|m| m.message_id == relayed.id.as_str()));
    assert_eq!(db.queue_depth("video-relay").await.unwrap(), 0);
}

/// A job whose owner does not exist is refused, and no message is left behind.
pub async fn job_for_an_unknown_owner_is_refused_without_a_message(db: &Database) {
    let ghost = crate::User {
        id: UserId::generate(),
        ..super::sample_user("ghost@example.com", mp3converter_core::Role::User, 0)
    };
    let job = sample_job(&ghost, 1_700_000_000_000);
    let err = db
        .create_job_with_message(&job, &video_message(&job, "video-ghost", QUEUE))
        .await
        .expect_err("owner must exist");
    assert!(!err.is_retryable(), "{err:?}");
    assert!(db.get_job(&job.id).await.unwrap().is_none());
    assert_eq!(db.queue_depth("video-ghost").await.unwrap(), 0);
}

/// Another user's job reads as missing; lists are per owner (admin: all), newest first, limited.
pub async fn jobs_are_visible_to_their_owner_only_newest_first(db: &Database) {
    let alice = create_sample_user(db, "alice.jobs@example.com").await;
    let bob = create_sample_user(db, "bob.jobs@example.com").await;
    let mut alices = Vec::new();
    for t in [1_000, 3_000, 2_000] {
        let job = sample_job(&alice, 1_700_000_000_000 + t);
        db.create_job_with_message(&job, &video_message(&job, "video-own", QUEUE))
            .await
            .unwrap();
        alices.push(job);
    }
    let bobs = sample_job(&bob, 1_700_000_000_000 + 4_000);
    db.create_job_with_message(&bobs, &video_message(&bobs, "video-own", QUEUE))
        .await
        .unwrap();

    assert!(
        db.get_job_for_owner(&bobs.id, &alice.id)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        db.get_job_for_owner(&bobs.id, &bob.id)
            .await
            .unwrap()
            .map(|j| j.id),
        Some(bobs.id.clone())
    );
    let listed: Vec<JobId> = db
        .list_jobs_for_owner(&alice.id, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|j| j.id)
        .collect();
    let newest_first = vec![
        alices[1].id.clone(),
        alices[2].id.clone(),
        alices[0].id.clone(),
    ];
    assert_eq!(listed, newest_first);
    assert_eq!(db.list_jobs_for_owner(&alice.id, 2).await.unwrap().len(), 2);
    let all = db.list_jobs(1000).await.unwrap();
    assert!(all.iter().any(|j| j.id == bobs.id) && all.iter().any(|j| j.id == alices[0].id));
    assert!(all.windows(2).all(|w| w[0].created_at >= w[1].created_at));
    assert_eq!(db.list_jobs(1).await.unwrap().len(), 1);
}

/// `jobs_updated_since` returns the jobs changed at or after a time, oldest change first.
pub async fn jobs_updated_since_follows_changes(db: &Database) {
    let old = queued_job(db, "since-old@example.com", 1_600_000_000_000).await;
    let moved = queued_job(db, "since-moved@example.com", 1_600_000_000_001).await;
    let start = mp3converter_core::now_millis();
    assert!(
        db.jobs_updated_since(start, 1000)
            .await
            .unwrap()
            .iter()
            .all(|j| j.id != old.id && j.id != moved.id),
        "untouched jobs are not reported"
    );
    db.mark_converting(&moved.id).await.unwrap();
    let changed = db.jobs_updated_since(start, 1000).await.unwrap();
    let found = changed
        .iter()
        .find(|j| j.id == moved.id)
        .expect("changed job");
    assert_eq!(found.state, mp3converter_core::JobState::Converting);
    assert!(found.updated_at >= start);
    assert!(changed.iter().all(|j| j.id != old.id));
    assert!(
        changed
            .windows(2)
            .all(|w| w[0].updated_at <= w[1].updated_at)
    );
}
