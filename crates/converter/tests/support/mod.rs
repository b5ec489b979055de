//! Test harness for the converter: a scratch SQLite database with the database queue, blob
//! storage on files in a temp dir, in-process events, and jobs created the way the gateway
//! creates them (video blob at `video/<job_id>`, then the job row and its `video` message in
//! one transaction).

#![allow(dead_code)]

pub mod failing_store;

use mp3converter_converter::Tunable as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use mp3converter_converter::{Converter, ConverterConfig, ConverterDeps};
use mp3converter_core::{AudioReady, ConvertOptions, Job, JobEvent, JobId, NewJob, VideoUploaded};
use mp3converter_db::conformance::{ScratchDatabase, create_sample_user};
use mp3converter_db::{Database, MessageRoute, User};
use mp3converter_queue::{DatabaseQueue, EventBus, InProcessEvents, JobQueue, wake_on_commit};
use mp3converter_storage::{BlobStore, StorageConfig};
use tempfile::TempDir;
use tokio::sync::broadcast;

pub const LEASE: Duration = Duration::from_secs(60);

/// A committed media fixture.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/media")
        .join(name)
}

/// Real backends in temp dirs, one set per test.
pub struct Harness {
    scratch: Option<ScratchDatabase>,
    pub db: Database,
    pub queue: Arc<dyn JobQueue>,
    pub storage: Arc<dyn BlobStore>,
    pub events: Arc<InProcessEvents>,
    pub owner: User,
    pub max_attempts: u32,
    blobs: TempDir,
    temp: TempDir,
}

impl Harness {
    pub async fn new() -> Harness {
        Harness::with_max_attempts(5).await
    }

    pub async fn with_max_attempts(max_attempts: u32) -> Harness {
        let scratch = ScratchDatabase::sqlite().await;
        let queue: Arc<dyn JobQueue> =
            Arc::new(DatabaseQueue::new(scratch.db.clone()).with_max_attempts(max_attempts));
        let db = scratch.db.clone().with_message_route(
            MessageRoute::QueueTable { max_attempts },
            wake_on_commit(queue.clone()),
        );
        let blobs = tempfile::tempdir().unwrap();
        let storage = mp3converter_storage::build(&StorageConfig {
            path: blobs.path().to_owned(),
            ..StorageConfig::default()
        })
        .unwrap();
        let owner = create_sample_user(&db, "jane@example.com").await;
        Harness {
            scratch: Some(scratch),
            db,
            queue,
            storage,
            events: Arc::new(InProcessEvents::new(4096)),
            owner,
            max_attempts,
            blobs,
            temp: tempfile::tempdir().unwrap(),
        }
    }

    pub fn deps(&self) -> ConverterDeps {
        ConverterDeps {
            db: self.db.clone(),
            queue: self.queue.clone(),
            storage: self.storage.clone(),
            events: self.events.clone(),
            video_queue: "video".into(),
            mp3_queue: "mp3".into(),
            lease: LEASE,
        }
    }

    /// One job at a time, every progress change written, job dirs in the harness's temp dir,
    /// long jobs converted whole (tests/chunks.rs turns splitting on).
    pub fn config(&self) -> ConverterConfig {
        ConverterConfig {
            concurrency: 1,
            progress_interval_ms: 0,
            temp_dir: Some(self.temp.path().to_owned()),
            split_min_secs: 0.0,
            ..ConverterConfig::default()
        }
    }

    /// A converter that retries at once (so `run_pending_jobs` drives every attempt).
    pub fn converter(&self) -> Converter {
        Converter::new(self.deps(), self.config()).with_backoff(|_| Duration::ZERO)
    }

    /// Uploads a fixture as a new job.
    pub async fn upload(&self, fixture_name: &str) -> Job {
        let bytes = std::fs::read(fixture(fixture_name)).unwrap();
        self.upload_bytes(fixture_name, bytes).await
    }

    /// Stores `bytes` as the video of a new job and queues it, as the gateway does.
    pub async fn upload_bytes(&self, name: &str, bytes: Vec<u8>) -> Job {
        let mut job = Job::queued(
            NewJob {
                owner_id: self.owner.id.clone(),
                owner_email: self.owner.email.clone(),
                original_name: name.to_owned(),
                video_key: String::new(),
                video_size: 0,
                video_sha256: String::new(),
                options: ConvertOptions::default(),
            },
            mp3converter_core::now_millis(),
        );
        job.video_key = format!("video/{}", job.id);
        let body = futures_util::stream::iter([Ok(Bytes::from(bytes))]);
        let put = self
            .storage
            .put_stream(&job.video_key, Box::pin(body), None)
            .await
            .unwrap();
        job.video_size = put.size;
        job.video_sha256 = put.sha256_hex;
        self.db
            .create_job_and_enqueue_video(&job, "video")
            .await
            .unwrap();
        job
    }

    pub fn video_payload(&self, job: &Job) -> String {
        serde_json::to_string(&VideoUploaded {
            video_fid: job.video_key.clone(),
            mp3_fid: None,
            username: job.owner_email.clone(),
            job_id: job.id.clone(),
            options: job.options.clone(),
            task: None,
        })
        .unwrap()
    }

    pub async fn job(&self, id: &JobId) -> Job {
        self.db.get_job(id).await.unwrap().expect("job exists")
    }

    pub async fn depth(&self, queue: &str) -> u64 {
        self.queue.depth(queue).await.unwrap()
    }

    pub async fn dead(&self, queue: &str) -> u64 {
        self.queue.dead_count(queue).await.unwrap()
    }

    /// Every `mp3` message (raw JSON), taken under a lease so they stay in the table.
    pub async fn mp3_messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(d) = self.queue.receive("mp3", LEASE).await.unwrap() {
            out.push(d.payload);
        }
        out
    }

    /// The one `mp3` message, parsed.
    pub async fn only_audio_ready(&self) -> AudioReady {
        let messages = self.mp3_messages().await;
        assert_eq!(messages.len(), 1, "{messages:?}");
        serde_json::from_str(&messages[0]).unwrap()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    /// Whether the converter's temp dir holds nothing.
    pub fn temp_is_empty(&self) -> bool {
        std::fs::read_dir(self.temp.path())
            .unwrap()
            .next()
            .is_none()
    }

    pub fn temp_path(&self) -> &Path {
        self.temp.path()
    }

    pub fn blob_root(&self) -> &Path {
        self.blobs.path()
    }

    pub async fn cleanup(mut self) {
        if let Some(scratch) = self.scratch.take() {
            scratch.cleanup().await;
        }
    }
}

/// Events received so far.
pub fn drain(rx: &mut broadcast::Receiver<JobEvent>) -> Vec<JobEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// A 16-bit PCM WAV of `samples`, interleaved over `channels`, at `rate` Hz.
pub fn wav(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
    let data_len = u32::try_from(samples.len() * 2).expect("a WAV under 4 GiB");
    let block = u32::from(channels) * 2;
    let mut out = Vec::with_capacity(44 + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * block).to_le_bytes());
    out.extend_from_slice(&(block as u16).to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for v in samples {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// A mono 16-bit WAV of a 440 Hz tone, `secs` long at `rate` Hz.
pub fn tone_wav(secs: u32, rate: u32) -> Vec<u8> {
    let samples: Vec<i16> = (0..rate * secs)
        .map(|i| {
            let t = f64::from(i) / f64::from(rate);
            (8000.0 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as i16
        })
        .collect();
    wav(rate, 1, &samples)
}
