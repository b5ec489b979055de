//! The notifier's worker loop: take `mp3` messages with bounded concurrency; on shutdown stop
//! taking work and let in-flight sends finish within the grace period.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mp3converter_db::Database;
use mp3converter_mail::Mailer;
use mp3converter_queue::{JobQueue, retry_delay};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::NotifierConfig;

const WAIT: Duration = Duration::from_secs(30);
const MIN_ERROR_PAUSE: Duration = Duration::from_millis(250);
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(30);
/// Default lease on an `mp3` message (longer than any SMTP timeout).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(60);
/// Default time in-flight sends get after shutdown is requested.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

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

/// The notifier worker.
pub struct Notifier {
    pub(crate) deps: NotifierDeps,
    pub(crate) config: NotifierConfig,
    pub(crate) backoff: mp3converter_queue::Backoff,
    pub(crate) lease: Duration,
    pub(crate) grace: Duration,
}

impl fmt::Debug for Notifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notifier")
            .field("deps", &self.deps)
            .field("config", &self.config)
            .field("lease", &self.lease)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier with the standard retry schedule, [`DEFAULT_LEASE`] and
    /// [`DEFAULT_SHUTDOWN_GRACE`].
    pub fn new(deps: NotifierDeps, config: NotifierConfig) -> Notifier {
        Notifier {
            deps,
            config,
            backoff: Arc::new(retry_delay),
            lease: DEFAULT_LEASE,
            grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    /// Replaces the retry schedule (tests use zero or very long delays).
    pub fn with_backoff(
        mut self,
        backoff: impl Fn(u32) -> Duration + Send + Sync + 'static,
    ) -> Self {
        self.backoff = Arc::new(backoff);
        self
    }

    /// The lease taken on each message (`queue.lease_secs`).
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// How long in-flight sends may run on after shutdown before they are dropped (their
    /// messages come back when the lease runs out).
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Handles messages one after another until the `mp3` queue has none visible; returns how
    /// many were handled.
    pub async fn run_pending_jobs(&self) -> usize {
        let mut handled = 0;
        loop {
            match self
                .deps
                .queue
                .receive(&self.deps.mp3_queue, self.lease)
                .await
            {
                Ok(Some(delivery)) => {
                    self.handle(delivery).await;
                    handled += 1;
                }
                Ok(None) => return handled,
                Err(e) => {
                    tracing::warn!(error = %e, "receiving from the mp3 queue failed");
                    return handled;
                }
            }
        }
    }

    /// Works until `shutdown` is cancelled, then waits up to the grace period for in-flight
    /// sends.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let workers = this.config.concurrency.max(1);
        let permits = Arc::new(Semaphore::new(workers));
        let mut tasks = JoinSet::new();
        let mut pause = MIN_ERROR_PAUSE;
        tracing::info!(workers, queue = %this.deps.mp3_queue, "notifier started");
        loop {
            while let Some(finished) = tasks.try_join_next() {
                report_task(finished);
            }
            let permit = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            };
            let received = tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                r = this.deps.queue.wait_for_message(&this.deps.mp3_queue, this.lease, WAIT) => r,
            };
            match received {
                Ok(Some(delivery)) => {
                    pause = MIN_ERROR_PAUSE;
                    let this = this.clone();
                    tasks.spawn(async move {
                        let _permit = permit;
                        this.handle(delivery).await;
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?pause, "receiving from the mp3 queue failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(pause) => pause = (pause * 2).min(MAX_ERROR_PAUSE),
                    }
                }
            }
        }
        tracing::info!(in_flight = tasks.len(), "notifier stopping");
        let drained = tokio::time::timeout(this.grace, async {
            while let Some(finished) = tasks.join_next().await {
                report_task(finished);
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                in_flight = tasks.len(),
                "grace period over: dropping unfinished sends; their messages come back"
            );
            tasks.shutdown().await;
        }
        tracing::info!("notifier stopped");
    }
}

fn report_task(finished: Result<(), tokio::task::JoinError>) {
    if let Err(e) = finished
        && !e.is_cancelled()
    {
        tracing::error!(error = %e, "a notification task panicked");
    }
}
