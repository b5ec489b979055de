//! The native path: decode → trim → mix → resample → the format's encoder (see `output`).

use std::path::Path;
use std::time::{Duration, Instant};

use mp3converter_core::{Rate, TRUE_PEAK_CEILING_DBTP};

use crate::decode::{self, PcmSource};
use crate::loudness::{LoudnessMeter, Normalizer};
use crate::mix::Mixer;
use crate::output::{self, Target};
use crate::plan::Plan;
use crate::report::LoudnessReport;
use crate::resample::Resample;
use crate::{Control, ConvertOptions, ConvertReport, EngineConfig, MediaError, Pipeline};

/// Where the pipeline hands each block of planar samples (`right` empty for mono).
type Emit<'a> = dyn FnMut(&[f32], &[f32]) -> Result<(), MediaError> + 'a;

/// Share of the progress bar taken by the loudness measurement pass (it decodes the input
/// once more, without encoding).
const MEASURE_SHARE: f64 = 0.3;

/// How far under the −1 dBTP ceiling the limiter aims for lossy formats: their encoders add a
/// little overshoot of their own, which the decoded file's true peak includes.
const LOSSY_PEAK_MARGIN_DB: f64 = 0.5;

/// Converts with the native decoder and the format's encoder. With a loudness target, the input
/// is decoded twice: once to measure it, once to encode it normalised (nothing is held).
pub(crate) fn convert_native(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    plan: &Plan,
    control: Control<'_>,
) -> Result<ConvertReport, MediaError> {
    let measured = match options.loudness {
        Some(target_lufs) => {
            let source = Source::open(input, options, plan, control)?;
            let mut meter = LoudnessMeter::new(source.out_rate, source.channels)?;
            let mut progress = Progress::new(control, source.total_in, 0.0, MEASURE_SHARE);
            source.run(config, &mut progress, &mut |l, r| meter.push(l, r))?;
            Some((meter.finish()?, target_lufs))
        }
        None => None,
    };
    let source = Source::open(input, options, plan, control)?;
    let (in_rate, out_rate, channels) = (source.in_rate, source.out_rate, source.channels);
    let long_enough = plan
        .duration_secs
        .is_some_and(|d| d >= config.parallel_min_secs);
    let output::Opened { mut sink, threads } = output::open(
        &Target {
            path: output,
            options,
            rate: out_rate,
            channels: channels as u8,
            title: plan.title.as_deref(),
            long_enough,
        },
        config,
    )?;
    let first = if measured.is_some() {
        MEASURE_SHARE
    } else {
        0.0
    };
    let mut progress = Progress::new(control, source.total_in, first, 1.0 - first);
    let (kept, loudness) = match measured {
        None => {
            let kept = source.run(config, &mut progress, &mut |l, r| sink.push(l, r))?;
            (kept, None)
        }
        Some((measured, target_lufs)) => {
            let ceiling = TRUE_PEAK_CEILING_DBTP
                - if options.format().rate() == Rate::Lossless {
                    0.0
                } else {
                    LOSSY_PEAK_MARGIN_DB
                };
            let mut normalizer =
                Normalizer::new(out_rate, channels, &measured, target_lufs, ceiling);
            let (mut left, mut right) = (Vec::new(), Vec::new());
            let kept = source.run(config, &mut progress, &mut |l, r| {
                left.clear();
                right.clear();
                normalizer.push(l, r, &mut left, &mut right);
                sink.push(&left, &right)
            })?;
            left.clear();
            right.clear();
            normalizer.finish(&mut left, &mut right);
            sink.push(&left, &right)?;
            let report = LoudnessReport {
                target_lufs,
                source_lufs: measured.integrated_lufs,
                source_true_peak_dbtp: measured.true_peak_dbtp,
                gain_db: normalizer.gain_db(),
            };
            (kept, Some(report))
        }
    };
    let written = sink.finish()?;
    Ok(ConvertReport {
        route: Pipeline::Native,
        route_reason: plan.reason.clone(),
        duration_secs: kept as f64 / f64::from(in_rate),
        sample_rate: written.rate,
        channels: u32::from(written.channels),
        bytes: written.bytes,
        threads,
        title: plan.title.clone(),
        format: options.format(),
        loudness,
    })
}

/// The input as the encoder takes it: decoded, trimmed, mixed to the output's channels and
/// resampled to its rate, handed out block by block.
struct Source<'a> {
    src: PcmSource,
    /// The first decoded block (read to learn the real rate and layout).
    block: Vec<Vec<f32>>,
    mixer: Mixer,
    resampler: Option<Resample>,
    in_rate: u32,
    out_rate: u32,
    channels: usize,
    /// Source samples still to skip (the trim's start) and to keep (its end).
    skip: u64,
    remaining: Option<u64>,
    /// Source samples the output will hold, when the duration is known (for progress).
    total_in: Option<u64>,
    control: Control<'a>,
}

