//! Running the conversion engine on a blocking thread, with throttled progress updates (job row
//! or chunk row, and live event) and cancellation when the job must stop.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use mp3converter_core::{Job, JobEvent, JobState};
use mp3converter_media::{Control, ConvertReport, MediaError};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::JobError;
use crate::{Converter, stats};

/// Where the progress of an engine run goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProgressOf {
    /// The whole job.
    Job,
    /// One chunk of a split job; the job's progress is the average over its chunks.
    Chunk(u32),
    /// Nowhere (planning, joining: quick steps whose progress would only move the bar back).
    Quiet,
}

impl Converter {
    /// Converts `input` to `output` with the job's options. When `stop` fires the engine is
    /// cancelled and this fails with [`JobError::ShuttingDown`].
    pub(crate) async fn convert(
        &self,
        job: &Job,
        input: &Path,
        output: &Path,
        cover: Option<&Path>,
        job_dir: &Path,
        stop: &CancellationToken,
    ) -> Result<ConvertReport, JobError> {
        let engine = self.engine_for(job_dir);
        let options = job.options.clone();
        let (input, output) = (input.to_owned(), output.to_owned());
        let cover = cover.map(Path::to_owned);
        let started = Instant::now();
        let report = self
            .run_engine(job, ProgressOf::Job, stop, move |control| {
                let extras = mp3converter_media::Extras {
                    cover: cover.as_deref(),
                };
                mp3converter_media::convert_with(
                    &input, &output, &options, &extras, &engine, control,
                )
            })
            .await?;
        stats::conversion_time(started.elapsed());
        Ok(report)
    }

    /// Runs `work` (an engine call) on a blocking thread, writing its progress to `of` and
    /// cancelling it when `stop` fires ([`JobError::ShuttingDown`]). Engine errors become
    /// retries or permanent failures as the engine classifies them.
    pub(crate) async fn run_engine<T, W>(
        &self,
        job: &Job,
        of: ProgressOf,
        stop: &CancellationToken,
        work: W,
    ) -> Result<T, JobError>
    where
        T: Send + 'static,
        W: FnOnce(Control<'_>) -> Result<T, MediaError> + Send + 'static,
    {
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = watch::channel(0.0_f64);
        let flag = cancel.clone();
        let mut task = tokio::task::spawn_blocking(move || {
            let progress = move |p: f64| {
                tx.send_replace(p);
            };
            work(Control {
                progress: &progress,
                cancel: &flag,
            })
        });
        let result = tokio::select! {
            result = &mut task => result,
            () = self.report_progress(job, of, rx, stop) => {
                cancel.store(true, Ordering::SeqCst);
                task.await
            }
        };
        match result {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(MediaError::Cancelled)) => Err(JobError::ShuttingDown),
            Ok(Err(e)) => {
                tracing::info!(code = e.code(), error = %e, "the engine refused the input");
                Err(JobError::from_media(e))
            }
            Err(e) => Err(JobError::retry("the conversion engine crashed", e)),
        }
    }

    /// Writes the latest progress at most once per `progress_interval`; returns only when
    /// `stop` fires.
    async fn report_progress(
        &self,
        job: &Job,
        of: ProgressOf,
        mut rx: watch::Receiver<f64>,
        stop: &CancellationToken,
    ) {
        let interval = self.config.progress_interval();
        let mut next_write = Instant::now();
        let (mut pending, mut open) = (false, true);
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => return,
                changed = rx.changed(), if open && !pending => match changed {
                    Ok(()) => pending = true,
                    Err(_) => open = false,
                },
                () = tokio::time::sleep_until(next_write), if pending => {
                    pending = false;
                    let progress = *rx.borrow_and_update();
                    self.write_progress(job, of, progress).await;
                    next_write = Instant::now() + interval;
                }
            }
        }
    }

    async fn write_progress(&self, job: &Job, of: ProgressOf, progress: f64) {
        let db = &self.deps.db;
        let written = match of {
            ProgressOf::Job => db
                .update_progress(&job.id, progress)
                .await
                .map(|applied| applied.then_some(progress)),
            ProgressOf::Chunk(index) => db.update_chunk_progress(&job.id, index, progress).await,
            ProgressOf::Quiet => Ok(None),
        };
        match written {
            Ok(Some(progress)) => self.deps.events.publish(JobEvent {
                job_id: job.id.clone(),
                owner_id: job.owner_id.clone(),
                state: JobState::Converting,
                progress: progress.clamp(0.0, 1.0),
                error_code: None,
                error_message: None,
            }),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "progress not recorded"),
        }
    }
}
