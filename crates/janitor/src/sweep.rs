//! The orphan sweep: blobs under the service's prefixes that no job needs, older than the
//! safety delay, are removed.

use std::time::{Duration, SystemTime};

use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;
use mp3converter_storage::{BlobStore, Listed, StorageError};

use crate::stats::{self, count};
use crate::{Janitor, JanitorError, PassReport};

/// The prefixes the service writes (`video/<job>`, its `video/<job>.cover`, `audio/<job>.mp3`). Nothing else in the
/// bucket or directory is ever swept, so a shared bucket is safe.
pub const SWEPT_PREFIXES: [&str; 2] = ["video", "audio"];

/// Listed blobs checked against the database at once.
const CHECK_BATCH: usize = 200;

/// The blobs under a prefix at least `min_age` old, listed in batches of up to
/// [`CHECK_BATCH`] (the database is asked about a batch at once).
pub(crate) struct OldBlobs {
    listing: BoxStream<'static, Result<Listed, StorageError>>,
    now: SystemTime,
    min_age: Duration,
    done: bool,
}

impl OldBlobs {
    pub(crate) fn new(
        storage: &dyn BlobStore,
        prefix: &str,
        now: SystemTime,
        min_age: Duration,
    ) -> OldBlobs {
        OldBlobs {
            listing: storage.list(prefix),
            now,
            min_age,
            done: false,
        }
    }

    /// The next batch (maybe empty at the end), or `None` once the listing is through.
    pub(crate) async fn next_batch(&mut self) -> Result<Option<Vec<Listed>>, JanitorError> {
        if self.done {
            return Ok(None);
        }
        let mut batch = Vec::with_capacity(CHECK_BATCH);
        while batch.len() < CHECK_BATCH {
            let Some(blob) = self.listing.try_next().await? else {
                self.done = true;
                break;
            };
            let age = self
                .now
                .duration_since(blob.meta.last_modified)
                .unwrap_or_default();
            if age >= self.min_age {
                batch.push(blob);
            }
        }
        Ok(Some(batch))
    }
}

impl Janitor {
    pub(crate) async fn sweep(
        &self,
        now: SystemTime,
        min_age: Duration,
        report: &mut PassReport,
    ) -> Result<(), JanitorError> {
        for prefix in SWEPT_PREFIXES {
            let mut old = OldBlobs::new(&*self.deps.storage, prefix, now, min_age);
            while let Some(batch) = old.next_batch().await? {
                self.sweep_batch(now, min_age, batch, report).await?;
            }
        }
        // What interrupted puts left inside the backend (never listed above), idle as long.
        let idle_since = now.checked_sub(min_age).unwrap_or(SystemTime::UNIX_EPOCH);
        let interrupted = self.deps.storage.sweep_interrupted(idle_since).await?;
        report.interrupted_puts_swept += interrupted;
        count(stats::INTERRUPTED_PUTS_SWEPT_TOTAL, interrupted);
        Ok(())
    }

    /// Removes the blobs of `batch` that no job references. Each is looked at once more right
    /// before its delete: a blob written again since it was listed (a converter storing the
    /// audio of a retried job) is young again and left alone. (Ages, not timestamps, are
    /// compared: S3 reports whole seconds on HEAD and milliseconds in listings.)
    async fn sweep_batch(
        &self,
        now: SystemTime,
        min_age: Duration,
        batch: Vec<Listed>,
        report: &mut PassReport,
    ) -> Result<(), JanitorError> {
        if batch.is_empty() {
            return Ok(());
        }
        // A job's cover (`<video key>.cover`) is needed exactly as long as its video.
        let owner = |key: &str| key.strip_suffix(".cover").unwrap_or(key).to_owned();
        let keys: Vec<String> = batch.iter().map(|b| owner(&b.key)).collect();
        let referenced = self.deps.db.referenced_blob_keys(&keys).await?;
        for blob in batch
            .iter()
            .filter(|b| !referenced.contains(&owner(&b.key)))
        {
            let current = self.deps.storage.head(&blob.key).await?;
            let still_old = current.is_some_and(|m| {
                now.duration_since(m.last_modified).unwrap_or_default() >= min_age
            });
            if !still_old {
                continue;
            }
            if self.delete(&blob.key, report).await {
                report.blobs_swept += 1;
                count(stats::BLOBS_SWEPT_TOTAL, 1);
                tracing::info!(key = %blob.key, size = blob.meta.size, "unreferenced blob swept");
            }
        }
        Ok(())
    }
}
