//! The native decoder: opens a file with symphonia, picks the audio track and yields planar f32.
//!
//! Only packets of the selected track reach the decoder; video packets are skipped unread.
//! MP4 encoder priming (the edit list) is applied here, since symphonia's MP4 reader ignores it.

use std::fs::File;
use std::path::Path;

use symphonia::core::audio::Channels;
use symphonia::core::codecs::audio::CODEC_ID_NULL_AUDIO;
use symphonia::core::codecs::audio::well_known::{CODEC_ID_MP3, CODEC_ID_VORBIS};
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, FormatReader, Track, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::{MetadataOptions, StandardTag};

use crate::MediaError;
use crate::mp4edit;

/// An opened input with its audio track chosen.
pub(crate) struct Opened {
    pub reader: Box<dyn FormatReader>,
    /// The container's track id of the chosen audio track.
    pub track_id: u32,
    /// Codec parameters of the chosen track.
    pub params: AudioCodecParameters,
    /// symphonia's short container name (`isomp4`, `mkv`, `ogg`, `wav`, ...).
    pub container: &'static str,
    /// Title from the container's metadata.
    pub title: Option<String>,
    /// Declared duration of the chosen track, seconds.
    pub duration_secs: Option<f64>,
    /// The track's time base denominator when it is a plausible sample rate (MP4 `mdhd`).
    pub timescale_rate: Option<u32>,
    /// Leading samples to drop (MP4 edit list / encoder priming).
    pub priming: u64,
    /// Samples to keep after the priming, when the container says (MP4 edit list).
    pub length: Option<u64>,
    /// All audio tracks, for probing.
    pub audio_tracks: Vec<Track>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("track_id", &self.track_id)
            .field("container", &self.container)
            .finish()
    }
}

/// Maps a symphonia error to the engine's error. symphonia reports damage inside the data it
/// parses (a bitstream that ends early, invalid values) as I/O errors of kind `Other` or
/// `InvalidData`, and a damaged offset makes it seek before the start of the file (`EINVAL`,
/// kind `InvalidInput`; found by fuzzing: an APE tag footer with a huge size). Those fail the
/// same way every time: a damaged file, not a failed read, never retried. Only what may pass
/// (`EIO`, interruptions, ...) stays `Io`.
pub(crate) fn map_error(e: SymError) -> MediaError {
    use std::io::ErrorKind;
    match e {
        SymError::IoError(io) if io.kind() == ErrorKind::UnexpectedEof => {
            MediaError::corrupt("the file ends early")
        }
        SymError::IoError(io)
            if matches!(
                io.kind(),
                ErrorKind::Other | ErrorKind::InvalidData | ErrorKind::InvalidInput
            ) =>
        {
            MediaError::corrupt(io)
        }
        SymError::IoError(io) => MediaError::Io(io),
        SymError::Unsupported(what) => MediaError::UnsupportedInput {
            what: format!("a feature of this file ({what})"),
            needs_ffmpeg: true,
        },
        other => MediaError::corrupt(other),
    }
}

/// Opens `path` with the native demuxers.
pub(crate) fn open_format(path: &Path) -> Result<Box<dyn FormatReader>, MediaError> {
    if let Some(channels) = crate::wavhead::declared_channels(path)?
        && channels > crate::wavhead::MAX_WAV_CHANNELS
    {
        return Err(MediaError::corrupt(format!(
            "the WAV header declares {channels} channels"
        )));
    }
    let file = File::open(path)?;
    let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(map_error)
}

/// The audio tracks of an opened file, in file order.
pub(crate) fn audio_tracks(reader: &dyn FormatReader) -> Vec<Track> {
    reader
        .tracks()
        .iter()
        .filter(|t| t.track_type() == Some(TrackType::Audio))
        .filter(|t| {
            t.codec_params
                .as_ref()
                .and_then(|p| p.audio())
                .is_some_and(|a| a.codec != CODEC_ID_NULL_AUDIO)
        })
        .cloned()
        .collect()
}

