//! What the retention janitor asks of the database: the per-job `keep` flag, the jobs whose
//! source video or audio is due for removal, guarded claims that make each removal happen once
//! even with several janitors, and which blob keys jobs still need (for the orphan sweep).
//!
//! Every "due" question takes its cutoff (`finished_before`, unix ms) from the caller, so the
//! janitor's clock can be injected in tests.

use std::collections::HashSet;

use mp3converter_core::{JobId, now_millis};
use sqlx::Row;

use crate::row::{opt_text, text};
use crate::{Database, DbError};

/// Most keys asked about in one `referenced_blob_keys` statement (two placeholders per key).
const KEYS_PER_STATEMENT: usize = 200;

/// A finished job retention may act on, with the blobs it still has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionCandidate {
    /// The job.
    pub id: JobId,
    /// Its source video, unless retention already removed it.
    pub video_key: Option<String>,
    /// Its audio, if it was converted.
    pub audio_key: Option<String>,
}

fn candidate(row: &sqlx::any::AnyRow) -> Result<RetentionCandidate, DbError> {
    let deleted: Option<i64> = row.try_get("video_deleted_at")?;
    Ok(RetentionCandidate {
        id: text(row, "id")?.parse().map_err(DbError::corrupt)?,
        video_key: match deleted {
            Some(_) => None,
            None => Some(text(row, "video_key")?),
        },
        audio_key: opt_text(row, "audio_key")?,
    })
}

impl Database {
    /// Sets or clears a job's `keep` flag; false if there is no such job.
    pub async fn set_job_keep(&self, id: &JobId, keep: bool) -> Result<bool, DbError> {
        let done =
            sqlx::query(&self.sql("UPDATE jobs SET keep = $1, updated_at = $2 WHERE id = $3"))
                .bind(i64::from(keep))
                .bind(now_millis())
                .bind(id.as_str())
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Done jobs, not kept, finished before `finished_before`, whose source video is still
    /// stored: oldest first, at most `limit`.
    pub async fn sources_due(
        &self,
        finished_before: i64,
        limit: u32,
    ) -> Result<Vec<RetentionCandidate>, DbError> {
        let rows = sqlx::query(&self.sql(
            "SELECT id, video_key, audio_key, video_deleted_at FROM jobs \
             WHERE state = 'done' AND keep = 0 AND video_deleted_at IS NULL \
             AND finished_at < $1 ORDER BY finished_at, id LIMIT $2",
        ))
        .bind(finished_before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(candidate).collect()
    }

    /// Claims the removal of a done job's source video: records it as removed if the job is
    /// still done, not kept, finished before `finished_before` and not claimed before. Only the
    /// caller that gets `true` deletes the blob; if it fails to, the blob is an orphan that the
    /// sweep removes later.
    pub async fn mark_source_deleted(
        &self,
        id: &JobId,
        finished_before: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql(
            "UPDATE jobs SET video_deleted_at = $1 WHERE id = $2 AND state = 'done' \
             AND keep = 0 AND video_deleted_at IS NULL AND finished_at < $3",
        ))
        .bind(now_millis())
        .bind(id.as_str())
        .bind(finished_before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Done or failed jobs, not kept, finished before `finished_before`: oldest first, at most
    /// `limit`.
    pub async fn jobs_due_to_expire(
        &self,
        finished_before: i64,
        limit: u32,
    ) -> Result<Vec<RetentionCandidate>, DbError> {
        let rows = sqlx::query(&self.sql(
            "SELECT id, video_key, audio_key, video_deleted_at FROM jobs \
             WHERE state IN ('done', 'failed') AND keep = 0 AND finished_at < $1 \
             ORDER BY finished_at, id LIMIT $2",
        ))
        .bind(finished_before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(candidate).collect()
    }

    /// `done|failed -> expired` if the job is not kept and finished before `finished_before`;
    /// true when this call expired it (the caller then deletes its blobs).
    pub async fn expire_job(&self, id: &JobId, finished_before: i64) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql(
            "UPDATE jobs SET state = 'expired', updated_at = $1 WHERE id = $2 \
             AND state IN ('done', 'failed') AND keep = 0 AND finished_at < $3",
        ))
        .bind(now_millis())
        .bind(id.as_str())
        .bind(finished_before)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The subset of `keys` that jobs still need: the video of a job that is not expired and
    /// whose source retention has not removed, and the audio of a job that is not expired.
    pub async fn referenced_blob_keys(&self, keys: &[String]) -> Result<HashSet<String>, DbError> {
        self.referenced_blob_keys_except(keys, None).await
    }

    /// [`Database::referenced_blob_keys`], not counting the job `except`.
    pub(crate) async fn referenced_blob_keys_except(
        &self,
        keys: &[String],
        except: Option<&JobId>,
    ) -> Result<HashSet<String>, DbError> {
        let mut referenced = HashSet::new();
        for chunk in keys.chunks(KEYS_PER_STATEMENT) {
            let n = chunk.len();
            let list = |from: usize| {
                (from..from + n)
                    .map(|i| format!("${i}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let sql = format!(
                "SELECT video_key, audio_key, state, video_deleted_at FROM jobs \
                 WHERE (video_key IN ({}) OR audio_key IN ({})) AND id <> ${}",
                list(1),
                list(n + 1),
                2 * n + 1
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for key in chunk.iter().chain(chunk) {
                query = query.bind(key.as_str());
            }
            query = query.bind(except.map_or("", JobId::as_str));
            let wanted: HashSet<&str> = chunk.iter().map(String::as_str).collect();
            for row in query.fetch_all(&self.pool).await? {
                if text(&row, "state")? == "expired" {
                    continue;
                }
                let video = text(&row, "video_key")?;
                let deleted: Option<i64> = row.try_get("video_deleted_at")?;
                if deleted.is_none() && wanted.contains(video.as_str()) {
                    referenced.insert(video);
                }
                if let Some(audio) = opt_text(&row, "audio_key")?
                    && wanted.contains(audio.as_str())
                {
                    referenced.insert(audio);
                }
            }
        }
        Ok(referenced)
    }
}
