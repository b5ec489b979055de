//! The converter's metrics: conversion time, finished jobs by result, bytes in and out.

use std::time::Duration;

/// Histogram: seconds the engine spent on one successful conversion.
pub const CONVERSION_SECONDS: &str = "conversion_seconds";
/// Counter with label `result` = `done`, `failed` (permanent) or `gave_up` (transient, every
/// attempt).
pub const JOBS_FINISHED_TOTAL: &str = "jobs_finished_total";
/// Counter: bytes of video fetched from storage.
pub const INPUT_BYTES_TOTAL: &str = "conversion_input_bytes_total";
/// Counter: bytes of MP3 stored.
pub const OUTPUT_BYTES_TOTAL: &str = "conversion_output_bytes_total";

/// Registers the descriptions of the converter's metrics with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_histogram!(
        CONVERSION_SECONDS,
        metrics::Unit::Seconds,
        "Time the engine spent on one successful conversion"
    );
    metrics::describe_counter!(
        JOBS_FINISHED_TOTAL,
        "Jobs finished by the converter, by result (done, failed, gave_up)"
    );
    metrics::describe_counter!(
        INPUT_BYTES_TOTAL,
        metrics::Unit::Bytes,
        "Bytes of video fetched from storage"
    );
    metrics::describe_counter!(
        OUTPUT_BYTES_TOTAL,
        metrics::Unit::Bytes,
        "Bytes of MP3 stored"
    );
}

pub(crate) fn conversion_time(elapsed: Duration) {
    metrics::histogram!(CONVERSION_SECONDS).record(elapsed.as_secs_f64());
}

pub(crate) fn finished(result: &'static str) {
    metrics::counter!(JOBS_FINISHED_TOTAL, "result" => result).increment(1);
}

pub(crate) fn input_bytes(bytes: u64) {
    metrics::counter!(INPUT_BYTES_TOTAL).increment(bytes);
}

pub(crate) fn output_bytes(bytes: u64) {
    metrics::counter!(OUTPUT_BYTES_TOTAL).increment(bytes);
}
