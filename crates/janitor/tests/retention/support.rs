//! The harness: a scratch database, fs storage in a temp dir, in-process events, and jobs made
//! the way the gateway and the converter leave them; plus a store that reports `HEAD` times in
//! whole seconds, as S3 does.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use mp3converter_core::{FailureReason, Job};
use mp3converter_db::AudioOutput;
use mp3converter_db::conformance::{
    ScratchDatabase, create_sample_user, sample_job, video_message,
};
use mp3converter_janitor::{Janitor, JanitorDeps, RetentionConfig};
use mp3converter_queue::InProcessEvents;
use mp3converter_storage::{BlobStore, StorageConfig};

pub const HOUR: u64 = 3600;
pub const DAY: u64 = 24 * HOUR;

pub struct Harness {
    scratch: Option<ScratchDatabase>,
    pub storage: Arc<dyn BlobStore>,
    pub events: Arc<InProcessEvents>,
    _blobs: tempfile::TempDir,
    jobs: usize,
}

impl Harness {
    pub async fn new() -> Harness {
        let blobs = tempfile::tempdir().unwrap();
        let storage = mp3converter_storage::build(&StorageConfig {
            path: blobs.path().to_owned(),
            ..StorageConfig::default()
        })
        .unwrap();
        Harness {
            scratch: Some(ScratchDatabase::sqlite().await),
            storage,
            events: Arc::new(InProcessEvents::default()),
            _blobs: blobs,
            jobs: 0,
        }
    }

    pub fn db(&self) -> &mp3converter_db::Database {
        &self.scratch.as_ref().unwrap().db
    }

    pub fn janitor(&self, config: RetentionConfig) -> Janitor {
        Janitor::new(
            JanitorDeps {
                db: self.db().clone(),
                storage: self.storage.clone(),
                events: self.events.clone(),
            },
            config,
        )
    }

    pub async fn put(&self, key: &str) {
        let body = futures_util::stream::iter([Ok(Bytes::from_static(b"blob bytes"))]).boxed();
        self.storage.put_stream(key, body, None).await.unwrap();
    }

    pub async fn exists(&self, key: &str) -> bool {
        self.storage.head(key).await.unwrap().is_some()
    }

    pub async fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .storage
            .list("")
            .map_ok(|l| l.key)
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }

    /// A queued job with its video stored at `video/<id>`, as the gateway creates it.
    pub async fn queued(&mut self) -> Job {
        self.jobs += 1;
        let owner = create_sample_user(self.db(), &format!("user{}@example.com", self.jobs)).await;
        let mut job = sample_job(&owner, mp3converter_core::now_millis());
        job.video_key = format!("video/{}", job.id);
        self.put(&job.video_key).await;
        let message = video_message(&job, "video", mp3converter_db::MessageRoute::Outbox);
        self.db()
            .create_job_with_message(&job, &message)
            .await
            .unwrap();
        job
    }

    /// A done job (finished now) with its audio stored, as the converter leaves it.
    pub async fn done(&mut self) -> Job {
        let job = self.queued().await;
        let key = format!("audio/{}.mp3", job.id);
        self.put(&key).await;
        self.db().mark_converting(&job.id).await.unwrap();
        let audio = AudioOutput {
            key,
            size: 10,
            duration_secs: 1.0,
        };
        self.db().mark_done(&job.id, &audio, None).await.unwrap();
        self.job(&job).await
    }

    pub async fn failed(&mut self) -> Job {
        let job = self.queued().await;
        let reason = FailureReason {
            code: "corrupt-media".into(),
            message: "the file is damaged".into(),
        };
        self.db().mark_failed(&job.id, &reason, None).await.unwrap();
        self.job(&job).await
    }

    pub async fn job(&self, job: &Job) -> Job {
        self.db().get_job(&job.id).await.unwrap().unwrap()
    }

    pub async fn cleanup(mut self) {
        self.scratch.take().unwrap().cleanup().await;
    }
}

/// `secs` seconds from now.
pub fn later(secs: u64) -> SystemTime {
    SystemTime::now() + Duration::from_secs(secs)
}

pub fn rules() -> RetentionConfig {
    RetentionConfig::default()
}

/// S3 answers `HEAD` with whole seconds and lists with milliseconds: the sweep's last look
/// before a delete must compare ages, not timestamps, or it never deletes anything on S3.
#[derive(Debug)]
pub struct WholeSecondsOnHead(pub Arc<dyn BlobStore>);

#[async_trait::async_trait]
impl BlobStore for WholeSecondsOnHead {
    async fn put_stream(
        &self,
        key: &str,
        body: mp3converter_storage::BodyStream<'_>,
        max_size: Option<u64>,
    ) -> Result<mp3converter_storage::PutResult, mp3converter_storage::StorageError> {
        self.0.put_stream(key, body, max_size).await
    }
    async fn put_file(
        &self,
        key: &str,
        path: &std::path::Path,
    ) -> Result<mp3converter_storage::PutResult, mp3converter_storage::StorageError> {
        self.0.put_file(key, path).await
    }
    async fn get(
        &self,
        key: &str,
    ) -> Result<mp3converter_storage::Blob, mp3converter_storage::StorageError> {
        self.0.get(key).await
    }
    async fn get_range(
        &self,
        key: &str,
        range: mp3converter_storage::ByteRange,
    ) -> Result<mp3converter_storage::Blob, mp3converter_storage::StorageError> {
        self.0.get_range(key, range).await
    }
    async fn head(
        &self,
        key: &str,
    ) -> Result<Option<mp3converter_storage::Meta>, mp3converter_storage::StorageError> {
        Ok(self.0.head(key).await?.map(|mut m| {
            let since = m
                .last_modified
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            m.last_modified = std::time::UNIX_EPOCH + Duration::from_secs(since.as_secs());
            m
        }))
    }
    async fn delete(&self, key: &str) -> Result<(), mp3converter_storage::StorageError> {
        self.0.delete(key).await
    }
    fn list(
        &self,
        prefix: &str,
    ) -> futures_util::stream::BoxStream<
        'static,
        Result<mp3converter_storage::Listed, mp3converter_storage::StorageError>,
    > {
        self.0.list(prefix)
    }
    async fn health_check(&self) -> Result<(), mp3converter_storage::StorageError> {
        self.0.health_check().await
    }
}
