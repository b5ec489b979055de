//! Distributed chunks: the plan of a long job split into chunk tasks, each chunk's state and
//! stored frames, and the counter that makes exactly one converter write the join task.
//!
//! * Planning writes the plan, one `pending` row per chunk and one chunk task message each in
//!   ONE transaction, so a converter killed while planning leaves either nothing (the `video`
//!   message comes back and plans again) or everything.
//! * Finishing a chunk flips its row to `done` once and bumps the plan's `done` counter in the
//!   same transaction; the transaction that brings the counter to `chunks` also writes the join
//!   task. The counter's row lock orders racing finishers, so the join is written exactly once.
//! * A chunk whose blob turns out bad at the join goes back to `pending` with a new task.

use std::collections::HashSet;

use mp3converter_core::{ChunkTask, Job, JobId, JobState, now_millis};
use sqlx::{AnyConnection, Row};

use crate::enqueue::video_uploaded;
use crate::jobs::{to_i64, unsigned};
use crate::row::{opt_text, text};
use crate::{Database, DbError, MessageRoute, OutboundMessage};

/// The plan of a job split into chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkPlanRecord {
    /// The engine's plan (JSON), handed back to it unchanged.
    pub plan: String,
    /// How many chunks.
    pub chunks: u32,
    /// How many are stored.
    pub done: u32,
}

/// Where a finished chunk's frames are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChunk {
    /// Blob key (`chunks/<job>/<index>.mp3`).
    pub blob_key: String,
    /// Lower-case hex SHA-256 of the blob.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
    /// MP3 frames in it.
    pub frames: u64,
    /// Output samples per channel it covers.
    pub samples: u64,
    /// True when the audio ends in this chunk.
    pub ends_audio: bool,
}

/// One chunk of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkRecord {
    /// 0-based.
    pub index: u32,
    /// The stored frames, once the chunk is done.
    pub stored: Option<StoredChunk>,
}

/// What finishing a chunk did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkFinish {
    /// Recorded; this many chunks are still to come.
    Remaining(u32),
    /// Recorded, and it was the last: the join task is written.
    Last,
    /// The chunk was already done (a redelivery): nothing changed.
    AlreadyDone,
    /// The job has no plan any more (finished, failed or deleted): nothing changed.
    NoPlan,
}

impl Database {
    /// Splits converting `job` into `chunks` chunk tasks on `queue` with the engine's `plan`, in
    /// ONE transaction, then wakes the queue. False (nothing written) when the job already has
    /// a plan: a redelivered `video` message of a job whose chunks are under way.
    pub async fn plan_chunks_and_enqueue(
        &self,
        job: &Job,
        plan: &str,
        chunks: u32,
        queue: &str,
    ) -> Result<bool, DbError> {
        if chunks == 0 {
            return Err(DbError::corrupt("a chunk plan needs at least one chunk"));
        }
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let exists: Option<String> =
            sqlx::query_scalar(&self.sql("SELECT job_id FROM job_chunk_plans WHERE job_id = $1"))
                .bind(job.id.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Ok(false);
        }
        sqlx::query(&self.sql(
            "INSERT INTO job_chunk_plans (job_id, plan, chunks, done, created_at) \
             VALUES ($1, $2, $3, 0, $4)",
        ))
        .bind(job.id.as_str())
        .bind(plan)
        .bind(i64::from(chunks))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for index in 0..chunks {
            sqlx::query(&self.sql(
                "INSERT INTO job_chunks (job_id, idx, state, progress, updated_at) \
                 VALUES ($1, $2, 'pending', 0, $3)",
            ))
            .bind(job.id.as_str())
            .bind(i64::from(index))
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let task = ChunkTask::Chunk {
                index,
                count: chunks,
            };
            self.write_outbound(&mut tx, &self.task_message(job, task, queue)?, now)
                .await?;
        }
        tx.commit().await?;
        self.wake(queue);
        Ok(true)
    }

