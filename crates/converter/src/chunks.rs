//! Distributed chunks, the converter's side: planning a long job as chunk tasks, encoding one
//! chunk and storing its frames with their checksum, and joining the stored chunks into the
//! job's audio once the last one is in.
//!
//! Every step is idempotent and keyed by the database: a chunk already stored is not encoded
//! again, exactly one converter writes the join task (see `mp3converter_db::ChunkFinish`), a
//! chunk whose blob is missing or damaged at the join is encoded again, and a job that finished,
//! failed or was deleted meanwhile makes its tasks end quietly (the janitor sweeps what they
//! left in storage).

use std::io::Read;
use std::path::{Path, PathBuf};

use futures_util::TryStreamExt;
use mp3converter_core::{ChunkTask, FailureReason, Job, VideoUploaded};
use mp3converter_db::{ChunkFinish, StoredChunk};
use mp3converter_media::{ChunkPlan, Chunking, EncodedChunk, MediaError};
use mp3converter_storage::StorageError;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::Converter;
use crate::engine::ProgressOf;
use crate::error::JobError;
use crate::inputs::InputCache;
use crate::job::{Handled, audio_key};

/// Blob key of chunk `index` of `job`.
/// Failure codes of a chunk task that mean "the plan is wrong for this input", not "the input
/// is bad": the job is converted in one piece instead of failing.
const PLAN_DOES_NOT_FIT: [&str; 2] = ["chunk-mismatch", "corrupt-plan"];

pub(crate) fn chunk_key(job: &Job, index: u32) -> String {
    format!("chunks/{}/{index}.mp3", job.id)
}

impl Converter {
    /// Plans `job` (its video at `input`) as chunk tasks when it is long enough and the engine
    /// can cut it; true when the tasks are written (the job's own message is then done).
    pub(crate) async fn plan_if_long(
        &self,
        job: &Job,
        input: &Path,
        stop: &CancellationToken,
    ) -> Result<bool, JobError> {
        if self.config.split_min_secs <= 0.0 {
            return Ok(false);
        }
        let engine = self.engine_for(&self.config.temp_root());
        let (input, options) = (input.to_owned(), job.options.clone());
        let chunk_secs = self.config.split_chunk_secs;
        let started = std::time::Instant::now();
        let chunking = self
            .run_engine(job, ProgressOf::Quiet, stop, move |_| {
                mp3converter_media::plan_chunks(&input, &options, &engine, chunk_secs)
            })
            .await?;
        let plan = match chunking {
            Chunking::Split(plan) if self.config.splits(duration_secs(&plan)) => plan,
            Chunking::Split(_) => return Ok(false),
            Chunking::Whole { reason } => {
                tracing::info!(%reason, "converting in one piece, not as chunk tasks");
                return Ok(false);
            }
        };
        let json = serde_json::to_string(&plan)
            .map_err(|e| JobError::retry("the chunk plan could not be written", e))?;
        let written = self
            .deps
            .db
            .plan_chunks_and_enqueue(job, &json, plan.chunks, &self.deps.video_queue)
            .await?;
        tracing::info!(
            chunks = plan.chunks,
            duration_secs = duration_secs(&plan),
            written,
            plan_secs = started.elapsed().as_secs_f64(),
            "split into chunk tasks"
        );
        Ok(true)
    }

    /// Handles one chunk task of `msg`'s job.
    pub(crate) async fn process_task(
        &self,
        msg: &VideoUploaded,
        task: ChunkTask,
        stop: &CancellationToken,
    ) -> Result<Handled, JobError> {
        self.inputs.evict_idle().await;
        let db = &self.deps.db;
        let job = match db.get_job(&msg.job_id).await? {
            Some(job) if !job.state.is_terminal() => job,
            _ => {
                tracing::info!("the job is finished or gone; its chunk task ends here");
                self.inputs.evict(&msg.job_id).await;
                return Ok(Handled::Skipped);
            }
        };
        if task == ChunkTask::Whole {
            return self.convert_whole_after_all(&job, stop).await;
        }
        let Some(record) = db.chunk_plan(&job.id).await? else {
            tracing::info!("the job has no chunk plan any more; nothing to do");
            return Ok(Handled::Skipped);
        };
        let result = match serde_json::from_str::<ChunkPlan>(&record.plan) {
            Err(e) => Err(JobError::Abort(FailureReason {
                code: "corrupt-plan".to_owned(),
                message: format!("the job's chunk plan cannot be read: {e}"),
            })),
            Ok(plan) => match task {
                ChunkTask::Chunk { index, .. } => self.encode_one(&job, &plan, index, stop).await,
                _ => self.join(&job, &plan, stop).await,
            },
        };
        match result {
            Err(JobError::Abort(reason)) if PLAN_DOES_NOT_FIT.contains(&reason.code.as_str()) => {
                self.give_up_plan(&job, &reason).await
            }
            other => other,
        }
    }

