//! The `server_secrets` table: named secrets every process of a deployment shares through the
//! database (the key that signs short-lived audio URLs), created once by whichever process needs
//! one first.

use crate::row::text;
use crate::{Database, DbError};

impl Database {
    /// The secret called `name`; when there is none yet, `make()` is stored and returned. Several
    /// processes asking at once all get the one value that was stored first.
    pub async fn server_secret(
        &self,
        name: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, DbError> {
        if let Some(value) = self.read_secret(name).await? {
            return Ok(value);
        }
        let inserted = sqlx::query(
            &self.sql("INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)"),
        )
        .bind(name)
        .bind(make())
        .bind(mp3converter_core::now_millis())
        .execute(&self.pool)
        .await;
        match inserted.map_err(DbError::from) {
            Ok(_) | Err(DbError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        self.read_secret(name)
            .await?
            .ok_or_else(|| DbError::corrupt(format!("server secret {name} vanished")))
    }

    async fn read_secret(&self, name: &str) -> Result<Option<String>, DbError> {
        let row = sqlx::query(&self.sql("SELECT value FROM server_secrets WHERE name = $1"))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| text(r, "value")).transpose()
    }
}
