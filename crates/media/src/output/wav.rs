//! WAV output: RIFF WAVE, 16-bit little-endian PCM (`WAVE_FORMAT_PCM`), interleaved.
//!
//! Samples are rounded to 16 bits and clamped, without dither (the sources are lossy codecs
//! whose noise floor is far above 16-bit quantisation). The RIFF and `data` sizes are written
//! as zero first and filled in by `finish`; a RIFF file cannot describe more than 4 GiB, so a
//! longer result fails with a message that points to FLAC.
//!
//! Tags go before the samples in two chunks: `LIST`/`INFO` (`INAM`, `IART`, `IPRD`, `ICRD`,
//! `IGNR`, `ITRK`, `ICMT`, `ISFT`: what file managers and most players read) and an `id3 `
//! chunk holding the same ID3v2.4 tag as an MP3's, which is the only common place for a
//! cover and chapters in a WAV (read by ffmpeg, foobar2000, Mp3tag, Apple's players). A file
//! with nothing to say has the canonical 44-byte header.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use super::tags::{Tagging, id3_tag};
use super::to_i16;
use crate::MediaError;
use crate::sink::{Sink, Written};

/// Bytes of the RIFF header and the `fmt ` chunk (16 bytes of body).
const FMT_END: u64 = 36;
/// Bytes of the `data` chunk's header.
const DATA_HEADER: u64 = 8;
/// The largest size a RIFF size field can hold.
const RIFF_MAX: u64 = u32::MAX as u64;

/// Writes PCM as it comes; sizes are patched in at the end.
pub(crate) struct WavSink {
    out: BufWriter<File>,
    channels: u8,
    rate: u32,
    /// Bytes before the samples: RIFF header, `fmt `, the tag chunks, the `data` header.
    header_len: u64,
    data_bytes: u64,
    scratch: Vec<u8>,
}

impl WavSink {
    /// Creates `path` and writes the header and the tag chunks, the sizes left at zero.
    pub fn create(
        path: &Path,
        rate: u32,
        channels: u8,
        tagging: &Tagging,
    ) -> Result<Self, MediaError> {
        let tags = tag_chunks(tagging)?;
        let mut out = BufWriter::with_capacity(256 << 10, File::create(path)?);
        out.write_all(&riff_and_fmt(rate, channels, 0))?;
        out.write_all(&tags)?;
        out.write_all(b"data\0\0\0\0")?;
        Ok(WavSink {
            out,
            channels,
            rate,
            header_len: FMT_END + tags.len() as u64 + DATA_HEADER,
            data_bytes: 0,
            scratch: Vec::new(),
        })
    }

    /// The most sample bytes the RIFF size can count after this header.
    fn max_data(&self) -> u64 {
        RIFF_MAX - (self.header_len - 8)
    }
}

