//! The chunk sweep: the frames of split jobs (`chunks/<job>/<index>.mp3`) stay while their job
//! is queued or converting; once it is joined, failed, expired or deleted, the plan rows go and
//! the blobs go after the safety delay (a converter that was killed before removing them, or
//! a chunk stored after its job failed, leaves them behind).

use std::collections::HashSet;
use std::time::{Duration, SystemTime};

use mp3converter_storage::Listed;

use crate::stats::{self, count};
use crate::sweep::OldBlobs;
use crate::{Janitor, JanitorError, PassReport};

/// Where converters store chunk frames.
pub const CHUNK_PREFIX: &str = "chunks";

/// The job a chunk blob belongs to: `chunks/<job>/<index>.mp3` → `<job>`.
fn job_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(CHUNK_PREFIX)?.strip_prefix('/')?;
    rest.split_once('/').map(|(job, _)| job)
}

impl Janitor {
    pub(crate) async fn sweep_chunks(
        &self,
        now: SystemTime,
        min_age: Duration,
        report: &mut PassReport,
    ) -> Result<(), JanitorError> {
        report.chunk_plans_removed += self.deps.db.delete_finished_chunk_plans().await?;
        let mut old = OldBlobs::new(&*self.deps.storage, CHUNK_PREFIX, now, min_age);
        while let Some(batch) = old.next_batch().await? {
            self.sweep_chunk_batch(batch, report).await?;
        }
        Ok(())
    }

    async fn sweep_chunk_batch(
        &self,
        batch: Vec<Listed>,
        report: &mut PassReport,
    ) -> Result<(), JanitorError> {
        if batch.is_empty() {
            return Ok(());
        }
        let jobs: Vec<String> = batch
            .iter()
            .filter_map(|b| job_of(&b.key))
            .map(str::to_owned)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let live = self.deps.db.jobs_with_live_chunks(&jobs).await?;
        for blob in batch {
            if job_of(&blob.key).is_some_and(|job| live.contains(job)) {
                continue;
            }
            if self.delete(&blob.key, report).await {
                report.chunks_swept += 1;
                count(stats::CHUNKS_SWEPT_TOTAL, 1);
                tracing::info!(key = %blob.key, "chunk of a finished job swept");
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_name_their_job() {
        assert_eq!(job_of("chunks/0190f5b2/3.mp3"), Some("0190f5b2"));
        assert_eq!(job_of("chunks/0190f5b2"), None);
        assert_eq!(job_of("chunksx/a/1.mp3"), None);
        assert_eq!(job_of("audio/a.mp3"), None);
    }
}
