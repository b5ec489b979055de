//! Conformance checks of the resumable uploads' rows: owner-only reads, an offset that moves
//! only from where it is, the open-upload count, and completion into exactly one job.

use std::time::Duration;

use super::{create_sample_user, sample_job};
use crate::{Database, Upload};

fn upload(id: &str, owner: &mp3converter_core::UserId, total: u64) -> Upload {
    Upload {
        id: id.to_owned(),
        owner_id: owner.clone(),
        total_bytes: total,
        received_bytes: 0,
        metadata: "filename dGFsay5tcDQ=".to_owned(),
        created_at: 1_700_000_000_000,
        expires_at: 1_700_000_100_000,
        job_id: None,
    }
}

/// An upload is its owner's only; its offset moves from where it is (a stale writer loses);
/// completion creates the job and its `video` message once, and only when every byte is in;
/// expired uploads are listed for removal.
pub async fn uploads_advance_once_and_become_one_job(db: &Database) {
    let user = create_sample_user(db, "tus-owner@example.com").await;
    let owner = user.id.clone();
    let other = create_sample_user(db, "tus-other@example.com").await.id;
    let up = upload("up-conformance-1", &owner, 100);
    db.create_upload(&up).await.unwrap();
    assert_eq!(
        db.get_upload_for_owner(&up.id, &owner).await.unwrap(),
        Some(up.clone())
    );
    assert_eq!(db.get_upload_for_owner(&up.id, &other).await.unwrap(), None);
    assert_eq!(
        db.count_open_uploads(&owner, up.created_at).await.unwrap(),
        1
    );
    assert_eq!(
        db.count_open_uploads(&owner, up.expires_at).await.unwrap(),
        0
    );

    assert!(
        db.advance_upload(&up.id, 0, 60, up.expires_at + 1)
            .await
            .unwrap()
    );
    assert!(
        !db.advance_upload(&up.id, 0, 40, up.expires_at)
            .await
            .unwrap(),
        "a writer that started from a stale offset must lose"
    );
    let queue = "video-tus-conformance";
    let job = sample_job(&user, 1_700_000_000_500);
    assert!(
        !db.complete_upload_and_enqueue_video(&up.id, &job, queue)
            .await
            .unwrap(),
        "an incomplete upload must not become a job"
    );
    assert_eq!(db.get_job(&job.id).await.unwrap(), None);

    assert!(
        db.advance_upload(&up.id, 60, 100, up.expires_at + 2)
            .await
            .unwrap()
    );
    assert!(
        db.complete_upload_and_enqueue_video(&up.id, &job, queue)
            .await
            .unwrap()
    );
    let again = sample_job(&user, 1_700_000_000_600);
    assert!(
        !db.complete_upload_and_enqueue_video(&up.id, &again, queue)
            .await
            .unwrap(),
        "a complete upload becomes one job only"
    );
    assert_eq!(db.get_job(&again.id).await.unwrap(), None);
    let stored = db
        .get_upload_for_owner(&up.id, &owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (stored.received_bytes, stored.job_id.as_ref()),
        (100, Some(&job.id))
    );
    assert!(db.get_job(&job.id).await.unwrap().is_some());
    let claimed = db
        .claim_message(queue, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the job's video message");
    assert!(
        claimed.payload.contains(job.id.as_str()),
        "{}",
        claimed.payload
    );
    assert!(
        !db.advance_upload(&up.id, 100, 100, 0).await.unwrap(),
        "finished"
    );
    assert_eq!(db.count_open_uploads(&owner, 0).await.unwrap(), 0);

    let expiry = stored.expires_at;
    assert!(db.expired_uploads(expiry - 1, 10).await.unwrap().is_empty());
    assert_eq!(
        db.expired_uploads(expiry, 10).await.unwrap(),
        vec![up.id.clone()]
    );
    assert!(db.upload_exists(&up.id).await.unwrap());
    db.delete_upload(&up.id).await.unwrap();
    assert!(!db.upload_exists(&up.id).await.unwrap());
}