/// The RIFF header and the `fmt ` chunk for 16-bit PCM, `riff_size` in the RIFF size field.
fn riff_and_fmt(rate: u32, channels: u8, riff_size: u32) -> [u8; FMT_END as usize] {
    let block_align = u16::from(channels) * 2;
    let mut h = [0u8; FMT_END as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&riff_size.to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&u16::from(channels).to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h
}

/// The `LIST`/`INFO` and `id3 ` chunks for `tagging`; nothing when it holds nothing.
fn tag_chunks(tagging: &Tagging) -> Result<Vec<u8>, MediaError> {
    if tagging.tags.is_empty() && tagging.cover.is_none() && tagging.chapters.is_empty() {
        return Ok(Vec::new());
    }
    let t = &tagging.tags;
    let track = t.track_number.map(|n| n.to_string());
    let mut info = b"INFO".to_vec();
    for (id, value) in [
        (b"INAM", t.title.as_deref()),
        (b"IART", t.artist.as_deref()),
        (b"IPRD", t.album.as_deref()),
        (b"ICRD", t.date.as_deref()),
        (b"IGNR", t.genre.as_deref()),
        (b"ITRK", track.as_deref()),
        (b"ICMT", t.comment.as_deref()),
        (b"ISFT", Some("mp3converter")),
    ] {
        if let Some(v) = value {
            // ZSTR: the text and a terminating NUL.
            let mut text = v.as_bytes().to_vec();
            text.push(0);
            chunk(&mut info, id, &text);
        }
    }
    let mut out = Vec::new();
    chunk(&mut out, b"LIST", &info);
    chunk(&mut out, b"id3 ", &id3_tag(tagging, "PCM")?);
    Ok(out)
}

/// Appends a RIFF chunk: id, little-endian size, body, a pad byte to an even length.
fn chunk(out: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) {
    out.extend_from_slice(id);
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
}

impl Sink for WavSink {
    fn push(&mut self, left: &[f32], right: &[f32]) -> Result<(), MediaError> {
        self.scratch.clear();
        if self.channels == 2 {
            for (l, r) in left.iter().zip(right) {
                self.scratch.extend_from_slice(&to_i16(*l).to_le_bytes());
                self.scratch.extend_from_slice(&to_i16(*r).to_le_bytes());
            }
        } else {
            for l in left {
                self.scratch.extend_from_slice(&to_i16(*l).to_le_bytes());
            }
        }
        self.data_bytes += self.scratch.len() as u64;
        if self.data_bytes > self.max_data() {
            return Err(MediaError::Encoder(
                "a WAV file cannot hold more than 4 GiB (about 6 hours of 48 kHz stereo); \
                 choose FLAC for longer audio"
                    .into(),
            ));
        }
        self.out.write_all(&self.scratch)?;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Written, MediaError> {
        if self.data_bytes == 0 {
            return Err(MediaError::EmptySelection);
        }
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| MediaError::Io(e.into_error()))?;
        // Both fit: `push` refused anything past `max_data`.
        let riff_size = (self.header_len - 8 + self.data_bytes) as u32;
        file.seek(SeekFrom::Start(0))?;
        file.write_all(&riff_and_fmt(self.rate, self.channels, riff_size))?;
        file.seek(SeekFrom::Start(self.header_len - 4))?;
        file.write_all(&(self.data_bytes as u32).to_le_bytes())?;
        file.sync_data()?;
        Ok(Written {
            bytes: self.header_len + self.data_bytes,
            frames: 0,
            rate: self.rate,
            channels: self.channels,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_canonical_header_and_interleaved_samples() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.wav");
        let mut sink: Box<dyn Sink> =
            Box::new(WavSink::create(&path, 44_100, 2, &Tagging::default()).unwrap());
        sink.push(&[0.0, 1.0, -1.0], &[0.5, -0.5, 2.0]).unwrap();
        sink.push(&[0.25], &[-0.25]).unwrap();
        let written = sink.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(written.bytes, bytes.len() as u64);
        assert_eq!(bytes.len(), 44 + 4 * 4);
        assert_eq!(&bytes[0..4], b"RIFF");
        assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 36 + 16);
        assert_eq!(
            u32::from_le_bytes(bytes[24..28].try_into().unwrap()),
            44_100
        );
        assert_eq!(
            u32::from_le_bytes(bytes[28..32].try_into().unwrap()),
            44_100 * 4
        );
        assert_eq!(u32::from_le_bytes(bytes[40..44].try_into().unwrap()), 16);
        let samples: Vec<i16> = bytes[44..]
            .chunks(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        assert_eq!(
            samples,
            [0, 16384, 32767, -16384, -32768, 32767, 8192, -8192]
        );
    }

    #[test]
    fn an_empty_stream_is_an_empty_selection() {
        let dir = tempfile::tempdir().unwrap();
        let sink: Box<dyn Sink> = Box::new(
            WavSink::create(&dir.path().join("e.wav"), 8000, 1, &Tagging::default()).unwrap(),
        );
        assert!(matches!(sink.finish(), Err(MediaError::EmptySelection)));
    }

    #[test]
    fn tags_go_in_list_info_and_id3_chunks_before_the_samples() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.wav");
        let tagging = Tagging {
            tags: mp3converter_core::Tags {
                title: Some("Odd".into()),
                track_number: Some(3),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut sink: Box<dyn Sink> = Box::new(WavSink::create(&path, 8000, 1, &tagging).unwrap());
        sink.push(&[0.5, -0.5], &[]).unwrap();
        let written = sink.finish().unwrap();
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(written.bytes, bytes.len() as u64);
        let le = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        assert_eq!(le(4), bytes.len() - 8, "RIFF size");
        // Walk the chunks after `fmt `: LIST, id3, data, each of an even length.
        let mut at = 36;
        let mut ids = Vec::new();
        while at < bytes.len() {
            ids.push(String::from_utf8_lossy(&bytes[at..at + 4]).into_owned());
            let len = le(at + 4);
            if &bytes[at..at + 4] == b"LIST" {
                let body = &bytes[at + 8..at + 8 + len];
                assert_eq!(&body[..4], b"INFO");
                // "Odd\0" is 4 bytes; "3\0" (0x33) is 2.
                assert!(body.windows(12).any(|w| w == b"INAM\x04\0\0\0Odd\0"));
                assert!(body.windows(10).any(|w| w == b"ITRK\x02\0\0\0\x33\0"));
            }
            if &bytes[at..at + 4] == b"id3 " {
                assert_eq!(&bytes[at + 8..at + 11], b"ID3");
            }
            if &bytes[at..at + 4] == b"data" {
                assert_eq!(len, 4);
                assert_eq!(&bytes[at + 8..], &[0x00, 0x40, 0x00, 0xc0]);
            }
            at += 8 + len + len % 2;
        }
        assert_eq!(ids, ["LIST", "id3 ", "data"]);
    }
}
