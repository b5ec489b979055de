//! The `queue_messages` table: the storage of the embedded database queue.
//!
//! A message is visible when it is not dead and `available_at <= now`. Claiming it sets a lease:
//! a fresh `lease_owner` token, `lease_until = available_at = now + lease`, attempts + 1. So a
//! lease that runs out (worker killed) makes the message visible again without any sweeper.
//! Every later change (`ack`, `release`, `bury`, `extend`) names the token and changes nothing
//! once another consumer has reclaimed the message. The queue semantics built on this live in
//! `mp3converter-queue`.
//!
//! Times come from the clocks of the processes, not the database server (portable SQL), so
//! hosts sharing a database must keep their clocks in sync (NTP); skew shortens or lengthens
//! leases and retry delays by the same amount.

use std::time::Duration;

use mp3converter_core::now_millis;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::row::text;
use crate::{Database, DbError, Engine, MessageRoute, OutboundMessage};

/// A message claimed under a lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedMessage {
    /// Row id.
    pub id: String,
    /// Message id given at publish (the job id).
    pub message_id: String,
    /// JSON body.
    pub payload: String,
    /// Deliveries so far, including this one (1 on first delivery).
    pub attempts: u32,
    /// Deliveries allowed before dead-lettering.
    pub max_attempts: u32,
    /// The lease token; changes to the message must present it.
    pub lease_token: String,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Most fair keys left out of one claim; beyond that the oldest message is taken.
const MAX_SKIPPED_KEYS: usize = 200;

/// The claim rounds of fair share, from the number of messages each fair key has leased: first
/// skip every key with any in progress (a waiting owner with none goes first), then those with
/// more than the fewest, and so on, and last skip none. Within a round the owner served longest
/// ago goes first (`fair_turn`, round-robin), then the oldest message. Without leases: one round.
pub(crate) fn fair_share_rounds(mut leased: Vec<(String, i64)>) -> Vec<Vec<String>> {
    if leased.len() > MAX_SKIPPED_KEYS {
        return vec![Vec::new()];
    }
    leased.sort_by_key(|(_, n)| *n);
    let mut levels: Vec<i64> = leased.iter().map(|(_, n)| *n).collect();
    levels.dedup();
    let mut rounds = vec![leased.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()];
    for level in levels {
        let skip: Vec<String> = leased
            .iter()
            .filter(|(_, n)| *n > level)
            .map(|(k, _)| k.clone())
            .collect();
        rounds.push(skip);
    }
    rounds
}

