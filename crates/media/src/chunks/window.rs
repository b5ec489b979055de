//! Decodes one window of a job's output samples, seeking the demuxer near its start, so that
//! the samples are exactly those a one-pass decode (`encode.rs`'s `Source`) hands the encoder at
//! the same positions.
//!
//! Positions are counted in the *raw* domain: samples as the decoder emits them from the first
//! packet of the track, before the container's priming (MP4 edit list) and the job's trim. One
//! pass maps output sample `j` to raw sample `priming + skip + j`; a window does the same.
//!
//! After a seek the decoder is reset, so its first packets come out wrong (Vorbis overlaps each
//! packet with the previous one): those are decoded and thrown away ([`decoder_preroll`]). The
//! first kept packet's raw position comes from its timestamp, which is exact only when the
//! track's time base is one sample (checked when planning); every later packet must continue
//! where the previous one ended, or the window fails rather than produce shifted audio. A seek
//! that lands after the needed pre-roll is retried further back, and near the start of the file
//! the window simply decodes from the first packet, as one pass does; so does a window whose
//! AAC noise substitution would differ from one pass's (`aacnoise.rs`).

use std::path::Path;

use symphonia::core::codecs::audio::well_known::{
    CODEC_ID_AAC, CODEC_ID_ALAC, CODEC_ID_FLAC, CODEC_ID_MP3, CODEC_ID_PCM_MULAW,
    CODEC_ID_PCM_S32LE, CODEC_ID_VORBIS,
};
use symphonia::core::codecs::audio::{AudioCodecId, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{SeekMode, SeekTo};
use symphonia::core::units::Timestamp;

use super::aacnoise;
use crate::decode::{self, Opened, map_error};
use crate::mix::Mixer;
use crate::{Control, ConvertOptions, EngineConfig, MediaError};

/// Packets decoded and thrown away after a seek before the decoder's output is exact, or `None`
/// when the codec cannot be cut at an exact sample after a seek.
pub(crate) fn decoder_preroll(codec: AudioCodecId) -> Option<u32> {
    match codec {
        // Every frame stands alone.
        CODEC_ID_FLAC | CODEC_ID_ALAC => Some(0),
        // Each packet overlaps the previous one; one is enough, two leave a margin.
        CODEC_ID_VORBIS => Some(2),
        // PCM in all its layouts: no state at all.
        c if (CODEC_ID_PCM_S32LE..=CODEC_ID_PCM_MULAW).contains(&c) => Some(0),
        // A frame's main data may start up to 511 bytes back in earlier frames (the bit
        // reservoir: at 320 kbps about half a frame, at 32 kbps four), and the synthesis
        // filterbank and IMDCT overlap carry one granule: ten frames settle all of it.
        CODEC_ID_MP3 => Some(10),
        // Each frame overlaps the previous one; three leave a margin. Noise substitution is
        // checked separately (`aacnoise.rs`).
        CODEC_ID_AAC => Some(3),
        _ => None,
    }
}

/// Raw samples decoded straight from the start instead of seeking, when the window starts this
/// close to the start (a seek would save little).
const NO_SEEK_BELOW_SECS: u64 = 2;

/// Decoded samples the first seek lands before the window (the decoder's pre-roll packets come
/// out of these); doubled on each retry.
const FIRST_BACKOFF_SECS_DIV: u64 = 4;

/// What the start of the input says about its audio (learnt from its first decoded block, as
/// one pass does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Decoded sample rate.
    pub rate: u32,
    /// Output channels after mixing (1 or 2).
    pub channels: u8,
}

/// One window of output samples.
#[derive(Debug, Default)]
pub(crate) struct Window {
    /// Output samples, planar (`right` empty for mono).
    pub left: Vec<f32>,
    pub right: Vec<f32>,
    /// True when the audio ended before the window's end (or before its start).
    pub ended: bool,
    /// Samples per channel the decoder produced for this window, pre-roll included.
    pub decoded: u64,
}

