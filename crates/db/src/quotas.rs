//! Per-user quotas and dedup: an admin's overrides of the configured limits, what a user uses
//! (stored bytes, jobs today, jobs in progress), the per-day job counter that job creation
//! bumps in its own transaction, and finding a finished job whose audio a new upload can reuse.

use mp3converter_core::{Job, UserId, now_millis};
use sqlx::{AnyConnection, Row};

use crate::jobs::{JOB_COLUMNS, job_from_row, to_i64};
use crate::{Database, DbError, Engine, OutboundMessage};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// An admin's overrides of one user's limits. `None`: the configured default applies;
/// `Some(0)`: no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaOverrides {
    /// Bytes of videos and audio the user may keep stored.
    pub storage_bytes: Option<u64>,
    /// Jobs the user may create per UTC day.
    pub jobs_per_day: Option<u64>,
    /// Jobs the user may have queued, downloading or converting at once.
    pub concurrent_jobs: Option<u64>,
    /// Largest single upload in bytes.
    pub max_upload_bytes: Option<u64>,
}

/// What one user uses now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    /// Bytes stored: videos not yet removed and the audio of jobs that are not expired (a blob
    /// shared by reused jobs counts once).
    pub storage_bytes: u64,
    /// Jobs created since the start of this UTC day (deleted ones included).
    pub jobs_today: u64,
    /// Jobs queued, downloading or converting.
    pub concurrent_jobs: u64,
}

/// The UTC day of `at` (unix ms): days since the epoch.
pub fn utc_day(at: i64) -> i64 {
    at.div_euclid(DAY_MS)
}

fn opt_unsigned(row: &sqlx::any::AnyRow, column: &str) -> Result<Option<u64>, DbError> {
    row.try_get::<Option<i64>, _>(column)?
        .map(|v| u64::try_from(v).map_err(|_| DbError::corrupt(format!("negative {column}"))))
        .transpose()
}