/// Opens `path` and selects the `track_index`-th audio track (default: the first).
pub(crate) fn open(path: &Path, track_index: Option<usize>) -> Result<Opened, MediaError> {
    let mut reader = open_format(path)?;
    let container = reader.format_info().short_name;
    let audio_tracks = audio_tracks(reader.as_ref());
    let chosen = match track_index {
        Some(i) => audio_tracks.get(i).ok_or(MediaError::NoAudioTrack)?,
        None => audio_tracks.first().ok_or(MediaError::NoAudioTrack)?,
    };
    let chosen_pos = audio_tracks
        .iter()
        .position(|t| t.id == chosen.id)
        .unwrap_or(0);
    let params = chosen
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .cloned()
        .ok_or(MediaError::NoAudioTrack)?;
    let track_id = chosen.id;
    let duration_secs = track_duration_secs(chosen).or_else(|| {
        let info = reader.media_info();
        info.time_base?
            .calc_duration(info.duration?)
            .map(|t| t.as_secs_f64())
    });
    let timescale_rate = chosen
        .time_base
        .filter(|tb| tb.numer.get() == 1 && (8000..=192_000).contains(&tb.denom.get()))
        .map(|tb| tb.denom.get());

    // The MP3 and Vorbis decoders drop the encoder delay the container declares (LAME's info
    // frame, Ogg granule positions) themselves: symphonia's gapless mode, on by default. Skipping
    // it again here lost an MP3 input's first 1105 samples. Other decoders leave it to us.
    let decoder_trims = matches!(params.codec, CODEC_ID_MP3 | CODEC_ID_VORBIS);
    let declared_delay = if decoder_trims {
        0
    } else {
        chosen.delay.unwrap_or(0)
    };
    let (mut priming, mut length) = (u64::from(declared_delay), None);
    if container == "isomp4" {
        let rate = params.sample_rate.unwrap_or(0);
        if let Some(edit) = mp4edit::audio_edits(path)?.get(chosen_pos) {
            priming = edit.priming_samples(rate);
            length = edit.kept_samples(rate);
        }
    }

    let title = title_of(reader.as_mut());
    Ok(Opened {
        reader,
        track_id,
        params,
        container,
        title,
        duration_secs,
        timescale_rate,
        priming,
        length,
        audio_tracks,
    })
}

/// Duration of a track in seconds, when the container declares one.
pub(crate) fn track_duration_secs(track: &Track) -> Option<f64> {
    let tb = track.time_base?;
    if let Some(dur) = track.duration {
        return tb.calc_duration(dur).map(|t| t.as_secs_f64());
    }
    let frames = track.num_frames?;
    let rate = track.codec_params.as_ref()?.audio()?.sample_rate?;
    Some(frames as f64 / f64::from(rate))
}

pub(crate) fn title_of(reader: &mut dyn FormatReader) -> Option<String> {
    let mut metadata = reader.metadata();
    let rev = metadata.skip_to_latest()?;
    rev.media.tags.iter().find_map(|tag| match &tag.std {
        Some(StandardTag::TrackTitle(t)) if !t.trim().is_empty() => Some(t.trim().to_string()),
        _ => None,
    })
}

/// Fails with [`MediaError::TooLong`] once `samples` decoded at `rate` pass `limit_secs`.
///
/// Headers are not trusted for the limit: a FLAC whose STREAMINFO says "length unknown", or
/// any header that understates the length, would otherwise decode without bound. Callers check
/// after every block, so decoding stops within one packet of the limit.
pub(crate) fn check_decoded_length(
    samples: u64,
    rate: u32,
    limit_secs: Option<f64>,
) -> Result<(), MediaError> {
    let Some(limit_secs) = limit_secs else {
        return Ok(());
    };
    let secs = samples as f64 / f64::from(rate.max(1));
    if secs > limit_secs {
        return Err(MediaError::TooLong {
            duration_secs: secs,
            limit_secs,
        });
    }
    Ok(())
}

/// Decodes the chosen track packet by packet into planar f32 blocks.
pub(crate) struct PcmSource {
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    to_skip: u64,
    remaining: Option<u64>,
    consecutive_errors: u32,
    decoded_any: bool,
    /// Samples per second of the decoded audio (known after the first block; the declared rate until then).
    pub rate: u32,
    /// Channel layout of the decoded audio (known after the first block).
    pub layout: Channels,
}

