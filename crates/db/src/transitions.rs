//! Guarded job state changes. Each is one `UPDATE … WHERE state IN (allowed sources)`, so two
//! workers racing on one job cannot both win, and a redelivered message finds the job already
//! moved on. Finishing a job writes its `mp3` message in the same transaction.

use mp3converter_core::{FailureReason, JobId, JobState, now_millis};
use sqlx::AnyConnection;

use crate::{Database, DbError, JOB_DONE, JOB_FAILED, OutboundMessage};

/// What a guarded state change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The job moved to the new state (and the message, if any, was written).
    Applied,
    /// The job was already done: nothing changed, no message was written.
    AlreadyDone,
    /// The job is in a state the change may not start from: nothing changed.
    Refused(JobState),
}

/// What the converter produced.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioOutput {
    /// Blob key of the audio.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its duration in seconds.
    pub duration_secs: f64,
}

/// `'a', 'b'` — the allowed source states of `target`, for an `IN (…)` list. The names are
/// fixed identifiers from `JobState`, never user input.
fn sources_sql(target: JobState) -> String {
    JobState::sources_of(target)
        .iter()
        .map(|s| format!("'{}'", s.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Database {
    /// A converter starts (or restarts, after a redelivery) on the job: `queued|converting ->
    /// converting`, attempts + 1, progress reset.
    pub async fn mark_converting(&self, id: &JobId) -> Result<Transition, DbError> {
        let sql = format!(
            "UPDATE jobs SET state = 'converting', attempts = attempts + 1, progress = 0, \
             updated_at = $1 WHERE id = $2 AND state IN ({})",
            sources_sql(JobState::Converting)
        );
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query(&self.sql(&sql))
            .bind(now_millis())
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        self.outcome(&mut conn, id, rows).await
    }

    /// Records progress (clamped to 0–1) of a converting job; false if it is not converting.
    pub async fn update_progress(&self, id: &JobId, progress: f64) -> Result<bool, DbError> {
        self.set_progress(id, progress, JobState::Converting).await
    }

    /// Records progress (clamped to 0–1, NaN as 0) of a job in `state`, which also marks it
    /// alive (`updated_at`); false if it is not in that state.
    pub(crate) async fn set_progress(
        &self,
        id: &JobId,
        progress: f64,
        state: JobState,
    ) -> Result<bool, DbError> {
        let progress = if progress.is_nan() {
            0.0
        } else {
            progress.clamp(0.0, 1.0)
        };
        let done = sqlx::query(
            &self
                .sql("UPDATE jobs SET progress = $1, updated_at = $2 WHERE id = $3 AND state = $4"),
        )
        .bind(progress)
        .bind(now_millis())
        .bind(id.as_str())
        .bind(state.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// `converting -> done` with the audio, and `next` (the `mp3` message) in ONE transaction.
    /// A job already done returns [`Transition::AlreadyDone`] and writes nothing, so a
    /// redelivered `video` message never yields a second `mp3` message.
    pub async fn mark_done(
        &self,
        id: &JobId,
        audio: &AudioOutput,
        next: Option<&OutboundMessage>,
    ) -> Result<Transition, DbError> {
        let now = now_millis();
        let size = i64::try_from(audio.size).map_err(DbError::corrupt)?;
        let sql = format!(
            "UPDATE jobs SET state = 'done', audio_key = $1, audio_size = $2, duration_secs = $3, \
             progress = 1, error_code = NULL, error_message = NULL, updated_at = $4, \
             finished_at = $5 WHERE id = $6 AND state IN ({})",
            sources_sql(JobState::Done)
        );
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&self.sql(&sql))
            .bind(&audio.key)
            .bind(size)
            .bind(audio.duration_secs)
            .bind(now)
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.settle(tx, id, rows, next, Some(JOB_DONE), now).await
    }

    /// `queued|converting -> failed` with the reason, and `next` (the failure message) in ONE
    /// transaction. A done job is left alone ([`Transition::AlreadyDone`]); a job that already
    /// failed is [`Transition::Refused`], so the failure is announced once.
    pub async fn mark_failed(
        &self,
        id: &JobId,
        reason: &FailureReason,
        next: Option<&OutboundMessage>,
    ) -> Result<Transition, DbError> {
        let now = now_millis();
        let sql = format!(
            "UPDATE jobs SET state = 'failed', error_code = $1, error_message = $2, \
             updated_at = $3, finished_at = $4 WHERE id = $5 AND state IN ({})",
            sources_sql(JobState::Failed)
        );
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&self.sql(&sql))
            .bind(&reason.code)
            .bind(&reason.message)
            .bind(now)
            .bind(now)
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        self.settle(tx, id, rows, next, Some(JOB_FAILED), now).await
    }

    /// `done|failed -> expired`: retention removed the job's files.
    pub async fn mark_expired(&self, id: &JobId) -> Result<Transition, DbError> {
        let sql = format!(
            "UPDATE jobs SET state = 'expired', updated_at = $1 WHERE id = $2 AND state IN ({})",
            sources_sql(JobState::Expired)
        );
        let mut conn = self.pool.acquire().await?;
        let rows = sqlx::query(&self.sql(&sql))
            .bind(now_millis())
            .bind(id.as_str())
            .execute(&mut *conn)
            .await?
            .rows_affected();
        match self.outcome(&mut conn, id, rows).await? {
            Transition::AlreadyDone => Ok(Transition::Refused(JobState::Done)),
            other => Ok(other),
        }
    }

    /// Sets `notified_at` (first time only); false if the job does not exist or was notified.
    pub async fn mark_notified(&self, id: &JobId) -> Result<bool, DbError> {
        let done = sqlx::query(
            &self.sql("UPDATE jobs SET notified_at = $1 WHERE id = $2 AND notified_at IS NULL"),
        )
        .bind(now_millis())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Finishes a guarded finishing `UPDATE` (`rows` = rows it changed): when it applied, writes
    /// the next message and the webhook deliveries of `event` (the job became done or failed)
    /// in the same transaction, then commits.
    pub(crate) async fn settle(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        id: &JobId,
        rows: u64,
        next: Option<&OutboundMessage>,
        event: Option<&str>,
        now: i64,
    ) -> Result<Transition, DbError> {
        let outcome = self.outcome(&mut tx, id, rows).await?;
        if outcome == Transition::Applied {
            if let Some(msg) = next {
                self.write_outbound(&mut tx, msg, now).await?;
            }
            if let Some(event) = event {
                self.add_webhook_deliveries(&mut tx, id.as_str(), event, now)
                    .await?;
            }
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// After a guarded update touched `rows` rows: applied, or why not (looked up on `conn`, in
    /// the same transaction where there is one).
    async fn outcome(
        &self,
        conn: &mut AnyConnection,
        id: &JobId,
        rows: u64,
    ) -> Result<Transition, DbError> {
        if rows > 0 {
            return Ok(Transition::Applied);
        }
        let state: Option<String> =
            sqlx::query_scalar(&self.sql("SELECT state FROM jobs WHERE id = $1"))
                .bind(id.as_str())
                .fetch_optional(conn)
                .await?;
        let state: JobState = state
            .ok_or(DbError::NotFound)?
            .parse()
            .map_err(DbError::corrupt)?;
        Ok(match state {
            JobState::Done => Transition::AlreadyDone,
            other => Transition::Refused(other),
        })
    }
}