impl Database {
    /// Bumps the owner's job count for the UTC day of `at`, in the caller's transaction.
    pub(crate) async fn count_daily_job(
        &self,
        conn: &mut AnyConnection,
        owner: &UserId,
        at: i64,
    ) -> Result<(), DbError> {
        let sql = match self.engine {
            Engine::MySql => {
                "INSERT INTO user_daily_jobs (user_id, day, jobs) VALUES ($1, $2, 1) \
                 ON DUPLICATE KEY UPDATE jobs = jobs + 1"
            }
            Engine::Sqlite | Engine::Postgres => {
                "INSERT INTO user_daily_jobs (user_id, day, jobs) VALUES ($1, $2, 1) \
                 ON CONFLICT (user_id, day) DO UPDATE SET jobs = user_daily_jobs.jobs + 1"
            }
        };
        sqlx::query(&self.sql(sql))
            .bind(owner.as_str())
            .bind(utc_day(at))
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The admin's overrides of `user`'s limits (all `None` when none were set).
    pub async fn quota_overrides(&self, user: &UserId) -> Result<QuotaOverrides, DbError> {
        let row = sqlx::query(&self.sql(
            "SELECT storage_bytes, jobs_per_day, concurrent_jobs, max_upload_bytes \
             FROM user_quotas WHERE user_id = $1",
        ))
        .bind(user.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(QuotaOverrides::default());
        };
        Ok(QuotaOverrides {
            storage_bytes: opt_unsigned(&row, "storage_bytes")?,
            jobs_per_day: opt_unsigned(&row, "jobs_per_day")?,
            concurrent_jobs: opt_unsigned(&row, "concurrent_jobs")?,
            max_upload_bytes: opt_unsigned(&row, "max_upload_bytes")?,
        })
    }

    /// Replaces `user`'s overrides (all `None` removes them). The user must exist.
    pub async fn set_quota_overrides(
        &self,
        user: &UserId,
        overrides: &QuotaOverrides,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&self.sql("DELETE FROM user_quotas WHERE user_id = $1"))
            .bind(user.as_str())
            .execute(&mut *tx)
            .await?;
        if *overrides != QuotaOverrides::default() {
            let value = |v: Option<u64>| v.map(to_i64).transpose();
            sqlx::query(&self.sql(
                "INSERT INTO user_quotas (user_id, storage_bytes, jobs_per_day, \
                 concurrent_jobs, max_upload_bytes, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
            ))
            .bind(user.as_str())
            .bind(value(overrides.storage_bytes)?)
            .bind(value(overrides.jobs_per_day)?)
            .bind(value(overrides.concurrent_jobs)?)
            .bind(value(overrides.max_upload_bytes)?)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What `user` uses now (`now`: unix ms, for the day's count).
    pub async fn quota_usage(&self, user: &UserId, now: i64) -> Result<QuotaUsage, DbError> {
        let sum = |sql: String| async move {
            let row = sqlx::query(&self.sql(&sql))
                .bind(user.as_str())
                .fetch_one(&self.pool)
                .await?;
            let v: Option<i64> = row.try_get(0)?;
            u64::try_from(v.unwrap_or(0)).map_err(|_| DbError::corrupt("negative usage"))
        };
        // SUM over BIGINT is DECIMAL on MySQL and NUMERIC on PostgreSQL: cast back.
        let int = if self.engine == Engine::MySql {
            "SIGNED"
        } else {
            "BIGINT"
        };
        let videos = sum(format!(
            "SELECT CAST(COALESCE(SUM(video_size), 0) AS {int}) FROM jobs WHERE owner_id = $1 \
             AND state <> 'expired' AND video_deleted_at IS NULL"
        ));
        let audio = sum(format!(
            "SELECT CAST(COALESCE(SUM(audio_size), 0) AS {int}) FROM jobs WHERE owner_id = $1 \
             AND state = 'done' AND reused_from IS NULL"
        ));
        let busy = sum("SELECT COUNT(*) FROM jobs WHERE owner_id = $1 \
             AND state IN ('queued', 'downloading', 'converting')"
            .to_owned());
        let (videos, audio, busy) = (videos.await?, audio.await?, busy.await?);
        let today = sqlx::query(
            &self.sql("SELECT jobs FROM user_daily_jobs WHERE user_id = $1 AND day = $2"),
        )
        .bind(user.as_str())
        .bind(utc_day(now))
        .fetch_optional(&self.pool)
        .await?
        .map(|row| row.try_get::<i64, _>("jobs"))
        .transpose()?
        .unwrap_or(0);
        Ok(QuotaUsage {
            storage_bytes: videos.saturating_add(audio),
            jobs_today: u64::try_from(today).map_err(DbError::corrupt)?,
            concurrent_jobs: busy,
        })
    }

    /// A done job of `job`'s owner with the same video content (SHA-256), file name and options,
    /// whose audio is still stored: the newest such job, if any. Jobs that asked for a cover
    /// picture are never matched (the picture is not part of the comparison).
    pub async fn reusable_job(&self, job: &Job) -> Result<Option<Job>, DbError> {
        if job.options.cover {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner_id = $1 AND video_sha256 = $2 \
             AND state = 'done' AND audio_key IS NOT NULL ORDER BY finished_at DESC LIMIT 20"
        );
        let rows = sqlx::query(&self.sql(&sql))
            .bind(job.owner_id.as_str())
            .bind(&job.video_sha256)
            .fetch_all(&self.pool)
            .await?;
        // Names and options are compared here, byte for byte: MySQL's default collation would
        // call "Talk.mp4" and "talk.mp4" equal.
        for row in &rows {
            let earlier = job_from_row(row)?;
            if earlier.original_name == job.original_name && earlier.options == job.options {
                return Ok(Some(earlier));
            }
        }
        Ok(None)
    }

    /// Stores `job` as done at once with the audio of `earlier` (same owner, content, name and
    /// options), its uploaded video already removed, and its `mp3` message, in ONE transaction;
    /// with `upload`, that resumable upload is marked complete in it too. `job` must be queued;
    /// returns the stored row, or `None` (nothing written) when the upload already became a job,
    /// is incomplete or is gone.
    pub async fn create_reused_job(
        &self,
        job: &Job,
        earlier: &Job,
        message: &OutboundMessage,
        upload: Option<&str>,
    ) -> Result<Option<Job>, DbError> {
        let now = now_millis();
        let mut done = job.clone();
        done.state = mp3converter_core::JobState::Done;
        done.audio_key.clone_from(&earlier.audio_key);
        done.audio_size = earlier.audio_size;
        done.duration_secs = earlier.duration_secs;
        done.progress = 1.0;
        done.finished_at = Some(now);
        done.updated_at = now;
        done.reused_from = Some(earlier.id.clone());
        let mut tx = self.pool.begin().await?;
        if let Some(upload) = upload
            && !self
                .claim_complete_upload(&mut tx, upload, &done.id)
                .await?
        {
            tx.rollback().await?;
            return Ok(None);
        }
        // The duration is set by the UPDATE, as a conversion sets it: PostgreSQL keeps the
        // INSERT prepared with the parameter types of its first use, where it is NULL.
        let inserted = Job {
            duration_secs: None,
            ..done.clone()
        };
        self.insert_job(&mut tx, &inserted).await?;
        sqlx::query(
            &self.sql("UPDATE jobs SET video_deleted_at = $1, duration_secs = $2 WHERE id = $3"),
        )
        .bind(now)
        .bind(done.duration_secs.unwrap_or(0.0))
        .bind(done.id.as_str())
        .execute(&mut *tx)
        .await?;
        self.write_outbound(&mut tx, message, now).await?;
        tx.commit().await?;
        Ok(Some(done))
    }

    /// The subset of `keys` that a job other than `except` still needs (see
    /// [`Database::referenced_blob_keys`]): before a job's own blobs are deleted, the ones it
    /// shares with another job are kept.
    pub async fn blob_keys_shared(
        &self,
        keys: &[String],
        except: &mp3converter_core::JobId,
    ) -> Result<std::collections::HashSet<String>, DbError> {
        self.referenced_blob_keys_except(keys, Some(except)).await
    }
}