/// The output range `[from, to)` (`to: None`: to the end), decoded, trimmed and mixed as one
/// pass does. `expected` is the window's expected length in output samples, for progress.
pub(crate) fn decode_window(
    input: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    (from, to): (u64, Option<u64>),
    expected: u64,
    control: Control<'_>,
) -> Result<(Shape, Window), MediaError> {
    let mut reader = Reader::open(input, options, control)?;
    let (raw_from, raw_end) = reader.raw_range(options, from, to);
    let mut out = Window::default();
    if raw_from < raw_end {
        let rate = u64::from(reader.shape.rate);
        let mut preroll = decoder_preroll(reader.opened.params.codec);
        if reader.opened.params.codec == CODEC_ID_AAC {
            reader.shadow = aacnoise::shadow_decoder(&reader.opened.params);
            if reader.shadow.is_none() {
                preroll = None;
            }
        }
        let mut backoff = (rate / FIRST_BACKOFF_SECS_DIV).max(8192);
        let mut progress = Progress {
            control,
            from: raw_from,
            span: expected.max(1),
            last: 0.0,
        };
        loop {
            let target = raw_from.saturating_sub(backoff);
            if preroll.is_none() || raw_from < NO_SEEK_BELOW_SECS * rate || target == 0 {
                // Near the start (or after retries that went back to it): one pass's own decode
                // from the first packet, its first block already in hand.
                if reader.pos > 0 || reader.first_block.is_empty() {
                    let decoded = reader.decoded;
                    reader = Reader::open(input, options, control)?;
                    reader.decoded += decoded;
                }
                let first = std::mem::take(&mut reader.first_block);
                reader.take(&first, raw_from, raw_end, &mut out);
                reader.pos = first.first().map_or(0, Vec::len) as u64;
                reader.run(config, (raw_from, raw_end), None, &mut progress, &mut out)?;
                break;
            }
            // Whatever the seek does, the reader is no longer at the start.
            reader.first_block.clear();
            reader.pos = 1;
            let seeked = reader.opened.reader.seek(
                SeekMode::Accurate,
                SeekTo::Timestamp {
                    ts: Timestamp::new(reader.first_ts.saturating_add(target as i64)),
                    track_id: reader.opened.track_id,
                },
            );
            match seeked {
                Ok(_) => {}
                // Past the end of the track or of a cut-off file, or past the end of another
                // track (an MP4 seeks them all, and a video often stops a little before its
                // audio): further back, in the end from the start, decides it.
                Err(SymError::SeekError(_)) => {
                    backoff = backoff.saturating_mul(4);
                    continue;
                }
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    backoff = backoff.saturating_mul(4);
                    continue;
                }
                Err(e) => return Err(map_error(e)),
            }
            reader.decoder.reset();
            if let Some(shadow) = reader.shadow.as_mut() {
                shadow.reset();
            }
            match reader.run(
                config,
                (raw_from, raw_end),
                preroll,
                &mut progress,
                &mut out,
            )? {
                Landed::Exact => break,
                // A damaged packet or timestamps that do not add up: one pass's positions
                // after it are unknown from here, so decode from the start as one pass does.
                Landed::Unsure => {
                    out.left.clear();
                    out.right.clear();
                    backoff = u64::MAX;
                }
                Landed::TooLate => {
                    out.left.clear();
                    out.right.clear();
                    backoff = backoff.saturating_mul(4);
                }
            }
        }
    }
    let delivered = out.left.len() as u64;
    out.ended = match to {
        None => true,
        Some(to) => delivered < to.saturating_sub(from),
    };
    out.decoded = reader.decoded;
    Ok((reader.shape, out))
}

/// Where a packet's decoded output starts, in the track's time base: its timestamp, after the
/// part the (gapless) decoder trims from its start.
fn output_ts(packet: &symphonia::core::packet::Packet) -> i64 {
    packet
        .pts
        .get()
        .saturating_add(i64::try_from(packet.trim_start.get()).unwrap_or(i64::MAX))
}

