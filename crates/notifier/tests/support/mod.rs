//! Test harness for the notifier: a scratch SQLite database with the database queue, finished
//! jobs whose `mp3` message was written by the same transaction as the converter writes it, and
//! mailers that record (and, for some tests, fail).

#![allow(dead_code)]

use mp3converter_notifier::Tunable as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mp3converter_core::{
    AudioOutcome, AudioReady, ConvertOptions, FailureReason, Job, JobId, NewJob, VideoUploaded,
};
use mp3converter_db::conformance::{ScratchDatabase, sample_user};
use mp3converter_db::{AudioOutput, Database, MessageRoute, OutboundMessage, Transition};
use mp3converter_mail::{Email, MailError, Mailer, MemoryMailer};
use mp3converter_notifier::{Notifier, NotifierConfig, NotifierDeps};
use mp3converter_queue::{DatabaseQueue, JobQueue};

pub const PUBLIC_URL: &str = "https://mp3.example.test/";

/// Real database and queue, one set per test.
pub struct Harness {
    scratch: Option<ScratchDatabase>,
    pub db: Database,
    pub queue: Arc<dyn JobQueue>,
    pub mailer: MemoryMailer,
    max_attempts: u32,
}

impl Harness {
    pub async fn new() -> Harness {
        Harness::with_max_attempts(5).await
    }

    pub async fn with_max_attempts(max_attempts: u32) -> Harness {
        let scratch = ScratchDatabase::sqlite().await;
        let db = scratch.db.clone();
        Harness {
            queue: Arc::new(DatabaseQueue::new(db.clone()).with_max_attempts(max_attempts)),
            db,
            scratch: Some(scratch),
            mailer: MemoryMailer::new("mp3converter <noreply@example.test>").unwrap(),
            max_attempts,
        }
    }

    pub fn deps(&self, mailer: Arc<dyn Mailer>) -> NotifierDeps {
        NotifierDeps {
            db: self.db.clone(),
            queue: self.queue.clone(),
            mailer,
            mp3_queue: "mp3".into(),
            public_url: PUBLIC_URL.into(),
        }
    }

    /// A notifier sending through the recording mailer, retrying at once.
    pub fn notifier(&self) -> Notifier {
        self.notifier_with(Arc::new(self.mailer.clone()))
    }

    pub fn notifier_with(&self, mailer: Arc<dyn Mailer>) -> Notifier {
        Notifier::new(self.deps(mailer), NotifierConfig::default()).with_backoff(|_| Duration::ZERO)
    }

    /// A job of a new user `email`, uploaded as `name`, converting.
    async fn converting_job(&self, email: &str, name: &str) -> Job {
        let owner = sample_user(email, mp3converter_core::Role::User, 0);
        self.db.create_user(&owner).await.unwrap();
        let mut job = Job::queued(
            NewJob {
                owner_id: owner.id,
                owner_email: owner.email,
                original_name: name.to_owned(),
                video_key: String::new(),
                video_size: 1000,
                video_sha256: "00".repeat(32),
                options: ConvertOptions::default(),
            },
            mp3converter_core::now_millis(),
        );
        job.video_key = format!("video/{}", job.id);
        let video = VideoUploaded {
            video_fid: job.video_key.clone(),
            mp3_fid: None,
            username: job.owner_email.clone(),
            job_id: job.id.clone(),
            options: job.options.clone(),
            task: None,
        };
        let msg = self.outbound("video", &job.id, serde_json::to_string(&video).unwrap());
        self.db.create_job_with_message(&job, &msg).await.unwrap();
        assert_eq!(
            self.db.mark_converting(&job.id).await.unwrap(),
            Transition::Applied
        );
        job
    }

    fn outbound(&self, queue: &str, id: &JobId, payload: String) -> OutboundMessage {
        OutboundMessage {
            queue: queue.into(),
            message_id: id.to_string(),
            payload,
            route: MessageRoute::QueueTable {
                max_attempts: self.max_attempts,
            },
            fair_key: None,
        }
    }

    /// A done job with its `mp3` message queued, as the converter leaves it.
    pub async fn done_job(&self, email: &str, name: &str) -> Job {
        let job = self.converting_job(email, name).await;
        let key = format!("audio/{}.mp3", job.id);
        let ready = self.audio_ready(
            &job,
            AudioOutcome::Converted {
                mp3_fid: key.clone(),
                options: Box::default(),
            },
        );
        let audio = AudioOutput {
            key,
            size: 4_000_000,
            duration_secs: 185.0,
        };
        let msg = self.outbound("mp3", &job.id, ready);
        self.db
            .mark_done(&job.id, &audio, Some(&msg))
            .await
            .unwrap();
        self.db.get_job(&job.id).await.unwrap().unwrap()
    }

    /// A failed job with its failure message queued.
    pub async fn failed_job(&self, email: &str, name: &str, reason: FailureReason) -> Job {
        let job = self.converting_job(email, name).await;
        let ready = self.audio_ready(&job, AudioOutcome::Failed(reason.clone()));
        let msg = self.outbound("mp3", &job.id, ready);
        self.db
            .mark_failed(&job.id, &reason, Some(&msg))
            .await
            .unwrap();
        self.db.get_job(&job.id).await.unwrap().unwrap()
    }

    fn audio_ready(&self, job: &Job, outcome: AudioOutcome) -> String {
        serde_json::to_string(&AudioReady {
            video_fid: job.video_key.clone(),
            username: job.owner_email.clone(),
            job_id: job.id.clone(),
            outcome,
        })
        .unwrap()
    }

    pub async fn job(&self, id: &JobId) -> Job {
        self.db.get_job(id).await.unwrap().expect("job exists")
    }

    pub async fn depth(&self) -> u64 {
        self.queue.depth("mp3").await.unwrap()
    }

    pub async fn dead(&self) -> u64 {
        self.queue.dead_count("mp3").await.unwrap()
    }

    pub async fn cleanup(mut self) {
        if let Some(scratch) = self.scratch.take() {
            scratch.cleanup().await;
        }
    }
}

/// A mailer that fails with a retryable error a given number of times, then records like
/// [`MemoryMailer`].
#[derive(Debug)]
pub struct FlakyMailer {
    pub inner: MemoryMailer,
    failures_left: AtomicU32,
    pub attempts: AtomicU32,
}

impl FlakyMailer {
    pub fn new(inner: MemoryMailer, failures: u32) -> Arc<FlakyMailer> {
        Arc::new(FlakyMailer {
            inner,
            failures_left: AtomicU32::new(failures),
            attempts: AtomicU32::new(0),
        })
    }
}

#[async_trait]
impl Mailer for FlakyMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        let fail = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            return Err(MailError::Unavailable("connection refused (test)".into()));
        }
        self.inner.send(email).await
    }

    async fn health_check(&self) -> Result<(), MailError> {
        Ok(())
    }
}
