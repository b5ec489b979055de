//! Where encoded PCM goes: the [`Sink`] trait every encoder implements (see `output`), and the
//! totals of a finished file.

use crate::MediaError;

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
