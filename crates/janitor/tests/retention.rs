//! The janitor on real backends (a scratch SQLite database, files in a temp dir) with the clock
//! injected: each pass is run "as of" a chosen time instead of waiting for it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use mp3converter_core::{FailureReason, Job, JobState};
use mp3converter_db::AudioOutput;
use mp3converter_db::conformance::{
    ScratchDatabase, create_sample_user, sample_job, video_message,
};
use mp3converter_janitor::{Janitor, JanitorDeps, PassReport, RetentionConfig};
use mp3converter_queue::{EventBus, InProcessEvents};
use mp3converter_storage::{BlobStore, StorageConfig};

const HOUR: u64 = 3600;
const DAY: u64 = 24 * HOUR;

struct Harness {
    scratch: Option<ScratchDatabase>,
    storage: Arc<dyn BlobStore>,
    events: Arc<InProcessEvents>,
    _blobs: tempfile::TempDir,
    jobs: usize,
}

impl Harness {
    async fn new() -> Harness {
        let blobs = tempfile::tempdir().unwrap();
        let storage = mp3converter_storage::build(&StorageConfig {
            path: blobs.path().to_owned(),
            ..StorageConfig::default()
        })
        .unwrap();
        Harness {
            scratch: Some(ScratchDatabase::sqlite().await),
            storage,
            events: Arc::new(InProcessEvents::default()),
            _blobs: blobs,
            jobs: 0,
        }
    }

    fn db(&self) -> &mp3converter_db::Database {
        &self.scratch.as_ref().unwrap().db
    }

    fn janitor(&self, config: RetentionConfig) -> Janitor {
        Janitor::new(
            JanitorDeps {
                db: self.db().clone(),
                storage: self.storage.clone(),
                events: self.events.clone(),
            },
            config,
        )
    }

    async fn put(&self, key: &str) {
        let body = futures_util::stream::iter([Ok(Bytes::from_static(b"blob bytes"))]).boxed();
        self.storage.put_stream(key, body, None).await.unwrap();
    }

    async fn exists(&self, key: &str) -> bool {
        self.storage.head(key).await.unwrap().is_some()
    }

    async fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .storage
            .list("")
            .map_ok(|l| l.key)
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }

    /// A queued job with its video stored at `video/<id>`, as the gateway creates it.
    async fn queued(&mut self) -> Job {
        self.jobs += 1;
        let owner = create_sample_user(self.db(), &format!("user{}@example.com", self.jobs)).await;
        let mut job = sample_job(&owner, mp3converter_core::now_millis());
        job.video_key = format!("video/{}", job.id);
        self.put(&job.video_key).await;
        let message = video_message(&job, "video", mp3converter_db::Route::Outbox);
        self.db()
            .create_job_with_message(&job, &message)
            .await
            .unwrap();
        job
    }

    /// A done job (finished now) with its audio stored, as the converter leaves it.
    async fn done(&mut self) -> Job {
        let job = self.queued().await;
        let key = format!("audio/{}.mp3", job.id);
        self.put(&key).await;
        self.db().mark_converting(&job.id).await.unwrap();
        let audio = AudioOutput {
            key,
            size: 10,
            duration_secs: 1.0,
        };
        self.db().mark_done(&job.id, &audio, None).await.unwrap();
        self.job(&job).await
    }

    async fn failed(&mut self) -> Job {
        let job = self.queued().await;
        let reason = FailureReason {
            code: "corrupt-media".into(),
            message: "the file is damaged".into(),
        };
        self.db().mark_failed(&job.id, &reason, None).await.unwrap();
        self.job(&job).await
    }

    async fn job(&self, job: &Job) -> Job {
        self.db().get_job(&job.id).await.unwrap().unwrap()
    }

    async fn cleanup(mut self) {
        self.scratch.take().unwrap().cleanup().await;
    }
}

/// `secs` seconds from now.
fn later(secs: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(secs)
}

fn rules() -> RetentionConfig {
    RetentionConfig::default()
}

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
