//! Writes a FLAC file with the reference encoder, libFLAC (bundled: `crates/flac`), streamed:
//! the file is never held in memory.
//!
//! Layout: `fLaC`, a STREAMINFO block (reserved at creation, filled in by
//! [`Sink::finish`] with what libFLAC reports at the end: frame sizes, total samples, MD5), a
//! VORBIS_COMMENT block with the tags and chapters, a PICTURE block with the cover, then the
//! frames. libFLAC's own header is not used. Samples are 16-bit: f32 is scaled by 32768,
//! rounded to the nearest integer and clamped to the i16 range, without dither. Compression
//! level 5 and 4096-sample blocks, as `ffmpeg -c:a flac` and `flac` use by default.
//!
//! Speed: a whole conversion costs 0.81–0.88x the CPU of `ffmpeg -c:a flac` (docs/benchmarks.md,
//! "Output formats"; `bench/formats.sh` measures it). Loose mid-side stereo is what gets it
//! there: libFLAC's level 5 alone tries all four stereo codings in every frame and measured
//! 1.06–1.12x. The pure-Rust `flacenc` used before cost 2.9–3.4x.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use mp3converter_flac::{BLOCK_SIZE, Config, Encoder, STREAMINFO_LEN};

use super::tags::{self, Tagging};
use super::to_i16;
use crate::MediaError;
use crate::sink::{Sink, Written};

/// Samples per channel in every frame but the last.
const BLOCK: usize = BLOCK_SIZE as usize;

/// Where the STREAMINFO body starts: after `fLaC` and its 4-byte block header.
const STREAMINFO_AT: u64 = 8;

/// Metadata block types (FLAC format §8.1).
const STREAMINFO: u8 = 0;
const VORBIS_COMMENT: u8 = 4;
const PICTURE: u8 = 6;

/// `fLaC` and the metadata blocks: STREAMINFO (zeros until [`Sink::finish`] fills it in), a
/// VORBIS_COMMENT with the tags and chapters when there are any, a PICTURE with the cover.
fn metadata_blocks(tagging: &Tagging) -> Result<Vec<u8>, MediaError> {
    let comment = (!tagging.tags.is_empty() || !tagging.chapters.is_empty()).then(|| {
        tags::vorbis_comment_body(
            &format!("mp3converter (libFLAC {})", mp3converter_flac::version()),
            tagging,
            false,
        )
    });
    let picture = tagging.cover.as_ref().map(tags::picture_block);
    let mut blocks: Vec<(u8, &[u8])> = vec![(STREAMINFO, &[0; STREAMINFO_LEN])];
    blocks.extend(comment.as_deref().map(|c| (VORBIS_COMMENT, c)));
    blocks.extend(picture.as_deref().map(|p| (PICTURE, p)));
    let mut head = b"fLaC".to_vec();
    let last = blocks.len() - 1;
    for (i, (kind, body)) in blocks.into_iter().enumerate() {
        head.extend_from_slice(&block_header(i == last, kind, body.len())?);
        head.extend_from_slice(body);
    }
    Ok(head)
}

/// One libFLAC encoder writing frames straight into the file.
pub(crate) struct FlacSink {
    out: BufWriter<File>,
    encoder: Encoder,
    /// Interleaved 16-bit samples (as libFLAC takes them: i32) of at most [`BLOCK`] sample
    /// frames, the next input for the encoder.
    pcm: Vec<i32>,
    /// Frame bytes libFLAC has finished, on their way to the file.
    frame_bytes: Vec<u8>,
    rate: u32,
    channels: usize,
    samples: u64,
    /// Bytes written so far, headers included.
    bytes: u64,
}

impl std::fmt::Debug for FlacSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlacSink")
            .field("rate", &self.rate)
            .field("channels", &self.channels)
            .field("samples", &self.samples)
            .finish_non_exhaustive()
    }
}

/// A libFLAC failure as the engine reports it.
fn flac_error(e: impl std::fmt::Display) -> MediaError {
    MediaError::Encoder(format!("FLAC: {e}"))
}

impl FlacSink {
    /// Creates `path` and writes the metadata blocks (STREAMINFO as a placeholder).
    pub fn create(
        path: &Path,
        rate: u32,
        channels: u8,
        tagging: &Tagging,
    ) -> Result<Self, MediaError> {
        if !(1..=2).contains(&channels) {
            return Err(flac_error(format_args!("{channels} channels")));
        }
        if rate == 0 || rate >= 1 << 20 {
            return Err(MediaError::BadSampleRate(rate));
        }
        let encoder = Encoder::new(&Config::new(rate, channels)).map_err(flac_error)?;
        let channels = usize::from(channels);

        let head = metadata_blocks(tagging)?;
        let mut out = BufWriter::with_capacity(256 << 10, File::create(path)?);
        out.write_all(&head)?;
        Ok(FlacSink {
            out,
            encoder,
            pcm: Vec::with_capacity(BLOCK * channels),
            frame_bytes: Vec::with_capacity(BLOCK * channels * 4),
            rate,
            channels,
            samples: 0,
            bytes: head.len() as u64,
        })
    }

