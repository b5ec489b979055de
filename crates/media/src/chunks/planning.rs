//! Planning a job into chunk tasks (or saying why it is converted whole), and checking a plan
//! read back from storage before it is used.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use mp3converter_core::AudioFormat;
use symphonia::core::codecs::audio::well_known::CODEC_ID_AAC;

use super::aacnoise;
use super::window::{self, decoder_preroll};
use super::{Checked, ChunkPlan, Chunking};
use crate::output::mp3::lame_settings;
use crate::parallel::{ChunkGrid, TAIL_FRAMES, encoder_shape};
use crate::{
    Control, ConvertOptions, EngineConfig, MediaError, Pipeline, contain_panics, decode, output,
    route,
};

/// Most chunks a plan may have (a plan read back with more is refused).
const MAX_CHUNKS: u32 = 100_000;
/// Longest chunk a plan may ask for, in frames (about 7 minutes at 44.1 kHz, 150 MB of stereo
/// PCM): bounds what one chunk task holds.
const MAX_CHUNK_FRAMES: u64 = 1 << 14;
/// Seconds of an AAC stream decoded twice when planning, to see whether it uses noise
/// substitution (chunks check their own range again, and fall back to decoding from the start).
const NOISE_CHECK_SECS: u32 = 30;
/// Bytes read at each end of the input for its fingerprint.
const DIGEST_SPAN: u64 = 64 << 10;

/// Plans `input` with `options` into chunks of about `chunk_secs` seconds of output each, or
/// says why it must be converted whole (another route than native, another format than MP3, a
/// loudness target, a split, a codec or container that cannot be cut at an exact sample,
/// resampling, an unknown duration, audio shorter than two chunks).
pub fn plan_chunks(
    input: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    chunk_secs: f64,
) -> Result<Chunking, MediaError> {
    contain_panics(|| plan_unguarded(input, options, config, chunk_secs))
}

fn plan_unguarded(
    input: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    chunk_secs: f64,
) -> Result<Chunking, MediaError> {
    options.validate()?;
    let whole = |reason: String| Ok(Chunking::Whole { reason });
    if options.format() != AudioFormat::Mp3 {
        return whole(format!(
            "{} output is encoded in one piece (only MP3 is encoded in chunks)",
            options.format().label()
        ));
    }
    if options.loudness.is_some() {
        return whole("loudness normalisation measures the whole input before encoding".into());
    }
    if options.split.is_some() {
        return whole("a split job writes one file per part".into());
    }
    let route = route::plan(input, options, config)?;
    match route.pipeline {
        Pipeline::Native => {}
        Pipeline::Copy => return whole("the audio is already MP3: its frames are copied".into()),
        Pipeline::Ffmpeg => {
            return whole(format!(
                "the ffmpeg route ({})",
                route.reason.as_deref().unwrap_or("chosen by the router")
            ));
        }
    }
    let opened = decode::open(input, options.track)?;
    let codec = opened.params.codec;
    if decoder_preroll(codec).is_none() {
        return whole(format!(
            "{} audio cannot be cut at an exact sample after a seek",
            crate::codec::codec_name(codec)
        ));
    }
    if codec == CODEC_ID_AAC && aacnoise::uses_noise(input, options.track, NOISE_CHECK_SECS)? {
        return whole(
            "AAC audio with noise substitution (PNS): its noise comes from a random generator \
             that runs through the whole stream, so a chunk decoded after a seek would differ"
                .into(),
        );
    }
    let declared_rate = opened.params.sample_rate.unwrap_or(0);
    let sample_exact = opened
        .reader
        .tracks()
        .iter()
        .find(|t| t.id == opened.track_id)
        .and_then(|t| t.time_base)
        .is_some_and(|tb| tb.numer.get() == 1 && tb.denom.get() == declared_rate);
    if !sample_exact {
        return whole(format!(
            "the {} container's timestamps are not in samples, so a seek cannot be placed exactly",
            opened.container
        ));
    }
    drop(opened);
    let Some(duration) = route.duration_secs.filter(|d| d.is_finite() && *d > 0.0) else {
        return whole("the duration is unknown".into());
    };
    let shape = window::shape(input, options, Control::none())?;
    let out_rate = output::encoder_rate(options, shape.rate);
    if out_rate != shape.rate || shape.rate != declared_rate {
        return whole(format!(
            "the audio is resampled from {} Hz to {out_rate} Hz (the resampler runs through the \
             whole input)",
            shape.rate
        ));
    }
    let settings = lame_settings(options, shape.rate, shape.channels, true);
    let (spf, delay) = encoder_shape(&settings)?;
    let grid = ChunkGrid::new(&settings, spf, chunk_secs);
    if grid.chunk_frames > MAX_CHUNK_FRAMES {
        return whole(format!(
            "chunks of {chunk_secs} s are longer than a chunk may be"
        ));
    }
    let expected = expected_samples(options, duration, shape.rate);
    // As the one-process encoder cuts: a chunk after k exists when the audio reaches chunk k's
    // end (its kept frames and look-ahead).
    let mut chunks = 1u32;
    while chunks < MAX_CHUNKS && expected >= grid.chunk_end(u64::from(chunks) - 1) {
        chunks += 1;
    }
    if chunks < 2 {
        return whole(format!(
            "{:.0} s of audio is shorter than two chunks of {:.0} s",
            expected as f64 / f64::from(shape.rate),
            (grid.chunk_frames * spf) as f64 / f64::from(shape.rate)
        ));
    }
    let (input_bytes, input_digest) = fingerprint(input)?;
    Ok(Chunking::Split(ChunkPlan {
        chunks,
        chunk_frames: grid.chunk_frames,
        preroll_frames: grid.preroll_frames,
        tail_frames: TAIL_FRAMES,
        samples_per_frame: spf,
        sample_rate: shape.rate,
        channels: shape.channels,
        encoder_delay: delay,
        expected_samples: expected,
        input_bytes,
        input_digest,
        options_digest: options_digest(options),
    }))
}

