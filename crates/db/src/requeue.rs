//! Handing a job back to the queue: `converting -> queued`, when a converter stops working on
//! it without finishing (shutdown, or a transient failure that will be retried).

use mp3converter_core::{JobId, now_millis};

use crate::{Database, DbError};

impl Database {
    /// `converting -> queued` with progress reset, so the job does not look worked on while its
    /// message waits to be delivered again. False (changing nothing) if the job is not
    /// converting. Call it before handing the message back, while still holding its lease, so
    /// it cannot undo the next converter's `mark_converting`.
    pub async fn mark_requeued(&self, id: &JobId) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql(
            "UPDATE jobs SET state = 'queued', progress = 0, updated_at = $1 \
             WHERE id = $2 AND state = 'converting'",
        ))
        .bind(now_millis())
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