    /// The chunk task `task` of `job` on `queue`. On the database queue it carries the owner
    /// as its fair share key (claims are immediate there); through the outbox (RabbitMQ) it has
    /// none, so the relay publishes a job's tasks at once instead of one per poll: the broker
    /// then has a task ready whenever a converter finishes one.
    pub(crate) fn task_message(
        &self,
        job: &Job,
        task: ChunkTask,
        queue: &str,
    ) -> Result<OutboundMessage, DbError> {
        let body = mp3converter_core::VideoUploaded {
            task: Some(task),
            ..video_uploaded(job)
        };
        let mut message = self.outbound(
            queue,
            &task.message_id(&job.id),
            serde_json::to_string(&body),
        )?;
        if matches!(message.route, MessageRoute::QueueTable { .. }) {
            message.fair_key = Some(job.owner_id.to_string());
        }
        Ok(message)
    }

    /// The plan of `job`, if it was split into chunks.
    pub async fn chunk_plan(&self, job: &JobId) -> Result<Option<ChunkPlanRecord>, DbError> {
        let row = sqlx::query(
            &self.sql("SELECT plan, chunks, done FROM job_chunk_plans WHERE job_id = $1"),
        )
        .bind(job.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ChunkPlanRecord {
                plan: text(&row, "plan")?,
                chunks: small(&row, "chunks")?,
                done: small(&row, "done")?,
            })
        })
        .transpose()
    }

    /// Every chunk of `job`, in order (none when it has no plan).
    pub async fn chunks_of(&self, job: &JobId) -> Result<Vec<ChunkRecord>, DbError> {
        let rows = sqlx::query(&self.sql(
            "SELECT idx, state, blob_key, sha256, bytes, frames, samples, ends_audio FROM job_chunks \
             WHERE job_id = $1 ORDER BY idx",
        ))
        .bind(job.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(chunk_from_row).collect()
    }

    /// Chunk `index` of `job`, if there is one.
    pub async fn chunk(&self, job: &JobId, index: u32) -> Result<Option<ChunkRecord>, DbError> {
        let row = sqlx::query(&self.sql(
            "SELECT idx, state, blob_key, sha256, bytes, frames, samples, ends_audio FROM job_chunks \
             WHERE job_id = $1 AND idx = $2",
        ))
        .bind(job.as_str())
        .bind(i64::from(index))
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(chunk_from_row).transpose()
    }

    /// Records chunk `index` of `job` as stored (first time only) and, when it was the last
    /// one, writes the join task on `queue` in the same transaction (then wakes the queue).
    pub async fn finish_chunk(
        &self,
        job: &Job,
        index: u32,
        stored: &StoredChunk,
        queue: &str,
    ) -> Result<ChunkFinish, DbError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let flipped = sqlx::query(&self.sql(
            "UPDATE job_chunks SET state = 'done', progress = 1, blob_key = $1, sha256 = $2, \
             bytes = $3, frames = $4, samples = $5, ends_audio = $6, updated_at = $7 \
             WHERE job_id = $8 AND idx = $9 AND state = 'pending'",
        ))
        .bind(&stored.blob_key)
        .bind(&stored.sha256)
        .bind(to_i64(stored.bytes)?)
        .bind(to_i64(stored.frames)?)
        .bind(to_i64(stored.samples)?)
        .bind(i64::from(stored.ends_audio))
        .bind(now)
        .bind(job.id.as_str())
        .bind(i64::from(index))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if flipped == 0 {
            let known = self.chunk_exists(&mut tx, &job.id, index).await?;
            return Ok(if known {
                ChunkFinish::AlreadyDone
            } else {
                ChunkFinish::NoPlan
            });
        }
        // The plan's row lock orders racing finishers: each sees the count the one before it
        // committed, so exactly one of them sees the last chunk arrive.
        sqlx::query(&self.sql("UPDATE job_chunk_plans SET done = done + 1 WHERE job_id = $1"))
            .bind(job.id.as_str())
            .execute(&mut *tx)
            .await?;
        let row =
            sqlx::query(&self.sql("SELECT chunks, done FROM job_chunk_plans WHERE job_id = $1"))
                .bind(job.id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| DbError::corrupt("a chunk row without its plan"))?;
        let (chunks, done) = (small(&row, "chunks")?, small(&row, "done")?);
        let outcome = if done >= chunks {
            let join = ChunkTask::Join { count: chunks };
            self.write_outbound(&mut tx, &self.task_message(job, join, queue)?, now)
                .await?;
            ChunkFinish::Last
        } else {
            ChunkFinish::Remaining(chunks - done)
        };
        tx.commit().await?;
        if outcome == ChunkFinish::Last {
            self.wake(queue);
        }
        Ok(outcome)
    }

    async fn chunk_exists(
        &self,
        conn: &mut AnyConnection,
        job: &JobId,
        index: u32,
    ) -> Result<bool, DbError> {
        let found: Option<i64> = sqlx::query_scalar(
            &self.sql("SELECT idx FROM job_chunks WHERE job_id = $1 AND idx = $2"),
        )
        .bind(job.as_str())
        .bind(i64::from(index))
        .fetch_optional(conn)
        .await?;
        Ok(found.is_some())
    }

    /// A stored chunk turned out unusable (its blob is missing or its checksum is wrong): it
    /// goes back to `pending` and its task is written again on `queue`, in ONE transaction.
    /// False when it was not done (nothing changed).
    pub async fn redo_chunk(&self, job: &Job, index: u32, queue: &str) -> Result<bool, DbError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let flipped = sqlx::query(&self.sql(
            "UPDATE job_chunks SET state = 'pending', progress = 0, blob_key = NULL, \
             sha256 = NULL, bytes = NULL, frames = NULL, samples = NULL, ends_audio = NULL, \
             updated_at = $1 \
             WHERE job_id = $2 AND idx = $3 AND state = 'done'",
        ))
        .bind(now)
        .bind(job.id.as_str())
        .bind(i64::from(index))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if flipped == 0 {
            return Ok(false);
        }
        sqlx::query(&self.sql("UPDATE job_chunk_plans SET done = done - 1 WHERE job_id = $1"))
            .bind(job.id.as_str())
            .execute(&mut *tx)
            .await?;
        let chunks: i64 =
            sqlx::query_scalar(&self.sql("SELECT chunks FROM job_chunk_plans WHERE job_id = $1"))
                .bind(job.id.as_str())
                .fetch_one(&mut *tx)
                .await?;
        let task = ChunkTask::Chunk {
            index,
            count: u32::try_from(chunks).map_err(DbError::corrupt)?,
        };
        self.write_outbound(&mut tx, &self.task_message(job, task, queue)?, now)
            .await?;
        tx.commit().await?;
        self.wake(queue);
        Ok(true)
    }

    /// Records the progress (0–1) of pending chunk `index` and sets the converting job's
    /// progress to the average over its chunks; returns that, or `None` when the chunk or the
    /// job has moved on.
    pub async fn update_chunk_progress(
        &self,
        job: &JobId,
        index: u32,
        progress: f64,
    ) -> Result<Option<f64>, DbError> {
        let progress = if progress.is_nan() {
            0.0
        } else {
            progress.clamp(0.0, 1.0)
        };
        let touched = sqlx::query(&self.sql(
            "UPDATE job_chunks SET progress = $1, updated_at = $2 \
             WHERE job_id = $3 AND idx = $4 AND state = 'pending'",
        ))
        .bind(progress)
        .bind(now_millis())
        .bind(job.as_str())
        .bind(i64::from(index))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if touched == 0 {
            return Ok(None);
        }
        self.refresh_chunked_progress(job).await
    }

    /// Sets the converting job's progress to the average over its chunks (done ones count 1);
    /// returns it, or `None` when the job has no chunks or is not converting.
    pub async fn refresh_chunked_progress(&self, job: &JobId) -> Result<Option<f64>, DbError> {
        let row =
            sqlx::query(&self.sql(
                "SELECT SUM(progress) AS total, COUNT(*) AS n FROM job_chunks WHERE job_id = $1",
            ))
            .bind(job.as_str())
            .fetch_one(&self.pool)
            .await?;
        let n: i64 = row.try_get("n")?;
        if n == 0 {
            return Ok(None);
        }
        let total: f64 = row.try_get("total")?;
        let overall = total / n as f64;
        let applied = self
            .set_progress(job, overall, JobState::Converting)
            .await?;
        Ok(applied.then_some(overall))
    }

    /// Gives up `job`'s chunk plan and queues the job to be converted in one piece
    /// ([`ChunkTask::Whole`] on `queue`), in one transaction. False when the plan is gone
    /// already — another task gave it up first, or the job finished — and then nothing is
    /// queued: of several tasks that find the plan wrong at once, one queues the whole job.
    pub async fn abandon_chunk_plan(&self, job: &Job, queue: &str) -> Result<bool, DbError> {
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        if !self.remove_plan_rows(&mut tx, &job.id).await? {
            return Ok(false);
        }
        self.write_outbound(
            &mut tx,
            &self.task_message(job, ChunkTask::Whole, queue)?,
            now,
        )
        .await?;
        tx.commit().await?;
        self.wake(queue);
        Ok(true)
    }

    /// Removes the plan and chunk rows of `job` (its chunk blobs are the caller's business).
    pub async fn delete_chunk_plan(&self, job: &JobId) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        self.remove_plan_rows(&mut tx, job).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the plan row of `job` and its chunk rows in `tx`; false when there was no plan.
    async fn remove_plan_rows(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        job: &JobId,
    ) -> Result<bool, DbError> {
        let removed = sqlx::query(&self.sql("DELETE FROM job_chunk_plans WHERE job_id = $1"))
            .bind(job.as_str())
            .execute(&mut **tx)
            .await?
            .rows_affected();
        sqlx::query(&self.sql("DELETE FROM job_chunks WHERE job_id = $1"))
            .bind(job.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(removed > 0)
    }

    /// Of `jobs`, those whose chunks are still needed: a plan exists and the job is queued or
    /// converting. The janitor sweeps the chunk blobs of every other job.
    pub async fn jobs_with_live_chunks(&self, jobs: &[String]) -> Result<HashSet<String>, DbError> {
        let mut live = HashSet::new();
        for batch in jobs.chunks(200) {
            let list = (1..=batch.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "SELECT p.job_id FROM job_chunk_plans p JOIN jobs j ON j.id = p.job_id \
                 WHERE p.job_id IN ({list}) AND j.state IN ('queued', 'converting')"
            );
            let sql = self.sql(&sql);
            let mut query = sqlx::query(&sql);
            for id in batch {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                live.insert(text(&row, "job_id")?);
            }
        }
        Ok(live)
    }

    /// Removes the plans (and chunk rows) of jobs that are no longer queued or converting, or
    /// gone; returns how many plans went.
    pub async fn delete_finished_chunk_plans(&self) -> Result<u64, DbError> {
        let finished: Vec<String> = sqlx::query_scalar(&self.sql(
            "SELECT p.job_id FROM job_chunk_plans p LEFT JOIN jobs j ON j.id = p.job_id \
             WHERE j.id IS NULL OR j.state NOT IN ('queued', 'converting')",
        ))
        .fetch_all(&self.pool)
        .await?;
        for id in &finished {
            let id: JobId = id.parse().map_err(DbError::corrupt)?;
            self.delete_chunk_plan(&id).await?;
        }
        Ok(finished.len() as u64)
    }
}

fn small(row: &sqlx::any::AnyRow, column: &str) -> Result<u32, DbError> {
    u32::try_from(unsigned(row, column)?).map_err(DbError::corrupt)
}

fn chunk_from_row(row: &sqlx::any::AnyRow) -> Result<ChunkRecord, DbError> {
    let stored = if text(row, "state")? == "done" {
        Some(StoredChunk {
            blob_key: opt_text(row, "blob_key")?
                .ok_or_else(|| DbError::corrupt("a done chunk without its blob"))?,
            sha256: opt_text(row, "sha256")?
                .ok_or_else(|| DbError::corrupt("a done chunk without its checksum"))?,
            bytes: unsigned(row, "bytes")?,
            frames: unsigned(row, "frames")?,
            samples: unsigned(row, "samples")?,
            ends_audio: unsigned(row, "ends_audio")? != 0,
        })
    } else {
        None
    };
    Ok(ChunkRecord {
        index: small(row, "idx")?,
        stored,
    })
}
