//! The consumer channels: per queue name and connection, the channel messages are taken from —
//! by `basic.get` for `receive`, and by a consumer (`basic.consume`, prefetch set by `basic.qos`) whose pushed
//! messages wait in a small local buffer for `wait_for_message`. The prefetch bounds the
//! messages a process holds: leased plus buffered.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;

use crate::RabbitError;
use crate::connection::Session;
use crate::message::Incoming;

/// What the pump does with a message the broker delivered before (it must be re-stamped).
pub type OnRedelivered =
    Arc<dyn Fn(Incoming) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The inlets of one adapter.
#[derive(Debug, Default)]
pub struct ConsumerChannels {
    map: Mutex<HashMap<String, Arc<ConsumerChannel>>>,
}

impl ConsumerChannels {
    /// The inlet of `queue` on `session`: a new channel after a reconnect or a channel failure.
    pub async fn get(
        &self,
        session: &Session,
        queue: &str,
    ) -> Result<Arc<ConsumerChannel>, RabbitError> {
        let mut map = self.map.lock().await;
        if let Some(inlet) = map.get(queue)
            && inlet.generation == session.generation
            && inlet.channel.status().connected()
        {
            return Ok(inlet.clone());
        }
        let inlet = Arc::new(ConsumerChannel {
            generation: session.generation,
            channel: session.open_channel().await?,
            feed: Mutex::new(None),
        });
        map.insert(queue.to_owned(), inlet.clone());
        Ok(inlet)
    }

    /// Messages pushed to this process for `queue` that no consumer took yet.
    pub async fn buffered(&self, queue: &str) -> u64 {
        let inlet = self.map.lock().await.get(queue).cloned();
        let Some(inlet) = inlet else { return 0 };
        let feed = inlet.feed.lock().await.clone();
        feed.map_or(0, |f| f.buffered.load(Ordering::Relaxed))
    }
}

/// One queue's channel on one connection.
pub struct ConsumerChannel {
    pub generation: u64,
    pub channel: Channel,
    feed: Mutex<Option<Arc<Feed>>>,
}

impl std::fmt::Debug for ConsumerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsumerChannel")
            .field("generation", &self.generation)
            .field("channel", &self.channel.id())
            .finish_non_exhaustive()
    }
}

impl ConsumerChannel {
    /// A message already pushed to this process, if any (never waits).
    pub fn try_take(&self) -> Option<Incoming> {
        let feed = self.feed.try_lock().ok()?.clone()?;
        let mut rx = feed.rx.try_lock().ok()?;
        while let Ok(incoming) = rx.try_recv() {
            feed.buffered.fetch_sub(1, Ordering::Relaxed);
            if incoming.acker.usable() {
                return Some(incoming);
            }
        }
        None
    }

    /// The consumer feeding this process, started on first use and after it ended.
    pub async fn feed(
        &self,
        session: &Session,
        queue: &str,
        prefetch: u16,
        default_max: u32,
        on_redelivered: OnRedelivered,
    ) -> Result<Arc<Feed>, RabbitError> {
        let mut slot = self.feed.lock().await;
        if let Some(feed) = slot.as_ref().filter(|f| !f.ended.is_cancelled()) {
            return Ok(feed.clone());
        }
        let ch = &self.channel;
        session
            .timed(
                "basic.qos",
                ch.basic_qos(prefetch.max(1), BasicQosOptions { global: false }),
            )
            .await?;
        let consumer = session
            .timed(
                "basic.consume",
                ch.basic_consume(
                    queue.into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                ),
            )
            .await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let buffered = Arc::new(AtomicU64::new(0));
        let ended = CancellationToken::new();
        let pump = Pump {
            queue: queue.to_owned(),
            channel: ch.id(),
            default_max,
            tx,
            buffered: buffered.clone(),
            on_redelivered,
        };
        let task = tokio::spawn(pump.run(consumer, ended.clone()));
        let feed = Arc::new(Feed {
            rx: Mutex::new(rx),
            buffered,
            ended,
            task: task.abort_handle(),
        });
        *slot = Some(feed.clone());
        Ok(feed)
    }
}

/// Messages pushed by one consumer.
#[derive(Debug)]
pub struct Feed {
    rx: Mutex<mpsc::UnboundedReceiver<Incoming>>,
    buffered: Arc<AtomicU64>,
    ended: CancellationToken,
    task: tokio::task::AbortHandle,
}

impl Feed {
    /// The next pushed message whose channel is alive; `None` once the consumer ended.
    /// Cancel-safe: a message is only removed from the buffer when it is returned.
    pub async fn recv(&self) -> Option<Incoming> {
        let mut rx = self.rx.lock().await;
        loop {
            // The pump's sender goes away when the consumer ends.
            let incoming = rx.recv().await?;
            self.buffered.fetch_sub(1, Ordering::Relaxed);
            if incoming.acker.usable() {
                return Some(incoming);
            }
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Pump {
    queue: String,
    channel: u16,
    default_max: u32,
    tx: mpsc::UnboundedSender<Incoming>,
    buffered: Arc<AtomicU64>,
    on_redelivered: OnRedelivered,
}

impl Pump {
    async fn run(self, mut consumer: Consumer, ended: CancellationToken) {
        let _ended = ended.drop_guard();
        while let Some(next) = consumer.next().await {
            let delivery = match next {
                Ok(d) => d,
                Err(e) => {
                    tracing::debug!(queue = %self.queue, error = %e, "consumer ended");
                    return;
                }
            };
            let incoming = Incoming::new(&self.queue, self.channel, delivery, self.default_max);
            if incoming.redelivered {
                (self.on_redelivered)(incoming).await;
                continue;
            }
            self.buffered.fetch_add(1, Ordering::Relaxed);
            if self.tx.send(incoming).is_err() {
                return;
            }
        }
        tracing::debug!(queue = %self.queue, "consumer cancelled by the broker");
    }
}
