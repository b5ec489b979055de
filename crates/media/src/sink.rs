//! Where encoded PCM goes: the [`Sink`] trait, and [`SingleSink`], one LAME encoder writing
//! straight into the file. The chunk-parallel sink is in `parallel.rs`.

use mp3converter_lame::{Encoder, Settings};

use crate::MediaError;
use crate::mp3out::Mp3Writer;

/// Totals of a finished output file, whatever its format.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Written {
    /// Size of the whole file.
    pub bytes: u64,
    /// Encoded frames or packets (MP3 frames, Opus packets, FLAC frames; 0 where the format has
    /// none, as WAV).
    pub frames: u32,
    /// Sample rate of the file, Hz.
    pub rate: u32,
    /// 1 or 2.
    pub channels: u8,
}

/// Where encoded PCM goes: one encoder, or chunk encoders on threads.
pub(crate) trait Sink {
    /// Encodes planar samples (`right` is empty for mono).
    fn push(&mut self, left: &[f32], right: &[f32]) -> Result<(), MediaError>;
    /// Flushes, writes the info frame and returns the totals.
    fn finish(self: Box<Self>) -> Result<Written, MediaError>;
}

/// An encoder failure as the engine reports it.
pub(crate) fn lame_error(e: mp3converter_lame::LameError) -> MediaError {
    MediaError::Encoder(e.to_string())
}

/// One LAME encoder writing straight into the file.
pub(crate) struct SingleSink {
    encoder: Encoder,
    writer: Mp3Writer,
    buf: Vec<u8>,
    samples: u64,
}

impl SingleSink {
    pub fn new(settings: &Settings, writer: Mp3Writer) -> Result<Self, MediaError> {
        Ok(SingleSink {
            encoder: Encoder::new(settings).map_err(lame_error)?,
            writer,
            buf: Vec::new(),
            samples: 0,
        })
    }
}

impl Sink for SingleSink {
    fn push(&mut self, left: &[f32], right: &[f32]) -> Result<(), MediaError> {
        self.buf.clear();
        self.encoder
            .encode(left, right, &mut self.buf)
            .map_err(lame_error)?;
        self.samples += left.len() as u64;
        self.writer.write(&self.buf)
    }

    fn finish(mut self: Box<Self>) -> Result<Written, MediaError> {
        self.buf.clear();
        self.encoder.flush(&mut self.buf).map_err(lame_error)?;
        self.writer.write(&self.buf)?;
        self.writer
            .finish(self.encoder.encoder_delay(), self.samples)
    }
}
