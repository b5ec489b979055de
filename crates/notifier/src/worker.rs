//! The notifier as a queue consumer: its dependencies, its settings, and the [`Handler`] the
//! shared [`Consumer`] loop drives (bounded concurrency, shutdown grace).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mp3converter_db::Database;
use mp3converter_mail::Mailer;
use mp3converter_queue::{
    Consumer, Delivery, Handler, JobQueue, Tuning, Worker, run_pending, run_worker,
};
use tokio_util::sync::CancellationToken;

use crate::NotifierConfig;

/// Default lease on an `mp3` message (longer than any SMTP timeout).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Default time in-flight sends get after shutdown is requested.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = mp3converter_queue::DEFAULT_SHUTDOWN_GRACE;

/// What the notifier works with.
#[derive(Debug, Clone)]
pub struct NotifierDeps {
    /// Jobs (the truth about how each ended) and the dedup record.
    pub db: Database,
    /// The queue the `mp3` messages come from.
    pub queue: Arc<dyn JobQueue>,
    /// Sends the emails.
    pub mailer: Arc<dyn Mailer>,
    /// Name of the `mp3` queue.
    pub mp3_queue: String,
    /// Where users reach the gateway, for the links in emails (`https://mp3.example.com`).
    pub public_url: String,
}

/// The notifier worker. Its retry schedule, lease ([`DEFAULT_LEASE`] unless set) and shutdown
/// grace are set with the [`Tunable`](crate::Tunable) methods.
#[derive(Debug)]
pub struct Notifier {
    pub(crate) deps: NotifierDeps,
    pub(crate) config: NotifierConfig,
    pub(crate) tuning: Tuning,
}

mp3converter_queue::tunable!(Notifier);

impl Notifier {
    /// A notifier with the standard retry schedule, [`DEFAULT_LEASE`] and
    /// [`DEFAULT_SHUTDOWN_GRACE`].
    pub fn new(deps: NotifierDeps, config: NotifierConfig) -> Notifier {
        Notifier {
            deps,
            config,
            tuning: Tuning::new(DEFAULT_LEASE),
        }
    }

    /// Handles messages one after another until the `mp3` queue has none visible; returns how
    /// many were handled.
    pub async fn run_pending_jobs(&self) -> usize {
        run_pending(
            &*self.deps.queue,
            &self.deps.mp3_queue,
            self.tuning.lease,
            self,
        )
        .await
    }

    /// This notifier as a background [`Worker`]: a [`Consumer`] of the `mp3` queue. On
    /// shutdown in-flight sends get the grace period; unfinished ones are then dropped and
    /// their messages come back when the lease runs out.
    pub fn into_worker(self) -> Box<dyn Worker> {
        let (queue, name) = (self.deps.queue.clone(), self.deps.mp3_queue.clone());
        let (workers, lease, grace) = (
            self.config.concurrency.max(1),
            self.tuning.lease,
            self.tuning.grace,
        );
        tracing::info!(workers, queue = %name, "notifier configured");
        Box::new(
            Consumer::new("notifier", queue, name, self)
                .with_lease(lease)
                .with_concurrency(workers)
                .with_shutdown_grace(grace),
        )
    }

    /// Runs [`into_worker`](Self::into_worker) until `shutdown` is cancelled, then waits up to
    /// the grace period for in-flight sends.
    pub async fn run(self, shutdown: CancellationToken) {
        run_worker(self.into_worker(), shutdown).await;
    }
}

#[async_trait]
impl Handler for Notifier {
    /// Sends the notification; when the grace period is over (`stop`), the send is dropped
    /// where it stands and the message comes back when its lease runs out.
    async fn handle(&self, delivery: Delivery, stop: CancellationToken) {
        tokio::select! {
            () = stop.cancelled() => {
                tracing::warn!("grace period over: dropping an unfinished send; its message comes back");
            }
            () = self.handle_delivery(delivery) => {}
        }
    }
}
