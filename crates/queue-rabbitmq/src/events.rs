//! `RabbitEvents`: the [`EventBus`] across processes. Every process publishes job events to one
//! fanout exchange and reads them from its own exclusive, auto-delete, server-named queue bound
//! to it, into a local broadcast channel. Events are hints: publishing never blocks or fails
//! (an event that cannot be sent is dropped), and after a reconnect the queue is bound anew.
//!
//! A process's own events reach its subscribers directly (also while the broker is down) and
//! are skipped when they come back from the exchange.

use std::sync::Arc;

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString};
use lapin::{BasicProperties, Channel, ExchangeKind};
use mp3converter_core::JobEvent;
use mp3converter_queue::{Backoff, EventBus, QueueError};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::connection::{Link, Session};
use crate::{RabbitError, RabbitSettings, default_reconnect_backoff};

/// Header naming the `RabbitEvents` instance that published an event.
const ORIGIN: &str = "x-origin";
/// Events kept for slow local subscribers, and events waiting to be sent.
const CAPACITY: usize = 1024;

/// An [`EventBus`] over a RabbitMQ fanout exchange. Clones share one connection.
#[derive(Debug, Clone)]
pub struct RabbitEvents {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    local: broadcast::Sender<JobEvent>,
    outbox: mpsc::Sender<JobEvent>,
    link: Link,
    _stop: DropGuard,
}

impl RabbitEvents {
    /// Connects (its own connection) and binds this process's queue; like
    /// `RabbitQueue::connect`, it does not fail when the broker is down but keeps trying.
    pub async fn connect(settings: &RabbitSettings) -> Result<RabbitEvents, RabbitError> {
        Self::connect_with_backoff(settings, default_reconnect_backoff()).await
    }

    /// Like [`connect`](Self::connect), with the delay before each reconnection attempt.
    pub async fn connect_with_backoff(
        settings: &RabbitSettings,
        backoff: Backoff,
    ) -> Result<RabbitEvents, RabbitError> {
        if settings.events_exchange.is_empty() || settings.events_exchange.len() > 255 {
            return Err(RabbitError::Invalid(
                "events_exchange must have 1 to 255 bytes".into(),
            ));
        }
        let stop = CancellationToken::new();
        let link = Link::start(settings, backoff, "events", stop.clone()).await?;
        let local = broadcast::channel(CAPACITY).0;
        let (outbox, outbox_rx) = mpsc::channel(CAPACITY);
        let (bound_tx, mut bound) = watch::channel(false);
        let relay = Relay {
            link: link.clone(),
            exchange: settings.events_exchange.clone(),
            origin: uuid::Uuid::new_v4().simple().to_string(),
            local: local.clone(),
            bound: bound_tx,
        };
        tokio::spawn(relay.run(outbox_rx, stop.clone()));
        if link.session().is_ok() {
            // Events published by others from now on must reach this process.
            let _ = tokio::time::timeout(settings.timeout(), bound.wait_for(|b| *b)).await;
        }
        Ok(RabbitEvents {
            inner: Arc::new(Inner {
                local,
                outbox,
                link,
                _stop: stop.drop_guard(),
            }),
        })
    }

    /// Succeeds while connected to the broker.
    pub async fn health_check(&self) -> Result<(), QueueError> {
        Ok(self.inner.link.health()?)
    }
}

impl EventBus for RabbitEvents {
    fn publish(&self, event: JobEvent) {
        let _ = self.inner.local.send(event.clone());
        if let Err(e) = self.inner.outbox.try_send(event) {
            tracing::debug!(error = %e, "job event not sent to RabbitMQ");
        }
    }

    fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.inner.local.subscribe()
    }
}

/// The background task: binds a queue on each new connection, relays events both ways.
struct Relay {
    link: Link,
    exchange: String,
    origin: String,
    local: broadcast::Sender<JobEvent>,
    bound: watch::Sender<bool>,
}

