//! Resumable uploads that expired (`Upload-Expires` passed: nothing arrived for the configured
//! time, or a finished upload's row outlived its use) are removed with their stored segments
//! (`uploads/<id>/…`); segments whose upload row is gone (a removal that failed half-way) are
//! swept once older than the sweep's safety delay.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::TryStreamExt;

use crate::stats::{self, count};
use crate::{Janitor, JanitorError, PassReport};

/// Where the gateway stores an upload's segments: `uploads/<upload id>/<offset>`.
pub const UPLOADS_PREFIX: &str = "uploads";

/// Expired uploads handled per database query.
const BATCH: u32 = 100;
/// Batches per pass, so one pass cannot run unbounded.
const MAX_BATCHES: usize = 50;

impl Janitor {
    pub(crate) async fn expire_uploads(
        &self,
        now: SystemTime,
        report: &mut PassReport,
    ) -> Result<(), JanitorError> {
        let now_ms = now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        for _ in 0..MAX_BATCHES {
            let expired = self.deps.db.expired_uploads(now_ms, BATCH).await?;
            for id in &expired {
                if self.remove_segments(id, None, now, report).await? {
                    self.deps.db.delete_upload(id).await?;
                    report.uploads_expired += 1;
                    count(stats::UPLOADS_EXPIRED_TOTAL, 1);
                    tracing::info!(upload = %id, "expired upload removed");
                }
            }
            if expired.len() < BATCH as usize {
                break;
            }
        }
        Ok(())
    }

    /// Removes segments under `uploads/` whose upload row no longer exists, older than
    /// `min_age`.
    pub(crate) async fn sweep_upload_segments(
        &self,
        now: SystemTime,
        min_age: Duration,
        report: &mut PassReport,
    ) -> Result<(), JanitorError> {
        let ids: BTreeSet<String> = self
            .deps
            .storage
            .list(UPLOADS_PREFIX)
            .try_filter_map(
                |listed| async move { Ok(listed.key.split('/').nth(1).map(str::to_owned)) },
            )
            .try_collect()
            .await?;
        for id in ids {
            if !self.deps.db.upload_exists(&id).await? {
                self.remove_segments(&id, Some(min_age), now, report)
                    .await?;
            }
        }
        Ok(())
    }

    /// Deletes upload `id`'s segments (only those older than `min_age`, if given); true when
    /// every one is gone.
    async fn remove_segments(
        &self,
        id: &str,
        min_age: Option<Duration>,
        now: SystemTime,
        report: &mut PassReport,
    ) -> Result<bool, JanitorError> {
        let segments: Vec<_> = self
            .deps
            .storage
            .list(&format!("{UPLOADS_PREFIX}/{id}"))
            .try_collect()
            .await?;
        let mut all = true;
        for segment in segments {
            let age = now
                .duration_since(segment.meta.last_modified)
                .unwrap_or_default();
            if min_age.is_some_and(|min| age < min) {
                all = false;
                continue;
            }
            if self.delete(&segment.key, report).await {
                if min_age.is_some() {
                    report.blobs_swept += 1;
                    count(stats::BLOBS_SWEPT_TOTAL, 1);
                }
            } else {
                all = false;
            }
        }
        Ok(all)
    }
}
