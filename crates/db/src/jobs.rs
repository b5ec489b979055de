//! The `jobs` repository: creating a job together with its `video` message, reading and listing
//! jobs (per owner or all, newest first) and deleting them. State changes are in `transitions`.

use mp3converter_core::{Job, JobId, UserId};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::row::{opt_text, text};
use crate::{Database, DbError, OutboundMessage};

pub(crate) const JOB_COLUMNS: &str = "id, owner_id, owner_email, state, original_name, video_key, \
     video_size, video_sha256, audio_key, audio_size, options, progress, duration_secs, \
     error_code, error_message, attempts, created_at, updated_at, finished_at, notified_at, keep, \
     source_size, reused_from";

pub(crate) fn unsigned(row: &AnyRow, column: &str) -> Result<u64, DbError> {
    let v: i64 = row.try_get(column)?;
    u64::try_from(v).map_err(|_| DbError::corrupt(format!("negative {column}")))
}

pub(crate) fn job_from_row(row: &AnyRow) -> Result<Job, DbError> {
    let id = text(row, "id")?;
    let owner_id = text(row, "owner_id")?;
    let state = text(row, "state")?;
    let options = text(row, "options")?;
    let audio_size: Option<i64> = row.try_get("audio_size")?;
    Ok(Job {
        id: id.parse().map_err(DbError::corrupt)?,
        owner_id: owner_id.parse().map_err(DbError::corrupt)?,
        owner_email: text(row, "owner_email")?,
        state: state.parse().map_err(DbError::corrupt)?,
        original_name: text(row, "original_name")?,
        video_key: text(row, "video_key")?,
        video_size: unsigned(row, "video_size")?,
        video_sha256: text(row, "video_sha256")?,
        audio_key: opt_text(row, "audio_key")?,
        audio_size: audio_size
            .map(|s| u64::try_from(s).map_err(|_| DbError::corrupt("negative audio_size")))
            .transpose()?,
        options: serde_json::from_str(&options).map_err(DbError::corrupt)?,
        progress: row.try_get("progress")?,
        duration_secs: row.try_get("duration_secs")?,
        error_code: opt_text(row, "error_code")?,
        error_message: opt_text(row, "error_message")?,
        attempts: u32::try_from(unsigned(row, "attempts")?).map_err(DbError::corrupt)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        finished_at: row.try_get("finished_at")?,
        notified_at: row.try_get("notified_at")?,
        keep: row.try_get::<i64, _>("keep")? != 0,
        source_size: row
            .try_get::<Option<i64>, _>("source_size")?
            .map(|s| u64::try_from(s).map_err(|_| DbError::corrupt("negative source_size")))
            .transpose()?,
        reused_from: opt_text(row, "reused_from")?
            .map(|id| id.parse().map_err(DbError::corrupt))
            .transpose()?,
    })
}

pub(crate) fn to_i64(v: u64) -> Result<i64, DbError> {
    i64::try_from(v).map_err(DbError::corrupt)
}

impl Database {
    /// Stores a new job and its `video` message in ONE transaction: either both exist or
    /// neither does. The owner must exist.
    pub async fn create_job_with_message(
        &self,
        job: &Job,
        message: &OutboundMessage,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        self.insert_job(&mut tx, job).await?;
        self.write_outbound(&mut tx, message, job.created_at)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Stores a new job without a message: a URL import in `downloading`, whose `video` message
    /// is written when its video is stored ([`Database::finish_download_and_enqueue_video`]).
    /// The owner must exist.
    pub async fn create_downloading_job(&self, job: &Job) -> Result<(), DbError> {
        let mut conn = self.pool.acquire().await?;
        self.insert_job(&mut conn, job).await
    }

    pub(crate) async fn insert_job(
        &self,
        conn: &mut AnyConnection,
        job: &Job,
    ) -> Result<(), DbError> {
        let options = serde_json::to_string(&job.options).map_err(DbError::corrupt)?;
        sqlx::query(&self.sql(&format!(
            "INSERT INTO jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
        )))
        .bind(job.id.as_str())
        .bind(job.owner_id.as_str())
        .bind(&job.owner_email)
        .bind(job.state.as_str())
        .bind(&job.original_name)
        .bind(&job.video_key)
        .bind(to_i64(job.video_size)?)
        .bind(&job.video_sha256)
        .bind(job.audio_key.as_deref())
        .bind(job.audio_size.map(to_i64).transpose()?)
        .bind(options)
        .bind(job.progress)
        .bind(job.duration_secs)
        .bind(job.error_code.as_deref())
        .bind(job.error_message.as_deref())
        .bind(i64::from(job.attempts))
        .bind(job.created_at)
        .bind(job.updated_at)
        .bind(job.finished_at)
        .bind(job.notified_at)
        .bind(i64::from(job.keep))
        .bind(job.source_size.map(to_i64).transpose()?)
        .bind(job.reused_from.as_ref().map(JobId::as_str))
        .execute(&mut *conn)
        .await?;
        self.count_daily_job(conn, &job.owner_id, job.created_at)
            .await
    }

    /// The job with this id.
    pub async fn get_job(&self, id: &JobId) -> Result<Option<Job>, DbError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(&self.sql(&sql))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The job with this id if `owner` owns it; someone else's job is `None`, like a missing one.
    pub async fn get_job_for_owner(
        &self,
        id: &JobId,
        owner: &UserId,
    ) -> Result<Option<Job>, DbError> {
        let sql = format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND owner_id = $2");
        let row = sqlx::query(&self.sql(&sql))
            .bind(id.as_str())
            .bind(owner.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// `owner`'s jobs, newest first, at most `limit`.
    pub async fn list_jobs_for_owner(
        &self,
        owner: &UserId,
        limit: u32,
    ) -> Result<Vec<Job>, DbError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(&self.sql(&sql))
            .bind(owner.as_str())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Every job, newest first, at most `limit` (the admin view).
    pub async fn list_jobs(&self, limit: u32) -> Result<Vec<Job>, DbError> {
        let sql =
            format!("SELECT {JOB_COLUMNS} FROM jobs ORDER BY created_at DESC, id DESC LIMIT $1");
        let rows = sqlx::query(&self.sql(&sql))
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Jobs changed at or after `since` (unix ms), oldest change first, at most `limit`: how a
    /// process follows other processes' job changes when there is no event broker.
    pub async fn jobs_updated_since(&self, since: i64, limit: u32) -> Result<Vec<Job>, DbError> {
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE updated_at >= $1 \
             ORDER BY updated_at, id LIMIT $2"
        );
        let rows = sqlx::query(&self.sql(&sql))
            .bind(since)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// Deletes a job row (and its share links and chunk plan); false if there was none. Its
    /// blobs are the caller's business.
    pub async fn delete_job(&self, id: &JobId) -> Result<bool, DbError> {
        self.delete_shares_of_job(id).await?;
        self.delete_chunk_plan(id).await?;
        let done = sqlx::query(&self.sql("DELETE FROM jobs WHERE id = $1"))
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