impl Relay {
    async fn run(self, mut outbox: mpsc::Receiver<JobEvent>, stop: CancellationToken) {
        loop {
            // While there is no connection, events to send are dropped, not saved up.
            let session = loop {
                tokio::select! {
                    () = stop.cancelled() => return,
                    s = self.link.wait_for_session() => match s {
                        Some(s) => break s,
                        None => return,
                    },
                    e = outbox.recv() => match e {
                        Some(_) => tracing::debug!("job event dropped: not connected"),
                        None => return,
                    },
                }
            };
            if let Err(e) = self.serve(&session, &mut outbox, &stop).await {
                tracing::debug!(error = %e, "job event relay interrupted");
                self.bound.send_replace(false);
                // Give the link a moment to notice a dead connection before asking again.
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(std::time::Duration::from_millis(100)) => {}
                }
            }
            if stop.is_cancelled() {
                return;
            }
        }
    }

    /// Relays until the channel fails (`Err`) or the adapter stops (`Ok`).
    async fn serve(
        &self,
        session: &Session,
        outbox: &mut mpsc::Receiver<JobEvent>,
        stop: &CancellationToken,
    ) -> Result<(), RabbitError> {
        let ch = session.open_channel().await?;
        let relayed = self.relay(session, &ch, outbox, stop).await;
        if relayed.is_err() && ch.status().connected() {
            // Drop the queue and consumer of this channel; the next round binds new ones.
            let _ = session
                .timed("channel.close", ch.close(200, "rebinding".into()))
                .await;
        }
        relayed
    }

    async fn relay(
        &self,
        session: &Session,
        ch: &Channel,
        outbox: &mut mpsc::Receiver<JobEvent>,
        stop: &CancellationToken,
    ) -> Result<(), RabbitError> {
        let mut consumer = self.bind(session, ch).await?;
        self.bound.send_replace(true);
        loop {
            tokio::select! {
                () = stop.cancelled() => return Ok(()),
                delivery = consumer.next() => {
                    let delivery = match delivery {
                        Some(Ok(d)) => d,
                        Some(Err(e)) => return Err(RabbitError::amqp("basic.consume")(e)),
                        None => return Err(RabbitError::NotConnected("events consumer cancelled".into())),
                    };
                    let from = delivery.properties.headers().as_ref().and_then(|h| h.inner().get(ORIGIN).cloned());
                    if from == Some(self.origin_value()) {
                        continue;
                    }
                    match serde_json::from_slice::<JobEvent>(&delivery.data) {
                        Ok(event) => { let _ = self.local.send(event); }
                        Err(e) => tracing::debug!(error = %e, "ignoring a malformed job event"),
                    }
                }
                event = outbox.recv() => {
                    let Some(event) = event else { return Ok(()) };
                    self.send(session, ch, &event).await?;
                }
            }
        }
    }

    async fn bind(&self, session: &Session, ch: &Channel) -> Result<lapin::Consumer, RabbitError> {
        let durable = ExchangeDeclareOptions {
            durable: true,
            ..ExchangeDeclareOptions::default()
        };
        let exchange = self.exchange.as_str();
        let declare = ch.exchange_declare(
            exchange.into(),
            ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        );
        session.timed("exchange.declare", declare).await?;
        let private = QueueDeclareOptions::exclusive().auto_delete();
        let queue = session
            .timed(
                "queue.declare",
                ch.queue_declare("".into(), private, FieldTable::default()),
            )
            .await?;
        let name = queue.name().clone();
        let bind = ch.queue_bind(
            name.clone(),
            exchange.into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        );
        session.timed("queue.bind", bind).await?;
        let options = BasicConsumeOptions {
            no_ack: true,
            ..BasicConsumeOptions::default()
        };
        let consume = ch.basic_consume(name, "".into(), options, FieldTable::default());
        session.timed("basic.consume", consume).await
    }

    async fn send(
        &self,
        session: &Session,
        ch: &Channel,
        event: &JobEvent,
    ) -> Result<(), RabbitError> {
        let Ok(body) = serde_json::to_vec(event) else {
            return Ok(());
        };
        let mut headers = FieldTable::default();
        headers.insert(ORIGIN.into(), self.origin_value());
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_headers(headers);
        let publish = ch.basic_publish(
            self.exchange.as_str().into(),
            "".into(),
            BasicPublishOptions::default(),
            &body,
            props,
        );
        // No confirms: the frame is on its way once this returns.
        session
            .timed("basic.publish", async { publish.await.map(drop) })
            .await
    }

    fn origin_value(&self) -> AMQPValue {
        AMQPValue::LongString(LongString::from(self.origin.as_str()))
    }
}