    /// The plan does not fit the input after all (it decodes longer than it declared, or to
    /// another shape; the plan cannot be read): the job is queued to be converted in one piece
    /// rather than failed. Of several tasks that find this at once, one queues it; the others,
    /// and the job's remaining tasks, then find no plan and end.
    async fn give_up_plan(&self, job: &Job, reason: &FailureReason) -> Result<Handled, JobError> {
        let queued = self
            .deps
            .db
            .abandon_chunk_plan(job, &self.deps.video_queue)
            .await?;
        if queued {
            tracing::warn!(
                code = %reason.code,
                reason = %reason.message,
                "the chunk plan does not fit the input; converting the job in one piece instead"
            );
        }
        Ok(Handled::Skipped)
    }

    /// The task [`ChunkTask::Whole`]: converts a job whose chunk plan was given up in one piece.
    async fn convert_whole_after_all(
        &self,
        job: &Job,
        stop: &CancellationToken,
    ) -> Result<Handled, JobError> {
        let input = tokio::select! {
            input = self.inputs.get(job, &*self.deps.storage) => input?,
            () = stop.cancelled() => return Err(JobError::ShuttingDown),
        };
        let result = self.convert_whole(job, &input, stop).await;
        self.inputs.evict(&job.id).await;
        result
    }

    /// Encodes chunk `index` and stores it; the last chunk in writes the join task.
    async fn encode_one(
        &self,
        job: &Job,
        plan: &ChunkPlan,
        index: u32,
        stop: &CancellationToken,
    ) -> Result<Handled, JobError> {
        let db = &self.deps.db;
        match db.chunk(&job.id, index).await? {
            Some(chunk) if chunk.stored.is_none() => {}
            Some(_) => {
                tracing::info!(index, "the chunk is already stored; redelivery acked");
                return Ok(Handled::Skipped);
            }
            None => {
                tracing::warn!(index, "the plan has no such chunk");
                return Ok(Handled::Skipped);
            }
        }
        let input = tokio::select! {
            input = self.inputs.get(job, &*self.deps.storage) => input?,
            () = stop.cancelled() => return Err(JobError::ShuttingDown),
        };
        let dir = self.job_dir().await?;
        let engine = self.engine_for(dir.path());
        let (options, owned_plan, source) = (job.options.clone(), plan.clone(), input.clone());
        let started = std::time::Instant::now();
        let encoded = self
            .run_engine(job, ProgressOf::Chunk(index), stop, move |control| {
                mp3converter_media::encode_chunk(
                    &source,
                    &options,
                    &engine,
                    &owned_plan,
                    index,
                    control,
                )
            })
            .await?;
        let encode_secs = started.elapsed().as_secs_f64();
        let file = dir.path().join(format!("chunk-{index}.mp3"));
        tokio::fs::write(&file, &encoded.bytes)
            .await
            .map_err(JobError::from_temp_io)?;
        let key = chunk_key(job, index);
        let put = self
            .deps
            .storage
            .put_file(&key, &file)
            .await
            .map_err(JobError::from_storage)?;
        let stored = StoredChunk {
            blob_key: key.clone(),
            sha256: put.sha256_hex,
            bytes: put.size,
            frames: encoded.frames,
            samples: encoded.samples,
            ends_audio: encoded.last,
        };
        match db
            .finish_chunk(job, index, &stored, &self.deps.video_queue)
            .await?
        {
            ChunkFinish::Remaining(left) => tracing::info!(
                index,
                left,
                encode_secs,
                decoded = encoded.decoded_samples,
                "chunk stored"
            ),
            ChunkFinish::Last => {
                tracing::info!(index, encode_secs, "last chunk stored; the join is queued");
            }
            // Another converter stored the same bytes under the same key: nothing to undo.
            ChunkFinish::AlreadyDone => tracing::info!(index, "the chunk was stored meanwhile"),
            ChunkFinish::NoPlan => {
                tracing::info!(index, "the job finished meanwhile; dropping the chunk");
                self.discard_audio(&key).await;
            }
        }
        if let Err(e) = db.refresh_chunked_progress(&job.id).await {
            tracing::debug!(error = %e, "progress not recorded");
        }
        self.publish_event(&job.id).await;
        Ok(Handled::Converted)
    }

