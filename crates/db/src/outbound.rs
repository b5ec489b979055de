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
    /// Fair share: the owner of the job a `video` message announces; the queue hands out the
    /// next message of the owner with the fewest in progress. `None` for other messages.
    pub fair_key: Option<String>,
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
                    "INSERT INTO outbox (id, queue, message_id, payload, created_at, fair_key) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                ))
                .bind(id)
                .bind(&msg.queue)
                .bind(&msg.message_id)
                .bind(&msg.payload)
                .bind(now)
                .bind(msg.fair_key.as_deref())
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
    /// claim runs out. With `fair_queue`, the rows of that queue that have a fair key are left
    /// to [`Database::claim_fair_outbox`].
    pub async fn claim_outbox(
        &self,
        limit: u32,
        token: &str,
        claim_ms: i64,
        fair_queue: Option<&str>,
    ) -> Result<Vec<OutboxMessage>, DbError> {
        let now = mp3converter_core::now_millis();
        // Placeholders in the order they appear (MySQL's `?` are positional).
        let (fair, limit_at) = if fair_queue.is_some() {
            (" AND (fair_key IS NULL OR queue <> $2)", "$3")
        } else {
            ("", "$2")
        };
        let sql = self
            .sql(&format!(
                "SELECT id, queue, message_id, payload, created_at FROM outbox \
                 WHERE (claimed_until IS NULL OR claimed_until < $1){fair} \
                 ORDER BY created_at, id LIMIT {limit_at}"
            ))
            .into_owned();
        let mut query = sqlx::query(&sql).bind(now);
        if let Some(queue) = fair_queue {
            query = query.bind(queue);
        }
        let query = query.bind(i64::from(limit));
        let candidates = query.fetch_all(&self.pool).await?;
        let mut claimed = Vec::with_capacity(candidates.len());
        for r in &candidates {
            if let Some(row) = self.claim_outbox_row(r, token, claim_ms, now).await? {
                claimed.push(row);
            }
        }
        Ok(claimed)
    }

    /// Claims one outbox row with a fair key on `queue`, fairest first: the oldest row of the
    /// owner with the fewest jobs published and not finished (queued or converting, and no
    /// longer in the outbox), so that a broker receives one owner's backlog interleaved with
    /// everyone else's new jobs. `None` when there is none to claim.
    pub async fn claim_fair_outbox(
        &self,
        queue: &str,
        token: &str,
        claim_ms: i64,
    ) -> Result<Option<OutboxMessage>, DbError> {
        let now = mp3converter_core::now_millis();
        let busy = sqlx::query(&self.sql(
            "SELECT owner_id, COUNT(*) AS n FROM jobs WHERE state IN ('queued', 'converting') \
             AND NOT EXISTS (SELECT 1 FROM outbox WHERE outbox.message_id = jobs.id \
             AND outbox.queue = $1) GROUP BY owner_id",
        ))
        .bind(queue)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| Ok((text(r, "owner_id")?, r.try_get::<i64, _>("n")?)))
        .collect::<Result<Vec<_>, DbError>>()?;
        for skip in crate::queue_table::fair_share_rounds(busy) {
            let list = (3..3 + skip.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let not_in = if skip.is_empty() {
                String::new()
            } else {
                format!(" AND fair_key NOT IN ({list})")
            };
            let sql = self
                .sql(&format!(
                    "SELECT id, queue, message_id, payload, created_at FROM outbox \
                 WHERE queue = $1 AND fair_key IS NOT NULL \
                 AND (claimed_until IS NULL OR claimed_until < $2){not_in} \
                 ORDER BY created_at, id LIMIT 5"
                ))
                .into_owned();
            let mut query = sqlx::query(&sql).bind(queue).bind(now);
            for key in &skip {
                query = query.bind(key.as_str());
            }
            for r in &query.fetch_all(&self.pool).await? {
                if let Some(row) = self.claim_outbox_row(r, token, claim_ms, now).await? {
                    return Ok(Some(row));
                }
            }
        }
        Ok(None)
    }

    /// Claims the candidate row `r` unless another relay took it since it was read.
    async fn claim_outbox_row(
        &self,
        r: &sqlx::any::AnyRow,
        token: &str,
        claim_ms: i64,
        now: i64,
    ) -> Result<Option<OutboxMessage>, DbError> {
        let id = text(r, "id")?;
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
        if took != 1 {
            return Ok(None);
        }
        Ok(Some(OutboxMessage {
            id,
            queue: text(r, "queue")?,
            message_id: text(r, "message_id")?,
            payload: text(r, "payload")?,
            created_at: r.try_get("created_at")?,
        }))
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
