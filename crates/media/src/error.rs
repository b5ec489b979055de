//! The engine's one error type, with the permanent/transient split the workers rely on.

use std::time::Duration;

/// Everything a probe or a conversion can fail with. Messages are written for the person who
/// uploaded the file: they are shown in the web UI and in failure emails.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The input is not audio or video at all (a PDF, an archive, text, random bytes).
    #[error("this is not an audio or video file")]
    NotMedia,
    /// The file is empty.
    #[error("the file is empty")]
    Empty,
    /// The container holds no audio track (or not the one asked for).
    #[error("this video has no audio track")]
    NoAudioTrack,
    /// A container or codec the built-in decoder cannot handle.
    #[error("{what} is not supported by the built-in decoder{}", if *needs_ffmpeg { "; it needs ffmpeg, which is not installed or is disabled" } else { "" })]
    UnsupportedInput {
        /// Which container or codec, in words ("the AVI container", "AC-3 audio").
        what: String,
        /// True when the ffmpeg fallback would handle it.
        needs_ffmpeg: bool,
    },
    /// The output format is encoded by ffmpeg, and ffmpeg is not available.
    #[error("{} output is encoded by ffmpeg, which is not installed or is disabled; choose mp3, opus, flac or wav", .0.label())]
    FormatNeedsFfmpeg(mp3converter_core::AudioFormat),
    /// `split=chapters` on a source without chapters.
    #[error("the source has no chapters to split at; split at silences or keep one file")]
    NoChapters,
    /// `split=silence` on an input or format the native pipeline does not handle.
    /// The file is damaged or truncated.
    #[error("the file is damaged or truncated ({detail})")]
    Corrupt {
        /// What the decoder tripped over.
        detail: String,
    },
    /// Longer than the configured limit: checked from the headers before decoding, and again
    /// on the audio actually decoded (a header may omit or understate the length).
    #[error("the audio is {} long, over the limit of {limit_secs:.0} s", describe_length(*duration_secs, *limit_secs))]
    TooLong {
        /// The declared duration, or (when the decoded audio passed the limit) how much had been
        /// decoded when the conversion stopped: the audio is at least that long.
        duration_secs: f64,
        /// Configured limit.
        limit_secs: f64,
    },
    /// More channels than the configured limit, or an absurd header value.
    #[error("the audio declares {channels} channels, over the limit of {limit}")]
    TooManyChannels {
        /// Declared channel count.
        channels: u32,
        /// Configured limit.
        limit: u32,
    },
    /// A sample rate no decoder or encoder can work with.
    #[error("the audio declares an unusable sample rate of {0} Hz")]
    BadSampleRate(u32),
    /// The options were refused.
    #[error(transparent)]
    Options(#[from] mp3converter_core::OptionsError),
    /// The trim range lies outside the audio.
    #[error("the trim range selects no audio")]
    EmptySelection,
    /// Reading the input or writing the output failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The caller cancelled the conversion.
    #[error("the conversion was cancelled")]
    Cancelled,
    /// ffmpeg could not be started (not installed, not executable).
    #[error("ffmpeg could not be started ({0}); install ffmpeg or set the engine to native")]
    FfmpegMissing(String),
    /// ffmpeg ran and failed.
    #[error("ffmpeg failed ({status}): {stderr_tail}")]
    FfmpegFailed {
        /// Exit status in words.
        status: String,
        /// The last lines ffmpeg wrote to stderr.
        stderr_tail: String,
    },
    /// ffmpeg ran past its time budget and was killed.
    #[error("ffmpeg did not finish within {0:?} and was stopped")]
    FfmpegTimeout(Duration),
    /// LAME refused the parameters or failed while encoding.
    #[error("the encoder failed: {0}")]
    Encoder(String),
    /// A cover picture (embedded in the source, uploaded, or taken from the video) cannot be
    /// used: not a picture we read, too large, damaged, or no video frame to take it from. The
    /// message says which, in words.
    #[error("{0}")]
    BadCover(String),
    /// A distributed chunk task does not fit its job: the plan was made for another file or
    /// other options, was altered, names a chunk it does not have, or the chunks handed to the
    /// join do not add up. A bug or tampering, never the uploader's doing; retrying cannot help.
    #[error("the chunk plan does not fit this job: {0}")]
    ChunkMismatch(String),
}

