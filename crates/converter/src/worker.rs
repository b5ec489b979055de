//! The converter as a queue consumer: its dependencies, its settings, and the [`Handler`] the
//! shared [`Consumer`] loop drives (bounded concurrency, shutdown grace, hand-back).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mp3converter_db::Database;
use mp3converter_media::EngineConfig;
use mp3converter_queue::{
    Consumer, Delivery, EventBus, Handler, JobQueue, Tuning, Worker, run_pending, run_worker,
};
use mp3converter_storage::BlobStore;
use tokio_util::sync::CancellationToken;

use crate::ConverterConfig;
use crate::inputs::InputCache;

/// Default time in-flight jobs get to finish after shutdown is requested.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = mp3converter_queue::DEFAULT_SHUTDOWN_GRACE;

/// What the converter works with (ports, queue names, lease). Where the `mp3` message is
/// written (queue table or outbox) is the database's business: see
/// [`Database::with_message_route`].
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
    /// working); the initial [`Tuning::lease`].
    pub lease: Duration,
}

/// The converter worker. Cheap to share: `run` consumes it, tests call
/// [`run_pending_jobs`](Converter::run_pending_jobs). Its retry schedule, lease and shutdown
/// grace are set with the [`Tunable`](crate::Tunable) methods.
#[derive(Debug)]
pub struct Converter {
    pub(crate) deps: ConverterDeps,
    pub(crate) config: ConverterConfig,
    pub(crate) tuning: Tuning,
    /// Local copies of the videos of split jobs this converter works on.
    pub(crate) inputs: InputCache,
}

mp3converter_queue::tunable!(Converter);

impl Converter {
    /// A converter with the standard retry schedule, the lease of `deps` and a
    /// [`DEFAULT_SHUTDOWN_GRACE`].
    pub fn new(deps: ConverterDeps, config: ConverterConfig) -> Converter {
        Converter {
            tuning: Tuning::new(deps.lease),
            inputs: InputCache::new(&config.temp_root()),
            deps,
            config,
        }
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
        run_pending(
            &*self.deps.queue,
            &self.deps.video_queue,
            self.tuning.lease,
            self,
        )
        .await
    }

    /// This converter as a background [`Worker`]: a [`Consumer`] of the `video` queue with the
    /// configured concurrency. On shutdown in-flight jobs get the grace period to finish; the
    /// rest are cancelled and their messages handed back.
    pub fn into_worker(self) -> Box<dyn Worker> {
        let (queue, name) = (self.deps.queue.clone(), self.deps.video_queue.clone());
        let (workers, lease, grace) = (
            self.config.effective_concurrency(),
            self.tuning.lease,
            self.tuning.grace,
        );
        tracing::info!(workers, queue = %name, "converter configured");
        Box::new(
            Consumer::new("converter", queue, name, self)
                .with_lease(lease)
                .with_concurrency(workers)
                .with_shutdown_grace(grace),
        )
    }

    /// Runs [`into_worker`](Self::into_worker) until `shutdown` is cancelled, then drains.
    pub async fn run(self, shutdown: CancellationToken) {
        run_worker(self.into_worker(), shutdown).await;
    }
}

#[async_trait]
impl Handler for Converter {
    async fn handle(&self, delivery: Delivery, stop: CancellationToken) {
        self.handle_delivery(delivery, stop).await;
    }
}
