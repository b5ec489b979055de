//! The `uploads` repository: resumable (tus) uploads in progress. The row is the upload's truth —
//! how many bytes are stored, until when it may be resumed, and the job it became; the bytes
//! themselves are blobs the gateway writes. Any gateway can continue any upload.

use mp3converter_core::{Job, JobId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::jobs::{to_i64, unsigned};
use crate::row::{opt_text, text};
use crate::{Database, DbError};

/// One resumable upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// Its id (the last segment of its URL).
    pub id: String,
    /// Who created it; nobody else may see or touch it.
    pub owner_id: UserId,
    /// `Upload-Length`: the size of the whole file.
    pub total_bytes: u64,
    /// `Upload-Offset`: how many bytes are stored.
    pub received_bytes: u64,
    /// The `Upload-Metadata` header it was created with, as sent.
    pub metadata: String,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// After this (milliseconds since the epoch) it can no longer be resumed and is removed.
    pub expires_at: i64,
    /// The job it became, once complete.
    pub job_id: Option<JobId>,
}

const COLUMNS: &str =
    "id, owner_id, total_bytes, received_bytes, metadata, created_at, expires_at, job_id";

fn upload_from_row(row: &AnyRow) -> Result<Upload, DbError> {
    Ok(Upload {
        id: text(row, "id")?,
        owner_id: text(row, "owner_id")?.parse().map_err(DbError::corrupt)?,
        total_bytes: unsigned(row, "total_bytes")?,
        received_bytes: unsigned(row, "received_bytes")?,
        metadata: text(row, "metadata")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
        job_id: opt_text(row, "job_id")?
            .map(|id| id.parse().map_err(DbError::corrupt))
            .transpose()?,
    })
}

impl Database {
    /// Stores a new upload. The owner must exist.
    pub async fn create_upload(&self, upload: &Upload) -> Result<(), DbError> {
        sqlx::query(&self.sql(&format!(
            "INSERT INTO uploads ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        )))
        .bind(&upload.id)
        .bind(upload.owner_id.as_str())
        .bind(to_i64(upload.total_bytes)?)
        .bind(to_i64(upload.received_bytes)?)
        .bind(&upload.metadata)
        .bind(upload.created_at)
        .bind(upload.expires_at)
        .bind(upload.job_id.as_ref().map(JobId::as_str))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The upload `id` if `owner` created it; someone else's is `None`, like a missing one.
    pub async fn get_upload_for_owner(
        &self,
        id: &str,
        owner: &UserId,
    ) -> Result<Option<Upload>, DbError> {
        let sql = format!("SELECT {COLUMNS} FROM uploads WHERE id = $1 AND owner_id = $2");
        let row = sqlx::query(&self.sql(&sql))
            .bind(id)
            .bind(owner.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(upload_from_row).transpose()
    }

    /// How many of `owner`'s uploads are unfinished and not expired at `now`.
    pub async fn count_open_uploads(&self, owner: &UserId, now: i64) -> Result<u64, DbError> {
        let row = sqlx::query(&self.sql(
            "SELECT COUNT(*) AS n FROM uploads \
             WHERE owner_id = $1 AND job_id IS NULL AND expires_at > $2",
        ))
        .bind(owner.as_str())
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        unsigned(&row, "n")
    }

    /// Moves the upload's offset from `from` to `to` and its expiry to `expires_at`, if it is
    /// still at `from` and unfinished; `false` when another request moved it first (or it was
    /// finished or removed meanwhile).
    pub async fn advance_upload(
        &self,
        id: &str,
        from: u64,
        to: u64,
        expires_at: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql(
            "UPDATE uploads SET received_bytes = $1, expires_at = $2 \
             WHERE id = $3 AND received_bytes = $4 AND job_id IS NULL",
        ))
        .bind(to_i64(to)?)
        .bind(expires_at)
        .bind(id)
        .bind(to_i64(from)?)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Creates `job` from the complete upload `upload_id` with its `video` message on `queue`,
    /// and records the job on the upload, in ONE transaction; then wakes the queue. `false` (and
    /// nothing written) when the upload already became a job, is incomplete or is gone.
    pub async fn complete_upload_and_enqueue_video(
        &self,
        upload_id: &str,
        job: &Job,
        queue: &str,
    ) -> Result<bool, DbError> {
        let message = self.video_message(job, queue)?;
        let mut tx = self.pool.begin().await?;
        if !self
            .claim_complete_upload(&mut tx, upload_id, &job.id)
            .await?
        {
            tx.rollback().await?;
            return Ok(false);
        }
        self.insert_job(&mut tx, job).await?;
        self.write_outbound(&mut tx, &message, job.created_at)
            .await?;
        tx.commit().await?;
        self.wake(queue);
        Ok(true)
    }

    /// Records `job` on the complete upload `upload_id`, in the caller's transaction; `false`
    /// when it already became a job, is incomplete or is gone.
    pub(crate) async fn claim_complete_upload(
        &self,
        conn: &mut sqlx::AnyConnection,
        upload_id: &str,
        job: &mp3converter_core::JobId,
    ) -> Result<bool, DbError> {
        let claimed = sqlx::query(&self.sql(
            "UPDATE uploads SET job_id = $1 \
             WHERE id = $2 AND job_id IS NULL AND received_bytes = total_bytes",
        ))
        .bind(job.as_str())
        .bind(upload_id)
        .execute(conn)
        .await?;
        Ok(claimed.rows_affected() == 1)
    }

    /// Removes the upload's row (its blobs are the caller's to remove).
    pub async fn delete_upload(&self, id: &str) -> Result<(), DbError> {
        sqlx::query(&self.sql("DELETE FROM uploads WHERE id = $1"))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ids of at most `limit` uploads expired at `now` (finished or not), oldest expiry first.
    pub async fn expired_uploads(&self, now: i64, limit: u32) -> Result<Vec<String>, DbError> {
        let rows = sqlx::query(
            &self.sql("SELECT id FROM uploads WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2"),
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| text(r, "id")).collect()
    }

    /// Whether an upload with this id exists (for the sweep of blobs under `uploads/`).
    pub async fn upload_exists(&self, id: &str) -> Result<bool, DbError> {
        let row = sqlx::query(&self.sql("SELECT id FROM uploads WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}
