//! The RabbitMQ adapters of mp3converter: [`RabbitQueue`] implements the
//! [`JobQueue`](mp3converter_queue::JobQueue) port and [`RabbitEvents`] the
//! [`EventBus`](mp3converter_queue::EventBus) port, both configured by [`RabbitSettings`].
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use mp3converter_queue::{EventBus, JobQueue};
//! use mp3converter_queue_rabbitmq::{QueueType, RabbitEvents, RabbitQueue, RabbitSettings};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = RabbitSettings {
//!     queue_type: QueueType::Classic, // the broker already has classic `video`/`mp3` queues
//!     prefetch: 2,                    // = the converter's concurrency
//!     ..RabbitSettings::new("amqp://guest:guest@rabbitmq:5672/%2f")
//! };
//! // Neither fails when the broker is down: they reconnect in the background and report it
//! // through `health_check` (for `/readyz`) and retryable errors.
//! let queue: Arc<dyn JobQueue> = Arc::new(RabbitQueue::connect(settings.clone()).await?);
//! let events: Arc<dyn EventBus> = Arc::new(RabbitEvents::connect(&settings).await?);
//!
//! queue.publish("video", "job-1", r#"{"job_id":"job-1"}"#).await?;
//! if let Some(d) = queue.wait_for_message("video", Duration::from_secs(60), Duration::from_secs(5)).await? {
//!     queue.ack(&d).await?;
//! }
//! let _live = events.subscribe();
//! # Ok(()) }
//! ```
//!
//! What the adapter declares and how messages move (see `docs/rabbitmq.md`):
//!
//! * Per queue name `N`, on first use: `N`, `N.dead` and `N.retry.{1s,5s,30s,2m,10m,1h}`, all
//!   durable, `x-queue-type: quorum` (or classic: no type argument). The type must match
//!   queues that already exist, or declaring fails ([`RabbitError::QueueMismatch`]).
//! * Messages are persistent, published with `mandatory` and publisher confirms, `message_id`
//!   = the given id, headers `x-attempt` (the delivery number) and `x-max-attempts`.
//! * Leases are emulated: a delivery not acked, retried or extended in time is republished with
//!   the next attempt and the original acked; its stale receipt then changes nothing. A
//!   redelivery by the broker (a consumer's connection died) is re-stamped the same way.
//! * `retry` publishes the next attempt to the retry queue of the delay's tier, which
//!   dead-letters it back to `N` when its TTL ends; the last attempt goes to `N.dead`.
//! * `depth` counts ready and delayed messages at the broker plus the ones this process holds;
//!   messages leased by other processes are invisible over AMQP 0-9-1.

#![forbid(unsafe_code)]

mod connection;
mod consumer_channels;
mod error;
mod events;
mod leases;
mod message;
mod queue;
mod republish;
mod settings;
mod topology;

pub use error::RabbitError;
pub use events::RabbitEvents;
pub use message::{ATTEMPT, DEAD_FROM, LAST_ERROR, MAX_ATTEMPTS};
pub use queue::RabbitQueue;
pub use settings::{
    DEFAULT_EVENTS_EXCHANGE, DEFAULT_URL, QueueType, RabbitSettings, default_reconnect_backoff,
};
pub use topology::{RETRY_TIERS, dead_queue, retry_queue};
