//! The mp3converter conversion engine: turns a video or audio file into an MP3.
//!
//! Synchronous and self-contained (no async runtime): services call it from a blocking thread.
//!
//! * [`probe`] describes a file: container, duration, audio streams, and which path would
//!   convert it.
//! * [`convert`] writes the MP3. The **native** path demuxes and decodes in-process with
//!   symphonia and encodes with LAME, optionally on several threads (chunk-parallel, see
//!   below); the **copy** path re-muxes MP3 audio without re-encoding; the **ffmpeg**
//!   path runs the `ffmpeg` binary in a sandbox for what the native path cannot do correctly.
//!
//! Chunk-parallel encoding is explained in `parallel.rs`; the same chunks as separate tasks
//! (planned, encoded where a worker is free, joined) in `chunks/`: [`plan_chunks`],
//! [`encode_chunk`], [`join_chunks`].
//!
//! Routing rules and their reasons live in [`route`]; every error is a [`MediaError`] that says
//! whether retrying can help.

mod calibrate;
mod chunks;
mod codec;
mod config;
mod copy;
mod decode;
mod encode;
mod error;
pub mod extract;
mod ffmpeg;
mod loudness;
pub mod meta;
mod mix;
mod mp3frame;
mod mp3out;
mod mp4edit;
mod output;
mod parallel;
mod plan;
mod probe;
mod report;
mod resample;
pub mod route;
mod sink;
mod split;
mod tagging;
#[cfg(test)]
mod testaudio;
mod wavhead;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

pub use calibrate::{DECODE_SECS_PER_SEC, calibrate, cpu_time};
pub use chunks::{ChunkPlan, Chunking, EncodedChunk, encode_chunk, join_chunks, plan_chunks};
pub use config::{EngineChoice, EngineConfig};
pub use error::MediaError;
pub use ffmpeg::frame::cover_from_video;
pub use meta::{Chapter, Cover, SourceMeta};
pub use mp3converter_core::{AudioFormat, ConvertOptions, Encoding, UnknownFormat};
/// File-kind recognition from the first bytes (its own crate, so the gateway can use it without
/// linking the engine); re-exported so callers of the engine find it here too.
pub use mp3converter_sniff as sniff;
pub use report::{AudioStream, ConvertReport, LoudnessReport, Pipeline, ProbeReport};
pub use tagging::Extras;

/// Progress reporting and cancellation for one conversion.
#[derive(Clone, Copy)]
pub struct Control<'a> {
    /// Called with the fraction done (0.0–1.0), at least every 1 % or 250 ms of work.
    pub progress: &'a (dyn Fn(f64) + Sync),
    /// Set to true to stop the conversion; it then fails with [`MediaError::Cancelled`].
    pub cancel: &'a AtomicBool,
}

impl std::fmt::Debug for Control<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("cancel", &self.cancel)
            .finish_non_exhaustive()
    }
}

static NEVER_CANCELLED: AtomicBool = AtomicBool::new(false);

impl Control<'static> {
    /// No progress reports, never cancelled.
    pub fn none() -> Self {
        Control {
            progress: &|_| {},
            cancel: &NEVER_CANCELLED,
        }
    }
}

impl Control<'_> {
    pub(crate) fn check_cancelled(&self) -> Result<(), MediaError> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(MediaError::Cancelled)
        } else {
            Ok(())
        }
    }
}

/// Describes `input`: container, duration, audio streams, and the route [`convert`] would take.
pub fn probe(input: &Path, config: &EngineConfig) -> Result<ProbeReport, MediaError> {
    contain_panics(|| probe::probe(input, config))
}

/// Runs `work`, turning a panic in a decoder or demuxer (third-party code fed untrusted bytes)
/// into [`MediaError::Corrupt`], so one hostile file fails its own job instead of taking the
/// worker thread down. Temporary files are removed as the panic unwinds.
fn contain_panics<T>(work: impl FnOnce() -> Result<T, MediaError>) -> Result<T, MediaError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(panic = %what, "the engine panicked on an input; failing it as damaged");
        Err(MediaError::corrupt(
            "the decoder could not make sense of this file",
        ))
    })
}

/// Converts `input` to audio in the options' format at `output` (written to a temporary file beside it and renamed into
/// place, so a failed conversion never leaves a partial file).
pub fn convert(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    control: Control<'_>,
) -> Result<ConvertReport, MediaError> {
    convert_with(input, output, options, &Extras::default(), config, control)
}

/// [`convert`] with the files a job brings besides its input (its own cover image).
pub fn convert_with(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    extras: &Extras<'_>,
    config: &EngineConfig,
    control: Control<'_>,
) -> Result<ConvertReport, MediaError> {
    contain_panics(|| convert_unguarded(input, output, options, extras, config, control))
}

fn convert_unguarded(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    extras: &Extras<'_>,
    config: &EngineConfig,
    control: Control<'_>,
) -> Result<ConvertReport, MediaError> {
    options.validate()?;
    let plan = route::plan(input, options, config)?;
    let tagging = tagging::resolve(input, options, extras, &plan, config)?;
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".mp3c-")
        .suffix(".part")
        .tempfile_in(dir)?;
    let report = match plan.pipeline {
        Pipeline::Native => {
            encode::convert_native(input, tmp.path(), options, config, &plan, &tagging, control)?
        }
        Pipeline::Copy => {
            copy::copy_mp3(input, tmp.path(), options, config, &plan, &tagging, control)?
        }
        Pipeline::Ffmpeg if options.split.is_some() => {
            split::split_with_ffmpeg(input, tmp.path(), options, config, &plan, &tagging, control)?
        }
        Pipeline::Ffmpeg => {
            ffmpeg::convert(input, tmp.path(), options, config, &plan, &tagging, control)?
        }
    };
    // A split's parts carry no chapter marks.
    let report = ConvertReport {
        title: tagging.tags.title.clone(),
        tags: tagging.tags.clone(),
        cover: tagging.cover.is_some(),
        chapters: if report.parts.is_some() {
            0
        } else {
            tagging.chapters.len()
        },
        ..report
    };
    // Temp files are created 0600; the result is an ordinary file.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    tmp.persist(output).map_err(|e| MediaError::Io(e.error))?;
    (control.progress)(1.0);
    Ok(report)
}

/// The MP3 encoder and the compiled copy of it this CPU runs, e.g. "LAME 3.100 (x86-64-v3)".
pub fn mp3_encoder() -> String {
    format!(
        "LAME {} ({})",
        mp3converter_lame::version(),
        mp3converter_lame::Build::active().name()
    )
}

/// True when the ffmpeg binary named in `config` can be run.
pub fn ffmpeg_available(config: &EngineConfig) -> bool {
    ffmpeg::available(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_in_the_engine_becomes_a_permanent_corrupt_error() {
        let e = contain_panics::<()>(|| panic!("index out of bounds")).unwrap_err();
        assert_eq!(e.code(), "corrupt-media");
        assert!(e.is_permanent());
        assert_eq!(contain_panics(|| Ok(7)).unwrap(), 7);
    }
}
