//! Conformance checks of webhook endpoints (owner-only, rotation) and their deliveries: created
//! with the job's finishing transaction once per subscribed endpoint, claimed by one deliverer
//! at a time, retried, recorded and replayed with the same id.

use std::collections::BTreeSet;
use std::time::Duration;

use mp3converter_core::{FailureReason, JobState, UserId, now_millis};

use super::transitions::audio;
use super::{create_sample_user, join, queued_job, sample_job};
use crate::{
    Database, DeliveryNext, EndpointChanges, JOB_DONE, JOB_FAILED, WebhookAttempt, WebhookEndpoint,
};

fn endpoint(id: &str, owner: &UserId, events: &[&str]) -> WebhookEndpoint {
    WebhookEndpoint {
        id: id.to_owned(),
        owner_id: owner.clone(),
        url: format!("https://hooks.example.com/{id}"),
        description: "ci ✓".to_owned(),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(),
        previous_secret: None,
        previous_secret_until: None,
        enabled: true,
        created_at: 1_700_000_000_000,
        updated_at: 1_700_000_000_000,
    }
}

/// An endpoint is its owner's only: another user neither sees, changes, rotates nor deletes it;
/// a rotation keeps the old secret signing until the grace period ends.
pub async fn webhook_endpoints_belong_to_their_owner(db: &Database) {
    let owner = create_sample_user(db, "hook-owner@example.com").await.id;
    let other = create_sample_user(db, "hook-other@example.com").await.id;
    let ep = endpoint("0190f1a0-0000-7000-8000-00000000e001", &owner, &[JOB_DONE]);
    db.create_webhook_endpoint(&ep).await.unwrap();
    assert_eq!(db.count_webhook_endpoints(&owner).await.unwrap(), 1);
    assert_eq!(db.count_webhook_endpoints(&other).await.unwrap(), 0);
    assert_eq!(
        db.list_webhook_endpoints(&owner).await.unwrap(),
        vec![ep.clone()]
    );
    assert!(db.list_webhook_endpoints(&other).await.unwrap().is_empty());
    assert_eq!(db.get_webhook_endpoint(&ep.id, &other).await.unwrap(), None);

    let changes = EndpointChanges {
        events: Some(vec![JOB_DONE.into(), JOB_FAILED.into()]),
        enabled: Some(false),
        ..Default::default()
    };
    assert_eq!(
        db.update_webhook_endpoint(&ep.id, &other, &changes, 5)
            .await
            .unwrap(),
        None
    );
    let changed = db
        .update_webhook_endpoint(&ep.id, &owner, &changes, 5)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((changed.enabled, changed.events.len()), (false, 2));
    assert_eq!(
        db.get_webhook_endpoint(&ep.id, &owner).await.unwrap(),
        Some(changed)
    );

    let until = now_millis() + 60_000;
    assert_eq!(
        db.rotate_webhook_secret(&ep.id, &other, "whsec_b3RoZXI=", until, 6)
            .await
            .unwrap(),
        None
    );
    let rotated = db
        .rotate_webhook_secret(&ep.id, &owner, "whsec_bmV3", until, 6)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rotated.secret, "whsec_bmV3");
    assert_eq!(rotated.previous_secret.as_deref(), Some(ep.secret.as_str()));
    assert_eq!(
        rotated.signing_secrets(until - 1),
        vec!["whsec_bmV3", ep.secret.as_str()]
    );
    assert_eq!(rotated.signing_secrets(until), vec!["whsec_bmV3"]);

    assert!(!db.delete_webhook_endpoint(&ep.id, &other).await.unwrap());
    assert!(db.delete_webhook_endpoint(&ep.id, &owner).await.unwrap());
    assert_eq!(db.count_webhook_endpoints(&owner).await.unwrap(), 0);
}

