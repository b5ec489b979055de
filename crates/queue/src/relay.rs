//! The outbox relay: publishes the messages that job changes wrote into the `outbox` table (in
//! the job's own transaction) to the broker, then deletes them.
//!
//! This is what makes "job row + message" atomic when the queue is not the database: an upload
//! is accepted once its row and outbox row are committed, whether or not the broker is up. The
//! relay publishes with the queue's confirms and only then deletes the row, so a crash in
//! between publishes the message again (consumers are idempotent). Rows are claimed for a while
//! before publishing, so relays in several processes do not publish the same row twice.
//!
//! The process that wrote a row wakes its relay at once ([`WakeRelay`] wraps the queue so that
//! `notify_published` does it); every relay also sweeps the table every second, which picks up
//! rows left behind by a process that died and the backlog of a broker outage.
//!
//! **Fair share** ([`OutboxRelay::with_fair_share`], used with RabbitMQ): a broker hands out
//! messages in the order they were published, so one user's hundred uploads would all run before
//! another user's one. The relay therefore holds the `video` messages back in the outbox and
//! publishes the next one only while fewer than `max_waiting` wait in the broker, choosing it by
//! fairness (the oldest of the owner with the fewest jobs published and not finished; see
//! `Database::claim_fair_outbox`). The broker's queue stays short, and a new job of a user with
//! nothing running waits for at most `max_waiting` other jobs to start. Other messages are
//! published at once, as before.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mp3converter_db::Database;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    BoxError, Delivery, JobQueue, QueueError, RetryOutcome, WorkState, Worker, run_worker,
};

/// Rows published per round.
const BATCH: u32 = 100;
/// How long a claimed row is left to its relay before another may take it.
const CLAIM: Duration = Duration::from_secs(30);
/// How often the table is swept when nothing wakes the relay.
const SWEEP: Duration = Duration::from_secs(1);
/// How often the broker is asked again while fair-share messages are held back (a converter
/// taking a message does not wake the relay, which may run in another process).
const HELD_POLL: Duration = Duration::from_millis(200);
/// First and longest wait between rounds while the broker keeps refusing.
const MIN_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Publishes outbox rows to a [`JobQueue`].
#[derive(Clone)]
pub struct OutboxRelay {
    db: Database,
    queue: Arc<dyn JobQueue>,
    wake: Arc<Notify>,
    token: String,
    fair: Option<FairShare>,
    /// Fair-share messages were held back in the last round: poll the broker soon.
    held: bool,
}

/// Which queue's messages are published by fair share, and how many may wait in the broker.
#[derive(Debug, Clone)]
struct FairShare {
    queue: String,
    max_waiting: u64,
}

impl fmt::Debug for OutboxRelay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxRelay")
            .field("queue", &self.queue)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

impl OutboxRelay {
    /// A relay from `db`'s outbox to `queue`.
    pub fn new(db: Database, queue: Arc<dyn JobQueue>) -> Self {
        OutboxRelay {
            db,
            queue,
            wake: Arc::new(Notify::new()),
            token: uuid::Uuid::new_v4().to_string(),
            fair: None,
            held: false,
        }
    }

    /// Publishes the messages of `queue` that carry a fair key (the `video` messages) by fair
    /// share: one at a time, fairest first, while fewer than `max_waiting` (at least 1) wait in
    /// the broker. See the module documentation.
    #[must_use]
    pub fn with_fair_share(mut self, queue: &str, max_waiting: u64) -> Self {
        self.fair = Some(FairShare {
            queue: queue.to_owned(),
            max_waiting: max_waiting.max(1),
        });
        self
    }

    /// `queue` wrapped so that announcing a message written in a transaction
    /// (`notify_published`) wakes this relay. Services get this wrapper instead of the bare
    /// queue.
    pub fn waking(&self, queue: Arc<dyn JobQueue>) -> Arc<dyn JobQueue> {
        Arc::new(WakeRelay {
            inner: queue,
            wake: self.wake.clone(),
        })
    }

    /// Publishes what is in the outbox now; returns how many rows were published. Stops at the
    /// first publish that fails (the row is released for the next round) and returns its error.
    pub async fn publish_pending(&self) -> Result<usize, QueueError> {
        Ok(self.publish_all().await? + self.publish_fair().await?.0)
    }

    /// Publishes every row that is not held for fair share.
    async fn publish_all(&self) -> Result<usize, QueueError> {
        let mut published = 0;
        let fair_queue = self.fair.as_ref().map(|f| f.queue.as_str());
        loop {
            let rows = self
                .db
                .claim_outbox(BATCH, &self.token, claim_ms(), fair_queue)
                .await?;
            if rows.is_empty() {
                return Ok(published);
            }
            for (i, row) in rows.iter().enumerate() {
                if let Err(e) = self
                    .queue
                    .publish(&row.queue, &row.message_id, &row.payload)
                    .await
                {
                    // Hand this row and the rest of the batch back for the next round.
                    for r in &rows[i..] {
                        let _ = self.db.release_outbox(&r.id, &self.token).await;
                    }
                    return Err(e);
                }
                // Published: a failed delete only means the message is published again later.
                if let Err(e) = self.db.delete_outbox(&row.id).await {
                    tracing::warn!(id = %row.id, error = %e, "published outbox row not deleted");
                }
                published += 1;
            }
            metrics::counter!("outbox_published_total").increment(rows.len() as u64);
        }
    }

