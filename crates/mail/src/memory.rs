//! In-memory adapter: records sent emails so tests can assert on them.

use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use lettre::message::Mailbox;

use crate::{Email, MailError, Mailer, message};

/// Records every email it is asked to send. Clones share the same record.
///
/// Emails are validated exactly like the real adapters do, so a test using this mailer fails
/// on an email that SMTP would refuse.
#[derive(Debug, Clone)]
pub struct MemoryMailer {
    from: Mailbox,
    sent: Arc<Mutex<Vec<Email>>>,
}

impl MemoryMailer {
    /// A mailer sending as `from`.
    pub fn new(from: &str) -> Result<Self, MailError> {
        Ok(Self {
            from: message::parse_mailbox(from)?,
            sent: Arc::default(),
        })
    }

    /// The emails sent so far, oldest first.
    pub fn sent(&self) -> Vec<Email> {
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        message::build(&self.from, email)?;
        self.sent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(email.clone());
        Ok(())
    }

    async fn health_check(&self) -> Result<(), MailError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn records_valid_emails_in_order_and_refuses_invalid_ones() {
        let mailer = MemoryMailer::new("noreply@example.com").unwrap();
        let handle = mailer.clone();
        let first = crate::test_email("a@example.com");
        let second = crate::test_email("b@example.com");
        mailer.send(&first).await.unwrap();
        mailer.send(&second).await.unwrap();
        let bad = crate::test_email("nobody");
        assert!(mailer.send(&bad).await.is_err());
        assert_eq!(handle.sent(), vec![first, second]);
    }
}
