//! `mp3converter upload FILE... [--wait [-o DIR]] [options]`: stream each file to the server as
//! a resumable (tus) upload under `/api/v1/uploads`, resuming by itself after a dropped
//! connection; with `--wait`, follow each job's live events and download the MP3s.
//!
//! By default only the audio track of an MP4/MOV or Matroska/WebM video is sent (`audio.rs`);
//! `--no-extract-audio` sends the whole file. `--cover PIC` sends the picture with each upload
//! (`PUT /api/v1/uploads/{id}/cover`, after creating the upload and before its bytes).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clap::Args;
use futures_util::{StreamExt, TryStreamExt};
use mp3converter_core::{ConvertOptions, JobEvent, JobId, JobState};
use mp3converter_media::extract::Extraction;
use reqwest::Body;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::api::{Api, ClientError, JobInfo, UploadProgress, human_bytes};
use super::audio;
use super::download::{self, Target};
use super::progress::{Bar, Progress};
use super::session;
use super::sse::SseParser;
use crate::cli::convert::OptionArgs;

/// Bytes read from a file at a time while uploading.
const READ_CHUNK: usize = 64 * 1024;
/// How often a broken event stream is reopened before `--wait` gives up.
const MAX_RECONNECTS: u32 = 5;

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The video or audio files to convert.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    #[command(flatten)]
    pub(super) wait: WaitArgs,
    #[command(flatten)]
    pub(super) conversion: OptionArgs,
    /// Send only the audio track of an MP4/MOV/M4V or Matroska/WebM video (AAC, MP3, ALAC,
    /// Opus or Vorbis), taken out of the container here without re-encoding; the video never
    /// leaves this machine. The default. Other files are sent whole.
    #[arg(long, overrides_with = "no_extract_audio")]
    extract_audio: bool,
    /// Send the whole file, video included.
    #[arg(long, overrides_with = "extract_audio")]
    no_extract_audio: bool,
}

/// `--wait [-o DIR]`, shared by `upload` and `import`.
#[derive(Debug, Args)]
pub(super) struct WaitArgs {
    /// Wait for the conversions and download the MP3s.
    #[arg(long)]
    pub(super) wait: bool,
    /// Where `--wait` saves the MP3s (default: the current directory; created if missing).
    #[arg(short, long, value_name = "DIR", requires = "wait")]
    output: Option<PathBuf>,
}

impl WaitArgs {
    /// The directory `--wait` saves into, created if missing.
    pub(super) fn out_dir(&self) -> anyhow::Result<PathBuf> {
        let out_dir = self.output.clone().unwrap_or_else(|| PathBuf::from("."));
        if self.wait {
            std::fs::create_dir_all(&out_dir)
                .with_context(|| format!("cannot create {}", out_dir.display()))?;
        }
        Ok(out_dir)
    }
}

/// The conversion options of the flags for a job the server fetches itself (`import`: no
/// picture can go with it), checked before anything is sent (the server checks them again), and
/// the stored session's API client.
pub(super) fn prepare(conversion: &OptionArgs) -> anyhow::Result<(ConvertOptions, Api)> {
    anyhow::ensure!(
        conversion.cover.is_none(),
        "--cover cannot go with an import (the server fetches the file, no picture goes with \
         it): use --cover-from-video, or download the file and `mp3converter upload FILE --cover PIC`"
    );
    let options = conversion.options();
    options.validate()?;
    Ok((options, Api::from_session(session::load()?)?))
}

/// Largest cover picture the server takes (the gateway's `MAX_COVER_BYTES`).
const MAX_COVER_BYTES: u64 = 16 << 20;

