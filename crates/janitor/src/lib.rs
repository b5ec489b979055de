//! The retention janitor: keeps storage from growing forever.
//!
//! One pass ([`Janitor::run_once`]), repeated every `interval_secs` by [`Janitor::run`]:
//!
//! 1. **Sources.** A done job's source video is removed `source_grace_secs` after the job
//!    finished (the MP3 is what the user came for; the video is only kept for a while).
//! 2. **Expiry.** `audio_retention_secs` after a job finished (done or failed), its remaining
//!    blobs are removed and the job becomes `expired`: it stays listed, its download answers
//!    404 `expired`.
//! 3. **Sweep.** Blobs under `video/` and `audio/` that no job references any more (left by a
//!    crash between a put and the job's row, or a failed delete) are removed once they are
//!    older than `sweep_min_age_secs`. An upload in progress is never listed by the storage
//!    (the port's contract), and a finished upload whose job row is not written yet is younger
//!    than that delay, so neither can be swept. What a crash left inside the backend itself
//!    (GridFS chunks of an upload that never got its file document) goes too, once nothing was
//!    added to it for as long (`BlobStore::sweep_interrupted`).
//!
//! 4. **Uploads.** Resumable uploads past their `Upload-Expires` are removed with their stored
//!    segments; segments whose upload is gone are swept after the same safety delay.
//!
//! Jobs with the `keep` flag are left alone entirely. Every removal is claimed in the database
//! first with a guarded `UPDATE` (the one that changes the row wins), so several janitors (one
//! per gateway replica) never double-count, and a blob whose claim succeeded but whose delete
//! failed is left for the sweep. A rule set to 0 seconds is turned off.

#![forbid(unsafe_code)]

mod chunks;
mod config;
mod error;
mod retention;
mod stats;
mod sweep;
mod uploads;

pub use chunks::CHUNK_PREFIX;
pub use config::{REFERENCE_TOML, RetentionConfig};
pub use error::JanitorError;
pub use retention::{Janitor, JanitorDeps, PassReport};
pub use stats::{
    AUDIO_DELETED_TOTAL, BLOBS_SWEPT_TOTAL, CHUNKS_SWEPT_TOTAL, ERRORS_TOTAL,
    INTERRUPTED_PUTS_SWEPT_TOTAL, JOBS_EXPIRED_TOTAL, SOURCES_DELETED_TOTAL, UPLOADS_EXPIRED_TOTAL,
    describe_metrics,
};
pub use sweep::SWEPT_PREFIXES;
pub use uploads::UPLOADS_PREFIX;
