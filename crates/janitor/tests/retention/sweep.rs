//! The orphan sweep, its safety delay and the blobs it must never touch; janitors racing; the
//! metrics a pass counts.

use std::sync::Arc;

use mp3converter_janitor::{PassReport, RetentionConfig};

use crate::support::{DAY, HOUR, Harness, WholeSecondsOnHead, later, rules};

#[tokio::test]
async fn orphan_blob_is_swept_only_after_the_safety_delay() {
    let h = Harness::new().await;
    h.put("video/orphan-upload").await;
    h.put("audio/orphan.mp3").await;
    h.put("backups/not-ours.tar").await;
    let janitor = h.janitor(rules());

    let early = janitor.run_once(later(DAY - HOUR)).await.unwrap();
    assert_eq!(early.blobs_swept, 0, "younger than sweep_min_age_secs");
    assert!(h.exists("video/orphan-upload").await);

    let report = janitor.run_once(later(DAY + HOUR)).await.unwrap();
    assert_eq!(report.blobs_swept, 2, "{report:?}");
    assert_eq!(
        h.keys().await,
        vec!["backups/not-ours.tar".to_owned()],
        "only service prefixes"
    );
    h.cleanup().await;
}

#[tokio::test]
async fn blobs_of_jobs_are_never_swept() {
    let mut h = Harness::new().await;
    let queued = h.queued().await;
    let done = h.done().await;
    let failed = h.failed().await;
    let kept = h.done().await;
    h.db().set_job_keep(&kept.id, true).await.unwrap();
    let before = h.keys().await;
    assert_eq!(before.len(), 6);
    // Only the sweep, as of a year later: every blob is old, every blob is referenced.
    let sweep_only = RetentionConfig {
        source_grace_secs: 0,
        audio_retention_secs: 0,
        ..rules()
    };
    let report = h
        .janitor(sweep_only)
        .run_once(later(365 * DAY))
        .await
        .unwrap();
    assert_eq!(report, PassReport::default());
    assert_eq!(h.keys().await, before);
    for job in [&queued, &done, &failed, &kept] {
        assert!(h.exists(&job.video_key).await, "{:?}", job.state);
    }
    h.cleanup().await;
}

#[tokio::test]
async fn a_source_whose_delete_was_lost_is_swept_later() {
    let mut h = Harness::new().await;
    let job = h.done().await;
    // The claim was recorded but the process died before the delete.
    let grace_end = mp3converter_core::now_millis() + 1;
    assert!(
        h.db()
            .mark_source_deleted(&job.id, grace_end)
            .await
            .unwrap()
    );
    assert!(h.exists(&job.video_key).await);
    let report = h
        .janitor(rules())
        .run_once(later(DAY + HOUR))
        .await
        .unwrap();
    assert_eq!(
        (report.sources_deleted, report.blobs_swept),
        (0, 1),
        "{report:?}"
    );
    assert!(!h.exists(&job.video_key).await);
    assert!(h.exists(job.audio_key.as_deref().unwrap()).await);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_janitors_at_once_remove_each_file_once() {
    let mut h = Harness::new().await;
    for _ in 0..6 {
        h.done().await;
    }
    let (a, b) = (h.janitor(rules()), h.janitor(rules()));
    let at = later(7 * DAY + HOUR);
    let (ra, rb) = tokio::join!(a.run_once(at), b.run_once(at));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.sources_deleted + rb.sources_deleted, 6, "{ra:?} {rb:?}");
    assert_eq!(ra.jobs_expired + rb.jobs_expired, 6, "{ra:?} {rb:?}");
    assert_eq!(ra.audio_deleted + rb.audio_deleted, 6, "{ra:?} {rb:?}");
    assert!(h.keys().await.is_empty());
    h.cleanup().await;
}

#[test]
fn passes_count_what_they_removed_in_the_metrics() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let mut h = Harness::new().await;
            h.done().await;
            h.failed().await;
            h.put("video/orphan").await;
            let report = h
                .janitor(rules())
                .run_once(later(7 * DAY + HOUR))
                .await
                .unwrap();
            assert_eq!(
                report,
                PassReport {
                    sources_deleted: 2,
                    audio_deleted: 1,
                    jobs_expired: 2,
                    blobs_swept: 1,
                    chunks_swept: 0,
                    chunk_plans_removed: 0,
                    interrupted_puts_swept: 0,
                    uploads_expired: 0,
                    errors: 0,
                }
            );
            h.cleanup().await;
        });
    });
    let text = handle.render();
    for line in [
        "retention_sources_deleted_total 2",
        "retention_audio_deleted_total 1",
        "retention_jobs_expired_total 2",
        "retention_blobs_swept_total 1",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line} missing from:\n{text}"
        );
    }
}

