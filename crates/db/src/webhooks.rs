//! The `webhook_endpoints` repository: a user's webhook endpoints (URL, subscribed events, the
//! signing secret and, for a grace period after a rotation, the previous one). Every read and
//! change names the owner, so another user's endpoint is simply not found.

use mp3converter_core::UserId;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::row::{opt_text, text};
use crate::{Database, DbError};

/// One webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Its id (UUID).
    pub id: String,
    /// Whose it is; nobody else may see or change it.
    pub owner_id: UserId,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The owner's note (may be empty).
    pub description: String,
    /// The event types it subscribes to (`job.done`, `job.failed`).
    pub events: Vec<String>,
    /// The signing secret, `whsec_<base64>`.
    pub secret: String,
    /// The secret before the last rotation, still signing until `previous_secret_until`.
    pub previous_secret: Option<String>,
    /// Until when (unix ms) the previous secret also signs.
    pub previous_secret_until: Option<i64>,
    /// Deliveries are only created for enabled endpoints.
    pub enabled: bool,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Milliseconds since the epoch.
    pub updated_at: i64,
}

impl WebhookEndpoint {
    /// The secrets that sign a message sent at `now` (unix ms): the current one, and the
    /// previous one while its grace period lasts.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_secret_until)
            && now < until
        {
            secrets.push(old.as_str());
        }
        secrets
    }

    /// True when it subscribes to `event`.
    pub fn wants(&self, event: &str) -> bool {
        self.events.iter().any(|e| e == event)
    }
}

/// A change to an endpoint; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointChanges {
    /// A new URL (already checked by the caller).
    pub url: Option<String>,
    /// A new description.
    pub description: Option<String>,
    /// New subscribed events.
    pub events: Option<Vec<String>>,
    /// Turn deliveries on or off.
    pub enabled: Option<bool>,
}

pub(crate) const ENDPOINT_COLUMNS: &str = "id, owner_id, url, description, events, secret, \
     previous_secret, previous_secret_until, enabled, created_at, updated_at";

pub(crate) fn endpoint_from_row(row: &AnyRow) -> Result<WebhookEndpoint, DbError> {
    let enabled: i64 = row.try_get("enabled")?;
    Ok(WebhookEndpoint {
        id: text(row, "id")?,
        owner_id: text(row, "owner_id")?.parse().map_err(DbError::corrupt)?,
        url: text(row, "url")?,
        description: text(row, "description")?,
        events: split_events(&text(row, "events")?),
        secret: text(row, "secret")?,
        previous_secret: opt_text(row, "previous_secret")?,
        previous_secret_until: row.try_get("previous_secret_until")?,
        enabled: enabled != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

pub(crate) fn split_events(events: &str) -> Vec<String> {
    events
        .split(',')
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Database {
    /// Stores a new endpoint. The owner must exist.
    pub async fn create_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), DbError> {
        sqlx::query(&self.sql(&format!(
            "INSERT INTO webhook_endpoints ({ENDPOINT_COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )))
        .bind(&endpoint.id)
        .bind(endpoint.owner_id.as_str())
        .bind(&endpoint.url)
        .bind(&endpoint.description)
        .bind(endpoint.events.join(","))
        .bind(&endpoint.secret)
        .bind(endpoint.previous_secret.as_deref())
        .bind(endpoint.previous_secret_until)
        .bind(i64::from(endpoint.enabled))
        .bind(endpoint.created_at)
        .bind(endpoint.updated_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many endpoints `owner` has (the per-user limit).
    pub async fn count_webhook_endpoints(&self, owner: &UserId) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar(
            &self.sql("SELECT COUNT(*) FROM webhook_endpoints WHERE owner_id = $1"),
        )
        .bind(owner.as_str())
        .fetch_one(&self.pool)
        .await?;
        u64::try_from(n).map_err(DbError::corrupt)
    }

    /// `owner`'s endpoints, oldest first.
    pub async fn list_webhook_endpoints(
        &self,
        owner: &UserId,
    ) -> Result<Vec<WebhookEndpoint>, DbError> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE owner_id = $1 \
             ORDER BY created_at, id"
        )))
        .bind(owner.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(endpoint_from_row).collect()
    }

    /// The endpoint `id` if it is `owner`'s.
    pub async fn get_webhook_endpoint(
        &self,
        id: &str,
        owner: &UserId,
    ) -> Result<Option<WebhookEndpoint>, DbError> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1 AND owner_id = $2"
        )))
        .bind(id)
        .bind(owner.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(endpoint_from_row).transpose()
    }

    /// Applies `changes` to `owner`'s endpoint `id`; the endpoint as it is now, or `None` when
    /// there is no such endpoint of `owner`'s.
    pub async fn update_webhook_endpoint(
        &self,
        id: &str,
        owner: &UserId,
        changes: &EndpointChanges,
        now: i64,
    ) -> Result<Option<WebhookEndpoint>, DbError> {
        let Some(mut endpoint) = self.get_webhook_endpoint(id, owner).await? else {
            return Ok(None);
        };
        if let Some(url) = &changes.url {
            endpoint.url.clone_from(url);
        }
        if let Some(description) = &changes.description {
            endpoint.description.clone_from(description);
        }
        if let Some(events) = &changes.events {
            endpoint.events.clone_from(events);
        }
        if let Some(enabled) = changes.enabled {
            endpoint.enabled = enabled;
        }
        endpoint.updated_at = now;
        let done = sqlx::query(&self.sql(
            "UPDATE webhook_endpoints SET url = $1, description = $2, events = $3, enabled = $4, \
             updated_at = $5 WHERE id = $6 AND owner_id = $7",
        ))
        .bind(&endpoint.url)
        .bind(&endpoint.description)
        .bind(endpoint.events.join(","))
        .bind(i64::from(endpoint.enabled))
        .bind(now)
        .bind(id)
        .bind(owner.as_str())
        .execute(&self.pool)
        .await?;
        Ok((done.rows_affected() == 1).then_some(endpoint))
    }

    /// Replaces the secret of `owner`'s endpoint `id` with `secret`; the old one keeps signing
    /// until `previous_until` (unix ms). The endpoint as it is now, or `None`.
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        owner: &UserId,
        secret: &str,
        previous_until: i64,
        now: i64,
    ) -> Result<Option<WebhookEndpoint>, DbError> {
        let done = sqlx::query(&self.sql(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $1, \
             secret = $2, updated_at = $3 WHERE id = $4 AND owner_id = $5",
        ))
        .bind(previous_until)
        .bind(secret)
        .bind(now)
        .bind(id)
        .bind(owner.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(None);
        }
        self.get_webhook_endpoint(id, owner).await
    }

    /// Deletes `owner`'s endpoint `id` with its deliveries and their attempts; false when there
    /// is no such endpoint of `owner`'s.
    pub async fn delete_webhook_endpoint(&self, id: &str, owner: &UserId) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let done =
            sqlx::query(&self.sql("DELETE FROM webhook_endpoints WHERE id = $1 AND owner_id = $2"))
                .bind(id)
                .bind(owner.as_str())
                .execute(&mut *tx)
                .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(&self.sql(
            "DELETE FROM webhook_attempts WHERE delivery_id IN \
             (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
        ))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&self.sql("DELETE FROM webhook_deliveries WHERE endpoint_id = $1"))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}