/// The rate and output channels of `input` with `options`, from its first decoded block.
pub(crate) fn shape(
    input: &Path,
    options: &ConvertOptions,
    control: Control<'_>,
) -> Result<Shape, MediaError> {
    Ok(Reader::open(input, options, control)?.shape)
}

/// Whether a run after a seek started early enough.
enum Landed {
    Exact,
    TooLate,
    Unsure,
}

struct Progress<'a> {
    control: Control<'a>,
    from: u64,
    span: u64,
    last: f64,
}

/// Share of a chunk's progress bar taken by decoding; encoding its PCM takes the rest.
const DECODE_SHARE: f64 = 0.5;

impl Progress<'_> {
    fn at(&mut self, raw_pos: u64) {
        let done = raw_pos.saturating_sub(self.from) as f64 / self.span as f64;
        let f = (done * DECODE_SHARE).min(DECODE_SHARE);
        if f - self.last >= 0.01 {
            self.last = f;
            (self.control.progress)(f);
        }
    }
}

/// An input opened for a window: its decoder, mixer and the one-pass offsets.
struct Reader<'a> {
    opened: Opened,
    decoder: Box<dyn AudioDecoder>,
    mixer: Mixer,
    shape: Shape,
    /// Raw position of the next packet's output.
    pos: u64,
    /// Where raw position 0 is in the track's time base (see [`output_ts`]).
    first_ts: i64,
    /// The first non-empty decoded block (one pass starts with it).
    first_block: Vec<Vec<f32>>,
    block: Vec<Vec<f32>>,
    /// AAC after a seek: a second decoder whose noise generator is ahead (see `aacnoise.rs`),
    /// and its output.
    shadow: Option<Box<dyn AudioDecoder>>,
    shadow_block: Vec<Vec<f32>>,
    mixed: (Vec<f32>, Vec<f32>),
    decoded: u64,
    control: Control<'a>,
}