impl MediaError {
    /// True when retrying the same input cannot succeed: the job should fail with this message.
    pub fn is_permanent(&self) -> bool {
        !self.is_retryable() && !matches!(self, MediaError::Cancelled)
    }

    /// True when the failure may pass (I/O trouble, a timeout on a busy machine, a missing binary
    /// that an operator may install): the job should be retried with backoff.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            MediaError::Io(_) | MediaError::FfmpegTimeout(_) | MediaError::FfmpegMissing(_)
        )
    }

    /// A stable kebab-case code for APIs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::NotMedia => "not-media",
            MediaError::Empty => "empty-file",
            MediaError::NoAudioTrack => "no-audio-track",
            MediaError::UnsupportedInput { .. } => "unsupported-input",
            MediaError::FormatNeedsFfmpeg(_) => "format-needs-ffmpeg",
            MediaError::NoChapters => "no-chapters",
            MediaError::Corrupt { .. } => "corrupt-media",
            MediaError::TooLong { .. } => "too-long",
            MediaError::TooManyChannels { .. } => "too-many-channels",
            MediaError::BadSampleRate(_) => "bad-sample-rate",
            MediaError::Options(_) => "invalid-options",
            MediaError::EmptySelection => "empty-selection",
            MediaError::Io(_) => "io-error",
            MediaError::Cancelled => "cancelled",
            MediaError::FfmpegMissing(_) => "ffmpeg-missing",
            MediaError::FfmpegFailed { .. } => "ffmpeg-failed",
            MediaError::FfmpegTimeout(_) => "ffmpeg-timeout",
            MediaError::Encoder(_) => "encoder-error",
            MediaError::BadCover(_) => "bad-cover",
            MediaError::ChunkMismatch(_) => "chunk-mismatch",
        }
    }

    pub(crate) fn corrupt(detail: impl std::fmt::Display) -> Self {
        MediaError::Corrupt {
            detail: detail.to_string(),
        }
    }
}

/// "1234 s", or "more than 300 s" when decoding stopped at the limit (the length is unknown).
fn describe_length(duration_secs: f64, limit_secs: f64) -> String {
    if duration_secs.round() > limit_secs.round() {
        format!("{duration_secs:.0} s")
    } else {
        format!("more than {limit_secs:.0} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_long_says_the_length_when_known_and_more_than_the_limit_when_decoding_stopped() {
        let declared = MediaError::TooLong {
            duration_secs: 1234.4,
            limit_secs: 300.0,
        };
        assert_eq!(
            declared.to_string(),
            "the audio is 1234 s long, over the limit of 300 s"
        );
        let stopped = MediaError::TooLong {
            duration_secs: 300.02,
            limit_secs: 300.0,
        };
        assert_eq!(
            stopped.to_string(),
            "the audio is more than 300 s long, over the limit of 300 s"
        );
    }

    #[test]
    fn classification() {
        assert!(MediaError::NoAudioTrack.is_permanent());
        assert!(MediaError::corrupt("x").is_permanent());
        assert!(!MediaError::Io(std::io::Error::other("disk")).is_permanent());
        assert!(MediaError::Io(std::io::Error::other("disk")).is_retryable());
        assert!(!MediaError::Cancelled.is_permanent() && !MediaError::Cancelled.is_retryable());
        let cover = MediaError::BadCover("the cover image is not a JPEG or PNG picture".into());
        assert!(cover.is_permanent());
        assert_eq!(cover.code(), "bad-cover");
        assert_eq!(
            cover.to_string(),
            "the cover image is not a JPEG or PNG picture"
        );
        let e = MediaError::UnsupportedInput {
            what: "the AVI container".into(),
            needs_ffmpeg: true,
        };
        assert_eq!(
            e.to_string(),
            "the AVI container is not supported by the built-in decoder; it needs ffmpeg, which is not installed or is disabled"
        );
    }
}