    /// Encodes the samples in `pcm` and writes the frames libFLAC finished.
    fn encode_block(&mut self) -> Result<(), MediaError> {
        self.encoder
            .encode(&self.pcm, &mut self.frame_bytes)
            .map_err(flac_error)?;
        self.pcm.clear();
        self.write_frames()
    }

    /// Writes the frame bytes libFLAC handed over.
    fn write_frames(&mut self) -> Result<(), MediaError> {
        self.out.write_all(&self.frame_bytes)?;
        self.bytes += self.frame_bytes.len() as u64;
        self.frame_bytes.clear();
        Ok(())
    }
}

/// A metadata block header: last-block flag, type, 24-bit length.
fn block_header(last: bool, kind: u8, len: usize) -> Result<[u8; 4], MediaError> {
    if len >= 1 << 24 {
        return Err(flac_error("a metadata block over 16 MiB"));
    }
    let l = (len as u32).to_be_bytes();
    Ok([(u8::from(last) << 7) | kind, l[1], l[2], l[3]])
}

impl Sink for FlacSink {
    fn push(&mut self, left: &[f32], right: &[f32]) -> Result<(), MediaError> {
        let stereo = self.channels == 2;
        if stereo && right.len() != left.len() || !stereo && !right.is_empty() {
            return Err(flac_error("the channels passed do not match the stream"));
        }
        // At most BLOCK sample frames at a time: the buffer stays small whatever is pushed.
        for start in (0..left.len()).step_by(BLOCK) {
            let end = (start + BLOCK).min(left.len());
            if stereo {
                let src = left[start..end].iter().zip(&right[start..end]);
                self.pcm
                    .extend(src.flat_map(|(&l, &r)| [i32::from(to_i16(l)), i32::from(to_i16(r))]));
            } else {
                self.pcm
                    .extend(left[start..end].iter().map(|&x| i32::from(to_i16(x))));
            }
            self.encode_block()?;
        }
        self.samples += left.len() as u64;
        Ok(())
    }

    /// Writes the last, shorter frame and fills in STREAMINFO. Fails with
    /// [`MediaError::EmptySelection`] when nothing was pushed, as the MP3 writer does.
    fn finish(self: Box<Self>) -> Result<Written, MediaError> {
        if self.samples == 0 {
            return Err(MediaError::EmptySelection);
        }
        if self.samples >= 1 << 36 {
            return Err(flac_error("more samples than STREAMINFO can count"));
        }
        let FlacSink {
            mut out,
            encoder,
            mut frame_bytes,
            rate,
            channels,
            samples,
            mut bytes,
            ..
        } = *self;
        frame_bytes.clear();
        let info = encoder.finish(&mut frame_bytes).map_err(flac_error)?;
        out.write_all(&frame_bytes)?;
        bytes += frame_bytes.len() as u64;
        out.flush()?;
        let mut file = out
            .into_inner()
            .map_err(|e| MediaError::Io(e.into_error()))?;
        file.seek(SeekFrom::Start(STREAMINFO_AT))?;
        file.write_all(&info)?;
        file.sync_data()?;
        Ok(Written {
            bytes,
            // Fixed-size blocks: every frame holds BLOCK samples but the last.
            frames: u32::try_from(samples.div_ceil(BLOCK as u64)).unwrap_or(u32::MAX),
            rate,
            channels: channels as u8,
        })
    }
}

#[cfg(test)]
mod tests {
    use md5::{Digest, Md5};

    use super::*;
    use crate::testaudio::{self, Signal};

    fn encode(path: &Path, s: &Signal, block: usize, title: Option<&str>) -> Written {
        let sink = FlacSink::create(path, s.rate, s.channels, &testaudio::titled(title)).unwrap();
        testaudio::push_in_blocks(Box::new(sink), s, block).unwrap()
    }

    fn round_trip(rate: u32, channels: u8) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.flac");
        let s = Signal::test_tones(rate, channels, 3.3);
        let w = encode(&path, &s, 1000, Some("Größe \u{1F3B5} ünd"));
        let n = s.len();
        assert_eq!((w.rate, w.channels), (rate, channels));
        assert_eq!(w.bytes, std::fs::metadata(&path).unwrap().len());
        assert_eq!(w.frames as usize, n.div_ceil(BLOCK));

