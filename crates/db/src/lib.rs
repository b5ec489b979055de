//! sqlx repositories of mp3converter on SQLite (embedded default), MySQL/MariaDB and PostgreSQL.
//!
//! One [`Database`] (a pool chosen by URL) with the repositories as methods: users, jobs and
//! their guarded state changes, the transactional outbox, the database queue's table, the
//! notifier's dedup record and the retention janitor's queries. Timestamps are unix
//! milliseconds, ids UUID strings, booleans 0/1. [`conformance`] holds the repository test
//! suite that runs against every engine.

#![forbid(unsafe_code)]

mod database;
mod engine;
mod enqueue;
mod error;
mod imports;
mod jobs;
mod migrations;
mod notifications;
mod outbound;
mod queue_table;
mod requeue;
mod retention;
mod route;
mod row;
mod secrets;
mod shares;
mod stats;
mod transitions;
mod uploads;
mod users;

#[doc(hidden)]
pub mod conformance;

pub use database::{Database, PoolSettings};
pub use engine::Engine;
pub use error::DbError;
pub use outbound::{OutboundMessage, OutboxMessage};
pub use queue_table::ClaimedMessage;
pub use retention::RetentionCandidate;
pub use route::{DEFAULT_MAX_ATTEMPTS, MessageRoute, Wake};
pub use shares::Share;
pub use transitions::{AudioOutput, Transition};
pub use uploads::Upload;
pub use users::{User, email_key};
