//! Writes an MP3 file: the ID3v2.4 tag (`output/tags.rs`), a Xing/LAME info frame with the totals, the audio frames.
//!
//! One writer serves every path (one-pass, chunk-parallel, copy): the info frame is reserved at
//! creation and filled in by [`Mp3Writer::finish`] once the frame count, byte count, seek table
//! and gapless delay/padding are known.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use crate::MediaError;
use crate::mp3frame::{BITRATES_V1_L3, BITRATES_V2_L23, FrameHeader, Layer, MpegVersion};
use crate::sink::Written;

/// The parts of a Layer III frame header the writer needs (parsed by [`FrameHeader`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// True for MPEG-1 (32/44.1/48 kHz).
    pub mpeg1: bool,
    /// Raw 4 header bytes.
    pub raw: [u8; 4],
    /// Sample rate, Hz.
    pub rate: u32,
    /// 1 or 2.
    pub channels: u8,
    /// Total frame length in bytes.
    pub len: usize,
    info: FrameHeader,
}

impl Header {
    /// Parses a Layer III header; `None` for anything else (free format included).
    pub fn parse(b: &[u8]) -> Option<Header> {
        let raw: [u8; 4] = b.get(..4)?.try_into().ok()?;
        let info = FrameHeader::parse(raw).filter(|h| h.layer == Layer::L3)?;
        Some(Header {
            mpeg1: info.version == MpegVersion::V1,
            raw,
            rate: info.sample_rate,
            channels: info.channels() as u8,
            len: info.frame_len()?,
            info,
        })
    }

    /// Samples per channel in one frame.
    pub fn samples(&self) -> u32 {
        self.info.samples_per_frame()
    }

    /// Bytes of side information after the header.
    pub fn side_info_len(&self) -> usize {
        self.info.side_info_len()
    }
}

/// Splits a byte run made of whole frames into frames; stops at the first non-frame byte.
pub(crate) fn frames(mut data: &[u8]) -> impl Iterator<Item = (Header, &[u8])> {
    std::iter::from_fn(move || {
        let h = Header::parse(data)?;
        let frame = data.get(..h.len)?;
        data = &data[h.len..];
        Some((h, frame))
    })
}

/// What the info frame says about the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InfoKind {
    /// Constant bitrate ("Info" tag), kbps.
    Cbr(u16),
    /// Variable bitrate ("Xing" tag).
    Vbr,
}

/// Seek-table positions kept while writing: every `stride`-th frame's offset, halved when full,
/// so memory stays fixed however long the file is.
#[derive(Debug, Default)]
struct Offsets {
    stride: u32,
    kept: Vec<u64>,
}

impl Offsets {
    const CAP: usize = 4096;

    fn record(&mut self, frame_index: u32, offset: u64) {
        if self.stride == 0 {
            self.stride = 1;
        }
        if frame_index.is_multiple_of(self.stride) {
            self.kept.push(offset);
            if self.kept.len() == Self::CAP {
                self.kept = self.kept.iter().step_by(2).copied().collect();
                self.stride *= 2;
            }
        }
    }

