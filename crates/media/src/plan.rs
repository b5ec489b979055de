//! The decision for one input: which pipeline converts it and why. Made by [`crate::route`],
//! carried out by the native encoder, the MP3 copier or the ffmpeg fallback.

use crate::Pipeline;

/// The decision for one input, made before any decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The pipeline to run.
    pub pipeline: Pipeline,
    /// Why, when it is not the native path.
    pub reason: Option<String>,
    /// Declared duration of the selected audio, seconds.
    pub duration_secs: Option<f64>,
    /// The ID3 title to write (options, else container title, else file stem).
    pub title: Option<String>,
}
