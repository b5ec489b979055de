//! What [`crate::probe`] and [`crate::convert`] tell the caller.

use mp3converter_core::Tags;
use serde::Serialize;

/// The pipeline a conversion runs through: native, copy or ffmpeg. (Reports keep calling the
/// field `route`, as their JSON always has; not to be confused with the queue's message route
/// in `mp3converter-db`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Pipeline {
    /// In-process decode (symphonia) and LAME encode.
    Native,
    /// The source audio is MP3: frames are copied, not re-encoded.
    Copy,
    /// The `ffmpeg` binary, sandboxed.
    Ffmpeg,
}

/// One audio stream of a probed file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioStream {
    /// Position among the file's audio streams, from 0 (what `ConvertOptions::track` selects).
    pub index: usize,
    /// Codec in short words: `aac`, `mp3`, `opus`, `flac`, `ac3`, ...
    pub codec: String,
    /// Codec profile when known (`LC`, `HE-AAC`, `HE-AACv2`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Sample rate in Hz, as declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// Channel count, as declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    /// Language tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// Stream title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Duration of this stream in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_secs: Option<f64>,
}

/// A description of a media file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProbeReport {
    /// Container in short words: `mp4`, `matroska`, `ogg`, `wav`, `mp3`, `avi`, `mpegts`, ...
    pub container: String,
    /// Duration in seconds (of the longest audio stream when the container does not say).
    pub duration_secs: Option<f64>,
    /// The audio streams, in file order.
    pub audio_streams: Vec<AudioStream>,
    /// Title from the container's metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The pipeline [`crate::convert`] would run with default options and the given config.
    pub route: Pipeline,
    /// Why that path (set when it is not the obvious native one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_reason: Option<String>,
}

/// The result of a conversion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConvertReport {
    /// The pipeline that ran.
    pub route: Pipeline,
    /// Why that path, when it was not the native one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_reason: Option<String>,
    /// Duration of the output audio, seconds.
    pub duration_secs: f64,
    /// Output sample rate, Hz.
    pub sample_rate: u32,
    /// Output channels (1 or 2).
    pub channels: u32,
    /// The output format.
    pub format: mp3converter_core::AudioFormat,
    /// Size of the written file, bytes.
    pub bytes: u64,
    /// Encoder threads used (1 unless chunk-parallel).
    pub threads: usize,
    /// The title tag written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Every tag written (title included).
    #[serde(skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    /// True when a cover picture was written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cover: bool,
    /// Chapter marks written.
    #[serde(skip_serializing_if = "is_zero")]
    pub chapters: usize,
    /// Files in the ZIP, when the output was split.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parts: Option<usize>,
    /// What loudness normalisation measured and did, when it was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loudness: Option<LoudnessReport>,
}

/// Loudness normalisation of one conversion (EBU R128).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoudnessReport {
    /// The integrated loudness asked for, LUFS.
    pub target_lufs: f64,
    /// The source's integrated loudness, LUFS (`-inf` for silence).
    pub source_lufs: f64,
    /// The source's true peak, dBTP.
    pub source_true_peak_dbtp: f64,
    /// The gain applied before the true-peak limiter, dB.
    pub gain_db: f64,
}

impl ConvertReport {
    /// An empty report: the pipelines fill in what they did, `convert` what was tagged.
    pub(crate) fn blank() -> Self {
        ConvertReport {
            route: Pipeline::Native,
            route_reason: None,
            duration_secs: 0.0,
            sample_rate: 0,
            channels: 0,
            format: mp3converter_core::AudioFormat::Mp3,
            bytes: 0,
            threads: 1,
            title: None,
            tags: Tags::default(),
            cover: false,
            chapters: 0,
            parts: None,
            loudness: None,
        }
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