    fn at_frame(&self, frame: u32) -> u64 {
        let i = (frame / self.stride.max(1)) as usize;
        self.kept
            .get(i.min(self.kept.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    }
}

/// Streams frames into a file and finishes it with a correct info frame.
#[derive(Debug)]
pub(crate) struct Mp3Writer {
    out: BufWriter<File>,
    info_at: u64,
    info_len: usize,
    kind: InfoKind,
    first: Option<Header>,
    frames: u32,
    audio_bytes: u64,
    offsets: Offsets,
    pending: Vec<u8>,
}

impl Mp3Writer {
    /// Creates `path`, writes `tag` (the ID3v2 tag, made by `output::tags::id3_tag`) and
    /// reserves room for the info frame.
    pub fn create(path: &Path, tag: &[u8], kind: InfoKind) -> Result<Self, MediaError> {
        let mut out = BufWriter::with_capacity(256 << 10, File::create(path)?);
        out.write_all(tag)?;
        Ok(Mp3Writer {
            out,
            info_at: tag.len() as u64,
            info_len: 0,
            kind,
            first: None,
            frames: 0,
            audio_bytes: 0,
            offsets: Offsets::default(),
            pending: Vec::new(),
        })
    }

    /// Appends encoder output; a frame cut at the end of `data` is held until the next call.
    pub fn write(&mut self, data: &[u8]) -> Result<(), MediaError> {
        if self.pending.is_empty() {
            let used = self.write_frames(data)?;
            self.pending.extend_from_slice(&data[used..]);
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(data);
            let used = self.write_frames(&buf)?;
            buf.drain(..used);
            self.pending = buf;
        }
        Ok(())
    }

    fn write_frames(&mut self, data: &[u8]) -> Result<usize, MediaError> {
        let mut used = 0;
        for (h, frame) in frames(data) {
            if self.first.is_none() {
                self.first = Some(h);
                self.info_len = info_frame_len(&h, self.kind);
                self.out.write_all(&vec![0; self.info_len])?;
            }
            self.offsets.record(self.frames, self.audio_bytes);
            self.out.write_all(frame)?;
            self.frames += 1;
            self.audio_bytes += frame.len() as u64;
            used += frame.len();
        }
        if used < data.len() && Header::parse(&data[used..]).is_none() && data.len() - used >= 4 {
            return Err(MediaError::Encoder(
                "the encoder produced bytes that are not an MP3 frame".into(),
            ));
        }
        Ok(used)
    }

    /// Writes the info frame: `delay` is the encoder delay in samples, `samples` the number of
    /// real samples per channel (what gapless decoders keep).
    pub fn finish(mut self, delay: u32, samples: u64) -> Result<Written, MediaError> {
        if !self.pending.is_empty() {
            return Err(MediaError::Encoder(
                "the encoder output ends inside a frame".into(),
            ));
        }
        let first = self.first.ok_or(MediaError::EmptySelection)?;
        let total_samples = u64::from(self.frames) * u64::from(first.samples());
        let padding = total_samples.saturating_sub(u64::from(delay) + samples);
        let info = info_frame(
            &first,
            self.kind,
            self.info_len,
            self.frames,
            self.audio_bytes,
            &self.offsets,
            delay,
            padding,
        );
        self.out.flush()?;
        let mut file = self
            .out
            .into_inner()
            .map_err(|e| MediaError::Io(e.into_error()))?;
        file.seek(SeekFrom::Start(self.info_at))?;
        file.write_all(&info)?;
        file.sync_data()?;
        let bytes = self.info_at + self.info_len as u64 + self.audio_bytes;
        Ok(Written {
            bytes,
            frames: self.frames,
            rate: first.rate,
            channels: first.channels,
        })
    }
}

/// Header bytes for the info frame: same version, rate and channel mode as the audio, a bitrate
/// large enough for the tag, no padding, no CRC.
fn info_header(first: &Header, kind: InfoKind) -> Header {
    let table = if first.mpeg1 {
        &BITRATES_V1_L3
    } else {
        &BITRATES_V2_L23
    };
    let want = match kind {
        InfoKind::Cbr(kbps) => kbps,
        InfoKind::Vbr => {
            if first.mpeg1 {
                128
            } else {
                64
            }
        }
    };
    let index = table.iter().position(|&b| b == want).unwrap_or(9) as u8;
    let mut raw = first.raw;
    raw[1] |= 1; // no CRC
    raw[2] = (index << 4) | (raw[2] & 0x0C);
    Header::parse(&raw).unwrap_or(*first)
}

fn info_frame_len(first: &Header, kind: InfoKind) -> usize {
    info_header(first, kind).len
}

#[allow(clippy::too_many_arguments)]
fn info_frame(
    first: &Header,
    kind: InfoKind,
    len: usize,
    frames: u32,
    audio_bytes: u64,
    offsets: &Offsets,
    delay: u32,
    padding: u64,
) -> Vec<u8> {
    let h = info_header(first, kind);
    let mut f = vec![0u8; len];
    f[..4].copy_from_slice(&h.raw);
    let mut at = 4 + h.side_info_len();
    let total = audio_bytes + len as u64;
    let mut put = |bytes: &[u8]| {
        f[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(match kind {
        InfoKind::Cbr(_) => b"Info",
        InfoKind::Vbr => b"Xing",
    });
    put(&0x0Fu32.to_be_bytes()); // frames, bytes, TOC, quality
    put(&frames.to_be_bytes());
    put(&(total.min(u64::from(u32::MAX)) as u32).to_be_bytes());
    let toc: Vec<u8> = (0..100u32)
        .map(|i| {
            let frame = (u64::from(frames) * u64::from(i) / 100) as u32;
            let pos = len as u64 + offsets.at_frame(frame);
            ((pos * 256) / total.max(1)).min(255) as u8
        })
        .collect();
    put(&toc);
    put(&50u32.to_be_bytes()); // quality indicator
    put(b"LAME3.100");
    put(&[match kind {
        InfoKind::Cbr(_) => 0x01,
        InfoKind::Vbr => 0x04,
    }]);
    put(&[0; 1 + 4 + 2 + 2 + 1]); // lowpass, peak, replay gains, flags
    put(&[match kind {
        InfoKind::Cbr(kbps) => kbps.min(255) as u8,
        InfoKind::Vbr => 0,
    }]);
    let (d, p) = (delay.min(0xFFF), padding.min(0xFFF) as u32);
    put(&[
        (d >> 4) as u8,
        (((d & 0xF) << 4) | (p >> 8)) as u8,
        (p & 0xFF) as u8,
    ]);
    let freq_bits: u8 = match first.rate {
        44_100 => 1,
        48_000 => 2,
        r if r > 48_000 => 3,
        _ => 0,
    };
    put(&[freq_bits << 6, 0, 0, 0]); // misc, MP3 gain, preset/surround
    put(&(total.min(u64::from(u32::MAX)) as u32).to_be_bytes());
    put(&[0, 0]); // music CRC (not computed)
    let crc_at = at;
    let crc = crc16(&f[..crc_at]);
    f[crc_at..crc_at + 2].copy_from_slice(&crc.to_be_bytes());
    f
}

/// CRC-16/ARC, as LAME uses for its tag.
fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |mut crc, &b| {
        crc ^= u16::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xA001
            } else {
                crc >> 1
            };
        }
        crc
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_frame_headers() {
        let h = Header::parse(&[0xFF, 0xFB, 0xB0, 0x64]).unwrap(); // MPEG-1, 192 kbps, 44.1 kHz, no pad
        assert_eq!(
            (h.rate, h.channels, h.len, h.samples()),
            (44_100, 2, 626, 1152)
        );
        let h = Header::parse(&[0xFF, 0xF3, 0x84, 0xC4]).unwrap(); // MPEG-2, 64 kbps, 24 kHz, mono
        assert_eq!(
            (h.rate, h.channels, h.len, h.samples()),
            (24_000, 1, 192, 576)
        );
        assert_eq!(Header::parse(&[0xFF, 0xFB, 0xF0, 0x64]), None); // bad bitrate index
        assert_eq!(Header::parse(b"ID3\x03"), None);
    }

    #[test]
    fn crc16_matches_the_arc_check_value() {
        assert_eq!(crc16(b"123456789"), 0xBB3D);
    }

    #[test]
    fn seek_table_memory_is_bounded() {
        let mut o = Offsets::default();
        for i in 0..1_000_000u32 {
            o.record(i, u64::from(i) * 10);
        }
        assert!(o.kept.len() < Offsets::CAP);
        let got = o.at_frame(500_000);
        assert!(got.abs_diff(5_000_000) <= u64::from(o.stride) * 10, "{got}");
    }
}