impl<'a> Reader<'a> {
    /// Opens `input` and decodes up to its first non-empty block, as `Source::open` does: the
    /// rate and channel layout of that block fix the mixer for the whole output.
    fn open(
        input: &Path,
        options: &ConvertOptions,
        control: Control<'a>,
    ) -> Result<Self, MediaError> {
        let mut opened = decode::open(input, options.track)?;
        let mut decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&opened.params, &AudioDecoderOptions::default())
            .map_err(|_| MediaError::UnsupportedInput {
                what: format!("{} audio", crate::codec::codec_name(opened.params.codec)),
                needs_ffmpeg: true,
            })?;
        let mut first_ts = None;
        let mut block: Vec<Vec<f32>> = Vec::new();
        let mut errors = 0;
        loop {
            control.check_cancelled()?;
            let Some(packet) = opened.reader.next_packet().map_err(map_error)? else {
                return Err(MediaError::EmptySelection);
            };
            if packet.track_id != opened.track_id {
                continue;
            }
            match decoder.decode(&packet) {
                Ok(buf) => {
                    buf.copy_to_vecs_planar::<f32>(&mut block);
                    let n = block.first().map_or(0, Vec::len) as u64;
                    if n == 0 {
                        continue;
                    }
                    // Raw position 0 is where the first sample comes out: the origin (a
                    // Vorbis stream's first packet only primes the decoder; an MP3's first
                    // frame is trimmed by its encoder delay).
                    first_ts.get_or_insert(output_ts(&packet));
                    let rate = buf.spec().rate();
                    if rate == 0 {
                        return Err(MediaError::BadSampleRate(0));
                    }
                    let out = if options.mono || block.len() == 1 {
                        1
                    } else {
                        2
                    };
                    let mixer = Mixer::new(buf.spec().channels(), block.len(), out);
                    return Ok(Reader {
                        shape: Shape {
                            rate,
                            channels: mixer.out_channels() as u8,
                        },
                        opened,
                        decoder,
                        mixer,
                        pos: 0,
                        first_ts: first_ts.unwrap_or(0),
                        first_block: block,
                        block: Vec::new(),
                        shadow: None,
                        shadow_block: Vec::new(),
                        mixed: (Vec::new(), Vec::new()),
                        decoded: n,
                        control,
                    });
                }
                // One pass skips undecodable packets; so does this (still from the start).
                Err(SymError::DecodeError(_) | SymError::LimitError(_)) if errors < 32 => {
                    errors += 1;
                }
                Err(e) => return Err(map_error(e)),
            }
        }
    }

    /// The raw range holding output `[from, to)`, clipped where the audio itself ends (the
    /// container's edit, the job's trim; `u64::MAX` for the end of the stream).
    fn raw_range(&self, options: &ConvertOptions, from: u64, to: Option<u64>) -> (u64, u64) {
        let rate = f64::from(self.shape.rate);
        let to_samples = |secs: f64| (secs * rate).round() as u64;
        let skip = options.start.map_or(0, to_samples);
        let remaining = options.end.map(|e| to_samples(e).saturating_sub(skip));
        let base = self.opened.priming + skip;
        let mut limit = u64::MAX;
        if let Some(len) = self.opened.length {
            limit = limit.min(self.opened.priming.saturating_add(len));
        }
        if let Some(rem) = remaining {
            limit = limit.min(base.saturating_add(rem));
        }
        let end = to.map_or(limit, |to| limit.min(base.saturating_add(to)));
        (base.saturating_add(from), end)
    }

    /// Appends the part of `block` (raw samples from `self.pos`) inside `[raw_from, raw_end)`,
    /// mixed, to `out`.
    fn take(&mut self, block: &[Vec<f32>], raw_from: u64, raw_end: u64, out: &mut Window) {
        let n = block.first().map_or(0, Vec::len) as u64;
        let (a, b) = (raw_from.max(self.pos), raw_end.min(self.pos + n));
        if a >= b {
            return;
        }
        let range = (a - self.pos) as usize..(b - self.pos) as usize;
        let planes: Vec<Vec<f32>> = block.iter().map(|p| p[range.clone()].to_vec()).collect();
        let (left, right) = &mut self.mixed;
        self.mixer.mix(&planes, left, right);
        out.left.extend_from_slice(left);
        out.right.extend_from_slice(right);
    }

    /// Decodes packets until `raw_end` or the end of the track. After a seek (`preroll` packets
    /// to throw away) the first kept packet is placed by its timestamp and must not start after
    /// `raw_from`; from the start, positions are the decoded lengths, as in one pass.
    fn run(
        &mut self,
        config: &EngineConfig,
        (raw_from, raw_end): (u64, u64),
        preroll: Option<u32>,
        progress: &mut Progress<'_>,
        out: &mut Window,
    ) -> Result<Landed, MediaError> {
        let after_seek = preroll.is_some();
        let mut discard = preroll.unwrap_or(0);
        let mut placed = !after_seek;
        let mut errors = 0;
        loop {
            if placed && self.pos >= raw_end {
                return Ok(Landed::Exact);
            }
            self.control.check_cancelled()?;
            let packet = match self.opened.reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(Landed::Exact),
                // A cut-off file: keep what decoded, as one pass does.
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(Landed::Exact);
                }
                Err(e) => return Err(map_error(e)),
            };
            if packet.track_id != self.opened.track_id {
                continue;
            }
            let at = output_ts(&packet).saturating_sub(self.first_ts);
            match self.decoder.decode(&packet) {
                Ok(buf) => buf.copy_to_vecs_planar::<f32>(&mut self.block),
                // The packets right after a seek may miss what they refer back to (an MP3
                // frame's reservoir bytes); they are thrown away anyway.
                Err(SymError::DecodeError(_)) if discard > 0 => {
                    discard -= 1;
                    continue;
                }
                // One pass skips a bad packet and the rest moves up; after a seek the shift is
                // unknown.
                Err(SymError::DecodeError(_) | SymError::LimitError(_)) if after_seek => {
                    return Ok(Landed::Unsure);
                }
                Err(SymError::DecodeError(_) | SymError::LimitError(_)) => {
                    errors += 1;
                    if errors > 32 {
                        return Err(MediaError::corrupt("too many undecodable audio packets"));
                    }
                    continue;
                }
                Err(e) => return Err(map_error(e)),
            }
            let n = self.block.first().map_or(0, Vec::len) as u64;
            self.decoded += n;
            let shadowed = match self.shadow.as_mut().filter(|_| after_seek) {
                None => true,
                Some(shadow) => match shadow.decode(&packet) {
                    Ok(buf) => {
                        buf.copy_to_vecs_planar::<f32>(&mut self.shadow_block);
                        self.shadow_block == self.block
                    }
                    Err(_) => false,
                },
            };
            if discard > 0 {
                discard -= 1;
                continue;
            }
            // Noise substitution reached the kept audio: one pass's noise is not known here.
            if !shadowed {
                return Ok(Landed::Unsure);
            }
            if !placed {
                if at < 0 {
                    return Ok(Landed::Unsure);
                }
                if at as u64 > raw_from {
                    return Ok(Landed::TooLate);
                }
                self.pos = at as u64;
                placed = true;
            } else if after_seek && n > 0 && at != self.pos as i64 {
                return Ok(Landed::Unsure);
            }
            decode::check_decoded_length(self.pos + n, self.shape.rate, config.max_duration_secs)?;
            let block = std::mem::take(&mut self.block);
            self.take(&block, raw_from, raw_end, out);
            self.block = block;
            self.pos += n;
            progress.at(self.pos);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 60 s of noisy chords as AAC at 48 kb/s in MP4: ffmpeg's encoder uses noise substitution
    /// throughout at that rate.
    fn noisy_aac(dir: &Path) -> std::path::PathBuf {
        let path = dir.join("pns.m4a");
        let out = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-filter_complex"])
            .arg(
                "aevalsrc='0.2*sin(2*PI*220*t)+0.2*sin(2*PI*330*t)|0.2*sin(2*PI*277*t)'\
                 :s=44100:d=60[a];anoisesrc=color=white:amplitude=0.2:seed=3:r=44100:d=60,\
                 aformat=channel_layouts=stereo[n];[a][n]amix=inputs=2:normalize=0",
            )
            .args(["-c:a", "aac", "-b:a", "48k"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        path
    }

    #[test]
    fn aac_with_noise_substitution_decodes_exactly_from_the_start_instead() {
        if !crate::ffmpeg_available(&EngineConfig::default()) {
            eprintln!("skipping: ffmpeg is not installed");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let input = noisy_aac(dir.path());
        assert!(aacnoise::uses_noise(&input, None, 30).unwrap());
        let (options, config) = (ConvertOptions::default(), EngineConfig::default());
        let (_, full) =
            decode_window(&input, &options, &config, (0, None), 1, Control::none()).unwrap();
        // Every window matches one pass; those PNS reaches were decoded from the start.
        let mut from_start = 0;
        for secs in [10u64, 20, 30, 40, 50] {
            let from = secs * 44_100;
            let (_, w) = decode_window(
                &input,
                &options,
                &config,
                (from, Some(from + 100_000)),
                1,
                Control::none(),
            )
            .unwrap();
            let want = &full.left[from as usize..from as usize + 100_000];
            assert!(w.left == want, "the window at {secs} s must match one pass");
            if w.decoded > from {
                from_start += 1;
            }
        }
        assert!(from_start > 0, "no window met noise substitution");
    }
}
