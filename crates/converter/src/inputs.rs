//! The converter's local copies of job videos: every chunk task of a split job needs the whole
//! input, so it is fetched once per converter and kept while that converter takes the job's
//! tasks (a job converted whole drops its copy when it ends). A copy goes when its job is joined or finished, or after it sat unused for
//! [`IDLE`]; the directory is emptied when the converter starts. Also how any job's video is
//! fetched ([`fetch`]) and named on disk ([`input_file_name`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use mp3converter_core::{Job, JobId};
use mp3converter_storage::BlobStore;
use tokio::io::AsyncWriteExt;

use crate::error::JobError;

/// How long a copy nobody used is kept.
pub(crate) const IDLE: Duration = Duration::from_secs(10 * 60);

/// One job's copy: fetched at most once at a time (the async lock), then shared.
#[derive(Debug, Default)]
struct Entry {
    path: tokio::sync::Mutex<Option<PathBuf>>,
    last_used: Mutex<Option<Instant>>,
}

/// The copies this converter holds, under `<temp root>/mp3c-inputs`.
#[derive(Debug)]
pub(crate) struct InputCache {
    root: PathBuf,
    entries: Mutex<HashMap<JobId, Arc<Entry>>>,
}

impl InputCache {
    /// A cache under `temp_root`; what converters that are no longer running left there is
    /// removed.
    pub(crate) fn new(temp_root: &Path) -> InputCache {
        const PREFIX: &str = "mp3c-inputs-";
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let root = temp_root.join(format!("{PREFIX}{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for entry in std::fs::read_dir(temp_root).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let pid = name
                .to_str()
                .and_then(|n| n.strip_prefix(PREFIX))
                .and_then(|rest| rest.split('-').next());
            let gone = pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists());
            if gone && Path::new("/proc/self").exists() {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        InputCache {
            root,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<JobId, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The local copy of `job`'s video (and its cover, when the job has one, beside it as
    /// `cover.image`), fetched from `storage` the first time.
    pub(crate) async fn get(
        &self,
        job: &Job,
        storage: &dyn BlobStore,
    ) -> Result<PathBuf, JobError> {
        let entry = self.entries().entry(job.id.clone()).or_default().clone();
        let mut path = entry.path.lock().await;
        *entry
            .last_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        if let Some(p) = path.as_ref().filter(|p| p.exists()) {
            return Ok(p.clone());
        }
        let dir = self.root.join(job.id.as_str());
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(JobError::from_temp_io)?;
        let file = dir.join(input_file_name(&job.original_name));
        let fetched = match fetch(storage, &job.video_key, &file).await {
            Ok(_) if job.options.cover => {
                let cover = dir.join("cover.image");
                fetch(
                    storage,
                    &mp3converter_core::cover_key(&job.video_key),
                    &cover,
                )
                .await
            }
            other => other,
        };
        if let Err(e) = fetched {
            // Nothing half-fetched stays behind; the next task fetches again.
            self.entries().remove(&job.id);
            let _ = tokio::fs::remove_dir_all(&dir).await;
            let _ = tokio::fs::remove_dir(&self.root).await;
            return Err(e);
        }
        *path = Some(file.clone());
        Ok(file)
    }

    /// The cover fetched with `input` by [`InputCache::get`].
    pub(crate) fn cover_beside(input: &Path) -> PathBuf {
        input.with_file_name("cover.image")
    }

    /// Drops the copy of `job` (it is joined, finished or gone).
    pub(crate) async fn evict(&self, job: &JobId) {
        let removed = self.entries().remove(job);
        if let Some(entry) = removed {
            // Wait for a fetch or a reader holding the path to let go of it.
            let _held = entry.path.lock().await;
        }
        let _ = tokio::fs::remove_dir_all(self.root.join(job.as_str())).await;
        // The root goes with its last copy (it is made again when needed).
        let _ = tokio::fs::remove_dir(&self.root).await;
    }

    /// Drops the copies nobody used for [`IDLE`] (their jobs were taken by other converters).
    pub(crate) async fn evict_idle(&self) {
        let idle: Vec<JobId> = self
            .entries()
            .iter()
            .filter(|(_, e)| {
                e.last_used
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_some_and(|t| t.elapsed() >= IDLE)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in idle {
            tracing::debug!(job_id = %id, "dropping an idle input copy");
            self.evict(&id).await;
        }
    }
}

/// Streams the blob at `key` into a new file at `path`; returns the bytes written.
pub(crate) async fn fetch(
    storage: &dyn BlobStore,
    key: &str,
    path: &Path,
) -> Result<u64, JobError> {
    let blob = storage.get(key).await.map_err(JobError::from_fetch)?;
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(JobError::from_temp_io)?;
    let mut body = blob.body;
    let mut written = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(JobError::from_fetch)? {
        file.write_all(&chunk)
            .await
            .map_err(JobError::from_temp_io)?;
        written += chunk.len() as u64;
    }
    file.flush().await.map_err(JobError::from_temp_io)?;
    Ok(written)
}

/// A safe file name for the downloaded video that keeps the original's name (the engine
/// titles the MP3 after it when the container has no title) and extension.
pub(crate) fn input_file_name(original: &str) -> String {
    let base = original.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut name: String = base
        .chars()
        .map(|c| if c.is_control() { '_' } else { c })
        .collect();
    while name.len() > 120 {
        name.pop();
    }
    let name = name.trim().trim_start_matches('.');
    if name.is_empty() {
        "video".to_owned()
    } else {
        name.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_names_keep_the_original_without_paths_or_controls() {
        assert_eq!(input_file_name("My Clip.mp4"), "My Clip.mp4");
        assert_eq!(input_file_name("../../etc/passwd"), "passwd");
        assert_eq!(input_file_name("C:\\videos\\a.mov"), "a.mov");
        assert_eq!(input_file_name("a\nb.mp4"), "a_b.mp4");
        assert_eq!(input_file_name(".."), "video");
        assert_eq!(input_file_name(""), "video");
        assert!(input_file_name(&"é".repeat(200)).len() <= 120);
    }
}
