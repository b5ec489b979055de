//! Handling one `mp3` message: email the job's owner once, record it, then ack. Nothing is
//! acked before the email is sent; a job already notified is acked without a second email.

use std::time::Duration;

use mp3converter_core::{AudioReady, JobId, JobState, error_chain};
use mp3converter_db::DbError;
use mp3converter_queue::{Delivery, RetryOutcome};
use tracing::Instrument;

use crate::{Notifier, notification_email};

/// Pauses between attempts to record a sent email (so a database blip does not cause a
/// second email through a redelivery).
const RECORD_PAUSES: [Duration; 3] = [
    Duration::ZERO,
    Duration::from_millis(200),
    Duration::from_secs(1),
];

/// Why a message was not finished.
enum NotifyError {
    /// Worth trying again later (mail server or database unreachable).
    Retry(String),
    /// Will never work (the mail server refused the message or address).
    Abort(String),
}

impl From<DbError> for NotifyError {
    fn from(e: DbError) -> Self {
        if e.is_retryable() {
            NotifyError::Retry(format!("database: {e}"))
        } else {
            NotifyError::Abort(format!("database: {e}"))
        }
    }
}

impl Notifier {
    pub(crate) async fn handle_delivery(&self, delivery: Delivery) {
        let ready: AudioReady = match serde_json::from_str(&delivery.payload) {
            Ok(ready) => ready,
            Err(e) => {
                tracing::error!(message_id = %delivery.message_id, error = %e, "unreadable mp3 message, dead-lettering it");
                self.dead_letter(&delivery, &format!("unreadable message: {e}"))
                    .await;
                return;
            }
        };
        let span =
            tracing::info_span!("notify", job_id = %ready.job_id, attempt = delivery.attempt);
        async {
            match self.notify(&ready.job_id).await {
                Ok(()) => {
                    if let Err(e) = self.deps.queue.ack(&delivery).await {
                        tracing::warn!(error = %e, "ack failed; the redelivery will find the job notified");
                    }
                }
                Err(NotifyError::Retry(why)) => self.retry(&delivery, &why).await,
                Err(NotifyError::Abort(why)) => {
                    tracing::error!(error = %why, "the notification cannot be sent; dead-lettering it");
                    metrics::counter!("notifications_total", "result" => "dead").increment(1);
                    self.dead_letter(&delivery, &why).await;
                }
            }
        }
        .instrument(span)
        .await;
    }

    /// Sends the job's email unless it was sent before, then records it.
    async fn notify(&self, id: &JobId) -> Result<(), NotifyError> {
        let db = &self.deps.db;
        let Some(job) = db.get_job(id).await? else {
            tracing::info!("the job no longer exists; nobody to tell");
            return Ok(());
        };
        if job.notified_at.is_some() {
            tracing::info!("the owner was already notified; not sending again");
            return Ok(());
        }
        let Some(email) = notification_email(&job, &self.deps.public_url) else {
            tracing::warn!(state = %job.state, "the job is not done or failed; nothing to tell");
            return Ok(());
        };
        if let Err(e) = self.deps.mailer.send(&email).await {
            let why = format!("mail: {}", error_chain(&e));
            return Err(if e.is_retryable() {
                NotifyError::Retry(why)
            } else {
                NotifyError::Abort(why)
            });
        }
        let kind = if job.state == JobState::Done {
            "done"
        } else {
            "failed"
        };
        metrics::counter!("notifications_total", "result" => kind).increment(1);
        tracing::info!(to = %job.owner_email, kind, "notification sent");
        self.record_sent(id).await
    }

    /// `record_notification` + `mark_notified`, with a few quick retries: the email is out, and
    /// a redelivery would send it again.
    async fn record_sent(&self, id: &JobId) -> Result<(), NotifyError> {
        let mut last = None;
        for pause in RECORD_PAUSES {
            tokio::time::sleep(pause).await;
            let recorded = async {
                if !self.deps.db.record_notification(id).await? {
                    tracing::warn!("a notification was already recorded: a duplicate was sent");
                }
                self.deps.db.mark_notified(id).await
            };
            match recorded.await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_retryable() => last = Some(e),
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.map_or_else(|| NotifyError::Retry("database".into()), NotifyError::from))
    }

    async fn retry(&self, delivery: &Delivery, why: &str) {
        let delay = self.tuning.retry_delay(delivery.attempt);
        tracing::warn!(
            attempt = delivery.attempt,
            max_attempts = delivery.max_attempts,
            error = why,
            ?delay,
            "notification failed transiently"
        );
        match self.deps.queue.retry(delivery, delay, why).await {
            Ok(RetryOutcome::Scheduled) => {}
            Ok(RetryOutcome::DeadLettered) => {
                metrics::counter!("notifications_total", "result" => "dead").increment(1);
                tracing::error!(
                    error = why,
                    "giving up on the notification after its last attempt; the job keeps its state"
                );
            }
            Ok(RetryOutcome::LeaseLost) => tracing::info!("another notifier holds the message now"),
            Err(e) => {
                tracing::warn!(error = %e, "handing the message back failed; its lease will run out")
            }
        }
    }

    async fn dead_letter(&self, delivery: &Delivery, why: &str) {
        if let Err(e) = self.deps.queue.dead_letter(delivery, why).await {
            tracing::warn!(error = %e, "dead-lettering failed; the message will come back");
        }
    }
}
