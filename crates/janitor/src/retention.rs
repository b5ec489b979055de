//! The retention pass (sources, expiry, sweep) and the background worker that repeats it.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use mp3converter_core::JobEvent;
use mp3converter_db::{Database, RetentionCandidate};
use mp3converter_queue::{BoxError, EventBus, WorkState, Worker, run_worker};
use mp3converter_storage::BlobStore;
use tokio_util::sync::CancellationToken;

use crate::stats::{self, count};
use crate::{JanitorError, RetentionConfig};

/// Jobs handled per database query.
pub(crate) const BATCH: u32 = 200;
/// Most batches of one rule in one pass (the rest waits for the next pass).
const MAX_BATCHES: usize = 500;

/// What the janitor works with.
#[derive(Debug, Clone)]
pub struct JanitorDeps {
    /// Jobs: which are due, and the guarded claims.
    pub db: Database,
    /// Where the videos and audio are.
    pub storage: Arc<dyn BlobStore>,
    /// Expired jobs are announced here (live views update).
    pub events: Arc<dyn EventBus>,
}

/// What one pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassReport {
    /// Source videos removed (after the grace period, or with an expired job).
    pub sources_deleted: u64,
    /// Audio files removed with an expired job.
    pub audio_deleted: u64,
    /// Jobs that became `expired`.
    pub jobs_expired: u64,
    /// Unreferenced blobs removed by the sweep.
    pub blobs_swept: u64,
    /// Chunk frames of split jobs that no longer need them, removed by the sweep.
    pub chunks_swept: u64,
    /// Chunk plans of finished, failed or deleted jobs removed.
    pub chunk_plans_removed: u64,
    /// Puts interrupted by a crash whose leftovers inside the storage backend were removed by
    /// the sweep (GridFS chunks without a file).
    pub interrupted_puts_swept: u64,
    /// Expired resumable uploads removed with their segments.
    pub uploads_expired: u64,
    /// Removals that failed (logged; the sweep or the next pass retries them).
    pub errors: u64,
}

/// The retention worker.
#[derive(Debug, Clone)]
pub struct Janitor {
    pub(crate) deps: JanitorDeps,
    pub(crate) config: RetentionConfig,
}

#[async_trait]
impl Worker for Janitor {
    fn name(&self) -> &'static str {
        "retention janitor"
    }

    async fn work(&mut self, stop: &CancellationToken) -> Result<WorkState, BoxError> {
        let pass = tokio::select! {
            pass = self.run_once(SystemTime::now()) => pass,
            () = stop.cancelled() => return Ok(WorkState::Idle),
        };
        match pass {
            Ok(report) if report != PassReport::default() => {
                tracing::info!(?report, "retention pass");
            }
            Ok(_) => tracing::debug!("retention pass: nothing to do"),
            Err(error) => {
                count(stats::ERRORS_TOTAL, 1);
                tracing::warn!(%error, "retention pass failed; retrying on the next one");
            }
        }
        Ok(WorkState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.config.interval()).await;
    }
}

/// Unix milliseconds of `t` (0 before the epoch).
pub(crate) fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The cutoff `secs` before `now`, in unix ms.
fn cutoff(now: SystemTime, secs: u64) -> i64 {
    millis(now).saturating_sub(i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX))
}

impl Janitor {
    /// A janitor with these rules (already validated by the configuration).
    pub fn new(deps: JanitorDeps, config: RetentionConfig) -> Janitor {
        Janitor { deps, config }
    }

    /// This janitor as a background [`Worker`]: a pass every `interval_secs` (the first one at
    /// once). A failed pass is logged and counted; the next one runs on schedule.
    pub fn into_worker(self) -> Box<dyn Worker> {
        stats::describe_metrics();
        tracing::info!(config = ?self.config, "retention janitor configured");
        Box::new(self)
    }

    /// Runs [`into_worker`](Self::into_worker) until `stop` is cancelled.
    pub async fn run(self, stop: CancellationToken) {
        run_worker(self.into_worker(), stop).await;
    }

