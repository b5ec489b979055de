//! WAV output: RIFF WAVE, 16-bit little-endian PCM (`WAVE_FORMAT_PCM`), interleaved.
//!
//! Samples are rounded to 16 bits and clamped, without dither (the sources are lossy codecs
//! whose noise floor is far above 16-bit quantisation). The RIFF and `data` sizes are written
//! as zero first and filled in by `finish`; a RIFF file cannot describe more than 4 GiB, so a
//! longer result fails with a message that points to FLAC.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::Path;

use super::to_i16;
use crate::MediaError;
use crate::sink::{Sink, Written};

/// Bytes before the samples: RIFF header, `fmt ` chunk (16 bytes of body), `data` header.
const HEADER_LEN: u64 = 44;
/// The most sample bytes a RIFF size field can count.
const MAX_DATA: u64 = u32::MAX as u64 - (HEADER_LEN - 8);

/// Writes PCM as it comes; sizes are patched in at the end.
pub(crate) struct WavSink {
    out: BufWriter<File>,
    channels: u8,
    rate: u32,
    data_bytes: u64,
    scratch: Vec<u8>,
}

impl WavSink {
    /// Creates `path` and writes a header with the sizes left at zero.
    pub fn create(path: &Path, rate: u32, channels: u8) -> Result<Self, MediaError> {
        let mut out = BufWriter::with_capacity(256 << 10, File::create(path)?);
        out.write_all(&header(rate, channels, 0))?;
        Ok(WavSink {
            out,
            channels,
            rate,
            data_bytes: 0,
            scratch: Vec::new(),
        })
    }
}

/// The 44-byte header for `data_bytes` of 16-bit PCM.
fn header(rate: u32, channels: u8, data_bytes: u32) -> [u8; HEADER_LEN as usize] {
    let block_align = u16::from(channels) * 2;
    let mut h = [0u8; HEADER_LEN as usize];
    h[0..4].copy_from_slice(b"RIFF");
    h[4..8].copy_from_slice(&(data_bytes + (HEADER_LEN as u32 - 8)).to_le_bytes());
    h[8..12].copy_from_slice(b"WAVE");
    h[12..16].copy_from_slice(b"fmt ");
    h[16..20].copy_from_slice(&16u32.to_le_bytes());
    h[20..22].copy_from_slice(&1u16.to_le_bytes());
    h[22..24].copy_from_slice(&u16::from(channels).to_le_bytes());
    h[24..28].copy_from_slice(&rate.to_le_bytes());
    h[28..32].copy_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    h[32..34].copy_from_slice(&block_align.to_le_bytes());
    h[34..36].copy_from_slice(&16u16.to_le_bytes());
    h[36..40].copy_from_slice(b"data");
    h[40..44].copy_from_slice(&data_bytes.to_le_bytes());
    h
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
        if self.data_bytes > MAX_DATA {
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
        file.seek(SeekFrom::Start(0))?;
        // Fits: `push` refused anything past MAX_DATA.
        file.write_all(&header(self.rate, self.channels, self.data_bytes as u32))?;
        file.sync_data()?;
        Ok(Written {
            bytes: HEADER_LEN + self.data_bytes,
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
        let mut sink: Box<dyn Sink> = Box::new(WavSink::create(&path, 44_100, 2).unwrap());
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
        let sink: Box<dyn Sink> =
            Box::new(WavSink::create(&dir.path().join("e.wav"), 8000, 1).unwrap());
        assert!(matches!(sink.finish(), Err(MediaError::EmptySelection)));
    }
}