/// Reads the `--cover` picture, refused here with a clear message when the server would refuse
/// it: not a readable file, empty, over 16 MiB, or not a JPEG, PNG or WebP picture.
fn read_cover(path: &Path) -> anyhow::Result<Vec<u8>> {
    let name = path.display();
    let meta = std::fs::metadata(path).with_context(|| format!("--cover {name}"))?;
    anyhow::ensure!(meta.is_file(), "--cover {name}: not a regular file");
    anyhow::ensure!(meta.len() > 0, "--cover {name}: the file is empty");
    anyhow::ensure!(
        meta.len() <= MAX_COVER_BYTES,
        "--cover {name}: {} is larger than the 16 MiB a cover picture may have",
        human_bytes(meta.len())
    );
    let picture = std::fs::read(path).with_context(|| format!("--cover {name}"))?;
    anyhow::ensure!(
        picture.len() as u64 <= MAX_COVER_BYTES,
        "--cover {name}: larger than the 16 MiB a cover picture may have"
    );
    let start = picture.get(..12).unwrap_or(&picture);
    let is_picture = start.starts_with(&[0xFF, 0xD8, 0xFF])
        || start.starts_with(b"\x89PNG\r\n\x1a\n")
        || (start.starts_with(b"RIFF") && start.get(8..12) == Some(b"WEBP"));
    anyhow::ensure!(
        is_picture,
        "--cover {name}: not a JPEG, PNG or WebP picture"
    );
    Ok(picture)
}

pub async fn run(args: UploadArgs) -> anyhow::Result<()> {
    // The picture is checked before anything else, so a wrong one stops the command before any
    // file goes up; the same picture goes with every file.
    let cover = args
        .conversion
        .cover
        .as_deref()
        .map(read_cover)
        .transpose()?;
    let mut conversion_options = args.conversion.options();
    conversion_options.validate()?;
    // The server sets `cover` itself when the picture arrives.
    conversion_options.cover = false;
    let options = conversion_options;
    let api = Api::from_session(session::load()?)?;
    let out_dir = args.wait.out_dir()?;
    // A typo in the last name should not be found after the first files went up.
    for file in &args.files {
        let meta = std::fs::metadata(file).with_context(|| file.display().to_string())?;
        anyhow::ensure!(meta.is_file(), "{}: not a regular file", file.display());
    }
    let progress = Progress::new();
    let mut failed = Vec::new();
    // In a batch, each refused or failed file is named the moment it happens (not only at the
    // end, after the others' uploads and conversions); one file's error ends the command.
    let batch = args.files.len() > 1;
    let report = |file: &Path, e: &anyhow::Error| {
        if batch {
            progress.line(format!("mp3converter: {}: {e:#}", file.display()));
        }
    };

    let mut uploaded = Vec::new();
    for file in &args.files {
        let extract = !args.no_extract_audio;
        match upload(&api, &progress, file, &options, cover.as_deref(), extract).await {
            Ok(job) => {
                if !args.wait.wait {
                    println!("{}", job.id);
                }
                uploaded.push((file, job));
            }
            Err(e) => {
                let fatal = e
                    .downcast_ref::<ClientError>()
                    .is_some_and(ClientError::is_fatal);
                if fatal {
                    return Err(e);
                }
                report(file, &e);
                failed.push((file, e));
            }
        }
    }

    if args.wait.wait {
        // The server converts the jobs side by side; follow them all at once.
        let target = Target::Dir(out_dir);
        let finished = futures_util::future::join_all(uploaded.iter().map(|(file, job)| {
            let (api, progress, target, report) = (&api, &progress, &target, &report);
            async move {
                let name = display_name(file);
                let result = match wait(api, progress, &name, &job.id).await {
                    Ok(()) => download::fetch(api, &job.id, target, progress).await,
                    Err(e) => Err(e),
                };
                if let Err(e) = &result {
                    report(file, e);
                }
                result
            }
        }))
        .await;
        for ((file, _), result) in uploaded.iter().zip(finished) {
            match result {
                Ok(path) => println!("{}", path.display()),
                Err(e) => failed.push((file, e)),
            }
        }
    }

    match failed.len() {
        0 => Ok(()),
        1 if args.files.len() == 1 => {
            let (file, e) = failed.remove(0);
            Err(e.context(file.display().to_string()))
        }
        // Each was named when it failed.
        n => anyhow::bail!("{n} of {} files failed", args.files.len()),
    }
}