#[tokio::test]
async fn the_sweep_works_when_head_reports_whole_seconds() {
    let mut h = Harness::new().await;
    h.storage = Arc::new(WholeSecondsOnHead(h.storage.clone()));
    h.put("video/orphan").await;
    let report = h
        .janitor(rules())
        .run_once(later(DAY + HOUR))
        .await
        .unwrap();
    assert_eq!(report.blobs_swept, 1, "{report:?}");
    assert!(h.keys().await.is_empty());
    h.cleanup().await;
}

#[tokio::test]
async fn expired_uploads_go_with_their_segments_and_orphan_segments_after_the_delay() {
    use mp3converter_db::Upload;
    use mp3converter_db::conformance::create_sample_user;

    let h = Harness::new().await;
    let owner = create_sample_user(h.db(), "uploader@example.com").await;
    let now = mp3converter_core::now_millis();
    let upload = |id: &str, expires_at: i64| Upload {
        id: id.to_owned(),
        owner_id: owner.id.clone(),
        total_bytes: 100,
        received_bytes: 10,
        metadata: String::new(),
        created_at: now,
        expires_at,
        job_id: None,
    };
    let day_ms = i64::try_from(DAY * 1000).unwrap();
    h.db()
        .create_upload(&upload("resting", now + day_ms))
        .await
        .unwrap();
    h.db()
        .create_upload(&upload("abandoned", now + HOUR as i64 * 1000))
        .await
        .unwrap();
    h.put("uploads/resting/00000000000000000000").await;
    h.put("uploads/abandoned/00000000000000000000").await;
    h.put("uploads/abandoned/00000000000000000005").await;
    // Cover pictures sent for the uploads go with their segments.
    h.put("uploads/resting/cover").await;
    h.put("uploads/abandoned/cover").await;
    // A crash removed the row but not the segment.
    h.put("uploads/rowless/00000000000000000000").await;
    let janitor = h.janitor(rules());

    let report = janitor.run_once(later(2 * HOUR)).await.unwrap();
    assert_eq!(report.uploads_expired, 1, "{report:?}");
    assert!(!h.db().upload_exists("abandoned").await.unwrap());
    assert!(h.db().upload_exists("resting").await.unwrap());
    assert_eq!(
        h.keys().await,
        vec![
            "uploads/resting/00000000000000000000".to_owned(),
            "uploads/resting/cover".to_owned(),
            "uploads/rowless/00000000000000000000".to_owned(),
        ],
        "the rowless segment is younger than the sweep's delay"
    );

    let report = janitor.run_once(later(DAY + 2 * HOUR)).await.unwrap();
    assert_eq!(report.uploads_expired, 1, "{report:?}");
    assert_eq!(report.blobs_swept, 1, "the rowless segment: {report:?}");
    assert!(h.keys().await.is_empty());
    h.cleanup().await;
}

#[tokio::test]
async fn chunks_stay_while_their_job_converts_and_go_once_it_is_finished_or_gone() {
    let mut h = Harness::new().await;
    let converting = h.queued().await;
    h.db().mark_converting(&converting.id).await.unwrap();
    let finished = h.queued().await;
    h.db().mark_converting(&finished.id).await.unwrap();
    for job in [&converting, &finished] {
        let planned = h
            .db()
            .plan_chunks_and_enqueue(job, "{}", 2, "video")
            .await
            .unwrap();
        assert!(planned);
        h.put(&format!("chunks/{}/0.mp3", job.id)).await;
    }
    h.put("chunks/0190f5b2-0000-7000-8000-000000000000/1.mp3")
        .await;
    let reason = mp3converter_core::FailureReason {
        code: "gave-up".into(),
        message: "m".into(),
    };
    h.db()
        .mark_failed(&finished.id, &reason, None)
        .await
        .unwrap();
    let sweep_only = RetentionConfig {
        source_grace_secs: 0,
        audio_retention_secs: 0,
        ..rules()
    };
    let janitor = h.janitor(sweep_only);

    let early = janitor.run_once(later(HOUR)).await.unwrap();
    assert_eq!(
        early.chunk_plans_removed, 1,
        "the failed job's plan goes at once"
    );
    assert_eq!(early.chunks_swept, 0, "blobs wait for the safety delay");

    let report = janitor.run_once(later(2 * DAY)).await.unwrap();
    assert_eq!(report.chunks_swept, 2, "{report:?}");
    let chunks: Vec<String> = h
        .keys()
        .await
        .into_iter()
        .filter(|k| k.starts_with("chunks/"))
        .collect();
    assert_eq!(chunks, vec![format!("chunks/{}/0.mp3", converting.id)]);
    assert!(h.db().chunk_plan(&converting.id).await.unwrap().is_some());
    h.cleanup().await;
}