    /// Joins the stored chunks into the job's audio and finishes the job. A chunk whose blob
    /// is missing or fails its checksum is queued again instead (its arrival writes a new join).
    async fn join(
        &self,
        job: &Job,
        plan: &ChunkPlan,
        stop: &CancellationToken,
    ) -> Result<Handled, JobError> {
        let db = &self.deps.db;
        let chunks = db.chunks_of(&job.id).await?;
        let stored: Vec<StoredChunk> = chunks.iter().filter_map(|c| c.stored.clone()).collect();
        if chunks.len() != plan.chunks as usize || stored.len() != chunks.len() {
            tracing::warn!(
                stored = stored.len(),
                chunks = chunks.len(),
                "join task before every chunk is stored; the last chunk writes another"
            );
            return Ok(Handled::Skipped);
        }
        let started = std::time::Instant::now();
        let dir = self.job_dir().await?;
        let mut files = Vec::with_capacity(stored.len());
        let mut redone = 0;
        for (index, chunk) in (0u32..).zip(&stored) {
            let path = dir.path().join(format!("chunk-{index}.mp3"));
            let fetched = tokio::select! {
                fetched = fetch_checked(&*self.deps.storage, chunk, &path) => fetched?,
                () = stop.cancelled() => return Err(JobError::ShuttingDown),
            };
            if let Err(why) = fetched {
                tracing::warn!(index, %why, "a stored chunk is unusable; encoding it again");
                db.redo_chunk(job, index, &self.deps.video_queue).await?;
                redone += 1;
            }
            files.push((path, chunk.clone()));
        }
        if redone > 0 {
            return Ok(Handled::Skipped);
        }
        let input = tokio::select! {
            input = self.inputs.get(job, &*self.deps.storage) => input?,
            () = stop.cancelled() => return Err(JobError::ShuttingDown),
        };
        let output = dir
            .path()
            .join(format!("audio.{}", job.options.output_extension()));
        let engine = self.engine_for(dir.path());
        let (options, plan, out) = (job.options.clone(), plan.clone(), output.clone());
        let cover = job.options.cover.then(|| InputCache::cover_beside(&input));
        let report = self
            .run_engine(job, ProgressOf::Quiet, stop, move |_| {
                let extras = mp3converter_media::Extras {
                    cover: cover.as_deref(),
                };
                let mut chunks = files.iter().map(|(path, stored)| read_chunk(path, stored));
                mp3converter_media::join_chunks(
                    &input,
                    &out,
                    &options,
                    &extras,
                    &engine,
                    &plan,
                    &mut chunks,
                )
            })
            .await?;
        let key = audio_key(&job.id, &job.options);
        let audio = self.store_audio(&key, &output, &report).await?;
        drop(dir);
        let handled = self.finish(job, &audio).await?;
        tracing::info!(
            chunks = stored.len(),
            join_secs = started.elapsed().as_secs_f64(),
            "chunks joined"
        );
        self.forget_chunks(job, &stored).await;
        Ok(handled)
    }

    /// Removes a joined job's chunk blobs, its plan and this converter's copy of its input.
    /// What fails here is left to the janitor.
    async fn forget_chunks(&self, job: &Job, stored: &[StoredChunk]) {
        for chunk in stored {
            self.discard_audio(&chunk.blob_key).await;
        }
        if let Err(e) = self.deps.db.delete_chunk_plan(&job.id).await {
            tracing::warn!(error = %e, "the chunk plan stays for the janitor");
        }
        self.inputs.evict(&job.id).await;
    }

    /// A fresh temporary directory for one task under the configured root.
    pub(crate) async fn job_dir(&self) -> Result<tempfile::TempDir, JobError> {
        let root = self.config.temp_root();
        tokio::fs::create_dir_all(&root)
            .await
            .map_err(JobError::from_temp_io)?;
        tempfile::Builder::new()
            .prefix("mp3c-job-")
            .tempdir_in(&root)
            .map_err(JobError::from_temp_io)
    }
}

/// Fetches `chunk` into `path`, checking its size and SHA-256. The outer error is transient
/// (storage unreachable, local disk); the inner one says why the stored chunk is unusable.
async fn fetch_checked(
    storage: &dyn mp3converter_storage::BlobStore,
    chunk: &StoredChunk,
    path: &Path,
) -> Result<Result<(), String>, JobError> {
    let blob = match storage.get(&chunk.blob_key).await {
        Ok(blob) => blob,
        Err(StorageError::NotFound { .. }) => return Ok(Err("its blob is missing".into())),
        Err(e) => return Err(JobError::from_storage(e)),
    };
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(JobError::from_temp_io)?;
    let (mut hash, mut size) = (Sha256::new(), 0u64);
    let mut body = blob.body;
    while let Some(part) = body.try_next().await.map_err(JobError::from_storage)? {
        hash.update(&part);
        size += part.len() as u64;
        file.write_all(&part)
            .await
            .map_err(JobError::from_temp_io)?;
    }
    file.flush().await.map_err(JobError::from_temp_io)?;
    let sha256: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(if size != chunk.bytes || sha256 != chunk.sha256 {
        Err(format!(
            "its blob has {size} bytes with SHA-256 {sha256}, {} bytes with {} were stored",
            chunk.bytes, chunk.sha256
        ))
    } else {
        Ok(())
    })
}

/// Reads one fetched chunk for the engine's join.
fn read_chunk(path: &PathBuf, stored: &StoredChunk) -> Result<EncodedChunk, MediaError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(MediaError::Io)?;
    Ok(EncodedChunk {
        bytes,
        frames: stored.frames,
        samples: stored.samples,
        last: stored.ends_audio,
        decoded_samples: 0,
    })
}

/// The audio length a plan declares, seconds.
fn duration_secs(plan: &ChunkPlan) -> f64 {
    plan.expected_samples as f64 / f64::from(plan.sample_rate.max(1))
}
