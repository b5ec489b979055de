//! Handling one `video` message: load the job, fetch the video, convert, store the MP3, and
//! finish the job with its `mp3` message in one transaction.

use std::path::Path;

use mp3converter_core::{ConvertOptions, Job, JobId, VideoUploaded};
use mp3converter_db::{AudioOutput, DbError, Transition};
use mp3converter_media::ConvertReport;
use mp3converter_queue::Delivery;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::error::JobError;
use crate::inputs::InputCache;
use crate::lease::LeaseKeeper;
use crate::{Converter, stats};

/// How a delivery that did not fail ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Handled {
    /// The job is done now (or, for a chunk task, its part is).
    Converted,
    /// The job is long: it was split into chunk tasks, which carry on.
    Planned,
    /// Nothing to do: the job is already finished (a redelivery) or cannot start now.
    Skipped,
    /// No job has the message's id (deleted, or a message that never came from us): the
    /// message goes to the dead letters for an operator to look at.
    UnknownJob,
}

/// Blob key of a job's audio (the seed's `mp3_fid`): `audio/<job>.mp3` for MP3 jobs, as the
/// course's clients expect, the format's own extension for the others, `.zip` for split jobs.
pub(crate) fn audio_key(job_id: &JobId, options: &ConvertOptions) -> String {
    format!("audio/{job_id}.{}", options.output_extension())
}

impl Converter {
    /// Handles one delivery to the end: acked, retried, dead-lettered or handed back. `stop`
    /// is cancelled when the worker must give the message back (shutdown past the grace).
    pub(crate) async fn handle_delivery(&self, delivery: Delivery, stop: CancellationToken) {
        let msg: VideoUploaded = match serde_json::from_str(&delivery.payload) {
            Ok(msg) => msg,
            Err(e) => {
                tracing::error!(message_id = %delivery.message_id, error = %e, "unreadable video message, dead-lettering it");
                let why = format!("unreadable message: {e}");
                if let Err(e) = self.deps.queue.dead_letter(&delivery, &why).await {
                    tracing::warn!(error = %e, "dead-lettering failed; the message will come back");
                }
                return;
            }
        };
        let span = tracing::info_span!("convert", job_id = %msg.job_id, attempt = delivery.attempt);
        async {
            let keeper = LeaseKeeper::start(
                self.deps.queue.clone(),
                delivery.clone(),
                self.tuning.lease,
                stop.clone(),
            );
            let result = match msg.task {
                Some(task) => self.process_task(&msg, task, &stop).await,
                None => self.process(&msg, &stop).await,
            };
            let result = match result {
                Err(JobError::ShuttingDown) if keeper.is_lost() => Err(JobError::LeaseLost),
                other => other,
            };
            self.settle(&delivery, &msg, result).await;
        }
        .instrument(span)
        .await;
    }

    async fn process(
        &self,
        msg: &VideoUploaded,
        stop: &CancellationToken,
    ) -> Result<Handled, JobError> {
        let db = &self.deps.db;
        let Some(job) = db.get_job(&msg.job_id).await? else {
            tracing::warn!("no job has this id; dead-lettering its message");
            return Ok(Handled::UnknownJob);
        };
        if job.state.is_terminal() {
            tracing::info!(state = %job.state, "the job is already finished; redelivery acked");
            return Ok(Handled::Skipped);
        }
        if db.chunk_plan(&job.id).await?.is_some() {
            tracing::info!("the job is split into chunk tasks already; redelivery acked");
            return Ok(Handled::Skipped);
        }
        match db.mark_converting(&job.id).await {
            Ok(Transition::Applied) => {
                tracing::info!(name = %job.original_name, size = job.video_size, "converting");
            }
            Ok(other) => {
                tracing::info!(?other, "the job cannot be converted now; skipping");
                return Ok(Handled::Skipped);
            }
            Err(DbError::NotFound) => return Ok(Handled::Skipped),
            Err(e) => return Err(e.into()),
        }
        self.publish_event(&job.id).await;

        let input = tokio::select! {
            input = self.inputs.get(&job, &*self.deps.storage) => input?,
            () = stop.cancelled() => return Err(JobError::ShuttingDown),
        };
        let result = self.convert_whole_or_plan(&job, &input, stop).await;
        if !matches!(result, Ok(Handled::Planned)) {
            self.inputs.evict(&job.id).await;
        }
        result
    }

