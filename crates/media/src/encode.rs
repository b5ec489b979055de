//! The native path: decode → trim → mix → resample → the format's encoder (see `output`).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::decode::{self, PcmSource};
use crate::mix::Mixer;
use crate::output::{self, Target};
use crate::plan::Plan;
use crate::resample::Resample;
use crate::sink::Sink;
use crate::{Control, ConvertOptions, ConvertReport, EngineConfig, MediaError, Pipeline};

/// Converts with the native decoder and the format's encoder.
pub(crate) fn convert_native(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    plan: &Plan,
    control: Control<'_>,
) -> Result<ConvertReport, MediaError> {
    let mut src = PcmSource::new(decode::open(input, options.track)?)?;

    // The first non-empty block tells the real rate and layout (they can differ from the header).
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
    let mut resampler = (out_rate != in_rate)
        .then(|| Resample::new(in_rate, out_rate, channels))
        .transpose()?;

    let to_samples = |secs: f64| (secs * f64::from(in_rate)).round() as u64;
    let mut skip = options.start.map_or(0, to_samples);
    let mut remaining = options.end.map(|e| to_samples(e).saturating_sub(skip));
    let total_in = plan
        .duration_secs
        .map(|d| to_samples(d).saturating_sub(skip))
        .map(|t| remaining.map_or(t, |r| r.min(t)))
        .filter(|&t| t > 0);

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

    let mut progress = Progress::new(control, total_in);
    let (mut left, mut right) = (Vec::new(), Vec::new());
    let mut resampled = vec![Vec::new(); channels];
    let mut kept: u64 = 0;
    let mut decoded: u64 = 0;
    loop {
        // The limit is enforced on what decodes, whatever the header said (and before the trim:
        // decoding the skipped part costs as much).
        let frames = block.first().map_or(0, Vec::len) as u64;
        decoded += frames;
        decode::check_decoded_length(decoded, in_rate, config.max_duration_secs)?;
        // Trim in source samples, before mixing.
        let cut = skip.min(frames);
        skip -= cut;
        let mut take = frames - cut;
        if let Some(rem) = remaining.as_mut() {
            take = take.min(*rem);
            *rem -= take;
        }
        if take > 0 {
            let range = cut as usize..(cut + take) as usize;
            let trimmed: Vec<Vec<f32>> = if range.len() == frames as usize {
                std::mem::take(&mut block)
            } else {
                block.iter().map(|p| p[range.clone()].to_vec()).collect()
            };
            mixer.mix(&trimmed, &mut left, &mut right);
            kept += take;
            feed(
                &mut *sink,
                resampler.as_mut(),
                &left,
                &right,
                &mut resampled,
            )?;
        }
        progress.advance(kept);
        control.check_cancelled()?;
        if remaining == Some(0) || !src.next_block(&mut block)? {
            break;
        }
    }
    if kept == 0 {
        return Err(MediaError::EmptySelection);
    }
    if let Some(r) = resampler.as_mut() {
        for p in &mut resampled {
            p.clear();
        }
        r.finish(&mut resampled)?;
        let (l, r) = split(&resampled);
        sink.push(l, r)?;
    }
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
    })
}

fn split(planes: &[Vec<f32>]) -> (&[f32], &[f32]) {
    (&planes[0], planes.get(1).map_or(&[][..], Vec::as_slice))
}

fn feed(
    sink: &mut dyn Sink,
    resampler: Option<&mut Resample>,
    left: &[f32],
    right: &[f32],
    scratch: &mut [Vec<f32>],
) -> Result<(), MediaError> {
    match resampler {
        None => sink.push(left, right),
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
            sink.push(l, r)
        }
    }
}

/// Rate-limited progress reports: at most every 1 % or 250 ms, whichever comes first.
struct Progress<'a> {
    control: Control<'a>,
    total: Option<u64>,
    last_fraction: f64,
    last_time: Instant,
}

impl<'a> Progress<'a> {
    fn new(control: Control<'a>, total: Option<u64>) -> Self {
        (control.progress)(0.0);
        Progress {
            control,
            total,
            last_fraction: 0.0,
            last_time: Instant::now(),
        }
    }

    fn advance(&mut self, done: u64) {
        let Some(total) = self.total else { return };
        let fraction = (done as f64 / total as f64).min(0.999);
        if fraction - self.last_fraction >= 0.01
            || self.last_time.elapsed() >= Duration::from_millis(250)
        {
            self.last_fraction = fraction;
            self.last_time = Instant::now();
            (self.control.progress)(fraction);
        }
    }
}