fn count(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

impl Database {
    pub(crate) async fn insert_queue_message(
        &self,
        conn: &mut AnyConnection,
        id: &str,
        msg: &OutboundMessage,
        max_attempts: i64,
        available_at: i64,
    ) -> Result<(), DbError> {
        sqlx::query(&self.sql(
            "INSERT INTO queue_messages (id, queue, message_id, payload, attempts, max_attempts, \
             available_at, created_at, dead, fair_key) VALUES ($1, $2, $3, $4, 0, $5, $6, $7, 0, $8)",
        ))
        .bind(id)
        .bind(&msg.queue)
        .bind(&msg.message_id)
        .bind(&msg.payload)
        .bind(max_attempts)
        .bind(available_at)
        .bind(available_at)
        .bind(msg.fair_key.as_deref())
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Adds a message to `queue`, visible now, deliverable `max_attempts` times. Returns its id.
    pub async fn enqueue(
        &self,
        queue: &str,
        message_id: &str,
        payload: &str,
        max_attempts: u32,
    ) -> Result<String, DbError> {
        let id = uuid::Uuid::now_v7().to_string();
        let msg = OutboundMessage {
            queue: queue.to_owned(),
            message_id: message_id.to_owned(),
            payload: payload.to_owned(),
            route: MessageRoute::QueueTable { max_attempts },
            fair_key: None,
        };
        let mut conn = self.pool.acquire().await?;
        self.insert_queue_message(&mut conn, &id, &msg, i64::from(max_attempts), now_millis())
            .await?;
        Ok(id)
    }

    /// Claims the oldest visible message of `queue` for `lease`, or `None` if there is none —
    /// with fair share: messages with a fair key (the owner of a `video` message) go first when
    /// their owner has the fewest messages leased (see [`fair_share_rounds`]), so one owner's
    /// backlog cannot starve another's single job.
    /// PostgreSQL and MySQL use `SELECT … FOR UPDATE SKIP LOCKED` in a transaction, so
    /// concurrent consumers skip each other's rows; SQLite does it in one `UPDATE … RETURNING`
    /// under its write lock.
    /// A deadlock or busy lock is retried a few times before it is returned.
    pub async fn claim_message(
        &self,
        queue: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedMessage>, DbError> {
        let mut tries = 0;
        loop {
            match self.claim_once(queue, lease).await {
                Err(e @ DbError::Contention(_)) if tries < 3 => {
                    tries += 1;
                    tracing::debug!(queue, error = %e, "claim contended, trying again");
                }
                other => return other,
            }
        }
    }

    async fn claim_once(
        &self,
        queue: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedMessage>, DbError> {
        let now = now_millis();
        for skip in fair_share_rounds(self.leased_per_fair_key(queue, now).await?) {
            if let Some(claimed) = self.claim_skipping(queue, lease, now, &skip).await? {
                return Ok(Some(claimed));
            }
        }
        Ok(None)
    }

    /// Fair share: how many messages of `queue` each fair key (owner) has leased now.
    async fn leased_per_fair_key(
        &self,
        queue: &str,
        now: i64,
    ) -> Result<Vec<(String, i64)>, DbError> {
        let rows = sqlx::query(&self.sql(
            "SELECT fair_key, COUNT(*) AS n FROM queue_messages WHERE queue = $1 AND dead = 0 \
             AND fair_key IS NOT NULL AND lease_owner IS NOT NULL AND available_at > $2 \
             GROUP BY fair_key",
        ))
        .bind(queue)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((text(r, "fair_key")?, r.try_get::<i64, _>("n")?)))
            .collect()
    }

    /// Claims the oldest visible message of `queue` whose fair key is not in `skip`.
    async fn claim_skipping(
        &self,
        queue: &str,
        lease: Duration,
        now: i64,
        skip: &[String],
    ) -> Result<Option<ClaimedMessage>, DbError> {
        let until = now.saturating_add(millis(lease));
        let token = uuid::Uuid::now_v7().to_string();
        let not_in = |first: usize| {
            if skip.is_empty() {
                return String::new();
            }
            let list = (first..first + skip.len())
                .map(|i| format!("${i}"))
                .collect::<Vec<_>>()
                .join(", ");
            format!(" AND (fair_key IS NULL OR fair_key NOT IN ({list}))")
        };
        let row = match self.engine {
            Engine::Sqlite => {
                let sql = format!(
                    "UPDATE queue_messages SET attempts = attempts + 1, lease_owner = $1, \
                     lease_until = $2, available_at = $3 WHERE id = (SELECT id FROM queue_messages \
                     WHERE queue = $4 AND dead = 0 AND available_at <= $5{} \
                     ORDER BY COALESCE(fair_turn, 0), available_at, id LIMIT 1) \
                     RETURNING id, message_id, payload, attempts, max_attempts, fair_key",
                    not_in(6)
                );
                let mut query = sqlx::query(&sql)
                    .bind(&token)
                    .bind(until)
                    .bind(until)
                    .bind(queue)
                    .bind(now);
                for key in skip {
                    query = query.bind(key.as_str());
                }
                query.fetch_optional(&self.pool).await?
            }
            Engine::Postgres | Engine::MySql => {
                let mut tx = self.pool.begin().await?;
                let sql = self
                    .sql(&format!(
                        "SELECT id, message_id, payload, attempts, max_attempts, fair_key \
                     FROM queue_messages WHERE queue = $1 AND dead = 0 AND available_at <= $2{} \
                     ORDER BY COALESCE(fair_turn, 0), available_at, id LIMIT 1 \
                     FOR UPDATE SKIP LOCKED",
                        not_in(3)
                    ))
                    .into_owned();
                let mut query = sqlx::query(&sql).bind(queue).bind(now);
                for key in skip {
                    query = query.bind(key.as_str());
                }
                let row = query.fetch_optional(&mut *tx).await?;
                if let Some(row) = &row {
                    let id = text(row, "id")?;
                    sqlx::query(&self.sql(
                        "UPDATE queue_messages SET attempts = attempts + 1, lease_owner = $1, \
                         lease_until = $2, available_at = $3 WHERE id = $4",
                    ))
                    .bind(&token)
                    .bind(until)
                    .bind(until)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                row
            }
        };
        let Some(row) = row else { return Ok(None) };
        let mut claimed = claimed_from_row(&row, token)?;
        if self.engine != Engine::Sqlite {
            // The row was read before the increment.
            claimed.attempts = claimed.attempts.saturating_add(1);
        }
        if let Some(key) = crate::row::opt_text(&row, "fair_key")?
            && let Err(e) = self.took_turn(queue, &key, now).await
        {
            // The message is claimed: failing now would lose it until its lease runs out. The
            // turn only orders the next claims.
            tracing::warn!(queue, error = %e, "could not record a fair-share turn");
        }
        Ok(Some(claimed))
    }

    /// Fair share: `key`'s waiting messages remember that it was served at `now`, so that among
    /// owners with as many messages in progress the one served longest ago goes next.
    async fn took_turn(&self, queue: &str, key: &str, now: i64) -> Result<(), DbError> {
        sqlx::query(&self.sql(
            "UPDATE queue_messages SET fair_turn = $1 WHERE queue = $2 AND fair_key = $3 \
             AND lease_owner IS NULL AND dead = 0",
        ))
        .bind(now)
        .bind(queue)
        .bind(key)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Deletes a claimed message (ack). False if the lease was lost to another consumer.
    pub async fn delete_claimed(&self, id: &str, token: &str) -> Result<bool, DbError> {
        let done =
            sqlx::query(&self.sql("DELETE FROM queue_messages WHERE id = $1 AND lease_owner = $2"))
                .bind(id)
                .bind(token)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Hands a claimed message back, visible again after `delay`, noting `error`.
    pub async fn release_claimed(
        &self,
        id: &str,
        token: &str,
        delay: Duration,
        error: &str,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql(
            "UPDATE queue_messages SET lease_owner = NULL, lease_until = NULL, \
             available_at = $1, last_error = $2 WHERE id = $3 AND lease_owner = $4",
        ))
        .bind(now_millis().saturating_add(millis(delay)))
        .bind(error)
        .bind(id)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Moves a claimed message to the dead letters, noting `error`.
    pub async fn bury_claimed(&self, id: &str, token: &str, error: &str) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql(
            "UPDATE queue_messages SET dead = 1, dead_at = $1, last_error = $2, \
             lease_owner = NULL, lease_until = NULL WHERE id = $3 AND lease_owner = $4",
        ))
        .bind(now_millis())
        .bind(error)
        .bind(id)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Pushes a claimed message's lease to `now + lease`. False if the lease was lost.
    pub async fn extend_claim(
        &self,
        id: &str,
        token: &str,
        lease: Duration,
    ) -> Result<bool, DbError> {
        let until = now_millis().saturating_add(millis(lease));
        let done = sqlx::query(&self.sql(
            "UPDATE queue_messages SET lease_until = $1, available_at = $2 \
             WHERE id = $3 AND lease_owner = $4 AND dead = 0",
        ))
        .bind(until)
        .bind(until)
        .bind(id)
        .bind(token)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Messages of `queue` not dead-lettered: waiting, delayed for retry, or leased.
    pub async fn queue_depth(&self, queue: &str) -> Result<u64, DbError> {
        self.count_messages(queue, 0).await
    }

    /// Dead-lettered messages of `queue`.
    pub async fn dead_letter_count(&self, queue: &str) -> Result<u64, DbError> {
        self.count_messages(queue, 1).await
    }

    async fn count_messages(&self, queue: &str, dead: i64) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar(
            &self.sql("SELECT COUNT(*) FROM queue_messages WHERE queue = $1 AND dead = $2"),
        )
        .bind(queue)
        .bind(dead)
        .fetch_one(&self.pool)
        .await?;
        u64::try_from(n).map_err(DbError::corrupt)
    }
}

fn claimed_from_row(row: &AnyRow, lease_token: String) -> Result<ClaimedMessage, DbError> {
    Ok(ClaimedMessage {
        id: text(row, "id")?,
        message_id: text(row, "message_id")?,
        payload: text(row, "payload")?,
        attempts: count(row.try_get("attempts")?),
        max_attempts: count(row.try_get("max_attempts")?),
        lease_token,
    })
}

#[cfg(test)]
mod tests {
    use super::fair_share_rounds;

    fn keys(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn fair_share_skips_the_busiest_owners_first() {
        assert_eq!(fair_share_rounds(Vec::new()), vec![Vec::<String>::new()]);
        let leased = vec![
            ("a".to_owned(), 3),
            ("b".to_owned(), 1),
            ("c".to_owned(), 3),
        ];
        let rounds = fair_share_rounds(leased);
        assert_eq!(
            rounds,
            vec![keys(&["b", "a", "c"]), keys(&["a", "c"]), keys(&[])]
        );
        let many = (0..500).map(|i| (format!("k{i}"), 1)).collect();
        assert_eq!(fair_share_rounds(many), vec![Vec::<String>::new()]);
    }
}
