//! Domain types shared by every mp3converter crate. Nothing here does I/O.
//!
//! Conversion options, user and job ids, the job life cycle and the queue message bodies.

#![forbid(unsafe_code)]

mod chain;
mod claims;
mod estimate;
mod events;
mod format;
mod html;
mod ids;
mod job;
mod messages;
mod net;
mod options;
mod preset;
mod tags;

pub use chain::{ErrorChain, error_chain};
pub use claims::Claims;
pub use estimate::{
    Estimate, EstimateInput, EstimateRoute, FLAC_TYPICAL_RATIO, LOUDNESS_FACTOR,
    PARALLEL_EFFICIENCY, Speed, SpeedSource, VBR_TYPICAL_KBPS, estimate, kept_secs,
    reference_speed,
};
pub use events::JobEvent;
pub use format::{
    AAC_SAMPLE_RATES, AudioFormat, LOSSLESS_RATES, MP3_SAMPLE_RATES, OPUS_RATE, Rate, UnknownFormat,
};
pub use html::escape_html;
pub use ids::{IdError, JobId, UserId};
pub use job::{Job, JobState, NewJob, Role, UnknownVariant, cover_key, now_millis};
pub use messages::{
    AudioOutcome, AudioReady, ChunkTask, FailureReason, MessageError, VideoUploaded,
};
pub use net::{CidrList, ClientAddr, InvalidCidr, TrustedProxies};
pub use options::{
    ConvertOptions, DEFAULT_BITRATE, DEFAULT_SPLIT_MIN_GAP, DEFAULT_SPLIT_THRESHOLD, Encoding,
    LOUDNESS_RANGE, MAX_BITRATE, MAX_TIME_SECS, MAX_TITLE_CHARS, MAX_TRACK, MAX_TRACK_NUMBER,
    MIN_BITRATE, OptionsError, SPLIT_MIN_GAP_RANGE, SPLIT_THRESHOLD_RANGE, Split,
    TRUE_PEAK_CEILING_DBTP,
};
pub use preset::{Preset, UnknownPreset};
pub use tags::{MAX_TAG_CHARS, Tags, clean_tag_text};