fn display_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Consecutive attempts that gain no byte before an upload gives up (with waits of 2, 4, 8,
/// 16, 32, 32, ... seconds between them: a few minutes for a server to come back).
const MAX_RETRIES: u32 = 8;

/// Uploads `path` resumably (tus): after a dropped connection, a restarted server or a 5xx it
/// asks the server how much arrived and sends the rest. With `extract`, only the audio is sent
/// when it can be taken out of the file; a `cover` picture is sent before the file's bytes. The
/// created job.
async fn upload(
    api: &Api,
    progress: &Progress,
    path: &Path,
    options: &ConvertOptions,
    cover: Option<&[u8]>,
    extract: bool,
) -> anyhow::Result<JobInfo> {
    let file_size = tokio::fs::metadata(path)
        .await
        .context("cannot read the file")?
        .len();
    let name = display_name(path);
    let extraction = if extract {
        let bar = progress.transfer("scan", &name, Some(file_size));
        audio::plan(path, options.track, bar).await?
    } else {
        None
    };
    let mut metadata = vec![format!("filename {}", STANDARD.encode(&name))];
    let mut options = options.clone();
    let size = match &extraction {
        Some(extraction) => {
            progress.line(format!(
                "{name}: sending only the audio: {} of {}",
                human_bytes(extraction.len),
                human_bytes(file_size)
            ));
            // The server learns that only the audio was sent; the extracted file has one
            // audio track.
            metadata.push(format!(
                "source_size {}",
                STANDARD.encode(file_size.to_string())
            ));
            options.track = None;
            extraction.len
        }
        None => file_size,
    };
    if options != ConvertOptions::default() {
        let json = serde_json::to_string(&options)?;
        metadata.push(format!("options {}", STANDARD.encode(json)));
    }
    let url = api.create_upload(size, &metadata.join(",")).await?;
    if let Some(cover) = cover
        && let Err(e) = api.put_upload_cover(&url, cover.to_vec()).await
    {
        // Without its picture the job would not be the one asked for: give the upload up.
        if let Err(error) = api.delete_upload(&url).await {
            tracing::debug!(%error, "could not terminate the upload");
        }
        return Err(anyhow::Error::new(e).context("the cover picture was not accepted"));
    }

    let bar = progress.transfer("upload", &name, Some(size));
    progress.step(format!("uploading {name} ({})", human_bytes(size)));
    let mut offset = 0;
    let mut failures = 0;
    let job = loop {
        let sent = send_from(api, &bar, path, extraction.as_ref(), &url, offset, size);
        let error = match sent.await {
            Ok(UploadProgress { job: Some(job), .. }) => break job,
            Ok(UploadProgress { offset: at, .. }) => {
                // The server took the body but not all of it: send the rest.
                offset = at;
                continue;
            }
            Err(e) => e,
        };
        let retry = error.is_connection()
            || matches!(&error, ClientError::Server { status, .. }
                if status.is_server_error() || *status == reqwest::StatusCode::CONFLICT);
        failures += 1;
        if !retry || failures > MAX_RETRIES {
            bar.finish();
            return Err(error.into());
        }
        let pause = Duration::from_secs(1 << failures.min(5));
        progress.line(format!(
            "{name}: {error}; resuming in {} s",
            pause.as_secs()
        ));
        tokio::time::sleep(pause).await;
        match api.upload_offset(&url).await {
            Ok(UploadProgress { job: Some(job), .. }) => break job,
            Ok(UploadProgress { offset: at, .. }) => {
                if at > offset {
                    failures = 0;
                }
                offset = at;
            }
            // Still unreachable: the next attempt finds out again.
            Err(e) if e.is_connection() => {}
            Err(e) => {
                bar.finish();
                return Err(e.into());
            }
        }
    };
    bar.finish();
    let job = api.job(&job).await?;
    progress.line(format!("{name}: uploaded as job {}", job.id));
    Ok(job)
}

/// One PATCH: the file (or the extracted audio, when there is an `extraction`) from `offset`
/// to its end, streamed.
async fn send_from(
    api: &Api,
    bar: &Bar,
    path: &Path,
    extraction: Option<&Extraction>,
    url: &str,
    offset: u64,
    size: u64,
) -> Result<UploadProgress, ClientError> {
    let unreadable = |e: std::io::Error| ClientError::Protocol {
        server: api.server().to_owned(),
        detail: format!("cannot read {}: {e}", path.display()),
    };
    let mut file = tokio::fs::File::open(path).await.map_err(unreadable)?;
    bar.set_position(offset);
    let counter = bar.clone();
    if let Some(extraction) = extraction {
        let body = audio::body_from(file, extraction, offset)
            .inspect_ok(move |chunk| counter.inc(chunk.len() as u64));
        return api.patch_upload(url, offset, Body::wrap_stream(body)).await;
    }
    file.seek(std::io::SeekFrom::Start(offset))
        .await
        .map_err(unreadable)?;
    let body = ReaderStream::with_capacity(file.take(size - offset), READ_CHUNK)
        .inspect_ok(move |chunk| counter.inc(chunk.len() as u64));
    api.patch_upload(url, offset, Body::wrap_stream(body)).await
}

/// How a job ended.
#[derive(Debug)]
struct Outcome {
    state: JobState,
    error: Option<String>,
}

/// Follows job `id` until it is done; the failure reason when it failed or expired.
pub(super) async fn wait(
    api: &Api,
    progress: &Progress,
    name: &str,
    id: &JobId,
) -> anyhow::Result<()> {
    let bar = progress.conversion(name);
    let mut seen = None;
    let mut reconnects = 0;
    let outcome = loop {
        if let Some(outcome) = follow(api, id, &bar, progress, name, &mut seen).await? {
            break outcome;
        }
        // The stream ended before a final state (a proxy timeout, a server restart): ask for
        // the job itself, then listen again.
        let job = api.job(id).await?;
        if job.state.is_terminal() {
            break Outcome {
                state: job.state,
                error: job.error.map(|e| e.message),
            };
        }
        reconnects += 1;
        if reconnects > MAX_RECONNECTS {
            anyhow::bail!(
                "lost the live events of job {id}; see `mp3converter jobs` for its state"
            );
        }
        tokio::time::sleep(Duration::from_secs(reconnects.into())).await;
    };
    bar.finish();
    let message = match outcome.state {
        JobState::Done => {
            progress.step(format!("{name}: converted"));
            return Ok(());
        }
        JobState::Expired => "the job expired before its audio was downloaded".to_owned(),
        _ => outcome
            .error
            .unwrap_or_else(|| "the server gave no reason".to_owned()),
    };
    Err(ClientError::JobFailed { message }.into())
}

/// Reads job `id`'s events into `bar` until a final state, or `None` if the stream ends first.
/// `seen` is the last state shown.
async fn follow(
    api: &Api,
    id: &JobId,
    bar: &Bar,
    progress: &Progress,
    name: &str,
    seen: &mut Option<JobState>,
) -> Result<Option<Outcome>, ClientError> {
    let res = api.events(id).await?;
    let mut body = res.bytes_stream();
    let mut parser = SseParser::default();
    while let Some(chunk) = body.next().await {
        let Ok(chunk) = chunk else {
            return Ok(None); // a broken connection: the caller checks the job and reconnects
        };
        for message in parser.push(&chunk) {
            if message.event != "message" {
                continue;
            }
            let event: JobEvent =
                serde_json::from_str(&message.data).map_err(|e| ClientError::Protocol {
                    server: api.server().to_owned(),
                    detail: format!("a job event is not valid: {e}"),
                })?;
            bar.set_fraction(event.progress);
            if *seen != Some(event.state) {
                *seen = Some(event.state);
                bar.set_message(format!("{name} ({})", event.state.as_str()));
                if !event.state.is_terminal() {
                    progress.step(format!("{name}: {}", event.state.as_str()));
                }
            }
            if event.state.is_terminal() {
                return Ok(Some(Outcome {
                    state: event.state,
                    error: event.error_message,
                }));
            }
        }
    }
    Ok(None)
}
