//! `RabbitQueue`: the [`JobQueue`] port on RabbitMQ. See the crate docs and `docs/rabbitmq.md`
//! for the topology; the moves of a message between queues are in `republish`.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lapin::options::BasicGetOptions;
use mp3converter_queue::{Backoff, Delivery, JobQueue, QueueError, RetryOutcome};
use tokio::time::Instant;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::connection::Link;
use crate::consumer_channels::{ConsumerChannels, Feed, OnRedelivered};
use crate::leases::Leases;
use crate::message::{Incoming, new_message};
use crate::topology::{Topology, queue_name, retry_queue, tier_for};
use crate::{RabbitError, RabbitSettings, default_reconnect_backoff};

/// A [`JobQueue`] on RabbitMQ. Clones share one connection.
#[derive(Debug, Clone)]
pub struct RabbitQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub link: Link,
    pub settings: RabbitSettings,
    pub topology: Topology,
    pub leases: Leases,
    pub inlets: ConsumerChannels,
    _stop: DropGuard,
}

impl RabbitQueue {
    /// Connects to the broker of `settings`, reconnecting with [`default_reconnect_backoff`].
    /// Waits for the first connection attempt only: when the broker is down the queue is
    /// returned anyway, keeps reconnecting in the background, answers calls with retryable
    /// errors and fails its health check until it is up. Fails only on invalid settings.
    pub async fn connect(settings: RabbitSettings) -> Result<RabbitQueue, RabbitError> {
        Self::connect_with_backoff(settings, default_reconnect_backoff()).await
    }

    /// Like [`connect`](Self::connect), with the delay before each reconnection attempt.
    pub async fn connect_with_backoff(
        mut settings: RabbitSettings,
        backoff: Backoff,
    ) -> Result<RabbitQueue, RabbitError> {
        settings.max_attempts = settings.max_attempts.max(1);
        settings.prefetch = settings.prefetch.max(1);
        let stop = CancellationToken::new();
        let link = Link::start(&settings, backoff, "queue", stop.clone()).await?;
        Ok(RabbitQueue {
            inner: Arc::new(Inner {
                link,
                topology: Topology::new(settings.queue_type),
                settings,
                leases: Leases::default(),
                inlets: ConsumerChannels::default(),
                _stop: stop.drop_guard(),
            }),
        })
    }

    /// Deletes every queue this handle declared, with their dead letters and retry queues,
    /// messages included (tests clean up with it). Returns how many queues went.
    pub async fn delete_declared_queues(&self) -> Result<usize, QueueError> {
        let session = self.inner.link.session()?;
        Ok(self.inner.topology.delete_all(&session).await?)
    }
}

impl Inner {
    /// `receive` itself; run as its own task so a caller that gives up cannot strand a message
    /// taken from the broker.
    async fn receive_now(
        self: Arc<Self>,
        queue: String,
        lease: Duration,
    ) -> Result<Option<Delivery>, RabbitError> {
        self.expire_due(&queue).await;
        let session = self.link.session()?;
        self.topology.ensure(&session, &queue).await?;
        let inlet = self.inlets.get(&session, &queue).await?;
        if let Some(incoming) = inlet.try_take() {
            return Ok(Some(self.lease(incoming, lease)));
        }
        loop {
            let got = session
                .timed(
                    "basic.get",
                    inlet
                        .channel
                        .basic_get(queue_name(&queue)?, BasicGetOptions { no_ack: false }),
                )
                .await;
            let got = match got {
                Ok(got) => got,
                Err(e) => {
                    if e.is_not_found() {
                        self.topology.forget(&queue);
                    }
                    return Err(e);
                }
            };
            let Some(message) = got else { return Ok(None) };
            let incoming = Incoming::new(
                &queue,
                inlet.channel.id(),
                message.delivery,
                self.settings.max_attempts,
            );
            if incoming.redelivered {
                self.restamp(incoming).await;
                continue;
            }
            return Ok(Some(self.lease(incoming, lease)));
        }
    }

    /// The consumer of `queue`, started if needed.
    async fn feed(self: Arc<Self>, queue: String) -> Result<Arc<Feed>, RabbitError> {
        let session = self.link.session()?;
        self.topology.ensure(&session, &queue).await?;
        let inlet = self.inlets.get(&session, &queue).await?;
        let weak = Arc::downgrade(&self);
        let on_redelivered: OnRedelivered = Arc::new(move |incoming| {
            let weak = weak.clone();
            Box::pin(async move {
                if let Some(inner) = weak.upgrade() {
                    inner.restamp(incoming).await;
                }
            })
        });
        let (prefetch, max) = (self.settings.prefetch, self.settings.max_attempts);
        inlet
            .feed(&session, &queue, prefetch, max, on_redelivered)
            .await
    }
}

/// Runs `task` to completion even if the caller stops waiting.
async fn detached<T: Send + 'static>(
    task: impl Future<Output = Result<T, RabbitError>> + Send + 'static,
) -> Result<T, QueueError> {
    match tokio::spawn(task).await {
        Ok(result) => Ok(result?),
        Err(e) => Err(QueueError::Unavailable(Box::new(e))),
    }
}

