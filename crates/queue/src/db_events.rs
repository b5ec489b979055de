//! Job events across processes without a broker: a poller reads the jobs changed since its last
//! look and feeds them to this process's subscribers.
//!
//! Used when the queue is the database and the roles run in separate processes: a converter in
//! another process writes its progress to the job row, and the gateway's SSE streams see it
//! within one polling interval. Events published in this process reach local subscribers at
//! once as well, so a subscriber may see one change twice; events are hints and that is harmless.

use std::collections::HashSet;
use std::time::Duration;

use async_trait::async_trait;
use mp3converter_core::{JobEvent, now_millis};
use mp3converter_db::Database;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{BoxError, EventBus, InProcessEvents, WorkState, Worker, run_worker};

/// How far back each poll looks again, for writers whose clock is a little behind ours and
/// transactions that committed late.
const LOOKBACK_MS: i64 = 2_000;
/// Rows read per poll.
const BATCH: u32 = 500;

/// An [`EventBus`] fed by polling the jobs table.
#[derive(Debug, Clone)]
pub struct DatabaseEvents {
    db: Database,
    local: InProcessEvents,
    interval: Duration,
}

impl DatabaseEvents {
    /// Events read from `db` every `interval` once [`DatabaseEvents::run`] runs.
    pub fn new(db: Database, interval: Duration) -> Self {
        DatabaseEvents {
            db,
            local: InProcessEvents::default(),
            interval,
        }
    }

    /// The poller feeding this bus, as a background [`Worker`]: polls every interval; database
    /// errors are logged and the poll retried next interval.
    pub fn into_worker(self) -> Box<dyn Worker> {
        Box::new(Poller {
            since: now_millis() - LOOKBACK_MS,
            seen: HashSet::new(),
            events: self,
        })
    }

    /// Runs [`into_worker`](Self::into_worker) until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        run_worker(self.into_worker(), stop).await;
    }

    /// Announces the jobs changed since `since` that were not announced yet; returns the newest
    /// change time seen.
    async fn poll(
        &self,
        since: i64,
        seen: &mut HashSet<(String, i64)>,
    ) -> Result<i64, mp3converter_db::DbError> {
        let mut newest = since;
        for job in self.db.jobs_updated_since(since, BATCH).await? {
            newest = newest.max(job.updated_at);
            if seen.insert((job.id.to_string(), job.updated_at)) {
                self.local.publish(JobEvent::of(&job));
            }
        }
        Ok(newest)
    }
}

/// The polling loop's state.
struct Poller {
    events: DatabaseEvents,
    since: i64,
    /// (job, updated_at) already announced, within the lookback window.
    seen: HashSet<(String, i64)>,
}

#[async_trait]
impl Worker for Poller {
    fn name(&self) -> &'static str {
        "job event poller"
    }

    async fn work(&mut self, _stop: &CancellationToken) -> Result<WorkState, BoxError> {
        match self.events.poll(self.since, &mut self.seen).await {
            Ok(newest) => self.since = self.since.max(newest - LOOKBACK_MS),
            Err(e) => tracing::debug!(error = %e, "job event poll failed"),
        }
        let since = self.since;
        self.seen.retain(|(_, t)| *t >= since);
        Ok(WorkState::Idle)
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.events.interval).await;
    }
}

impl EventBus for DatabaseEvents {
    fn publish(&self, event: JobEvent) {
        self.local.publish(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.local.subscribe()
    }
}