        testaudio::assert_ffmpeg_decodes_cleanly(&path);
        testaudio::assert_flac_test_passes(&path);
        let duration = testaudio::probe_duration(&path);
        assert!(
            (duration - n as f64 / f64::from(rate)).abs() < 1e-6,
            "duration {duration}"
        );
        assert_eq!(
            testaudio::probe_title(&path).as_deref(),
            Some("Größe \u{1F3B5} ünd")
        );
        let decoded = testaudio::decode_f32(&path, channels);
        let want: Vec<f32> = s
            .interleaved()
            .iter()
            .map(|&x| f32::from(to_i16(x)) / 32768.0)
            .collect();
        assert_eq!(decoded.len(), want.len(), "decoded length");
        let first_difference = decoded.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(
            first_difference, None,
            "decoded samples differ from the input"
        );
    }

    #[test]
    fn stereo_decodes_bit_exact_with_exact_length_and_title() {
        round_trip(44_100, 2);
    }

    #[test]
    fn mono_decodes_bit_exact_with_exact_length_and_title() {
        round_trip(48_000, 1);
    }

    #[test]
    fn streaminfo_holds_the_totals_and_the_md5() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.flac");
        let s = Signal::test_tones(44_100, 2, 3.3);
        encode(&path, &s, 4097, None);
        let f = std::fs::read(&path).unwrap();
        assert_eq!(&f[..4], b"fLaC");
        assert_eq!(f[4], 0x80, "STREAMINFO is the last (only) metadata block");
        let si = &f[8..42];
        assert_eq!(u16::from_be_bytes([si[0], si[1]]), 4096);
        let packed = u64::from_be_bytes(si[10..18].try_into().unwrap());
        assert_eq!(packed >> 44, 44_100);
        assert_eq!((packed >> 41) & 7, 1);
        assert_eq!((packed >> 36) & 31, 15);
        assert_eq!(packed & ((1 << 36) - 1), s.len() as u64);
        let pcm: Vec<u8> = s
            .interleaved()
            .iter()
            .flat_map(|&x| to_i16(x).to_le_bytes())
            .collect();
        assert_eq!(si[18..34], Md5::digest(&pcm)[..]);
        // The frames start right after STREAMINFO with the FLAC sync code.
        assert_eq!(&f[42..44], &[0xFF, 0xF8]);
    }

    #[test]
    fn a_title_adds_a_final_vorbis_comment_block() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.flac");
        encode(
            &path,
            &Signal::test_tones(44_100, 1, 0.5),
            512,
            Some("A title"),
        );
        let f = std::fs::read(&path).unwrap();
        assert_eq!(f[4], 0x00, "STREAMINFO is no longer the last block");
        assert_eq!(f[42], 0x84, "VORBIS_COMMENT, last");
        let len = u32::from_be_bytes([0, f[43], f[44], f[45]]) as usize;
        let body = &f[46..46 + len];
        assert!(body.ends_with(b"TITLE=A title"));
        assert_eq!(&f[46 + len..48 + len], &[0xFF, 0xF8]);
    }

    #[test]
    fn the_bytes_do_not_depend_on_the_push_block_size() {
        let dir = tempfile::tempdir().unwrap();
        for channels in [1, 2] {
            let s = Signal::test_tones(44_100, channels, 3.3);
            let files: Vec<Vec<u8>> = [1, 1000, 4097]
                .iter()
                .map(|&block| {
                    let path = dir.path().join(format!("{channels}-{block}.flac"));
                    encode(&path, &s, block, Some("t"));
                    std::fs::read(path).unwrap()
                })
                .collect();
            assert!(
                files[0] == files[1] && files[1] == files[2],
                "{channels} channels"
            );
        }
    }

    #[test]
    fn samples_are_rounded_and_clamped_to_16_bits() {
        assert_eq!(to_i16(0.0), 0);
        assert_eq!(to_i16(0.5 / 32768.0), 1);
        assert_eq!(to_i16(-0.5 / 32768.0), -1);
        assert_eq!(to_i16(0.4 / 32768.0), 0);
        assert_eq!(to_i16(1.0), 32767);
        assert_eq!(to_i16(-1.0), -32768);
        assert_eq!(to_i16(3.0), 32767);
        assert_eq!(to_i16(-3.0), -32768);
        assert_eq!(to_i16(f32::NAN), 0);
    }

    #[test]
    fn finishing_without_audio_is_an_empty_selection() {
        let dir = tempfile::tempdir().unwrap();
        let sink =
            FlacSink::create(&dir.path().join("e.flac"), 44_100, 2, &Tagging::default()).unwrap();
        let e = Box::new(sink).finish().unwrap_err();
        assert!(matches!(e, MediaError::EmptySelection), "{e}");
    }
}