#[async_trait]
impl JobQueue for RabbitQueue {
    async fn publish(
        &self,
        queue: &str,
        message_id: &str,
        payload: &str,
    ) -> Result<(), QueueError> {
        let props = new_message(message_id, self.inner.settings.max_attempts)?;
        let session = self.inner.link.session()?;
        self.inner.topology.ensure(&session, queue).await?;
        let sent = self
            .inner
            .publish(&session, queue, payload.as_bytes(), props.clone())
            .await;
        if let Err(RabbitError::Unroutable(_)) = sent {
            // Deleted behind our back: declare it again and try once more.
            self.inner.topology.forget(queue);
            self.inner.topology.ensure(&session, queue).await?;
            self.inner
                .publish(&session, queue, payload.as_bytes(), props)
                .await?;
            return Ok(());
        }
        Ok(sent?)
    }

    async fn receive(&self, queue: &str, lease: Duration) -> Result<Option<Delivery>, QueueError> {
        detached(self.inner.clone().receive_now(queue.to_owned(), lease)).await
    }

    async fn wait_for_message(
        &self,
        queue: &str,
        lease: Duration,
        timeout: Duration,
    ) -> Result<Option<Delivery>, QueueError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(d) = self.receive(queue, lease).await? {
                return Ok(Some(d));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            let feed = detached(self.inner.clone().feed(queue.to_owned())).await?;
            tokio::select! {
                got = feed.recv() => {
                    // `None`: the consumer ended (queue deleted, channel closed); go round.
                    if let Some(incoming) = got {
                        return Ok(Some(self.inner.lease(incoming, lease)));
                    }
                }
                () = tokio::time::sleep_until(deadline) => return Ok(None),
            }
        }
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), QueueError> {
        let Some(incoming) = self.inner.leases.take(&delivery.receipt) else {
            tracing::debug!(message_id = %delivery.message_id, "ack of a lost lease ignored");
            return Ok(());
        };
        let acked = self.inner.ack(&incoming).await?;
        if !acked {
            tracing::debug!(message_id = %delivery.message_id, "ack after the channel closed: the broker redelivers");
        }
        Ok(())
    }

    async fn retry(
        &self,
        delivery: &Delivery,
        delay: Duration,
        error: &str,
    ) -> Result<RetryOutcome, QueueError> {
        let Some(incoming) = self.inner.leases.take(&delivery.receipt) else {
            return Ok(RetryOutcome::LeaseLost);
        };
        if !incoming.acker.usable() {
            return Ok(RetryOutcome::LeaseLost);
        }
        if incoming.attempt >= incoming.max_attempts {
            self.inner.bury(incoming, error).await?;
            return Ok(RetryOutcome::DeadLettered);
        }
        let target = match tier_for(delay) {
            Some(tier) => retry_queue(&incoming.queue, tier),
            None => incoming.queue.clone(),
        };
        let props = incoming.copy_properties(incoming.attempt + 1, Some(error));
        self.inner.move_to(incoming, &target, props).await?;
        Ok(RetryOutcome::Scheduled)
    }

    async fn dead_letter(&self, delivery: &Delivery, error: &str) -> Result<(), QueueError> {
        match self.inner.leases.take(&delivery.receipt) {
            Some(incoming) if incoming.acker.usable() => {
                Ok(self.inner.bury(incoming, error).await?)
            }
            _ => {
                tracing::debug!(message_id = %delivery.message_id, "dead-letter of a lost lease ignored");
                Ok(())
            }
        }
    }

    async fn extend_lease(&self, delivery: &Delivery, lease: Duration) -> Result<(), QueueError> {
        if self.inner.leases.extend(&delivery.receipt, lease) {
            Ok(())
        } else {
            Err(QueueError::LeaseLost(delivery.message_id.clone()))
        }
    }

    async fn depth(&self, queue: &str) -> Result<u64, QueueError> {
        self.inner.expire_due(queue).await;
        let session = self.inner.link.session()?;
        let counts = self.inner.topology.counts(&session, queue).await?;
        let held = self.inner.leases.count(queue) + self.inner.inlets.buffered(queue).await;
        Ok(counts.waiting + held)
    }

    async fn waiting(&self, queue: &str) -> Result<u64, QueueError> {
        let session = self.inner.link.session()?;
        let counts = self.inner.topology.counts(&session, queue).await?;
        Ok(counts.waiting + self.inner.inlets.buffered(queue).await)
    }

    async fn dead_count(&self, queue: &str) -> Result<u64, QueueError> {
        self.inner.expire_due(queue).await;
        let session = self.inner.link.session()?;
        Ok(self.inner.topology.counts(&session, queue).await?.dead)
    }

    async fn health_check(&self) -> Result<(), QueueError> {
        Ok(self.inner.link.health()?)
    }
}
