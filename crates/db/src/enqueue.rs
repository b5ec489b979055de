//! Typed job operations that enqueue the job's next message in the job's own transaction: the
//! services say what happened ("a job was created", "a job finished") and this layer builds the
//! message body, writes it where the configured [`MessageRoute`] says (the queue table or the
//! outbox) and, once committed, wakes whoever delivers it ([`Wake`]). See
//! docs/adr/0003-outbox-and-typed-enqueue.md.

use std::sync::Arc;

use mp3converter_core::{AudioOutcome, AudioReady, FailureReason, Job, VideoUploaded, now_millis};

use crate::jobs::to_i64;
use crate::route::{Messages, Wake};
use crate::{AudioOutput, Database, DbError, MessageRoute, OutboundMessage, Transition};

/// The `video` message body announcing `job`.
pub(crate) fn video_uploaded(job: &Job) -> VideoUploaded {
    VideoUploaded {
        video_fid: job.video_key.clone(),
        mp3_fid: None,
        username: job.owner_email.clone(),
        job_id: job.id.clone(),
        options: job.options.clone(),
        task: None,
    }
}

impl Database {
    /// This database with its messages written to `route` (the queue table for the database
    /// queue, the outbox for a broker) and `wake` told after each commit. Set once by the
    /// composition root; without it messages go to the queue table (5 attempts) and nobody is
    /// woken.
    #[must_use]
    pub fn with_message_route(mut self, route: MessageRoute, wake: Arc<dyn Wake>) -> Self {
        self.messages = Messages {
            route,
            wake: Some(wake),
        };
        self
    }

    /// Where this database writes the messages of its typed operations.
    pub fn message_route(&self) -> MessageRoute {
        self.messages.route
    }

    /// Stores a new job and its `video` message ([`VideoUploaded`], built from the job) on
    /// `queue` in ONE transaction, then wakes the queue. The owner must exist.
    pub async fn create_job_and_enqueue_video(
        &self,
        job: &Job,
        queue: &str,
    ) -> Result<(), DbError> {
        let message = self.video_message(job, queue)?;
        self.create_job_with_message(job, &message).await?;
        self.wake(queue);
        Ok(())
    }

    /// A URL import's video is stored: `downloading -> queued` with the video's name, size and
    /// hash taken from `job`, and its `video` message ([`VideoUploaded`]) on `queue`, in ONE
    /// transaction; wakes the queue when it applied. A job no longer downloading (deleted:
    /// [`DbError::NotFound`]; failed meanwhile: [`Transition::Refused`]) gets no message.
    pub async fn finish_download_and_enqueue_video(
        &self,
        job: &Job,
        queue: &str,
    ) -> Result<Transition, DbError> {
        let message = self.video_message(job, queue)?;
        let now = now_millis();
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&self.sql(
            "UPDATE jobs SET state = 'queued', original_name = $1, video_size = $2, \
             video_sha256 = $3, progress = 0, updated_at = $4 \
             WHERE id = $5 AND state = 'downloading'",
        ))
        .bind(&job.original_name)
        .bind(to_i64(job.video_size)?)
        .bind(&job.video_sha256)
        .bind(now)
        .bind(job.id.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let outcome = self
            .settle(tx, &job.id, rows, Some(&message), None, now)
            .await?;
        self.woken_if_applied(outcome, queue)
    }

    /// `converting -> done` with `audio`, and the job's `mp3` message ([`AudioReady`] with the
    /// audio's key) on `queue`, in ONE transaction; wakes the queue when it applied.
    pub async fn finish_job_and_enqueue_mp3(
        &self,
        job: &Job,
        audio: &AudioOutput,
        queue: &str,
    ) -> Result<Transition, DbError> {
        let body = AudioReady {
            video_fid: job.video_key.clone(),
            username: job.owner_email.clone(),
            job_id: job.id.clone(),
            outcome: AudioOutcome::Converted {
                mp3_fid: audio.key.clone(),
                options: Box::new(job.options.clone()),
            },
        };
        let message = self.outbound(queue, job.id.as_str(), serde_json::to_string(&body))?;
        let outcome = self.mark_done(&job.id, audio, Some(&message)).await?;
        self.woken_if_applied(outcome, queue)
    }

    /// Stores `job` as done at once with the audio of `earlier` (the same owner, content, file
    /// name and options: see [`Database::reusable_job`]) and its `mp3` message ([`AudioReady`]
    /// with the shared audio's key) on `queue`, in ONE transaction; wakes the queue. Returns the
    /// stored job (`reused_from` set). With `upload`, that resumable upload is marked complete
    /// in the same transaction, and `None` (nothing written) means it already became a job.
    pub async fn create_reused_job_and_enqueue_mp3(
        &self,
        job: &Job,
        earlier: &Job,
        queue: &str,
        upload: Option<&str>,
    ) -> Result<Option<Job>, DbError> {
        let audio_key = earlier
            .audio_key
            .clone()
            .ok_or_else(|| DbError::corrupt("a reused job has no audio"))?;
        let body = AudioReady {
            video_fid: job.video_key.clone(),
            username: job.owner_email.clone(),
            job_id: job.id.clone(),
            outcome: AudioOutcome::Converted {
                mp3_fid: audio_key,
                options: Box::new(job.options.clone()),
            },
        };
        let message = self.outbound(queue, job.id.as_str(), serde_json::to_string(&body))?;
        let done = self
            .create_reused_job(job, earlier, &message, upload)
            .await?;
        if done.is_some() {
            self.wake(queue);
        }
        Ok(done)
    }

    /// `queued|converting -> failed` with `reason`, and the failure `mp3` message (built from
    /// the job's `video` message) on `queue`, in ONE transaction; wakes the queue when it
    /// applied.
    pub async fn fail_job_and_enqueue_mp3(
        &self,
        video: &VideoUploaded,
        reason: &FailureReason,
        queue: &str,
    ) -> Result<Transition, DbError> {
        let body = AudioReady {
            video_fid: video.video_fid.clone(),
            username: video.username.clone(),
            job_id: video.job_id.clone(),
            outcome: AudioOutcome::Failed(reason.clone()),
        };
        let message = self.outbound(queue, video.job_id.as_str(), serde_json::to_string(&body))?;
        let outcome = self
            .mark_failed(&video.job_id, reason, Some(&message))
            .await?;
        self.woken_if_applied(outcome, queue)
    }

    /// The `video` message of `job` on `queue` ([`VideoUploaded`]), with the owner as its fair
    /// share key.
    pub(crate) fn video_message(&self, job: &Job, queue: &str) -> Result<OutboundMessage, DbError> {
        let body = video_uploaded(job);
        let mut message = self.outbound(queue, job.id.as_str(), serde_json::to_string(&body))?;
        message.fair_key = Some(job.owner_id.to_string());
        Ok(message)
    }

    pub(crate) fn outbound(
        &self,
        queue: &str,
        message_id: &str,
        payload: Result<String, serde_json::Error>,
    ) -> Result<OutboundMessage, DbError> {
        Ok(OutboundMessage {
            queue: queue.to_owned(),
            message_id: message_id.to_owned(),
            payload: payload.map_err(DbError::corrupt)?,
            route: self.messages.route,
            fair_key: None,
        })
    }

    fn woken_if_applied(&self, outcome: Transition, queue: &str) -> Result<Transition, DbError> {
        if outcome == Transition::Applied {
            self.wake(queue);
        }
        Ok(outcome)
    }

    pub(crate) fn wake(&self, queue: &str) {
        if let Some(wake) = &self.messages.wake {
            wake.wake(queue);
        }
    }
}