    /// Publishes fair-share rows one at a time while the broker has room; returns how many, and
    /// whether some are still held back.
    async fn publish_fair(&self) -> Result<(usize, bool), QueueError> {
        let Some(fair) = &self.fair else {
            return Ok((0, false));
        };
        let mut published = 0;
        loop {
            if self.queue.waiting(&fair.queue).await? >= fair.max_waiting {
                // Held back: whether anything is left decides how soon to look again.
                let left = self.db.outbox_len().await? > 0;
                return Ok((published, left));
            }
            let Some(row) = self
                .db
                .claim_fair_outbox(&fair.queue, &self.token, claim_ms())
                .await?
            else {
                return Ok((published, false));
            };
            if let Err(e) = self
                .queue
                .publish(&row.queue, &row.message_id, &row.payload)
                .await
            {
                let _ = self.db.release_outbox(&row.id, &self.token).await;
                return Err(e);
            }
            if let Err(e) = self.db.delete_outbox(&row.id).await {
                tracing::warn!(id = %row.id, error = %e, "published outbox row not deleted");
            }
            metrics::counter!("outbox_published_total").increment(1);
            published += 1;
        }
    }

    /// This relay as a background [`Worker`]: publishes whenever woken and at least every
    /// second, backing off while the broker or the database is unreachable.
    pub fn into_worker(self) -> Box<dyn Worker> {
        Box::new(self)
    }

    /// Runs [`into_worker`](Self::into_worker) until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        run_worker(self.into_worker(), stop).await;
    }
}

#[async_trait]
impl Worker for OutboxRelay {
    fn name(&self) -> &'static str {
        "outbox relay"
    }

    async fn work(&mut self, _stop: &CancellationToken) -> Result<WorkState, BoxError> {
        self.held = false;
        self.publish_all().await?;
        self.held = self.publish_fair().await?.1;
        Ok(WorkState::Idle)
    }

    async fn wait_for_work(&mut self) {
        let pause = if self.held { HELD_POLL } else { SWEEP };
        tokio::select! {
            () = self.wake.notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }

    fn error_pause(&self) -> (Duration, Duration) {
        (MIN_BACKOFF, MAX_BACKOFF)
    }
}

fn claim_ms() -> i64 {
    i64::try_from(CLAIM.as_millis()).unwrap_or(i64::MAX)
}

/// A queue whose `notify_published` wakes the outbox relay; everything else goes to the inner
/// queue.
#[derive(Debug)]
struct WakeRelay {
    inner: Arc<dyn JobQueue>,
    wake: Arc<Notify>,
}

#[async_trait]
impl JobQueue for WakeRelay {
    async fn publish(
        &self,
        queue: &str,
        message_id: &str,
        payload: &str,
    ) -> Result<(), QueueError> {
        self.inner.publish(queue, message_id, payload).await
    }

    async fn receive(&self, queue: &str, lease: Duration) -> Result<Option<Delivery>, QueueError> {
        self.inner.receive(queue, lease).await
    }

    async fn wait_for_message(
        &self,
        queue: &str,
        lease: Duration,
        timeout: Duration,
    ) -> Result<Option<Delivery>, QueueError> {
        self.inner.wait_for_message(queue, lease, timeout).await
    }

    fn notify_published(&self, queue: &str) {
        self.wake.notify_one();
        self.inner.notify_published(queue);
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        self.inner.ack(delivery).await
    }

    async fn retry(
        &self,
        delivery: &Delivery,
        delay: Duration,
        error: &str,
    ) -> Result<RetryOutcome, QueueError> {
        self.inner.retry(delivery, delay, error).await
    }

    async fn dead_letter(&self, delivery: &Delivery, error: &str) -> Result<(), QueueError> {
        self.inner.dead_letter(delivery, error).await
    }

    async fn extend_lease(&self, delivery: &Delivery, lease: Duration) -> Result<(), QueueError> {
        self.inner.extend_lease(delivery, lease).await
    }

    async fn depth(&self, queue: &str) -> Result<u64, QueueError> {
        self.inner.depth(queue).await
    }

    async fn waiting(&self, queue: &str) -> Result<u64, QueueError> {
        self.inner.waiting(queue).await
    }

    async fn dead_count(&self, queue: &str) -> Result<u64, QueueError> {
        self.inner.dead_count(queue).await
    }

    async fn health_check(&self) -> Result<(), QueueError> {
        self.inner.health_check().await
    }
}