impl std::fmt::Debug for PcmSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcmSource")
            .field("track_id", &self.track_id)
            .field("rate", &self.rate)
            .finish()
    }
}

/// Consecutive undecodable packets tolerated before the file is called corrupt.
const MAX_CONSECUTIVE_ERRORS: u32 = 32;

impl PcmSource {
    /// Creates the decoder for an opened file.
    pub fn new(opened: Opened) -> Result<Self, MediaError> {
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&opened.params, &AudioDecoderOptions::default())
            .map_err(|_| MediaError::UnsupportedInput {
                what: format!("{} audio", crate::codec::codec_name(opened.params.codec)),
                needs_ffmpeg: true,
            })?;
        Ok(PcmSource {
            reader: opened.reader,
            decoder,
            track_id: opened.track_id,
            to_skip: opened.priming,
            remaining: opened.length,
            consecutive_errors: 0,
            decoded_any: false,
            rate: opened.params.sample_rate.unwrap_or(0),
            layout: opened.params.channels.clone().unwrap_or_default(),
        })
    }

    /// Decodes the next packet of the track into `out` (one `Vec` per channel, replaced).
    /// Returns `Ok(false)` at the end of the track. Blocks may be empty (fully skipped priming).
    pub fn next_block(&mut self, out: &mut Vec<Vec<f32>>) -> Result<bool, MediaError> {
        loop {
            if self.remaining == Some(0) {
                return Ok(false);
            }
            let packet = match self.reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => return Ok(false),
                // A cut-off file: keep what decoded, as ffmpeg does, unless nothing did.
                Err(SymError::IoError(e))
                    if e.kind() == std::io::ErrorKind::UnexpectedEof && self.decoded_any =>
                {
                    return Ok(false);
                }
                Err(e) => return Err(map_error(e)),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            match self.decoder.decode(&packet) {
                Ok(buf) => {
                    self.consecutive_errors = 0;
                    self.decoded_any = true;
                    self.rate = buf.spec().rate();
                    if buf.spec().channels() != &self.layout {
                        self.layout = buf.spec().channels().clone();
                    }
                    buf.copy_to_vecs_planar::<f32>(out);
                }
                Err(SymError::DecodeError(_)) | Err(SymError::LimitError(_)) => {
                    self.consecutive_errors += 1;
                    if self.consecutive_errors > MAX_CONSECUTIVE_ERRORS {
                        return Err(MediaError::corrupt("too many undecodable audio packets"));
                    }
                    continue;
                }
                Err(e) => return Err(map_error(e)),
            }
            self.trim(out);
            return Ok(true);
        }
    }

    fn trim(&mut self, out: &mut [Vec<f32>]) {
        let frames = out.first().map_or(0, Vec::len) as u64;
        let skip = self.to_skip.min(frames);
        self.to_skip -= skip;
        let mut keep = frames - skip;
        if let Some(rem) = self.remaining.as_mut() {
            keep = keep.min(*rem);
            *rem -= keep;
        }
        for plane in out.iter_mut() {
            plane.drain(..skip as usize);
            plane.truncate(keep as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_are_damage_and_os_errors_are_io() {
        let io = |kind, msg: &str| SymError::IoError(std::io::Error::new(kind, msg.to_owned()));
        let bitstream = map_error(io(std::io::ErrorKind::Other, "unexpected end of bitstream"));
        assert_eq!(bitstream.code(), "corrupt-media");
        assert!(bitstream.is_permanent());
        let eof = map_error(io(std::io::ErrorKind::UnexpectedEof, "eof"));
        assert_eq!(eof.code(), "corrupt-media");
        let seek = map_error(SymError::IoError(std::io::Error::from_raw_os_error(22)));
        assert_eq!(
            seek.code(),
            "corrupt-media",
            "a seek before the start (EINVAL)"
        );
        let eio = map_error(SymError::IoError(std::io::Error::from_raw_os_error(5)));
        assert_eq!(eio.code(), "io-error", "EIO from the disk is worth a retry");
        assert!(eio.is_retryable());
    }
}