    /// One pass as of `now` (the clock is the caller's, so tests can move it): sources, then
    /// expiry, then the sweep. Metrics are counted as removals happen.
    pub async fn run_once(&self, now: SystemTime) -> Result<PassReport, JanitorError> {
        let mut report = PassReport::default();
        if self.config.source_grace_secs > 0 {
            self.remove_sources(cutoff(now, self.config.source_grace_secs), &mut report)
                .await?;
        }
        if self.config.audio_retention_secs > 0 {
            self.expire_jobs(cutoff(now, self.config.audio_retention_secs), &mut report)
                .await?;
        }
        if self.config.sweep_min_age_secs > 0 {
            let min_age = Duration::from_secs(self.config.sweep_min_age_secs);
            self.sweep(now, min_age, &mut report).await?;
            self.sweep_chunks(now, min_age, &mut report).await?;
            self.sweep_upload_segments(now, min_age, &mut report)
                .await?;
        }
        self.expire_uploads(now, &mut report).await?;
        Ok(report)
    }

    /// Deletes a blob; false (logged and counted) when storage refused.
    pub(crate) async fn delete(&self, key: &str, report: &mut PassReport) -> bool {
        match self.deps.storage.delete(key).await {
            Ok(()) => true,
            Err(error) => {
                report.errors += 1;
                count(stats::ERRORS_TOTAL, 1);
                tracing::warn!(key, %error, "retention could not delete a blob; the sweep will retry");
                false
            }
        }
    }

    async fn remove_sources(
        &self,
        finished_before: i64,
        report: &mut PassReport,
    ) -> Result<(), JanitorError> {
        for _ in 0..MAX_BATCHES {
            let due = self.deps.db.sources_due(finished_before, BATCH).await?;
            for job in &due {
                let Some(key) = &job.video_key else { continue };
                if self
                    .deps
                    .db
                    .mark_source_deleted(&job.id, finished_before)
                    .await?
                    && self.delete(key, report).await
                {
                    report.sources_deleted += 1;
                    count(stats::SOURCES_DELETED_TOTAL, 1);
                    tracing::debug!(job_id = %job.id, key, "source video removed");
                }
            }
            if due.len() < BATCH as usize {
                break;
            }
        }
        Ok(())
    }

    async fn expire_jobs(
        &self,
        finished_before: i64,
        report: &mut PassReport,
    ) -> Result<(), JanitorError> {
        for _ in 0..MAX_BATCHES {
            let due = self
                .deps
                .db
                .jobs_due_to_expire(finished_before, BATCH)
                .await?;
            for job in &due {
                if self.deps.db.expire_job(&job.id, finished_before).await? {
                    self.remove_files_of_expired(job, report).await;
                    report.jobs_expired += 1;
                    count(stats::JOBS_EXPIRED_TOTAL, 1);
                    if let Some(row) = self.deps.db.get_job(&job.id).await? {
                        self.deps.events.publish(JobEvent::of(&row));
                    }
                    tracing::info!(job_id = %job.id, "job expired");
                }
            }
            if due.len() < BATCH as usize {
                break;
            }
        }
        Ok(())
    }

    async fn remove_files_of_expired(&self, job: &RetentionCandidate, report: &mut PassReport) {
        // Audio that a job done by reuse shares stays until the last job using it expires.
        let shared = match &job.audio_key {
            Some(key) => match self
                .deps
                .db
                .referenced_blob_keys(std::slice::from_ref(key))
                .await
            {
                Ok(referenced) => !referenced.is_empty(),
                Err(e) => {
                    tracing::warn!(job_id = %job.id, error = %e,
                        "could not check whether an expired job's audio is shared; kept for now");
                    true
                }
            },
            None => false,
        };
        if let Some(key) = job.audio_key.as_ref().filter(|_| !shared)
            && self.delete(key, report).await
        {
            report.audio_deleted += 1;
            count(stats::AUDIO_DELETED_TOTAL, 1);
        }
        if let Some(key) = &job.video_key
            && self.delete(key, report).await
        {
            report.sources_deleted += 1;
            count(stats::SOURCES_DELETED_TOTAL, 1);
        }
    }
}
