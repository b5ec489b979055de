//! `convert --dry-run`: predict the conversion instead of running it.
//!
//! The input is probed (route and duration, its first audio stream's rate and channels), the
//! speed for the chosen format and settings is measured by converting a few seconds of generated
//! audio with the real engine (`mp3converter_media::calibrate`, under a second of CPU), and the
//! core's estimate model turns that into a size and a time. The JSON goes to stdout; nothing is
//! written.

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
    let speed = match route {
        // Copying frames is disk speed; a calibration run would cost more than the work.
        EstimateRoute::Copy => Speed {
            secs_per_sec: mp3converter_core::reference_speed(format, Some(route)),
            source: SpeedSource::Reference,
        },
        EstimateRoute::Native | EstimateRoute::Ffmpeg => Speed {
            secs_per_sec: mp3converter_media::calibrate(options, &config)
                .context("cannot measure this machine's speed")?,
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
        speed,
        overhead_secs: overhead_secs(route),
    });
    println!("{}", serde_json::to_string_pretty(&estimate)?);
    Ok(())
}
