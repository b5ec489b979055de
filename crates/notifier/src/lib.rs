//! The notifier worker: takes `mp3` messages and emails each job's owner once — "your MP3 is
//! ready" with download links, or "your conversion failed" with the reason.
//!
//! * The job row decides what the email says and whether one was already sent
//!   (`notified_at`), so a redelivered message never sends a second email.
//! * A message is acked only after its email was sent and recorded. Transient mail errors are
//!   retried with backoff; permanent ones dead-letter the message (the job keeps its state).
//! * Metric: `notifications_total{result="done"|"failed"|"dead"}`.

#![forbid(unsafe_code)]

mod config;
mod email;
mod handle;
mod worker;

pub use config::{NotifierConfig, REFERENCE_TOML};
pub use email::notification_email;
pub use mp3converter_queue::Tunable;
pub use worker::{DEFAULT_LEASE, DEFAULT_SHUTDOWN_GRACE, Notifier, NotifierDeps};
