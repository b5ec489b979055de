//! The notifier's dedup record: one row per job whose owner was told, so a redelivered `mp3`
//! message never sends a second email.

use mp3converter_core::{JobId, now_millis};

use crate::{Database, DbError, Engine};

impl Database {
    /// Records that the owner of `job_id` is being notified. Returns false, changing nothing, if
    /// it was recorded before.
    pub async fn record_notification(&self, job_id: &JobId) -> Result<bool, DbError> {
        let sql = match self.engine {
            Engine::Sqlite | Engine::Postgres => {
                "INSERT INTO notifications (job_id, created_at) VALUES ($1, $2) \
                 ON CONFLICT (job_id) DO NOTHING"
            }
            Engine::MySql => {
                "INSERT IGNORE INTO notifications (job_id, created_at) VALUES ($1, $2)"
            }
        };
        let done = sqlx::query(&self.sql(sql))
            .bind(job_id.as_str())
            .bind(now_millis())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets a notification record, so a failed send can be tried again by a redelivery.
    pub async fn forget_notification(&self, job_id: &JobId) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql("DELETE FROM notifications WHERE job_id = $1"))
            .bind(job_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
