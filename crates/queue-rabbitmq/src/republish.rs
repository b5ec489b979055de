//! How a held message leaves its consumer: published (with a confirm) where it goes next — back
//! to its queue, to a retry queue, or to the dead letters — and only then acked. A crash in
//! between leaves a duplicate, never a loss. When the move fails the message is handed back to
//! the broker (`nack` with requeue), which delivers it again as a redelivery.
//!
//! Redeliveries (a consumer or its connection went away before acking) are re-stamped the same
//! way with the next attempt number before anyone sees them, so a message that keeps killing
//! its consumers still ends in the dead letters.

use std::sync::{Arc, Weak};
use std::time::Duration;

use lapin::options::{BasicAckOptions, BasicNackOptions, BasicPublishOptions};
use lapin::{BasicProperties, Confirmation};
use tokio::sync::Notify;

use mp3converter_queue::Delivery;

use crate::RabbitError;
use crate::connection::Session;
use crate::message::Incoming;
use crate::queue::Inner;
use crate::topology::{dead_queue, queue_name};

/// A redelivery that could not be re-stamped goes back to the broker after this pause, so a
/// failing broker is not asked again in a tight loop.
const REQUEUE_PAUSE: Duration = Duration::from_secs(1);
const REQUEUE: BasicNackOptions = BasicNackOptions {
    multiple: false,
    requeue: true,
};

impl Inner {
    /// Hands `incoming` to a consumer under a new receipt, with a timer that hands it back
    /// when the lease runs out.
    pub(crate) fn lease(self: &Arc<Self>, incoming: Incoming, lease: Duration) -> Delivery {
        let receipt = uuid::Uuid::new_v4().simple().to_string();
        let delivery = Delivery {
            queue: incoming.queue.clone(),
            id: incoming.tag.clone(),
            message_id: incoming.message_id.clone(),
            payload: incoming.payload(),
            attempt: incoming.attempt,
            max_attempts: incoming.max_attempts,
            receipt: receipt.clone(),
        };
        let wake = self.leases.insert(&receipt, incoming, lease);
        tokio::spawn(watch_lease(
            Arc::downgrade(self),
            delivery.queue.clone(),
            receipt,
            wake,
        ));
        delivery
    }

    /// Publishes with `mandatory` and waits for the broker's confirm.
    pub(crate) async fn publish(
        &self,
        session: &Session,
        queue: &str,
        body: &[u8],
        props: BasicProperties,
    ) -> Result<(), RabbitError> {
        let routing_key = queue_name(queue)?;
        let ch = session.publisher().await?;
        let options = BasicPublishOptions {
            mandatory: true,
            immediate: false,
        };
        let confirmation = session
            .timed("basic.publish", async {
                ch.basic_publish("".into(), routing_key, options, body, props)
                    .await?
                    .await
            })
            .await?;
        match confirmation {
            Confirmation::Ack(None) => Ok(()),
            Confirmation::Ack(Some(_returned)) => Err(RabbitError::Unroutable(queue.to_owned())),
            Confirmation::Nack(_) => Err(RabbitError::Nacked(queue.to_owned())),
            Confirmation::NotRequested => Err(RabbitError::Invalid(
                "the publisher channel is not in confirm mode".into(),
            )),
        }
    }

    /// Acks a held message; false when its channel is gone (the broker redelivers it).
    pub(crate) async fn ack(&self, incoming: &Incoming) -> Result<bool, RabbitError> {
        let limit = self.settings.timeout();
        crate::connection::timed(
            limit,
            "basic.ack",
            incoming.acker.ack(BasicAckOptions::default()),
        )
        .await
    }

    /// Publishes a copy of `incoming` to `target`, then acks the original.
    async fn try_move(
        &self,
        incoming: &Incoming,
        target: &str,
        props: BasicProperties,
    ) -> Result<(), RabbitError> {
        let session = self.link.session()?;
        self.publish(&session, target, &incoming.body, props)
            .await?;
        self.ack(incoming).await?;
        Ok(())
    }

