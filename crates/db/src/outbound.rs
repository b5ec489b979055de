//! Messages written in the same transaction as a job change, and the outbox a relay drains.
//!
//! With the database queue a message goes straight into `queue_messages`; with RabbitMQ it goes
//! into `outbox`, and a relay publishes it and deletes the row (at-least-once: a crash between
//! publish and delete publishes it again, which consumers tolerate).

use sqlx::{AnyConnection, Row};

use crate::row::text;
use crate::{Database, DbError, MessageRoute};

/// A message to write along with a job change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Queue name (`video`, `mp3`).
    pub queue: String,
    /// Message id (the job id).
    pub message_id: String,
    /// JSON body.
    pub payload: String,
    /// Queue table or outbox.
    pub route: MessageRoute,
}

/// A row of the outbox, waiting to be published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// Row id (UUID v7, so ordering by it is ordering by insertion).
    pub id: String,
    /// Queue name.
    pub queue: String,
    /// Message id.
    pub message_id: String,
    /// JSON body.
    pub payload: String,
    /// Unix ms.
    pub created_at: i64,
}

impl Database {
    /// Writes `msg` on `conn` (normally inside the caller's transaction).
    pub(crate) async fn write_outbound(
        &self,
        conn: &mut AnyConnection,
        msg: &OutboundMessage,
        now: i64,
    ) -> Result<(), DbError> {
        let id = uuid::Uuid::now_v7().to_string();
        match msg.route {
            MessageRoute::QueueTable { max_attempts } => {
                self.insert_queue_message(conn, &id, msg, i64::from(max_attempts), now)
                    .await
            }
            MessageRoute::Outbox => {
                sqlx::query(&self.sql(
                    "INSERT INTO outbox (id, queue, message_id, payload, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                ))
                .bind(id)
                .bind(&msg.queue)
                .bind(&msg.message_id)
                .bind(&msg.payload)
                .bind(now)
                .execute(conn)
                .await?;
                Ok(())
            }
        }
    }

    /// The oldest `limit` outbox rows, for the relay.
    pub async fn outbox_batch(&self, limit: u32) -> Result<Vec<OutboxMessage>, DbError> {
        let rows = sqlx::query(&self.sql(
            "SELECT id, queue, message_id, payload, created_at FROM outbox \
             ORDER BY created_at, id LIMIT $1",
        ))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxMessage {
                    id: text(r, "id")?,
                    queue: text(r, "queue")?,
                    message_id: text(r, "message_id")?,
                    payload: text(r, "payload")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    /// Claims up to `limit` of the oldest outbox rows that nobody holds (or whose holder's claim
    /// ran out) for `claim_ms` milliseconds under `token`, and returns them. Relays in several
    /// processes each get different rows; a row whose relay died is claimable again once its
    /// claim runs out.
    pub async fn claim_outbox(
        &self,
        limit: u32,
        token: &str,
        claim_ms: i64,
    ) -> Result<Vec<OutboxMessage>, DbError> {
        let now = mp3converter_core::now_millis();
        let candidates = sqlx::query(&self.sql(
            "SELECT id, queue, message_id, payload, created_at FROM outbox \
             WHERE claimed_until IS NULL OR claimed_until < $1 \
             ORDER BY created_at, id LIMIT $2",
        ))
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for r in &candidates {
            let id = text(r, "id")?;
            // Another relay may have claimed the row since the SELECT: the guard decides.
            let took = sqlx::query(&self.sql(
                "UPDATE outbox SET claim_token = $1, claimed_until = $2 \
                 WHERE id = $3 AND (claimed_until IS NULL OR claimed_until < $4)",
            ))
            .bind(token)
            .bind(now + claim_ms)
            .bind(&id)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
            if took == 1 {
                claimed.push(OutboxMessage {
                    id,
                    queue: text(r, "queue")?,
                    message_id: text(r, "message_id")?,
                    payload: text(r, "payload")?,
                    created_at: r.try_get("created_at")?,
                });
            }
        }
        Ok(claimed)
    }

    /// Gives up a claim (the publish failed) so the row can be taken again at once.
    pub async fn release_outbox(&self, id: &str, token: &str) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql(
            "UPDATE outbox SET claim_token = NULL, claimed_until = NULL \
             WHERE id = $1 AND claim_token = $2",
        ))
        .bind(id)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Outbox rows not yet published (a gauge: it grows while the broker is unreachable).
    pub async fn outbox_len(&self) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar(&self.sql("SELECT COUNT(*) FROM outbox"))
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Removes a published outbox row; false if it was already gone.
    pub async fn delete_outbox(&self, id: &str) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql("DELETE FROM outbox WHERE id = $1"))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
