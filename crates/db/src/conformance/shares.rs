//! Conformance checks of share links and podcast feeds: lookups by token hash that answer only
//! while the link may be served (unexpired, not revoked, job done, owner enabled), and a feed
//! secret that is created once and replaced by rotation.

use mp3converter_core::{Job, now_millis};

use super::{QUEUE, create_sample_user, sample_job, video_message};
use crate::{AudioOutput, Database, Share};

/// A job of a new user `email`, converted (done with audio).
async fn done_job(db: &Database, email: &str, created_at: i64) -> (crate::User, Job) {
    let owner = create_sample_user(db, email).await;
    let job = sample_job(&owner, created_at);
    let q = format!("video-{}", job.id);
    db.create_job_with_message(&job, &video_message(&job, &q, QUEUE))
        .await
        .unwrap();
    db.mark_converting(&job.id).await.unwrap();
    let output = AudioOutput {
        key: format!("audio/{}.mp3", job.id),
        size: 1234,
        duration_secs: 12.5,
    };
    db.mark_done(&job.id, &output, None).await.unwrap();
    let job = db.get_job(&job.id).await.unwrap().unwrap();
    (owner, job)
}

fn share(id: &str, job: &Job, created_at: i64, expires_at: i64) -> Share {
    Share {
        id: id.to_owned(),
        job_id: job.id.clone(),
        owner_id: job.owner_id.clone(),
        created_at,
        expires_at,
    }
}

/// A share answers its job by token hash until it expires or is revoked; unexpired shares are
/// listed newest first; deleting the job or disabling its owner ends every share of it.
pub async fn shares_serve_their_job_until_expired_revoked_or_deleted(db: &Database) {
    let now = now_millis();
    let (owner, job) = done_job(db, "share-owner@example.com", now - 10_000).await;
    let live = share(
        &uuid::Uuid::now_v7().to_string(),
        &job,
        now - 2,
        now + 60_000,
    );
    let newer = share(
        &uuid::Uuid::now_v7().to_string(),
        &job,
        now - 1,
        now + 60_000,
    );
    let old = share(&uuid::Uuid::now_v7().to_string(), &job, now - 5, now - 1);
    db.create_share(&live, &format!("hash-a-{}", job.id))
        .await
        .unwrap();
    db.create_share(&newer, &format!("hash-b-{}", job.id))
        .await
        .unwrap();
    db.create_share(&old, &format!("hash-c-{}", job.id))
        .await
        .unwrap();

    let listed = db.list_shares(&job.id, now).await.unwrap();
    assert_eq!(listed, vec![newer.clone(), live.clone()]);
    assert_eq!(db.get_share(&old.id).await.unwrap(), Some(old.clone()));
    let found = db
        .shared_job(&format!("hash-a-{}", job.id), now)
        .await
        .unwrap();
    assert_eq!(found.map(|j| j.id), Some(job.id.clone()));
    assert_eq!(
        db.shared_job(&format!("hash-c-{}", job.id), now)
            .await
            .unwrap(),
        None,
        "expired"
    );
    assert_eq!(db.shared_job("no-such-hash", now).await.unwrap(), None);

    assert!(db.delete_share(&live.id).await.unwrap());
    assert!(!db.delete_share(&live.id).await.unwrap());
    assert_eq!(
        db.shared_job(&format!("hash-a-{}", job.id), now)
            .await
            .unwrap(),
        None,
        "revoked"
    );

    db.set_disabled(&owner.id, true).await.unwrap();
    assert_eq!(
        db.shared_job(&format!("hash-b-{}", job.id), now)
            .await
            .unwrap(),
        None,
        "owner disabled"
    );
    db.set_disabled(&owner.id, false).await.unwrap();
    assert!(
        db.shared_job(&format!("hash-b-{}", job.id), now)
            .await
            .unwrap()
            .is_some()
    );

    // An expired job's audio is gone: its shares stop.
    db.mark_expired(&job.id).await.unwrap();
    assert_eq!(
        db.shared_job(&format!("hash-b-{}", job.id), now)
            .await
            .unwrap(),
        None,
        "job expired"
    );
    assert!(db.delete_job(&job.id).await.unwrap());
    assert_eq!(db.list_shares(&job.id, now).await.unwrap(), vec![]);
    assert_eq!(db.get_share(&newer.id).await.unwrap(), None);
}

/// The feed's nonce is made once (concurrent first calls agree), found by its hash, and
/// replaced by rotation, after which the old hash finds nobody; the feed lists the owner's done
/// jobs only, most recently finished first.
pub async fn feed_secret_is_made_once_and_rotation_replaces_it(db: &Database) {
    let now = now_millis();
    let (owner, first) = done_job(db, "feed-owner@example.com", now - 20_000).await;
    let second = {
        let job = sample_job(&owner, now - 10_000);
        let q = format!("video-{}", job.id);
        db.create_job_with_message(&job, &video_message(&job, &q, QUEUE))
            .await
            .unwrap();
        job
    };
    let (stranger, theirs) = done_job(db, "feed-stranger@example.com", now - 5_000).await;

    let tag = owner.id.to_string();
    let (a, b) = super::join(
        db.feed_nonce(
            &owner.id,
            || (format!("n1-{tag}"), format!("h1-{tag}")),
            now,
        ),
        db.feed_nonce(
            &owner.id,
            || (format!("n2-{tag}"), format!("h2-{tag}")),
            now,
        ),
    )
    .await;
    let nonce = a.unwrap();
    assert_eq!(b.unwrap(), nonce);
    let hash = if nonce.starts_with("n1-") {
        "h1-"
    } else {
        "h2-"
    };
    let hash = format!("{hash}{tag}");
    assert_eq!(
        db.feed_nonce(&owner.id, || unreachable!(), now)
            .await
            .unwrap(),
        nonce
    );
    assert_eq!(db.feed_owner(&hash).await.unwrap(), Some(owner.id.clone()));

    let jobs = db.feed_jobs(&owner.id, 500).await.unwrap();
    assert_eq!(
        jobs.iter().map(|j| &j.id).collect::<Vec<_>>(),
        vec![&first.id],
        "done jobs only, the owner's only"
    );
    assert!(db.feed_job(&owner.id, &first.id).await.unwrap().is_some());
    assert!(db.feed_job(&owner.id, &second.id).await.unwrap().is_none());
    assert!(db.feed_job(&owner.id, &theirs.id).await.unwrap().is_none());
    assert!(
        db.feed_job(&stranger.id, &theirs.id)
            .await
            .unwrap()
            .is_some()
    );

    db.rotate_feed(&owner.id, &format!("n3-{tag}"), &format!("h3-{tag}"), now)
        .await
        .unwrap();
    assert_eq!(db.feed_owner(&hash).await.unwrap(), None);
    assert_eq!(
        db.feed_owner(&format!("h3-{tag}")).await.unwrap(),
        Some(owner.id.clone())
    );
    assert_eq!(
        db.feed_nonce(&owner.id, || unreachable!(), now)
            .await
            .unwrap(),
        format!("n3-{tag}")
    );
    // Rotating a feed that was never made makes it.
    db.rotate_feed(
        &stranger.id,
        &format!("n4-{tag}"),
        &format!("h4-{tag}"),
        now,
    )
    .await
    .unwrap();
    assert_eq!(
        db.feed_owner(&format!("h4-{tag}")).await.unwrap(),
        Some(stranger.id.clone())
    );
    db.set_disabled(&stranger.id, true).await.unwrap();
    assert_eq!(db.feed_owner(&format!("h4-{tag}")).await.unwrap(), None);
}