/// Finishing a job creates one delivery per enabled endpoint of its owner subscribed to the
/// event (none for a repeated finish, a disabled endpoint or another user's); deliveries are
/// claimed by one deliverer at a time, retried with the same id, recorded, given up on and
/// replayed.
pub async fn finished_jobs_get_one_delivery_per_subscribed_endpoint(db: &Database) {
    let done_job = queued_job(db, "hook-jobs@example.com", 1_700_000_000_000).await;
    let owner = done_job.owner_id.clone();
    let stranger = create_sample_user(db, "hook-stranger@example.com").await.id;
    let on_done = endpoint("0190f1a0-0000-7000-8000-00000000e011", &owner, &[JOB_DONE]);
    let on_failed = endpoint(
        "0190f1a0-0000-7000-8000-00000000e012",
        &owner,
        &[JOB_FAILED],
    );
    let mut off = endpoint("0190f1a0-0000-7000-8000-00000000e013", &owner, &[JOB_DONE]);
    off.enabled = false;
    let theirs = endpoint(
        "0190f1a0-0000-7000-8000-00000000e014",
        &stranger,
        &[JOB_DONE],
    );
    for ep in [&on_done, &on_failed, &off, &theirs] {
        db.create_webhook_endpoint(ep).await.unwrap();
    }

    db.mark_converting(&done_job.id).await.unwrap();
    db.mark_done(&done_job.id, &audio(), None).await.unwrap();
    db.mark_done(&done_job.id, &audio(), None).await.unwrap();
    let failed_job = sample_job(
        &db.user_by_id(&owner).await.unwrap().unwrap(),
        1_700_000_000_001,
    );
    db.create_job_with_message(
        &failed_job,
        &super::video_message(&failed_job, "v-hook", super::QUEUE),
    )
    .await
    .unwrap();
    let reason = FailureReason {
        code: "no-audio-track".into(),
        message: "no audio".into(),
    };
    db.mark_failed(&failed_job.id, &reason, None).await.unwrap();
    db.mark_failed(&failed_job.id, &reason, None).await.unwrap();
    let mut download = sample_job(
        &db.user_by_id(&owner).await.unwrap().unwrap(),
        1_700_000_000_002,
    );
    download.state = JobState::Downloading;
    db.create_downloading_job(&download).await.unwrap();
    assert!(db.fail_download(&download.id, &reason).await.unwrap());

    let to_done = db.list_webhook_deliveries(&on_done.id, 10).await.unwrap();
    assert_eq!(to_done.len(), 1);
    assert_eq!(
        (
            to_done[0].job_id.as_str(),
            to_done[0].event.as_str(),
            to_done[0].status.as_str()
        ),
        (done_job.id.as_str(), JOB_DONE, "pending")
    );
    assert!(to_done[0].id.starts_with("msg_"));
    let to_failed = db.list_webhook_deliveries(&on_failed.id, 10).await.unwrap();
    let jobs: BTreeSet<_> = to_failed.iter().map(|d| d.job_id.clone()).collect();
    let expected: BTreeSet<_> = [failed_job.id.to_string(), download.id.to_string()].into();
    assert_eq!(jobs, expected);
    assert!(to_failed.iter().all(|d| d.event == JOB_FAILED));
    assert!(
        db.list_webhook_deliveries(&off.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        db.list_webhook_deliveries(&theirs.id, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Two deliverers at once never get the same delivery; all three are claimed once.
    let lease = Duration::from_secs(60);
    let mut claimed = Vec::new();
    loop {
        let (a, b) = join(
            db.claim_webhook_delivery(lease),
            db.claim_webhook_delivery(lease),
        )
        .await;
        let (a, b) = (a.unwrap(), b.unwrap());
        if let (Some(a), Some(b)) = (&a, &b) {
            assert_ne!(a.delivery.id, b.delivery.id);
        }
        let got: Vec<_> = a.into_iter().chain(b).collect();
        if got.is_empty() {
            break;
        }
        claimed.extend(got);
    }
    assert_eq!(claimed.len(), 3);
    let first = claimed
        .into_iter()
        .find(|c| c.delivery.id == to_done[0].id)
        .unwrap();
    assert_eq!(
        (first.delivery.attempts, first.endpoint.id.as_str()),
        (1, on_done.id.as_str())
    );

    let body = db
        .fix_webhook_payload(&first.delivery.id, "{\"a\":1}")
        .await
        .unwrap();
    assert_eq!(body, "{\"a\":1}");
    let again = db
        .fix_webhook_payload(&first.delivery.id, "{\"b\":2}")
        .await
        .unwrap();
    assert_eq!(again, "{\"a\":1}", "the body is fixed at the first attempt");

    let failure = WebhookAttempt {
        attempted_at: now_millis(),
        status_code: Some(500),
        latency_ms: 12,
        error: Some("the endpoint answered 500".into()),
    };
    let id = first.delivery.id.clone();
    assert!(
        !db.record_webhook_attempt(&id, "not-the-lease", &failure, DeliveryNext::GiveUp)
            .await
            .unwrap()
    );
    assert!(
        db.record_webhook_attempt(&id, &first.lease_token, &failure, DeliveryNext::RetryAt(0))
            .await
            .unwrap()
    );
    let second = db.claim_webhook_delivery(lease).await.unwrap().unwrap();
    assert_eq!(second.delivery.id, id, "retried with the same id");
    assert_eq!((second.delivery.attempts, second.delivery.retries), (2, 1));
    assert_eq!(second.delivery.last_status_code, Some(500));
    let success = WebhookAttempt {
        attempted_at: failure.attempted_at + 1,
        status_code: Some(204),
        error: None,
        ..failure.clone()
    };
    assert!(
        db.record_webhook_attempt(&id, &second.lease_token, &success, DeliveryNext::Delivered)
            .await
            .unwrap()
    );
    let delivered = db.webhook_delivery(&id).await.unwrap().unwrap();
    assert_eq!(
        (
            delivered.status.as_str(),
            delivered.next_attempt_at,
            delivered.last_status_code
        ),
        ("delivered", None, Some(204))
    );
    let attempts = db.list_webhook_attempts(&id).await.unwrap();
    assert_eq!(
        attempts.iter().map(|a| a.status_code).collect::<Vec<_>>(),
        vec![Some(500), Some(204)]
    );
    assert!(db.claim_webhook_delivery(lease).await.unwrap().is_none());

    assert!(
        !db.replay_webhook_delivery(&on_failed.id, &id)
            .await
            .unwrap()
    );
    assert!(db.replay_webhook_delivery(&on_done.id, &id).await.unwrap());
    let replayed = db.claim_webhook_delivery(lease).await.unwrap().unwrap();
    assert_eq!(
        (replayed.delivery.id.as_str(), replayed.delivery.attempts),
        (id.as_str(), 3)
    );
    assert_eq!(replayed.delivery.payload.as_deref(), Some("{\"a\":1}"));
    assert!(
        db.record_webhook_attempt(&id, &replayed.lease_token, &failure, DeliveryNext::GiveUp)
            .await
            .unwrap()
    );
    assert_eq!(
        db.webhook_delivery(&id).await.unwrap().unwrap().status,
        "failed"
    );

    assert!(
        db.delete_webhook_endpoint(&on_done.id, &owner)
            .await
            .unwrap()
    );
    assert_eq!(db.webhook_delivery(&id).await.unwrap(), None);
    assert!(db.list_webhook_attempts(&id).await.unwrap().is_empty());
}
