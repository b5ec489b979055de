//! sqlx repositories of mp3converter on SQLite (embedded default), MySQL/MariaDB and PostgreSQL.
//!
//! One [`Database`] (a pool chosen by URL) with the repositories as methods: users, jobs and
//! their guarded state changes, the transactional outbox, the database queue's table, the
//! notifier's dedup record and the retention janitor's queries. Timestamps are unix
//! milliseconds, ids UUID strings, booleans 0/1. [`conformance`] holds the repository test
//! suite that runs against every engine.

#![forbid(unsafe_code)]

mod api_keys;
mod chunks;
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
mod quotas;
mod requeue;
mod retention;
mod route;
mod row;
mod secrets;
mod shares;
mod sso;
mod stats;
mod transitions;
mod uploads;
mod users;
mod webhook_deliveries;
mod webhooks;

#[doc(hidden)]
pub mod conformance;

pub use api_keys::{ApiKey, ApiKeyGrant};
pub use chunks::{ChunkFinish, ChunkPlanRecord, ChunkRecord, StoredChunk};
pub use database::{Database, PoolSettings};
pub use engine::Engine;
pub use error::DbError;
pub use outbound::{OutboundMessage, OutboxMessage};
pub use queue_table::ClaimedMessage;
pub use quotas::{QuotaOverrides, QuotaUsage, utc_day};
pub use retention::RetentionCandidate;
pub use route::{DEFAULT_MAX_ATTEMPTS, MessageRoute, Wake};
pub use shares::Share;
pub use sso::SsoTicketPurpose;
pub use transitions::{AudioOutput, Transition};
pub use uploads::Upload;
pub use users::{User, email_key};
pub use webhook_deliveries::{ClaimedDelivery, DeliveryNext, WebhookAttempt, WebhookDelivery};
pub use webhooks::{EndpointChanges, WebhookEndpoint};

/// The webhook event of a job that became `done`.
pub const JOB_DONE: &str = "job.done";
/// The webhook event of a job that became `failed`.
pub const JOB_FAILED: &str = "job.failed";
/// Every webhook event type.
pub const WEBHOOK_EVENTS: [&str; 2] = [JOB_DONE, JOB_FAILED];