impl<'a> Source<'a> {
    fn open(
        input: &Path,
        options: &ConvertOptions,
        plan: &Plan,
        control: Control<'a>,
    ) -> Result<Self, MediaError> {
        let mut src = PcmSource::new(decode::open(input, options.track)?)?;
        // The first non-empty block tells the real rate and layout (they can differ from the
        // header).
        let mut block = Vec::new();
        loop {
            control.check_cancelled()?;
            if !src.next_block(&mut block)? {
                return Err(MediaError::EmptySelection);
            }
            if block.first().is_some_and(|p| !p.is_empty()) {
                break;
            }
        }
        let in_rate = src.rate;
        if in_rate == 0 {
            return Err(MediaError::BadSampleRate(0));
        }
        let mixer = Mixer::new(
            &src.layout,
            block.len(),
            if options.mono || block.len() == 1 {
                1
            } else {
                2
            },
        );
        let out_rate = output::encoder_rate(options, in_rate);
        let channels = mixer.out_channels();
        let resampler = (out_rate != in_rate)
            .then(|| Resample::new(in_rate, out_rate, channels))
            .transpose()?;
        let to_samples = |secs: f64| (secs * f64::from(in_rate)).round() as u64;
        let skip = options.start.map_or(0, to_samples);
        let remaining = options.end.map(|e| to_samples(e).saturating_sub(skip));
        let total_in = plan
            .duration_secs
            .map(|d| to_samples(d).saturating_sub(skip))
            .map(|t| remaining.map_or(t, |r| r.min(t)))
            .filter(|&t| t > 0);
        Ok(Source {
            src,
            block,
            mixer,
            resampler,
            in_rate,
            out_rate,
            channels,
            skip,
            remaining,
            total_in,
            control,
        })
    }

    /// Sends the whole input through `emit` (planar blocks; `right` empty for mono); returns the
    /// number of source samples kept.
    fn run(
        mut self,
        config: &EngineConfig,
        progress: &mut Progress<'_>,
        emit: &mut Emit<'_>,
    ) -> Result<u64, MediaError> {
        let (mut left, mut right) = (Vec::new(), Vec::new());
        let mut resampled = vec![Vec::new(); self.channels];
        let mut kept: u64 = 0;
        let mut decoded: u64 = 0;
        loop {
            // The limit is enforced on what decodes, whatever the header said (and before the
            // trim: decoding the skipped part costs as much).
            let frames = self.block.first().map_or(0, Vec::len) as u64;
            decoded += frames;
            decode::check_decoded_length(decoded, self.in_rate, config.max_duration_secs)?;
            // Trim in source samples, before mixing.
            let cut = self.skip.min(frames);
            self.skip -= cut;
            let mut take = frames - cut;
            if let Some(rem) = self.remaining.as_mut() {
                take = take.min(*rem);
                *rem -= take;
            }
            if take > 0 {
                let range = cut as usize..(cut + take) as usize;
                let trimmed: Vec<Vec<f32>> = if range.len() == frames as usize {
                    std::mem::take(&mut self.block)
                } else {
                    self.block
                        .iter()
                        .map(|p| p[range.clone()].to_vec())
                        .collect()
                };
                self.mixer.mix(&trimmed, &mut left, &mut right);
                kept += take;
                feed(emit, self.resampler.as_mut(), &left, &right, &mut resampled)?;
            }
            progress.advance(kept);
            self.control.check_cancelled()?;
            if self.remaining == Some(0) || !self.src.next_block(&mut self.block)? {
                break;
            }
        }
        if kept == 0 {
            return Err(MediaError::EmptySelection);
        }
        if let Some(r) = self.resampler.as_mut() {
            for p in &mut resampled {
                p.clear();
            }
            r.finish(&mut resampled)?;
            let (l, r) = split(&resampled);
            emit(l, r)?;
        }
        Ok(kept)
    }
}

fn split(planes: &[Vec<f32>]) -> (&[f32], &[f32]) {
    (&planes[0], planes.get(1).map_or(&[][..], Vec::as_slice))
}

fn feed(
    emit: &mut Emit<'_>,
    resampler: Option<&mut Resample>,
    left: &[f32],
    right: &[f32],
    scratch: &mut [Vec<f32>],
) -> Result<(), MediaError> {
    match resampler {
        None => emit(left, right),
        Some(r) => {
            for p in scratch.iter_mut() {
                p.clear();
            }
            let planes: Vec<&[f32]> = if scratch.len() == 2 {
                vec![left, right]
            } else {
                vec![left]
            };
            r.push(&planes, scratch)?;
            let (l, r) = split(scratch);
            emit(l, r)
        }
    }
}

/// Rate-limited progress reports: at most every 1 % or 250 ms, whichever comes first. A pass
/// covers `span` of the bar from `first` (the loudness measurement is the first part of it).
struct Progress<'a> {
    control: Control<'a>,
    total: Option<u64>,
    first: f64,
    span: f64,
    last_fraction: f64,
    last_time: Instant,
}

impl<'a> Progress<'a> {
    fn new(control: Control<'a>, total: Option<u64>, first: f64, span: f64) -> Self {
        (control.progress)(first);
        Progress {
            control,
            total,
            first,
            span,
            last_fraction: first,
            last_time: Instant::now(),
        }
    }

    fn advance(&mut self, done: u64) {
        let Some(total) = self.total else { return };
        let fraction = (self.first + self.span * (done as f64 / total as f64)).min(0.999);
        if fraction - self.last_fraction >= 0.01
            || self.last_time.elapsed() >= Duration::from_millis(250)
        {
            self.last_fraction = fraction;
            self.last_time = Instant::now();
            (self.control.progress)(fraction);
        }
    }
}
