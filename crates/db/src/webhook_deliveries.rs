//! The `webhook_deliveries` and `webhook_attempts` repository: the durable record of what must
//! be sent to which endpoint, claimed by deliverers under a lease, and every attempt.
//!
//! Deliveries are created by [`Database::add_webhook_deliveries`] inside the transaction that
//! makes a job `done` or `failed` (see `transitions.rs`): the job row is the truth, so a job that
//! finishes gets its deliveries exactly when its state commits, whatever process finished it,
//! and a delivery row is unique per (endpoint, job, event). A delivery is due while `pending`
//! with `next_attempt_at <= now`; claiming it moves `next_attempt_at` a lease into the future
//! (a deliverer that dies lets it come due again, like the queue table) and sets a fresh
//! `lease_owner` token that the outcome must present.

use std::time::Duration;

use mp3converter_core::now_millis;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::row::{opt_text, text};
use crate::webhooks::{ENDPOINT_COLUMNS, endpoint_from_row, split_events};
use crate::{Database, DbError, Engine, WebhookEndpoint};

/// One delivery of one event to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// `msg_…`: the `webhook-id` of every attempt, replays included.
    pub id: String,
    /// The endpoint it goes to.
    pub endpoint_id: String,
    /// The job it is about.
    pub job_id: String,
    /// `job.done` or `job.failed`.
    pub event: String,
    /// The body, fixed at the first attempt (`None` before).
    pub payload: Option<String>,
    /// `pending`, `delivered` or `failed`.
    pub status: String,
    /// Attempts made, replays included.
    pub attempts: u32,
    /// Failed attempts since it was created or last replayed (the place in the retry schedule).
    pub retries: u32,
    /// When it is due next (unix ms); `None` once delivered or failed.
    pub next_attempt_at: Option<i64>,
    /// The HTTP status of the last attempt, if one was answered.
    pub last_status_code: Option<u16>,
    /// How long the last attempt took.
    pub last_latency_ms: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    /// Milliseconds since the epoch.
    pub updated_at: i64,
}

/// A delivery claimed under a lease, with its endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedDelivery {
    /// The delivery (its `attempts` count this one).
    pub delivery: WebhookDelivery,
    /// Where it goes.
    pub endpoint: WebhookEndpoint,
    /// The lease token; the outcome must present it.
    pub lease_token: String,
}

/// One recorded attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookAttempt {
    /// When it started (unix ms).
    pub attempted_at: i64,
    /// The HTTP status, if the endpoint answered.
    pub status_code: Option<u16>,
    /// How long it took.
    pub latency_ms: i64,
    /// Why it failed (`None` when it succeeded).
    pub error: Option<String>,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryNext {
    /// Answered 2xx: done.
    Delivered,
    /// Failed; try again at this time (unix ms).
    RetryAt(i64),
    /// Failed for the last time.
    GiveUp,
}

const COLUMNS: &str = "id, endpoint_id, job_id, event, payload, status, attempts, retries, \
     next_attempt_at, last_status_code, last_latency_ms, last_error, created_at, updated_at";

fn count(row: &AnyRow, column: &str) -> Result<u32, DbError> {
    let v: i64 = row.try_get(column)?;
    u32::try_from(v).map_err(DbError::corrupt)
}