    /// Splits a long job into chunk tasks, or converts it in one piece and finishes it.
    async fn convert_whole_or_plan(
        &self,
        job: &Job,
        input: &Path,
        stop: &CancellationToken,
    ) -> Result<Handled, JobError> {
        if let Ok(meta) = tokio::fs::metadata(input).await {
            stats::input_bytes(meta.len());
        }
        if self.plan_if_long(job, input, stop).await? {
            return Ok(Handled::Planned);
        }
        self.convert_whole(job, input, stop).await
    }

    /// Converts `job` in one piece, stores its audio and finishes it.
    pub(crate) async fn convert_whole(
        &self,
        job: &Job,
        input: &Path,
        stop: &CancellationToken,
    ) -> Result<Handled, JobError> {
        let dir = self.job_dir().await?;
        let output = dir
            .path()
            .join(format!("audio.{}", job.options.output_extension()));
        let cover = job.options.cover.then(|| InputCache::cover_beside(input));
        let report = self
            .convert(job, input, &output, cover.as_deref(), dir.path(), stop)
            .await?;
        let key = audio_key(&job.id, &job.options);
        let audio = self.store_audio(&key, &output, &report).await?;
        drop(dir);
        self.finish(job, &audio).await
    }

    /// Stores the converted file at `output` as the job's audio under `key`.
    pub(crate) async fn store_audio(
        &self,
        key: &str,
        output: &Path,
        report: &ConvertReport,
    ) -> Result<AudioOutput, JobError> {
        let stored = self
            .deps
            .storage
            .put_file(key, output)
            .await
            .map_err(JobError::from_storage)?;
        stats::output_bytes(stored.size);
        Ok(AudioOutput {
            key: key.to_owned(),
            size: stored.size,
            duration_secs: report.duration_secs,
        })
    }

    /// `converting -> done` with the `mp3` message in one transaction. The stored audio is
    /// removed again when the transaction fails or the job moved on meanwhile.
    pub(crate) async fn finish(&self, job: &Job, audio: &AudioOutput) -> Result<Handled, JobError> {
        let outcome = self
            .deps
            .db
            .finish_job_and_enqueue_mp3(job, audio, &self.deps.mp3_queue)
            .await;
        match outcome {
            Ok(Transition::Applied) => {
                self.publish_event(&job.id).await;
                stats::finished("done");
                tracing::info!(
                    bytes = audio.size,
                    duration_secs = audio.duration_secs,
                    "converted"
                );
                Ok(Handled::Converted)
            }
            // Another converter finished it (same key, same audio): keep its file.
            Ok(Transition::AlreadyDone) => Ok(Handled::Skipped),
            Ok(Transition::Refused(state)) => {
                tracing::info!(%state, "the job moved on while converting; discarding the audio");
                self.discard_audio(&audio.key).await;
                Ok(Handled::Skipped)
            }
            Err(DbError::NotFound) => {
                self.discard_audio(&audio.key).await;
                Ok(Handled::Skipped)
            }
            Err(e) => {
                self.discard_audio(&audio.key).await;
                Err(e.into())
            }
        }
    }

    pub(crate) async fn discard_audio(&self, key: &str) {
        if let Err(e) = self.deps.storage.delete(key).await {
            tracing::warn!(key, error = %e, "could not delete the unused audio");
        }
    }

    /// Publishes the job's current row as a live event (a hint; failures are only logged).
    pub(crate) async fn publish_event(&self, id: &JobId) {
        match self.deps.db.get_job(id).await {
            Ok(Some(job)) => self
                .deps
                .events
                .publish(mp3converter_core::JobEvent::of(&job)),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "no event: reading the job failed"),
        }
    }
}
