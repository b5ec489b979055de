//! Settling a delivery once its job was handled: ack; fail the job for good (with its failure
//! message, in one transaction); retry with backoff and give up after the last attempt; or hand
//! the message back on shutdown.

use std::time::Duration;

use mp3converter_core::{FailureReason, JobId, VideoUploaded};
use mp3converter_db::{DbError, Transition};
use mp3converter_queue::{Delivery, RetryOutcome};

use crate::error::{JobError, error_chain, gave_up};
use crate::job::Handled;
use crate::{Converter, stats};

impl Converter {
    pub(crate) async fn settle(
        &self,
        delivery: &Delivery,
        msg: &VideoUploaded,
        result: Result<Handled, JobError>,
    ) {
        match result {
            Ok(Handled::UnknownJob) => {
                let why = "no job has this id (deleted, or never created)";
                if let Err(e) = self.deps.queue.dead_letter(delivery, why).await {
                    tracing::warn!(error = %e, "dead-lettering failed; the message will come back");
                }
            }
            Ok(Handled::Converted | Handled::Planned | Handled::Skipped) => {
                self.ack(delivery).await
            }
            Err(JobError::Abort(reason)) => self.fail(delivery, msg, &reason).await,
            Err(JobError::Retry { reason, detail }) => {
                self.retry(delivery, msg, &reason, &detail).await;
            }
            Err(JobError::ShuttingDown) => self.hand_back(delivery, msg).await,
            Err(JobError::LeaseLost) => {
                tracing::info!("another converter holds the message now; leaving the job to it");
            }
        }
    }

    async fn ack(&self, delivery: &Delivery) {
        if let Err(e) = self.deps.queue.ack(delivery).await {
            // Redelivered later, it finds the job finished and is acked then.
            tracing::warn!(error = %e, "ack failed");
        }
    }

    /// A permanent failure: the job fails with `reason`, no retry.
    async fn fail(&self, delivery: &Delivery, msg: &VideoUploaded, reason: &FailureReason) {
        match self.record_failure(msg, reason, "failed").await {
            Ok(()) => self.ack(delivery).await,
            Err(e) => {
                let detail = error_chain(&e);
                self.retry(delivery, msg, "the database could not be reached", &detail)
                    .await;
            }
        }
    }

    /// `-> failed` with the failure `mp3` message in one transaction. A job that is already
    /// finished or gone is left alone.
    async fn record_failure(
        &self,
        msg: &VideoUploaded,
        reason: &FailureReason,
        result: &'static str,
    ) -> Result<(), DbError> {
        match self
            .deps
            .db
            .fail_job_and_enqueue_mp3(msg, reason, &self.deps.mp3_queue)
            .await
        {
            Ok(Transition::Applied) => {
                tracing::info!(code = %reason.code, reason = %reason.message, "the job failed");
                self.publish_event(&msg.job_id).await;
                stats::finished(result);
                Ok(())
            }
            Ok(other) => {
                tracing::info!(?other, "the job was already finished; not failing it");
                Ok(())
            }
            Err(DbError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A transient failure: deliver the message again after the backoff; after its last
    /// attempt the job fails with `gave-up`.
    async fn retry(&self, delivery: &Delivery, msg: &VideoUploaded, reason: &str, detail: &str) {
        let last = delivery.is_last_attempt();
        tracing::warn!(
            attempt = delivery.attempt,
            max_attempts = delivery.max_attempts,
            error = detail,
            "conversion failed transiently"
        );
        // A chunk task failing leaves the job converting: its other chunks carry on.
        if !last && msg.task.is_none() {
            self.requeue(&msg.job_id).await;
        }
        let delay = self.tuning.retry_delay(delivery.attempt);
        match self.deps.queue.retry(delivery, delay, detail).await {
            Ok(RetryOutcome::Scheduled) => tracing::info!(?delay, "retry scheduled"),
            Ok(RetryOutcome::DeadLettered) => self.give_up(delivery, msg, reason).await,
            Ok(RetryOutcome::LeaseLost) => {
                tracing::info!("another converter holds the message now");
            }
            Err(e) => {
                tracing::warn!(error = %e, "handing the message back failed; its lease will run out");
                if last {
                    self.give_up(delivery, msg, reason).await;
                }
            }
        }
    }

    async fn give_up(&self, delivery: &Delivery, msg: &VideoUploaded, reason: &str) {
        let failure = gave_up(delivery.attempt, reason);
        if let Err(e) = self.record_failure(msg, &failure, "gave_up").await {
            tracing::error!(
                error = %error_chain(&e),
                "giving up, but the job could not be marked failed; its message is dead-lettered"
            );
        }
    }

    /// Shutdown cancelled the job: mark it queued again and return its message at once. On
    /// its last attempt a retry would dead-letter it, so a fresh copy is published instead
    /// (shutting down is not the message's fault).
    async fn hand_back(&self, delivery: &Delivery, msg: &VideoUploaded) {
        const WHY: &str = "handed back: the converter was shut down";
        if msg.task.is_none() {
            self.requeue(&msg.job_id).await;
        }
        let queue = &self.deps.queue;
        let result = if delivery.is_last_attempt() {
            match queue
                .publish(&delivery.queue, &delivery.message_id, &delivery.payload)
                .await
            {
                Ok(()) => queue.ack(delivery).await,
                Err(e) => Err(e),
            }
        } else {
            queue.retry(delivery, Duration::ZERO, WHY).await.map(|_| ())
        };
        match result {
            Ok(()) => tracing::info!("shutting down: the job was handed back"),
            Err(e) => {
                tracing::warn!(error = %e, "handing back failed; the message returns when its lease runs out");
            }
        }
    }

    /// `converting -> queued`, so the job does not look worked on while it waits.
    async fn requeue(&self, id: &JobId) {
        match self.deps.db.mark_requeued(id).await {
            Ok(true) => self.publish_event(id).await,
            Ok(false) => {}
            Err(e) => tracing::debug!(error = %e, "could not mark the job queued again"),
        }
    }
}
