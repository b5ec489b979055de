//! The native path: decode → trim → mix → resample → the format's encoder (see `output`).

use std::path::Path;
use std::time::{Duration, Instant};

use mp3converter_core::{Rate, Split, TRUE_PEAK_CEILING_DBTP};

use crate::decode::{self, PcmSource};
use crate::loudness::{LoudnessMeter, Normalizer};
use crate::mix::Mixer;
use crate::output::tags::Tagging;
use crate::output::{self, Target};
use crate::plan::Plan;
use crate::report::LoudnessReport;
use crate::resample::Resample;
use crate::sink::Sink;
use crate::split::{self, SilenceFinder, SplitSink};
use crate::{Control, ConvertOptions, ConvertReport, EngineConfig, MediaError, Pipeline};

/// Where the pipeline hands each block of planar samples (`right` empty for mono).
type Emit<'a> = dyn FnMut(&[f32], &[f32]) -> Result<(), MediaError> + 'a;

/// Share of the progress bar taken by the loudness measurement pass (it decodes the input
/// once more, without encoding).
const MEASURE_SHARE: f64 = 0.3;

/// How far under the −1 dBTP ceiling the limiter aims for lossy formats: their encoders add a
/// little overshoot of their own, which the decoded file's true peak includes.
const LOSSY_PEAK_MARGIN_DB: f64 = 0.5;

/// Converts with the native decoder and the format's encoder. With a loudness target or a
/// split at silences, the input is decoded twice: once to measure it, once to encode it
/// (nothing is held). A split job writes one encoder's file per part, then the ZIP.
pub(crate) fn convert_native(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    plan: &Plan,
    tagging: &Tagging,
    control: Control<'_>,
) -> Result<ConvertReport, MediaError> {
    let first_pass = options.loudness.is_some() || options.split == Some(Split::Silence);
    let measured = if first_pass {
        let source = Source::open(input, options, plan, control)?;
        let mut meter = options
            .loudness
            .map(|_| LoudnessMeter::new(source.out_rate, source.channels))
            .transpose()?;
        let mut silences = (options.split == Some(Split::Silence))
            .then(|| SilenceFinder::new(options, source.out_rate));
        let mut progress = Progress::new(control, source.total_in, 0.0, MEASURE_SHARE);
        source.run(config, &mut progress, &mut |l, r| {
            if let Some(f) = silences.as_mut() {
                f.push(l, r);
            }
            meter.as_mut().map_or(Ok(()), |m| m.push(l, r))
        })?;
        let loudness = match (meter, options.loudness) {
            (Some(m), Some(target)) => Some((m.finish()?, target)),
            _ => None,
        };
        Some((loudness, silences.map(SilenceFinder::finish)))
    } else {
        None
    };
    let (loudness, cuts) = measured.unwrap_or((None, None));
    let source = Source::open(input, options, plan, control)?;
    let (in_rate, out_rate, channels) = (source.in_rate, source.out_rate, source.channels);
    let first = if first_pass { MEASURE_SHARE } else { 0.0 };
    let mut progress = Progress::new(control, source.total_in, first, 1.0 - first);
    let mut normalizer = loudness.as_ref().map(|(measured, target_lufs)| {
        let ceiling = TRUE_PEAK_CEILING_DBTP
            - if options.format().rate() == Rate::Lossless {
                0.0
            } else {
                LOSSY_PEAK_MARGIN_DB
            };
        Normalizer::new(out_rate, channels, measured, *target_lufs, ceiling)
    });
    let mut report = ConvertReport {
        route: Pipeline::Native,
        route_reason: plan.reason.clone(),
        format: options.format(),
        ..ConvertReport::blank()
    };
    let kept = match options.split {
        None => {
            let long_enough = plan
                .duration_secs
                .is_some_and(|d| d >= config.parallel_min_secs);
            let output::Opened { mut sink, threads } = output::open(
                &Target {
                    path: output,
                    options,
                    rate: out_rate,
                    channels: channels as u8,
                    tagging,
                    long_enough,
                },
                config,
            )?;
            let kept = pump(
                source,
                config,
                &mut progress,
                normalizer.as_mut(),
                sink.as_mut(),
            )?;
            let written = sink.finish()?;
            (report.sample_rate, report.channels) = (written.rate, u32::from(written.channels));
            report.bytes = written.bytes;
            report.threads = threads;
            kept
        }
        Some(kind) => {
            let parts = match kind {
                Split::Chapters => split::chapter_parts(&tagging.chapters, out_rate)?,
                Split::Silence => split::silence_parts(&cuts.unwrap_or_default()),
            };
            let dir = tempfile::Builder::new()
                .prefix(".mp3c-parts-")
                .tempdir_in(output.parent().unwrap_or(Path::new(".")))?;
            let mut sink = SplitSink::new(
                dir.path(),
                options,
                config,
                tagging,
                out_rate,
                channels as u8,
                parts,
            )?;
            let kept = pump(
                source,
                config,
                &mut progress,
                normalizer.as_mut(),
                &mut sink,
            )?;
            let (files, rate, written_channels) = sink.finish_parts()?;
            (report.sample_rate, report.channels) = (rate, u32::from(written_channels));
            report.bytes = split::write_zip(output, &files, rate)?;
            report.parts = Some(files.len());
            kept
        }
    };
    report.duration_secs = kept as f64 / f64::from(in_rate);
    report.loudness = match (&loudness, &normalizer) {
        (Some((measured, target_lufs)), Some(n)) => Some(LoudnessReport {
            target_lufs: *target_lufs,
            source_lufs: measured.integrated_lufs,
            source_true_peak_dbtp: measured.true_peak_dbtp,
            gain_db: n.gain_db(),
        }),
        _ => None,
    };
    Ok(report)
}

/// Runs `source` into `sink`, through the loudness normaliser when there is one; returns the
/// source samples kept.
fn pump(
    source: Source<'_>,
    config: &EngineConfig,
    progress: &mut Progress<'_>,
    normalizer: Option<&mut Normalizer>,
    sink: &mut dyn Sink,
) -> Result<u64, MediaError> {
    let Some(normalizer) = normalizer else {
        return source.run(config, progress, &mut |l, r| sink.push(l, r));
    };
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let kept = source.run(config, progress, &mut |l, r| {
        left.clear();
        right.clear();
        normalizer.push(l, r, &mut left, &mut right);
        sink.push(&left, &right)
    })?;
    left.clear();
    right.clear();
    normalizer.finish(&mut left, &mut right);
    sink.push(&left, &right)?;
    Ok(kept)
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
