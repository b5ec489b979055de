//! The reaper of interrupted imports: a job still `downloading` long after its last progress
//! belongs to a gateway that died mid-download (its task would have timed out by now). It is
//! failed with `import-interrupted` and its partial video deleted. Runs at start, then every
//! minute, in every gateway (the guarded update makes that safe). At shutdown it waits for the
//! gateway's own downloads to fail their jobs with the same code.

use std::time::Duration;

use async_trait::async_trait;
use mp3converter_core::{FailureReason, JobEvent, now_millis};
use mp3converter_queue::{BoxError, WorkState, Worker};
use tokio_util::sync::CancellationToken;

use crate::GatewayState;

/// Jobs failed per round.
const BATCH: u32 = 100;
/// Between rounds.
const INTERVAL: Duration = Duration::from_secs(60);
/// Allowance over the import timeout for clocks of different gateways.
const MARGIN: Duration = Duration::from_secs(60);

/// The reaper, as a background [`Worker`].
#[derive(Debug)]
pub struct StaleImports {
    state: GatewayState,
}

impl StaleImports {
    /// The reaper of `state`'s imports, ready for `run_worker`.
    pub fn worker(state: GatewayState) -> Box<dyn Worker> {
        Box::new(StaleImports { state })
    }

    /// One round: fails what is stale as of now; returns how many.
    pub async fn run_once(&self) -> Result<usize, BoxError> {
        let quiet = self.state.import.timeout() + MARGIN;
        let cutoff =
            now_millis().saturating_sub(i64::try_from(quiet.as_millis()).unwrap_or(i64::MAX));
        let reason = FailureReason {
            code: "import-interrupted".into(),
            message: "the download stopped when the server restarted; import the URL again".into(),
        };
        let failed = self
            .state
            .db
            .fail_stale_downloads(cutoff, &reason, BATCH)
            .await?;
        for job in &failed {
            if let Err(error) = self.state.storage.delete(&job.video_key).await {
                tracing::warn!(job_id = %job.id, %error,
                    "could not delete the video of an interrupted import; the sweep will");
            }
            self.state.events.publish(JobEvent::of(job));
            tracing::info!(job_id = %job.id, "interrupted import failed");
        }
        Ok(failed.len())
    }
}

#[async_trait]
impl Worker for StaleImports {
    fn name(&self) -> &'static str {
        "interrupted import reaper"
    }

    async fn work(&mut self, stop: &CancellationToken) -> Result<WorkState, BoxError> {
        let failed = tokio::select! {
            failed = self.run_once() => failed?,
            () = stop.cancelled() => return Ok(WorkState::Idle),
        };
        Ok(if failed == BATCH as usize {
            WorkState::Busy
        } else {
            WorkState::Idle
        })
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(INTERVAL).await;
    }

    /// At shutdown: waits for the running downloads to fail their jobs (they watch the
    /// gateway's shutdown token), so none is left `downloading` for an hour.
    async fn drain(&mut self) {
        self.state.import.drain().await;
    }
}
