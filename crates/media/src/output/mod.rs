//! The output seam: one place that knows, for each [`AudioFormat`], which encoder writes it, at
//! what rate, and whether it can be encoded on several threads.
//!
//! The native pipeline (`encode.rs`) decodes, trims, mixes and resamples to
//! [`encoder_rate`], then pushes planar samples into the [`Sink`] that [`open`] returns; it
//! knows nothing of any format. The static facts about a format (extension, `Content-Type`,
//! accepted bitrates and rates) are in `mp3converter_core::AudioFormat`, read by every layer.
//!
//! | format | encoder | chunk-parallel |
//! |---|---|---|
//! | MP3 | LAME (`mp3.rs`, `parallel.rs`) | yes, byte-identical to one pass |
//! | Opus | libopus in Ogg (`opus.rs`) | no: each packet's prediction state depends on the last |
//! | FLAC | libFLAC (`flac.rs`, `crates/flac`) | no: an exact chunk-parallel encode was slower (docs/formats.md) |
//! | WAV | `wav.rs` | nothing to gain: writing PCM costs nothing |
//! | M4A | ffmpeg's AAC encoder (the ffmpeg pipeline) | no |
//!
//! Adding a format: a variant in `AudioFormat` (core), an encoder module here implementing
//! [`Sink`], its arm in [`open`] and [`encoder_rate`], and the ffmpeg arguments in
//! `ffmpeg.rs`'s `codec_args` for the ffmpeg pipeline.

mod flac;
pub(crate) mod mp3;
mod opus;
pub(crate) mod tags;
mod wav;

use std::path::Path;

use mp3converter_core::{AudioFormat, LOSSLESS_RATES, OPUS_RATE};

use crate::sink::Sink;
use crate::{ConvertOptions, Encoding, EngineConfig, MediaError};
use tags::Tagging;

/// What the encoder is asked to write.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Target<'a> {
    /// The file to create.
    pub path: &'a Path,
    /// The job's options (format, bitrate, ...).
    pub options: &'a ConvertOptions,
    /// Rate of the samples pushed, Hz: what [`encoder_rate`] returned.
    pub rate: u32,
    /// 1 or 2.
    pub channels: u8,
    /// Tags, cover and chapters.
    pub tagging: &'a Tagging,
    /// True when the input is long enough to be worth encoding on several threads.
    pub long_enough: bool,
}

/// An opened encoder and how many threads it runs on.
pub(crate) struct Opened {
    /// Where the samples go.
    pub sink: Box<dyn Sink>,
    /// Encoder threads (1 unless chunk-parallel).
    pub threads: usize,
}

/// True when the engine has its own encoder for `format`; the others go through ffmpeg.
pub(crate) fn is_native(format: AudioFormat) -> bool {
    !matches!(format, AudioFormat::M4a)
}

/// The rate the encoder runs at for a source at `in_rate`: the one asked for, else the
/// source's own when the format can carry it, else the nearest one it can.
pub(crate) fn encoder_rate(options: &ConvertOptions, in_rate: u32) -> u32 {
    if let Some(rate) = options.sample_rate {
        return rate;
    }
    match options.format() {
        AudioFormat::Mp3 => crate::resample::encoder_rate(in_rate),
        AudioFormat::Opus => OPUS_RATE,
        AudioFormat::Flac | AudioFormat::Wav | AudioFormat::M4a => {
            if (LOSSLESS_RATES.0..=LOSSLESS_RATES.1).contains(&in_rate) {
                in_rate
            } else if in_rate < LOSSLESS_RATES.0 {
                LOSSLESS_RATES.0
            } else {
                48_000
            }
        }
    }
}

/// Opens the encoder for `target`.
pub(crate) fn open(target: &Target<'_>, config: &EngineConfig) -> Result<Opened, MediaError> {
    match target.options.format() {
        AudioFormat::Mp3 => mp3::open(target, config),
        AudioFormat::Wav => single(wav::WavSink::create(
            target.path,
            target.rate,
            target.channels,
            target.tagging,
        )?),
        AudioFormat::Opus => {
            let bitrate_kbps = match target.options.encoding() {
                Encoding::Cbr(kbps) => kbps,
                // `vbr` is refused for Opus by validation; its default if it ever got here.
                Encoding::Vbr(_) => 128,
            };
            single(opus::OpusSink::create(
                target.path,
                &opus::OpusSettings {
                    channels: target.channels,
                    bitrate_kbps,
                    tagging: target.tagging.clone(),
                },
            )?)
        }
        AudioFormat::Flac => single(flac::FlacSink::create(
            target.path,
            target.rate,
            target.channels,
            target.tagging,
        )?),
        AudioFormat::M4a => Err(MediaError::FormatNeedsFfmpeg(AudioFormat::M4a)),
    }
}

/// One f32 sample as 16-bit PCM (FLAC, WAV): ×32768, rounded half away from zero; the
/// saturating cast clamps to −32768..=32767 (and makes NaN 0). No dither: the sources are lossy
/// codecs whose noise floor is far above 16-bit quantisation.
#[inline]
pub(crate) fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round() as i16
}

fn single(sink: impl Sink + 'static) -> Result<Opened, MediaError> {
    Ok(Opened {
        sink: Box::new(sink),
        threads: 1,
    })
}
