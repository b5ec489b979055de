//! One consumer loop for every queue: take messages with bounded concurrency (a `Semaphore` and
//! a `JoinSet`), hand each to a [`Handler`], and on shutdown stop taking work, let in-flight
//! messages finish within a grace period, then cancel the rest (their handlers hand the
//! messages back or let their leases run out).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{BoxError, Delivery, JobQueue, WorkState, Worker};

/// How long one `wait_for_message` call waits before the consumer asks again.
pub const WAIT: Duration = Duration::from_secs(30);
/// Default time in-flight messages get to finish after shutdown is requested.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// What a consumer does with each message it takes.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    /// Handles one delivery: ack, retry or dead-letter it. `stop` is cancelled when the
    /// shutdown grace period is over; the handler then hands the message back (or returns and
    /// lets its lease run out).
    async fn handle(&self, delivery: Delivery, stop: CancellationToken);
}

/// Takes messages from one queue and runs a [`Handler`] on each, at most `concurrency` at a
/// time. Run it with [`run_worker`](crate::run_worker); tests call [`run_pending`] instead.
pub struct Consumer<H> {
    name: &'static str,
    queue: Arc<dyn JobQueue>,
    queue_name: String,
    lease: Duration,
    grace: Duration,
    handler: Arc<H>,
    permits: Arc<Semaphore>,
    concurrency: usize,
    tasks: JoinSet<()>,
    abort: CancellationToken,
}

impl<H> fmt::Debug for Consumer<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.name)
            .field("queue", &self.queue_name)
            .field("lease", &self.lease)
            .field("grace", &self.grace)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl<H: Handler> Consumer<H> {
    /// A consumer named `name` (for logs) of `queue_name`, one message at a time, with a
    /// 60-second lease and [`DEFAULT_SHUTDOWN_GRACE`].
    pub fn new(
        name: &'static str,
        queue: Arc<dyn JobQueue>,
        queue_name: impl Into<String>,
        handler: H,
    ) -> Self {
        Consumer {
            name,
            queue,
            queue_name: queue_name.into(),
            lease: Duration::from_secs(60),
            grace: DEFAULT_SHUTDOWN_GRACE,
            handler: Arc::new(handler),
            permits: Arc::new(Semaphore::new(1)),
            concurrency: 1,
            tasks: JoinSet::new(),
            abort: CancellationToken::new(),
        }
    }

    /// How long each message is held before another consumer may take it.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How many messages are handled at once (at least one).
    pub fn with_concurrency(mut self, concurrency: usize) -> Self {
        self.concurrency = concurrency.max(1);
        self.permits = Arc::new(Semaphore::new(self.concurrency));
        self
    }

    /// How long in-flight messages may run on after shutdown before they are cancelled.
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The handler (tests inspect it).
    pub fn handler(&self) -> &H {
        &self.handler
    }

    fn reap(&mut self) {
        while let Some(finished) = self.tasks.try_join_next() {
            report_task(self.name, finished);
        }
    }

    async fn take(
        &mut self,
        stop: &CancellationToken,
    ) -> Result<Option<(Delivery, OwnedSemaphorePermit)>, BoxError> {
        let permit = tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(None),
            permit = self.permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
        };
        let received = tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(None),
            r = self.queue.wait_for_message(&self.queue_name, self.lease, WAIT) => r,
        };
        Ok(received?.map(|delivery| (delivery, permit)))
    }
}

#[async_trait]
impl<H: Handler> Worker for Consumer<H> {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn work(&mut self, stop: &CancellationToken) -> Result<WorkState, BoxError> {
        self.reap();
        if let Some((delivery, permit)) = self
            .take(stop)
            .await
            .map_err(|e| format!("receiving from the {} queue failed: {e}", self.queue_name))?
        {
            let (handler, abort) = (self.handler.clone(), self.abort.child_token());
            self.tasks.spawn(async move {
                let _permit = permit;
                handler.handle(delivery, abort).await;
            });
        }
        Ok(WorkState::Busy)
    }

    async fn wait_for_work(&mut self) {}

    async fn drain(&mut self) {
        let (name, grace) = (self.name, self.grace);
        tracing::info!(
            worker = name,
            in_flight = self.tasks.len(),
            ?grace,
            "consumer stopping"
        );
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                finished = self.tasks.join_next() => match finished {
                    Some(finished) => report_task(name, finished),
                    None => break,
                },
                () = &mut deadline, if !self.abort.is_cancelled() => {
                    tracing::warn!(worker = name, in_flight = self.tasks.len(),
                        "grace period over: cancelling and handing back");
                    self.abort.cancel();
                }
            }
        }
        tracing::info!(worker = name, "consumer stopped");
    }
}

/// Handles messages of `queue_name` one after another until none is visible; returns how many
/// were handled. Messages that come back at once (a zero retry delay) are handled in the same
/// call. For tests, which drive workers step by step instead of running them.
pub async fn run_pending<H: Handler + ?Sized>(
    queue: &dyn JobQueue,
    queue_name: &str,
    lease: Duration,
    handler: &H,
) -> usize {
    let never = CancellationToken::new();
    let mut handled = 0;
    loop {
        match queue.receive(queue_name, lease).await {
            Ok(Some(delivery)) => {
                handler.handle(delivery, never.child_token()).await;
                handled += 1;
            }
            Ok(None) => return handled,
            Err(e) => {
                tracing::warn!(error = %e, queue = queue_name, "receiving failed");
                return handled;
            }
        }
    }
}

fn report_task(name: &'static str, finished: Result<(), tokio::task::JoinError>) {
    if let Err(e) = finished {
        // The message's lease runs out and it is delivered again.
        tracing::error!(worker = name, error = %e, "a handler task panicked");
    }
}
