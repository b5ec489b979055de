//! Mailer port: sends the "your MP3 is ready" notification emails.
//!
//! Services hold an `Arc<dyn Mailer>` built by [`build`] from a [`MailConfig`]. Adapters:
//! [`smtp`] (lettre over rustls, for real delivery), [`outbox`] (`.eml` files in a folder, the
//! single-node default) and [`memory`] (records emails, for tests).

#![forbid(unsafe_code)]

pub mod config;
#[doc(hidden)]
pub mod conformance;
mod error;
pub mod memory;
mod message;
pub mod outbox;
pub mod smtp;

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

pub use config::{MailBackend, MailConfig, build};
pub use error::MailError;
pub use memory::MemoryMailer;
pub use outbox::OutboxMailer;
pub use smtp::SmtpMailer;

/// The mail port.
///
/// Contract:
/// * `send` delivers one email from the configured sender to `email.to`, or fails with a
///   [`MailError`] whose [`is_retryable`](MailError::is_retryable) says whether to try again.
/// * Invalid emails (bad address, bad message id, reserved or multi-line custom headers) fail
///   the same way, as permanent errors, on every adapter.
/// * `send` does not deduplicate: the caller (the notifier) sends once per job; `message_id`
///   lets receivers and the outbox spot a repeat.
#[async_trait]
pub trait Mailer: fmt::Debug + Send + Sync + 'static {
    /// Sends `email`.
    async fn send(&self, email: &Email) -> Result<(), MailError>;

    /// Checks that mail can be sent (server reachable, outbox writable), for `/readyz`.
    async fn health_check(&self) -> Result<(), MailError>;
}

/// One email to one recipient. The sender comes from the mailer's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    /// Recipient, `jane@example.com` or `Jane Doe <jane@example.com>`.
    pub to: String,
    /// Subject line (any UTF-8; encoded on the wire as needed).
    pub subject: String,
    /// Plain-text body.
    pub text: String,
    /// Optional HTML body, sent as the preferred `multipart/alternative` part.
    pub html: Option<String>,
    /// Globally unique id `left@right` without angle brackets, e.g. `job-<id>@mp3converter`.
    pub message_id: String,
    /// Extra headers such as `X-Job-Id`; the standard headers cannot be overridden.
    pub headers: Vec<(String, String)>,
}

/// A small email to check a mail setup (`mp3converter send-test-email`).
pub fn test_email(to: &str) -> Email {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Email {
        to: to.to_owned(),
        subject: "mp3converter test email ✓".to_owned(),
        text: "If you can read this, mp3converter can send email.\n".to_owned(),
        html: Some("<p>If you can read this, <b>mp3converter</b> can send email.</p>".to_owned()),
        message_id: format!("test-{nanos}@mp3converter"),
        headers: Vec::new(),
    }
}