    /// Like `try_move`; on failure the original goes back to the broker at once.
    pub(crate) async fn move_to(
        &self,
        incoming: Incoming,
        target: &str,
        props: BasicProperties,
    ) -> Result<(), RabbitError> {
        let moved = self.try_move(&incoming, target, props).await;
        if let Err(e) = &moved {
            tracing::warn!(queue = %incoming.queue, target, message_id = %incoming.message_id, error = %e, "moving a message failed; handing it back to the broker");
            let _ = incoming.acker.nack(REQUEUE).await;
        }
        moved
    }

    /// Moves `incoming` to its dead letters with `error`.
    pub(crate) async fn bury(&self, incoming: Incoming, error: &str) -> Result<(), RabbitError> {
        tracing::warn!(queue = %incoming.queue, message_id = %incoming.message_id, attempt = incoming.attempt, error, "dead-lettering");
        let props = incoming.dead_properties(error);
        let dead = dead_queue(&incoming.queue);
        self.move_to(incoming, &dead, props).await
    }

    /// A lease ran out: the message goes back to its queue with the next attempt, or to the
    /// dead letters when that was its last.
    pub(crate) async fn hand_back_expired(&self, incoming: Incoming) {
        if !incoming.acker.usable() {
            return; // its channel closed: the broker has it back already
        }
        let attempt = incoming.attempt;
        let handed = if attempt >= incoming.max_attempts {
            let error = format!("lease expired {attempt} times without an ack");
            self.bury(incoming, &error).await
        } else {
            tracing::info!(queue = %incoming.queue, message_id = %incoming.message_id, attempt, "lease expired; redelivering");
            let props = incoming.copy_properties(attempt + 1, Some("lease expired"));
            let queue = incoming.queue.clone();
            self.move_to(incoming, &queue, props).await
        };
        if let Err(e) = handed {
            tracing::debug!(error = %e, "expired lease left to the broker");
        }
    }

    /// The broker redelivered a message whose consumer went away: count that delivery.
    pub(crate) async fn restamp(&self, incoming: Incoming) {
        let attempt = incoming.attempt;
        let (target, props) = if attempt >= incoming.max_attempts {
            let error = format!("delivered {attempt} times; its consumer went away each time");
            tracing::warn!(queue = %incoming.queue, message_id = %incoming.message_id, error, "dead-lettering");
            (
                dead_queue(&incoming.queue),
                incoming.dead_properties(&error),
            )
        } else {
            let props = incoming.copy_properties(attempt + 1, Some("consumer went away"));
            (incoming.queue.clone(), props)
        };
        if let Err(e) = self.try_move(&incoming, &target, props).await {
            tracing::debug!(target, error = %e, "re-stamping a redelivery failed");
            tokio::spawn(async move {
                tokio::time::sleep(REQUEUE_PAUSE).await;
                let _ = incoming.acker.nack(REQUEUE).await;
            });
        }
    }

    /// Hands back every expired lease of `queue` now, and waits for hand-backs under way, so
    /// what the caller reads next reflects them.
    pub(crate) async fn expire_due(&self, queue: &str) {
        let lock = self.leases.expiry_lock(queue);
        let _held = lock.lock().await;
        for incoming in self.leases.take_expired_of(queue) {
            self.hand_back_expired(incoming).await;
        }
    }
}

/// The timer of one lease: hands the message back once the deadline passes, unless the lease
/// ended (ack, retry, dead-letter) or moved (extend) first.
pub(crate) async fn watch_lease(
    inner: Weak<Inner>,
    queue: String,
    receipt: String,
    wake: Arc<Notify>,
) {
    loop {
        let Some(deadline) = inner.upgrade().and_then(|i| i.leases.deadline(&receipt)) else {
            return;
        };
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => {}
            () = wake.notified() => continue,
        }
        let Some(inner) = inner.upgrade() else { return };
        let lock = inner.leases.expiry_lock(&queue);
        let _held = lock.lock().await;
        if let Some(incoming) = inner.leases.take_if_expired(&receipt) {
            inner.hand_back_expired(incoming).await;
            return;
        }
    }
}