/// Output samples the declared duration promises after the job's trim.
fn expected_samples(options: &ConvertOptions, duration: f64, rate: u32) -> u64 {
    let to_samples = |secs: f64| (secs * f64::from(rate)).round() as u64;
    let skip = options.start.map_or(0, to_samples);
    let mut total = to_samples(duration).saturating_sub(skip);
    if let Some(end) = options.end {
        total = total.min(to_samples(end).saturating_sub(skip));
    }
    total
}

/// Checks a stored `plan` against `input` and `options` before use, and returns the encoder and
/// grid it implies.
pub(super) fn check(
    plan: &ChunkPlan,
    input: &Path,
    options: &ConvertOptions,
) -> Result<Checked, MediaError> {
    let bad = |what: String| Err(MediaError::ChunkMismatch(what));
    options.validate()?;
    if plan.options_digest != options_digest(options) {
        return bad("it was made for other options".into());
    }
    let (bytes, digest) = fingerprint(input)?;
    if (bytes, digest.as_str()) != (plan.input_bytes, plan.input_digest.as_str()) {
        return bad("it was made for another input file".into());
    }
    if plan.chunks == 0 || plan.chunks > MAX_CHUNKS {
        return bad(format!("{} chunks", plan.chunks));
    }
    if !mp3converter_core::MP3_SAMPLE_RATES.contains(&plan.sample_rate)
        || !matches!(plan.channels, 1 | 2)
    {
        return bad(format!(
            "{} Hz, {} channel(s) is not an MP3 layout",
            plan.sample_rate, plan.channels
        ));
    }
    let settings = lame_settings(options, plan.sample_rate, plan.channels, true);
    let (spf, delay) = encoder_shape(&settings)?;
    let grid = ChunkGrid {
        spf: plan.samples_per_frame,
        chunk_frames: plan.chunk_frames,
        preroll_frames: plan.preroll_frames,
    };
    if spf != plan.samples_per_frame
        || delay != plan.encoder_delay
        || plan.tail_frames != TAIL_FRAMES
        || plan.chunk_frames > MAX_CHUNK_FRAMES
        || !grid.is_aligned(&settings)
    {
        return bad("its frame grid is not the encoder's".into());
    }
    // The planner makes the last chunk start before the expected end; a plan that expects far
    // more than its chunks hold was not made here.
    if plan.expected_samples > grid.chunk_end(u64::from(plan.chunks)) {
        return bad("it expects more audio than its chunks hold".into());
    }
    Ok(Checked { settings, grid })
}

/// FNV-1a, 64 bits: a fingerprint (not a defence against a forger, who could only hurt their
/// own job).
fn fnv1a(hash: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(hash, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The input's size and a fingerprint of its size, first and last [`DIGEST_SPAN`] bytes.
fn fingerprint(input: &Path) -> Result<(u64, String), MediaError> {
    let mut file = std::fs::File::open(input)?;
    let len = file.metadata()?.len();
    let mut hash = fnv1a(FNV_OFFSET, &len.to_le_bytes());
    let mut buf = Vec::new();
    (&mut file).take(DIGEST_SPAN).read_to_end(&mut buf)?;
    hash = fnv1a(hash, &buf);
    file.seek(SeekFrom::Start(len.saturating_sub(DIGEST_SPAN)))?;
    buf.clear();
    file.take(DIGEST_SPAN).read_to_end(&mut buf)?;
    hash = fnv1a(hash, &buf);
    Ok((len, format!("{hash:016x}")))
}

/// A fingerprint of the options that shape the encoded audio (tags and cover only matter to the
/// join, which reads them itself).
fn options_digest(o: &ConvertOptions) -> String {
    let key = format!(
        "{:?}|{:?}|{:?}|{:?}|{}|{:?}|{:?}|{:?}",
        o.format(),
        o.bitrate,
        o.vbr,
        o.sample_rate,
        o.mono,
        o.start,
        o.end,
        o.track
    );
    format!("{:016x}", fnv1a(FNV_OFFSET, key.as_bytes()))
}
