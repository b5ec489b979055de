//! Job events across processes without a broker: a poller reads the jobs changed since its last
//! look and feeds them to this process's subscribers.
//!
//! Used when the queue is the database and the roles run in separate processes: a converter in
//! another process writes its progress to the job row, and the gateway's SSE streams see it
//! within one polling interval. Events published in this process reach local subscribers at
//! once as well, so a subscriber may see one change twice; events are hints and that is harmless.

use std::collections::HashSet;
use std::time::Duration;

use mp3converter_core::{JobEvent, now_millis};
use mp3converter_db::Database;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{EventBus, InProcessEvents};

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

    /// Polls until `stop`. Database errors are logged and the poll retried next interval.
    pub async fn run(self, stop: CancellationToken) {
        let mut since = now_millis() - LOOKBACK_MS;
        // (job, updated_at) already announced, within the lookback window.
        let mut seen: HashSet<(String, i64)> = HashSet::new();
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
            match self.poll(since, &mut seen).await {
                Ok(newest) => since = since.max(newest - LOOKBACK_MS),
                Err(e) => tracing::debug!(error = %e, "job event poll failed"),
            }
            seen.retain(|(_, t)| *t >= since);
        }
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

impl EventBus for DatabaseEvents {
    fn publish(&self, event: JobEvent) {
        self.local.publish(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.local.subscribe()
    }
}
