//! The janitor's metrics: what each pass removed, and what it failed to remove.

/// Counter: source videos removed after their grace period (and videos of expired jobs).
pub const SOURCES_DELETED_TOTAL: &str = "retention_sources_deleted_total";
/// Counter: audio files removed at the end of their retention.
pub const AUDIO_DELETED_TOTAL: &str = "retention_audio_deleted_total";
/// Counter: jobs marked `expired`.
pub const JOBS_EXPIRED_TOTAL: &str = "retention_jobs_expired_total";
/// Counter: blobs no job referenced, removed by the sweep.
pub const BLOBS_SWEPT_TOTAL: &str = "retention_blobs_swept_total";
/// Counter: chunk frames of finished, failed or deleted split jobs removed by the sweep.
pub const CHUNKS_SWEPT_TOTAL: &str = "retention_chunks_swept_total";
/// Counter: puts interrupted by a crash whose leftovers in the backend the sweep removed.
pub const INTERRUPTED_PUTS_SWEPT_TOTAL: &str = "retention_interrupted_puts_swept_total";
/// Counter: expired resumable uploads removed with their segments.
pub const UPLOADS_EXPIRED_TOTAL: &str = "retention_uploads_expired_total";
/// Counter: failed removals and failed passes (retried on the next pass).
pub const ERRORS_TOTAL: &str = "retention_errors_total";

/// Registers the descriptions of the janitor's metrics with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(SOURCES_DELETED_TOTAL, "Source videos removed by retention");
    metrics::describe_counter!(AUDIO_DELETED_TOTAL, "Audio files removed by retention");
    metrics::describe_counter!(JOBS_EXPIRED_TOTAL, "Jobs marked expired by retention");
    metrics::describe_counter!(
        BLOBS_SWEPT_TOTAL,
        "Unreferenced blobs removed by the retention sweep"
    );
    metrics::describe_counter!(
        CHUNKS_SWEPT_TOTAL,
        "Chunk frames of split jobs that no longer need them, removed by the sweep"
    );
    metrics::describe_counter!(
        INTERRUPTED_PUTS_SWEPT_TOTAL,
        "Leftovers of puts interrupted by a crash removed by the retention sweep"
    );
    metrics::describe_counter!(
        UPLOADS_EXPIRED_TOTAL,
        "Expired resumable uploads removed with their stored segments"
    );
    metrics::describe_counter!(
        ERRORS_TOTAL,
        "Retention removals or passes that failed (retried on the next pass)"
    );
}

pub(crate) fn count(name: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(name).increment(n);
    }
}
