//! `convert --dry-run`: predict the conversion instead of running it.
//!
//! The input is probed (route and duration, its first audio stream's rate and channels), the
//! speed for the chosen format and settings is measured by converting two pieces of the input
//! itself (2 s and 12 s from the middle of the kept range, the fastest of two runs each in CPU
//! time, again with the loudness target for its measuring pass; the generated audio of
//! `mp3converter_media::calibrate` for inputs too short to sample), and the core's estimate
//! model turns that into a size and a time; a size that depends on the audio is the sample's
//! rate carried on to the whole length. The JSON goes to stdout; nothing is kept.

use std::path::Path;

use anyhow::Context;
use mp3converter_core::{EstimateInput, EstimateRoute, Speed, SpeedSource};
use mp3converter_media::{ConvertOptions, EngineChoice, EngineConfig, Pipeline};

/// Start-up, probing and writing that do not grow with the audio, seconds (the ffmpeg route
/// adds an ffprobe pass and a sandboxed child).
fn overhead_secs(route: EstimateRoute) -> f64 {
    match route {
        EstimateRoute::Ffmpeg => 0.3,
        EstimateRoute::Native | EstimateRoute::Copy => 0.03,
    }
}

/// Prints the estimate for converting `input` with `options` (already validated).
pub(super) fn run(
    input: &Path,
    options: &ConvertOptions,
    engine: EngineChoice,
    threads: usize,
) -> anyhow::Result<()> {
    let config = EngineConfig {
        engine,
        threads,
        ..EngineConfig::default()
    };
    let cannot = || format!("cannot convert {}", input.display());
    let plan = mp3converter_media::route::plan(input, options, &config).with_context(cannot)?;
    let report = mp3converter_media::probe(input, &config).with_context(cannot)?;
    let duration = plan
        .duration_secs
        .or(report.duration_secs)
        .with_context(|| format!("cannot tell how long {} is", input.display()))?;
    let stream = report.audio_streams.get(options.track.unwrap_or(0));
    let route = match plan.pipeline {
        Pipeline::Native => EstimateRoute::Native,
        Pipeline::Copy => EstimateRoute::Copy,
        Pipeline::Ffmpeg => EstimateRoute::Ffmpeg,
    };
    let format = options.format();
    let sampled = match route {
        EstimateRoute::Copy => None,
        EstimateRoute::Native | EstimateRoute::Ffmpeg => sample(input, options, &config, duration)?,
    };
    let speed = match (route, &sampled) {
        // Copying frames is disk speed; a calibration run would cost more than the work.
        (EstimateRoute::Copy, _) => Speed {
            secs_per_sec: mp3converter_core::reference_speed(format, Some(route)),
            measure_secs_per_sec: None,
            source: SpeedSource::Reference,
        },
        (_, Some(sampled)) => Speed {
            secs_per_sec: sampled.secs_per_sec,
            measure_secs_per_sec: sampled.measure_secs_per_sec,
            source: SpeedSource::Measured,
        },
        (_, None) => Speed {
            secs_per_sec: mp3converter_media::calibrate(options, &config)
                .context("cannot measure this machine's speed")?,
            measure_secs_per_sec: None,
            source: SpeedSource::Measured,
        },
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let estimate = mp3converter_core::estimate(&EstimateInput {
        options,
        duration_secs: duration,
        source_rate: stream.and_then(|s| s.sample_rate),
        source_channels: stream.and_then(|s| s.channels),
        source_bytes: std::fs::metadata(input).ok().map(|m| m.len()),
        route: Some(route),
        threads: config.effective_threads().min(cores),
        parallel_min_secs: config.parallel_min_secs,
        parallel_chunk_secs: config.chunk_secs,
        speed,
        overhead_secs: overhead_secs(route),
    });
    let mut estimate = estimate;
    // A size that depends on the audio (VBR, FLAC, Opus, M4A) is what this input's own sample
    // made, carried on to the whole length.
    if let Some(sampled) = sampled.filter(|_| estimate.bytes_approximate) {
        let rest = (estimate.duration_secs - SAMPLE_LONG_SECS).max(0.0);
        estimate.bytes = (sampled.long_bytes as f64 + rest * sampled.bytes_per_sec).round() as u64;
    }
    println!("{}", serde_json::to_string_pretty(&estimate)?);
    Ok(())
}

/// The short and the long piece that [`sample`] converts: the difference leaves out what does
/// not grow with the audio (start-up, headers, decoding what comes before the pieces).
const SAMPLE_SHORT_SECS: f64 = 2.0;
const SAMPLE_LONG_SECS: f64 = 12.0;
/// The pieces start in the middle of the kept range, at most this far in: the start of a
/// file is often unlike the rest (an encoder's rate control settling, an intro), and the
/// native pipeline decodes what it skips.
const SAMPLE_MAX_SKIP_SECS: f64 = 60.0;
/// Each piece is converted this many times and the fastest run counts. Runs are timed in CPU
/// time (of this process and the ffmpeg it waited for): on one thread that is the wall time of
/// a quiet machine, and what else the machine runs does not slow it.
const SAMPLE_RUNS: usize = 2;

/// What converting pieces of the input itself showed.
struct Sampled {
    /// Seconds of work per second of audio, one thread, no loudness pass.
    secs_per_sec: f64,
    /// Seconds of the loudness measuring pass per second of audio, when the job has a target.
    measure_secs_per_sec: Option<f64>,
    /// Output bytes per second of audio.
    bytes_per_sec: f64,
    /// The long piece's output size (headers included).
    long_bytes: u64,
}

/// Converts two pieces of the input with the job's format and settings (one thread) to
/// measure this input's own cost and output rate, which vary with the audio far more than with
/// the format alone (ffmpeg's AAC encoder takes 8x as long on tonal music as on noise; FLAC and
/// VBR sizes follow the content); with a loudness target, the pieces again with it, for the
/// measuring pass's cost. `None` for inputs too short to sample; the generated-audio
/// calibration is used then.
fn sample(
    input: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    duration: f64,
) -> anyhow::Result<Option<Sampled>> {
    let start = options.start.unwrap_or(0.0);
    let end = options.end.unwrap_or(duration).min(duration);
    let kept = end - start;
    if kept < SAMPLE_LONG_SECS * 2.0 {
        return Ok(None);
    }
    let at = start + ((kept - SAMPLE_LONG_SECS) / 2.0).clamp(0.0, SAMPLE_MAX_SKIP_SECS);
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let config = EngineConfig {
        threads: 1,
        ..config.clone()
    };
    // The fastest of SAMPLE_RUNS conversions of `secs` from `at`, and its output size.
    let run = |secs: f64, loudness: Option<f64>| -> anyhow::Result<(f64, u64)> {
        let piece = ConvertOptions {
            start: Some(at),
            end: Some(at + secs),
            loudness,
            split: None,
            cover: false,
            cover_from_video: None,
            ..options.clone()
        };
        let out = dir
            .path()
            .join(format!("sample-{secs}.{}", options.format().extension()));
        let mut best = (f64::INFINITY, 0);
        for _ in 0..SAMPLE_RUNS {
            let began = mp3converter_media::cpu_time();
            let report = mp3converter_media::convert(
                input,
                &out,
                &piece,
                &config,
                mp3converter_media::Control::none(),
            )
            .with_context(|| format!("cannot convert a sample of {}", input.display()))?;
            let took = (mp3converter_media::cpu_time() - began).as_secs_f64();
            if took < best.0 {
                best = (took, report.bytes);
            }
        }
        Ok(best)
    };
    let span = SAMPLE_LONG_SECS - SAMPLE_SHORT_SECS;
    let (short_time, short_bytes) = run(SAMPLE_SHORT_SECS, None)?;
    let (long_time, long_bytes) = run(SAMPLE_LONG_SECS, None)?;
    let secs_per_sec = ((long_time - short_time) / span).max(0.0);
    let measure_secs_per_sec = match options.loudness {
        Some(target) => {
            let (short, _) = run(SAMPLE_SHORT_SECS, Some(target))?;
            let (long, _) = run(SAMPLE_LONG_SECS, Some(target))?;
            Some(((long - short) / span - secs_per_sec).max(0.0))
        }
        None => None,
    };
    Ok(Some(Sampled {
        secs_per_sec,
        measure_secs_per_sec,
        bytes_per_sec: long_bytes.saturating_sub(short_bytes) as f64 / span,
        long_bytes,
    }))
}
