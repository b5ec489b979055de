//! Running the conversion engine on a blocking thread, with throttled progress updates (job row
//! and live event) and cancellation when the job must stop.

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
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = watch::channel(0.0_f64);
        let engine = self.engine_for(job_dir);
        let options = job.options.clone();
        let (input, output) = (input.to_owned(), output.to_owned());
        let cover = cover.map(Path::to_owned);
        let flag = cancel.clone();
        let started = Instant::now();
        let mut task = tokio::task::spawn_blocking(move || {
            let progress = move |p: f64| {
                tx.send_replace(p);
            };
            let control = Control {
                progress: &progress,
                cancel: &flag,
            };
            let extras = mp3converter_media::Extras {
                cover: cover.as_deref(),
            };
            mp3converter_media::convert_with(&input, &output, &options, &extras, &engine, control)
        });
        let result = tokio::select! {
            result = &mut task => result,
            () = self.report_progress(job, rx, stop) => {
                cancel.store(true, Ordering::SeqCst);
                task.await
            }
        };
        match result {
            Ok(Ok(report)) => {
                stats::conversion_time(started.elapsed());
                Ok(report)
            }
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
                    self.write_progress(job, progress).await;
                    next_write = Instant::now() + interval;
                }
            }
        }
    }

    async fn write_progress(&self, job: &Job, progress: f64) {
        match self.deps.db.update_progress(&job.id, progress).await {
            Ok(true) => self.deps.events.publish(JobEvent {
                job_id: job.id.clone(),
                owner_id: job.owner_id.clone(),
                state: JobState::Converting,
                progress: progress.clamp(0.0, 1.0),
                error_code: None,
                error_message: None,
            }),
            Ok(false) => {}
            Err(e) => tracing::debug!(error = %e, "progress not recorded"),
        }
    }
}
