//! The URL import's side of the jobs table: a job is created in `downloading` (no message yet),
//! its fetched share is recorded as progress, and it ends either `queued` with its `video`
//! message (one transaction, in `enqueue`) or `failed`. A job left `downloading` by a gateway
//! that died is failed by [`Database::fail_stale_downloads`]. Failing writes the job's
//! `job.failed` webhook deliveries in the same transaction.

use mp3converter_core::{FailureReason, Job, JobId, JobState, UserId, now_millis};

use crate::jobs::{JOB_COLUMNS, job_from_row};
use crate::{Database, DbError, JOB_FAILED};

impl Database {
    /// Records the fetched share (clamped to 0–1) of a downloading job, which also marks it
    /// alive (`updated_at`). False if the job is no longer downloading (deleted, or failed by
    /// someone else): the download should stop.
    pub async fn update_download_progress(
        &self,
        id: &JobId,
        progress: f64,
    ) -> Result<bool, DbError> {
        self.set_progress(id, progress, JobState::Downloading).await
    }

    /// How many of `owner`'s jobs are `downloading` (the per-user cap on running imports).
    pub async fn count_downloading_jobs(&self, owner: &UserId) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar(
            &self.sql("SELECT COUNT(*) FROM jobs WHERE owner_id = $1 AND state = 'downloading'"),
        )
        .bind(owner.as_str())
        .fetch_one(&self.pool)
        .await?;
        u64::try_from(n).map_err(DbError::corrupt)
    }

    /// `downloading -> failed` with `reason`; false if the job is not downloading (any more).
    /// No message is written: no converter ever saw the job.
    pub async fn fail_download(&self, id: &JobId, reason: &FailureReason) -> Result<bool, DbError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&self.sql(
            "UPDATE jobs SET state = 'failed', error_code = $1, error_message = $2, \
             updated_at = $3, finished_at = $4 WHERE id = $5 AND state = 'downloading'",
        ))
        .bind(&reason.code)
        .bind(&reason.message)
        .bind(now)
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await?;
        let failed = done.rows_affected() == 1;
        if failed {
            self.add_webhook_deliveries(&mut tx, id.as_str(), JOB_FAILED, now)
                .await?;
        }
        tx.commit().await?;
        Ok(failed)
    }

    /// Fails (with `reason`) the jobs still `downloading` whose last sign of life is older than
    /// `updated_before` (unix ms): imports whose gateway died. At most `limit` per call; returns
    /// the jobs as they are now (failed), for events and to delete their partial videos. Each
    /// is a guarded update, so a download that finishes meanwhile is left alone.
    pub async fn fail_stale_downloads(
        &self,
        updated_before: i64,
        reason: &FailureReason,
        limit: u32,
    ) -> Result<Vec<Job>, DbError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE state = 'downloading' AND updated_at < $1 \
             ORDER BY updated_at, id LIMIT $2"
        );
        let rows = sqlx::query(&self.sql(&sql))
            .bind(updated_before)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut failed = Vec::new();
        for row in &rows {
            let job = job_from_row(row)?;
            let now = now_millis();
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query(&self.sql(
                "UPDATE jobs SET state = 'failed', error_code = $1, error_message = $2, \
                 updated_at = $3, finished_at = $4 \
                 WHERE id = $5 AND state = 'downloading' AND updated_at < $6",
            ))
            .bind(&reason.code)
            .bind(&reason.message)
            .bind(now)
            .bind(now)
            .bind(job.id.as_str())
            .bind(updated_before)
            .execute(&mut *tx)
            .await?;
            let applied = done.rows_affected() == 1;
            if applied {
                self.add_webhook_deliveries(&mut tx, job.id.as_str(), JOB_FAILED, now)
                    .await?;
            }
            tx.commit().await?;
            if applied && let Some(job) = self.get_job(&job.id).await? {
                failed.push(job);
            }
        }
        Ok(failed)
    }
}