fn delivery_from_row(row: &AnyRow) -> Result<WebhookDelivery, DbError> {
    let code: Option<i64> = row.try_get("last_status_code")?;
    Ok(WebhookDelivery {
        id: text(row, "id")?,
        endpoint_id: text(row, "endpoint_id")?,
        job_id: text(row, "job_id")?,
        event: text(row, "event")?,
        payload: opt_text(row, "payload")?,
        status: text(row, "status")?,
        attempts: count(row, "attempts")?,
        retries: count(row, "retries")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_status_code: code.and_then(|c| u16::try_from(c).ok()),
        last_latency_ms: row.try_get("last_latency_ms")?,
        last_error: opt_text(row, "last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

impl Database {
    /// Creates one pending delivery of `event` about `job_id` for each enabled endpoint of the
    /// job's owner that subscribes to it, on `conn` (the finishing transaction). A delivery that
    /// exists already is left alone. Returns how many were created.
    pub(crate) async fn add_webhook_deliveries(
        &self,
        conn: &mut AnyConnection,
        job_id: &str,
        event: &str,
        now: i64,
    ) -> Result<u64, DbError> {
        let endpoints: Vec<(String, String)> = sqlx::query(&self.sql(
            "SELECT e.id, e.events FROM webhook_endpoints e JOIN jobs j ON j.owner_id = e.owner_id \
             WHERE j.id = $1 AND e.enabled = 1",
        ))
        .bind(job_id)
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| Ok((text(r, "id")?, text(r, "events")?)))
        .collect::<Result<_, DbError>>()?;
        let insert = match self.engine {
            Engine::MySql => "INSERT IGNORE INTO",
            Engine::Sqlite | Engine::Postgres => "INSERT INTO",
        };
        let conflict = match self.engine {
            Engine::MySql => "",
            Engine::Sqlite | Engine::Postgres => " ON CONFLICT DO NOTHING",
        };
        let sql = format!(
            "{insert} webhook_deliveries ({COLUMNS}) VALUES ($1, $2, $3, $4, NULL, 'pending', 0, \
             0, $5, NULL, NULL, NULL, $6, $7){conflict}"
        );
        let mut created = 0;
        for (endpoint_id, events) in endpoints {
            if !split_events(&events).iter().any(|e| e == event) {
                continue;
            }
            let id = format!("msg_{}", uuid::Uuid::new_v4().simple());
            created += sqlx::query(&self.sql(&sql))
                .bind(id)
                .bind(endpoint_id)
                .bind(job_id)
                .bind(event)
                .bind(now)
                .bind(now)
                .bind(now)
                .execute(&mut *conn)
                .await?
                .rows_affected();
        }
        Ok(created)
    }

    /// Claims the delivery that has been due longest for `lease`, or `None`. PostgreSQL and
    /// MySQL use `SELECT … FOR UPDATE SKIP LOCKED`; SQLite one `UPDATE … RETURNING`. A deadlock
    /// or busy lock is retried a few times before it is returned.
    pub async fn claim_webhook_delivery(
        &self,
        lease: Duration,
    ) -> Result<Option<ClaimedDelivery>, DbError> {
        let mut tries = 0;
        loop {
            match self.claim_delivery_once(lease).await {
                Err(DbError::Contention(_)) if tries < 3 => tries += 1,
                other => return other,
            }
        }
    }

    async fn claim_delivery_once(
        &self,
        lease: Duration,
    ) -> Result<Option<ClaimedDelivery>, DbError> {
        let now = now_millis();
        let until = now.saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
        let token = uuid::Uuid::new_v4().to_string();
        let claim = "UPDATE webhook_deliveries SET attempts = attempts + 1, lease_owner = $1, \
             next_attempt_at = $2, updated_at = $3 WHERE id = $4 AND status = 'pending'";
        let due = "SELECT id FROM webhook_deliveries WHERE status = 'pending' \
             AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT 1";
        let id: Option<String> = match self.engine {
            Engine::Sqlite => {
                let sql = format!(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, lease_owner = $1, \
                     next_attempt_at = $2, updated_at = $3 WHERE id = ({}) RETURNING id",
                    due.replace("$1", "$4")
                );
                let row = sqlx::query(&sql)
                    .bind(&token)
                    .bind(until)
                    .bind(now)
                    .bind(now)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(|r| text(r, "id")).transpose()?
            }
            Engine::Postgres | Engine::MySql => {
                let mut tx = self.pool.begin().await?;
                let row = sqlx::query(&self.sql(&format!("{due} FOR UPDATE SKIP LOCKED")))
                    .bind(now)
                    .fetch_optional(&mut *tx)
                    .await?;
                let id = row.as_ref().map(|r| text(r, "id")).transpose()?;
                if let Some(id) = &id {
                    sqlx::query(&self.sql(claim))
                        .bind(&token)
                        .bind(until)
                        .bind(now)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                id
            }
        };
        let Some(id) = id else { return Ok(None) };
        let Some(delivery) = self.webhook_delivery(&id).await? else {
            return Ok(None);
        };
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
        )))
        .bind(&delivery.endpoint_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(endpoint) = row.as_ref().map(endpoint_from_row).transpose()? else {
            // The endpoint was deleted meanwhile (with its deliveries): nothing to send.
            return Ok(None);
        };
        Ok(Some(ClaimedDelivery {
            delivery,
            endpoint,
            lease_token: token,
        }))
    }

    /// Fixes the body of delivery `id` if it has none yet; returns the body it has now.
    pub async fn fix_webhook_payload(&self, id: &str, payload: &str) -> Result<String, DbError> {
        sqlx::query(
            &self.sql(
                "UPDATE webhook_deliveries SET payload = $1 WHERE id = $2 AND payload IS NULL",
            ),
        )
        .bind(payload)
        .bind(id)
        .execute(&self.pool)
        .await?;
        self.webhook_delivery(id)
            .await?
            .and_then(|d| d.payload)
            .ok_or(DbError::NotFound)
    }

    /// Records `attempt` of the claimed delivery `id` and what comes `next`, in one transaction.
    /// False (and nothing recorded) when the lease was lost to another deliverer.
    pub async fn record_webhook_attempt(
        &self,
        id: &str,
        token: &str,
        attempt: &WebhookAttempt,
        next: DeliveryNext,
    ) -> Result<bool, DbError> {
        let (status, next_at, retried) = match next {
            DeliveryNext::Delivered => ("delivered", None, 0_i64),
            DeliveryNext::RetryAt(at) => ("pending", Some(at), 1),
            DeliveryNext::GiveUp => ("failed", None, 1),
        };
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&self.sql(
            "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, \
             retries = retries + $3, lease_owner = NULL, last_status_code = $4, \
             last_latency_ms = $5, last_error = $6, updated_at = $7 \
             WHERE id = $8 AND lease_owner = $9 AND status = 'pending'",
        ))
        .bind(status)
        .bind(next_at)
        .bind(retried)
        .bind(attempt.status_code.map(i64::from))
        .bind(attempt.latency_ms)
        .bind(attempt.error.as_deref())
        .bind(now)
        .bind(id)
        .bind(token)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query(&self.sql(
            "INSERT INTO webhook_attempts (id, delivery_id, attempted_at, status_code, \
             latency_ms, error) VALUES ($1, $2, $3, $4, $5, $6)",
        ))
        .bind(uuid::Uuid::now_v7().to_string())
        .bind(id)
        .bind(attempt.attempted_at)
        .bind(attempt.status_code.map(i64::from))
        .bind(attempt.latency_ms)
        .bind(attempt.error.as_deref())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The delivery `id`.
    pub async fn webhook_delivery(&self, id: &str) -> Result<Option<WebhookDelivery>, DbError> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {COLUMNS} FROM webhook_deliveries WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(delivery_from_row).transpose()
    }

    /// The newest `limit` deliveries to `endpoint_id`, newest first.
    pub async fn list_webhook_deliveries(
        &self,
        endpoint_id: &str,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>, DbError> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT {COLUMNS} FROM webhook_deliveries WHERE endpoint_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2"
        )))
        .bind(endpoint_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    /// The attempts of delivery `id`, oldest first.
    pub async fn list_webhook_attempts(&self, id: &str) -> Result<Vec<WebhookAttempt>, DbError> {
        let rows = sqlx::query(&self.sql(
            "SELECT attempted_at, status_code, latency_ms, error FROM webhook_attempts \
             WHERE delivery_id = $1 ORDER BY attempted_at, id",
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let code: Option<i64> = row.try_get("status_code")?;
                Ok(WebhookAttempt {
                    attempted_at: row.try_get("attempted_at")?,
                    status_code: code.and_then(|c| u16::try_from(c).ok()),
                    latency_ms: row.try_get("latency_ms")?,
                    error: opt_text(row, "error")?,
                })
            })
            .collect()
    }

    /// Makes delivery `id` of `endpoint_id` due now again (same id, same body), with a fresh
    /// retry schedule; a running attempt's outcome is then ignored. False if there is no such
    /// delivery of that endpoint.
    pub async fn replay_webhook_delivery(
        &self,
        endpoint_id: &str,
        id: &str,
    ) -> Result<bool, DbError> {
        let now = now_millis();
        let done = sqlx::query(&self.sql(
            "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = $1, retries = 0, \
             lease_owner = NULL, updated_at = $2 WHERE id = $3 AND endpoint_id = $4",
        ))
        .bind(now)
        .bind(now)
        .bind(id)
        .bind(endpoint_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
