//! The database adapter of [`JobQueue`]: messages live in the `queue_messages` table of
//! `mp3converter-db` (SQLite in single-node mode, or the service's MySQL/PostgreSQL).
//!
//! Claims take a lease token (`FOR UPDATE SKIP LOCKED` on servers, one `UPDATE … RETURNING` on
//! SQLite). Consumers in this process are woken by a `Notify` when a message is published here;
//! messages published by other processes are found by polling with a short backoff.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mp3converter_db::{ClaimedMessage, Database};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::{Delivery, JobQueue, QueueError, RetryOutcome};

/// Deliveries allowed by default: one more than the retry schedule has steps.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
const MIN_POLL: Duration = Duration::from_millis(10);
const MAX_POLL: Duration = Duration::from_millis(500);

/// A [`JobQueue`] stored in the database.
#[derive(Debug, Clone)]
pub struct DatabaseQueue {
    db: Database,
    max_attempts: u32,
    published: Arc<Notify>,
}

impl DatabaseQueue {
    /// A queue over `db` (migrated) allowing [`DEFAULT_MAX_ATTEMPTS`] deliveries per message.
    pub fn new(db: Database) -> DatabaseQueue {
        DatabaseQueue {
            db,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            published: Arc::new(Notify::new()),
        }
    }

    /// Sets the deliveries allowed per message published from now on (at least 1).
    pub fn with_max_attempts(mut self, max_attempts: u32) -> DatabaseQueue {
        self.max_attempts = max_attempts.max(1);
        self
    }

    fn delivery(queue: &str, c: ClaimedMessage) -> Delivery {
        Delivery {
            queue: queue.to_owned(),
            id: c.id,
            message_id: c.message_id,
            payload: c.payload,
            attempt: c.attempts,
            max_attempts: c.max_attempts,
            receipt: c.lease_token,
        }
    }
}

#[async_trait]
impl JobQueue for DatabaseQueue {
    async fn publish(
        &self,
        queue: &str,
        message_id: &str,
        payload: &str,
    ) -> Result<(), QueueError> {
        self.db
            .enqueue(queue, message_id, payload, self.max_attempts)
            .await?;
        self.published.notify_waiters();
        Ok(())
    }

    async fn receive(&self, queue: &str, lease: Duration) -> Result<Option<Delivery>, QueueError> {
        loop {
            let Some(claimed) = self.db.claim_message(queue, lease).await? else {
                return Ok(None);
            };
            if claimed.attempts <= claimed.max_attempts {
                return Ok(Some(Self::delivery(queue, claimed)));
            }
            // Its lease ran out max_attempts times: a poison message that kills its consumers.
            let error = format!(
                "lease expired {} times without an ack",
                claimed.attempts - 1
            );
            tracing::warn!(queue, message_id = %claimed.message_id, %error, "dead-lettering");
            self.db
                .bury_claimed(&claimed.id, &claimed.lease_token, &error)
                .await?;
        }
    }

    async fn wait_for_message(
        &self,
        queue: &str,
        lease: Duration,
        timeout: Duration,
    ) -> Result<Option<Delivery>, QueueError> {
        let deadline = Instant::now() + timeout;
        let mut poll = MIN_POLL;
        loop {
            // Register interest before looking, so a publish in between is not missed.
            let published = self.published.notified();
            tokio::pin!(published);
            published.as_mut().enable();
            if let Some(d) = self.receive(queue, lease).await? {
                return Ok(Some(d));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            tokio::select! {
                () = published => poll = MIN_POLL,
                () = tokio::time::sleep(poll.min(deadline - now)) => {
                    poll = (poll * 2).min(MAX_POLL);
                }
            }
        }
    }

    fn notify_published(&self, _queue: &str) {
        self.published.notify_waiters();
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        if !self
            .db
            .delete_claimed(&delivery.id, &delivery.receipt)
            .await?
        {
            tracing::debug!(message_id = %delivery.message_id, "ack of a lost lease ignored");
        }
        Ok(())
    }

    async fn retry(
        &self,
        delivery: &Delivery,
        delay: Duration,
        error: &str,
    ) -> Result<RetryOutcome, QueueError> {
        let (changed, outcome) = if delivery.is_last_attempt() {
            let buried = self
                .db
                .bury_claimed(&delivery.id, &delivery.receipt, error)
                .await?;
            (buried, RetryOutcome::DeadLettered)
        } else {
            let released = self
                .db
                .release_claimed(&delivery.id, &delivery.receipt, delay, error)
                .await?;
            (released, RetryOutcome::Scheduled)
        };
        Ok(if changed {
            outcome
        } else {
            RetryOutcome::LeaseLost
        })
    }

    async fn dead_letter(&self, delivery: &Delivery, error: &str) -> Result<(), QueueError> {
        self.db
            .bury_claimed(&delivery.id, &delivery.receipt, error)
            .await?;
        Ok(())
    }

    async fn extend_lease(&self, delivery: &Delivery, lease: Duration) -> Result<(), QueueError> {
        if self
            .db
            .extend_claim(&delivery.id, &delivery.receipt, lease)
            .await?
        {
            Ok(())
        } else {
            Err(QueueError::LeaseLost(delivery.message_id.clone()))
        }
    }

    async fn depth(&self, queue: &str) -> Result<u64, QueueError> {
        Ok(self.db.queue_depth(queue).await?)
    }

    async fn dead_count(&self, queue: &str) -> Result<u64, QueueError> {
        Ok(self.db.dead_letter_count(queue).await?)
    }

    async fn health_check(&self) -> Result<(), QueueError> {
        Ok(self.db.health_check().await?)
    }
}
