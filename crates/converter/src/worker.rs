//! The converter's worker loop: take `video` messages with bounded concurrency, and on shutdown
//! stop taking work, let in-flight jobs finish within the grace period, then cancel and hand
//! back the rest.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mp3converter_db::{Database, Route};
use mp3converter_media::EngineConfig;
use mp3converter_queue::{EventBus, JobQueue, retry_delay};
use mp3converter_storage::BlobStore;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::ConverterConfig;

/// How long one `wait_for_message` call waits before the loop asks again.
const WAIT: Duration = Duration::from_secs(30);
/// Pause after a failed receive, doubling up to [`MAX_ERROR_PAUSE`].
const MIN_ERROR_PAUSE: Duration = Duration::from_millis(250);
const MAX_ERROR_PAUSE: Duration = Duration::from_secs(30);
/// Default time in-flight jobs get to finish after shutdown is requested.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);

/// What the converter works with (ports, queue names, lease, where finished messages go).
#[derive(Debug, Clone)]
pub struct ConverterDeps {
    /// Jobs and their transitions.
    pub db: Database,
    /// The queue the `video` messages come from.
    pub queue: Arc<dyn JobQueue>,
    /// Videos in, MP3s out.
    pub storage: Arc<dyn BlobStore>,
    /// Live job events.
    pub events: Arc<dyn EventBus>,
    /// Name of the `video` queue.
    pub video_queue: String,
    /// Name of the `mp3` queue.
    pub mp3_queue: String,
    /// How long a message is held before another converter may take it (renewed while
    /// working).
    pub lease: Duration,
    /// Where the `mp3` message is written in the finishing transaction: the queue table
    /// (database queue) or the outbox (RabbitMQ).
    pub db_route: Route,
}

/// The converter worker. Cheap to share: `run` consumes it, tests call
/// [`run_pending_jobs`](Converter::run_pending_jobs).
pub struct Converter {
    pub(crate) deps: ConverterDeps,
    pub(crate) config: ConverterConfig,
    pub(crate) backoff: mp3converter_queue::Backoff,
    pub(crate) grace: Duration,
}

impl fmt::Debug for Converter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Converter")
            .field("deps", &self.deps)
            .field("config", &self.config)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl Converter {
    /// A converter with the standard retry schedule ([`retry_delay`]) and a
    /// [`DEFAULT_SHUTDOWN_GRACE`].
    pub fn new(deps: ConverterDeps, config: ConverterConfig) -> Converter {
        Converter {
            deps,
            config,
            backoff: Arc::new(retry_delay),
            grace: DEFAULT_SHUTDOWN_GRACE,
        }
    }

    /// Replaces the retry schedule (tests use zero delays).
    pub fn with_backoff(
        mut self,
        backoff: impl Fn(u32) -> Duration + Send + Sync + 'static,
    ) -> Self {
        self.backoff = Arc::new(backoff);
        self
    }

    /// How long in-flight jobs may run on after shutdown before they are cancelled and handed
    /// back. Keep it below the process's own grace period (`server.shutdown_grace_secs`).
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// The engine settings for a job whose temporary directory is `job_dir`.
    pub(crate) fn engine_for(&self, job_dir: &std::path::Path) -> EngineConfig {
        let mut engine = self.config.engine.clone();
        if engine.temp_dir.is_none() {
            engine.temp_dir = Some(job_dir.to_owned());
        }
        engine
    }

    /// Handles messages one after another until the `video` queue has none visible; returns
    /// how many were handled. Retries with a zero backoff are handled in the same call.
    pub async fn run_pending_jobs(&self) -> usize {
        let never = CancellationToken::new();
        let mut handled = 0;
        loop {
            match self
                .deps
                .queue
                .receive(&self.deps.video_queue, self.deps.lease)
                .await
            {
                Ok(Some(delivery)) => {
                    self.handle(delivery, never.child_token()).await;
                    handled += 1;
                }
                Ok(None) => return handled,
                Err(e) => {
                    tracing::warn!(error = %e, "receiving from the video queue failed");
                    return handled;
                }
            }
        }
    }

    /// Works until `shutdown` is cancelled, then drains: in-flight jobs get the grace period
    /// to finish; the rest are cancelled and their messages handed back. Returns when no job
    /// is in flight.
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let workers = this.config.effective_concurrency();
        let permits = Arc::new(Semaphore::new(workers));
        let abort = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut pause = MIN_ERROR_PAUSE;
        tracing::info!(workers, queue = %this.deps.video_queue, "converter started");
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
                r = this.deps.queue.wait_for_message(&this.deps.video_queue, this.deps.lease, WAIT) => r,
            };
            match received {
                Ok(Some(delivery)) => {
                    pause = MIN_ERROR_PAUSE;
                    let (this, stop) = (this.clone(), abort.child_token());
                    tasks.spawn(async move {
                        let _permit = permit;
                        this.handle(delivery, stop).await;
                    });
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?pause, "receiving from the video queue failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(pause) => pause = (pause * 2).min(MAX_ERROR_PAUSE),
                    }
                }
            }
        }
        tracing::info!(in_flight = tasks.len(), grace = ?this.grace, "converter stopping");
        let deadline = tokio::time::sleep(this.grace);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                finished = tasks.join_next() => match finished {
                    Some(finished) => report_task(finished),
                    None => break,
                },
                () = &mut deadline, if !abort.is_cancelled() => {
                    tracing::warn!(in_flight = tasks.len(), "grace period over: cancelling and handing back");
                    abort.cancel();
                }
            }
        }
        tracing::info!("converter stopped");
    }
}

fn report_task(finished: Result<(), tokio::task::JoinError>) {
    if let Err(e) = finished {
        // The message's lease runs out and it is delivered again.
        tracing::error!(error = %e, "a conversion task panicked");
    }
}
