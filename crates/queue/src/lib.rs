//! The `JobQueue` port of mp3converter and its database adapter.
//!
//! Services take an `Arc<dyn JobQueue>`; config builds the adapter. [`DatabaseQueue`] keeps
//! messages in the database (the single-node default); a RabbitMQ adapter implements the same
//! trait and must pass the same [`conformance`] suite.

#![forbid(unsafe_code)]

mod backoff;
mod consumer;
mod database;
mod db_events;
mod error;
mod events;
mod port;
mod relay;
mod tuning;
mod wake;
mod worker;

#[doc(hidden)]
pub mod conformance;

pub use backoff::{Backoff, RETRY_SCHEDULE, retry_delay};
pub use consumer::{Consumer, DEFAULT_SHUTDOWN_GRACE, Handler, WAIT, run_pending};
pub use database::{DEFAULT_MAX_ATTEMPTS, DatabaseQueue};
pub use db_events::DatabaseEvents;
pub use error::{BoxError, QueueError};
pub use events::{EventBus, InProcessEvents};
pub use port::{Delivery, JobQueue, RetryOutcome};
pub use relay::OutboxRelay;
pub use tuning::{Tunable, Tuning};
pub use wake::wake_on_commit;
pub use worker::{WorkState, Worker, run_worker};
