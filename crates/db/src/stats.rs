//! Aggregates for `/metrics`: how many jobs are in each state.

use mp3converter_core::JobState;
use sqlx::Row;

use crate::row::text;
use crate::{Database, DbError};

impl Database {
    /// `(state, count)` for every state that has at least one job.
    pub async fn count_jobs_by_state(&self) -> Result<Vec<(JobState, u64)>, DbError> {
        let rows = sqlx::query(&self.sql("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state"))
            .fetch_all(&self.pool)
            .await?;
        let mut counts = Vec::with_capacity(rows.len());
        for row in &rows {
            let state: JobState = text(row, "state")?
                .parse()
                .map_err(|e| DbError::Corrupt(format!("jobs.state: {e}")))?;
            let n: i64 = row.try_get("n")?;
            counts.push((state, u64::try_from(n).unwrap_or(0)));
        }
        Ok(counts)
    }
}
