//! The `JobQueue` port: how services hand work to each other, whatever the backend.
//!
//! # Contract
//!
//! * **At-least-once.** A published message is delivered until it is acked or dead-lettered.
//!   Handlers must be idempotent (the job row decides what is left to do).
//! * **Leases.** `receive` hides the message for `lease`. If the consumer dies (kill -9) the
//!   lease runs out and the message is delivered again with `attempt + 1`. A long job calls
//!   `extend_lease`.
//! * **Stale receipts are harmless.** `ack`, `retry` and `dead_letter` of a delivery whose lease
//!   was taken over by another consumer change nothing (`ack` still returns `Ok`; `retry` says
//!   [`RetryOutcome::LeaseLost`]); `extend_lease` fails with `LeaseLost` so the worker can stop.
//! * **Bounded attempts.** `retry` makes the message invisible for `delay`; once a message has
//!   been delivered `max_attempts` times it goes to the dead letters instead. A message whose
//!   lease runs out `max_attempts` times (a poison message that kills workers) is dead-lettered
//!   on its next claim rather than delivered again.
//! * **No two consumers hold one message at once** while its lease lasts.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;

use crate::QueueError;

/// One delivery of a message to a consumer.
#[derive(Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The queue it came from.
    pub queue: String,
    /// The backend's id for the message.
    pub id: String,
    /// The id given at publish (the job id).
    pub message_id: String,
    /// The JSON body.
    pub payload: String,
    /// 1 on first delivery, +1 on each redelivery.
    pub attempt: u32,
    /// Deliveries allowed before the message is dead-lettered.
    pub max_attempts: u32,
    /// The adapter's handle on this delivery (lease token, delivery tag).
    pub receipt: String,
}

impl Delivery {
    /// True when a failed attempt will not be retried but dead-lettered.
    pub fn is_last_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("queue", &self.queue)
            .field("id", &self.id)
            .field("message_id", &self.message_id)
            .field("attempt", &self.attempt)
            .field("max_attempts", &self.max_attempts)
            .field("payload_len", &self.payload.len())
            .finish_non_exhaustive()
    }
}

/// What `retry` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The message will be delivered again after the delay.
    Scheduled,
    /// That was its last attempt: it is in the dead letters now.
    DeadLettered,
    /// Another consumer holds the message now; nothing changed.
    LeaseLost,
}

/// A durable work queue with leases, delayed retries and dead letters.
#[async_trait]
pub trait JobQueue: Send + Sync + fmt::Debug {
    /// Adds a message to `queue`.
    async fn publish(&self, queue: &str, message_id: &str, payload: &str)
    -> Result<(), QueueError>;

    /// Takes the next visible message of `queue` for `lease`, or `None` right away if there is
    /// none.
    async fn receive(&self, queue: &str, lease: Duration) -> Result<Option<Delivery>, QueueError>;

    /// Like `receive`, but waits up to `timeout` for a message to arrive. The default polls
    /// with a growing backoff; adapters override it when they can be woken.
    async fn wait_for_message(
        &self,
        queue: &str,
        lease: Duration,
        timeout: Duration,
    ) -> Result<Option<Delivery>, QueueError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut backoff = Duration::from_millis(10);
        loop {
            if let Some(d) = self.receive(queue, lease).await? {
                return Ok(Some(d));
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(backoff.min(deadline - now)).await;
            backoff = (backoff * 2).min(Duration::from_millis(500));
        }
    }

    /// A message was written to `queue` other than through `publish` (a job row and its message
    /// in one database transaction): wake this process's consumers waiting on it. The default
    /// does nothing; adapters whose consumers are pushed to need nothing else.
    fn notify_published(&self, _queue: &str) {}

    /// Done with the message: remove it. Harmless if the lease was lost.
    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError>;

    /// Hands the message back to be delivered again after `delay`, or dead-letters it if this
    /// was its last attempt. `error` is kept for operators.
    async fn retry(
        &self,
        delivery: &Delivery,
        delay: Duration,
        error: &str,
    ) -> Result<RetryOutcome, QueueError>;

    /// Moves the message to the dead letters now (a permanent failure). Harmless if the lease
    /// was lost.
    async fn dead_letter(&self, delivery: &Delivery, error: &str) -> Result<(), QueueError>;

    /// Keeps the message hidden for `lease` from now. `LeaseLost` if another consumer has it.
    async fn extend_lease(&self, delivery: &Delivery, lease: Duration) -> Result<(), QueueError>;

    /// Messages in `queue` that are not dead: waiting, delayed or leased.
    async fn depth(&self, queue: &str) -> Result<u64, QueueError>;

    /// Messages in `queue` not yet handed to a worker (waiting or delayed for a retry): what
    /// the outbox relay's fair share keeps short. By default [`JobQueue::depth`].
    async fn waiting(&self, queue: &str) -> Result<u64, QueueError> {
        self.depth(queue).await
    }

    /// Dead-lettered messages of `queue`.
    async fn dead_count(&self, queue: &str) -> Result<u64, QueueError>;

    /// Succeeds when the backend is reachable (for `/readyz`).
    async fn health_check(&self) -> Result<(), QueueError>;
}
