//! The converter worker: takes `video` messages, converts each video to an MP3 with the engine,
//! stores it, and finishes the job together with its `mp3` message in one transaction.
//!
//! * [`Converter::run`] is the service loop (bounded concurrency, graceful shutdown that hands
//!   unfinished work back); [`Converter::run_pending_jobs`] drains the queue for tests.
//! * Long jobs are split into chunk tasks on the same queue that every converter takes; the
//!   converter storing the last chunk queues the join (`chunks.rs`). A converter killed mid-job
//!   loses only the chunks it was encoding.
//! * Redeliveries are harmless: a finished job is acked without converting it again.
//! * Permanent engine errors (not media, no audio track, ...) fail the job at once with the
//!   engine's plain-words message; transient ones (storage, database, I/O) are retried with
//!   backoff, and after the last attempt the job fails with `gave-up`.

#![forbid(unsafe_code)]

mod chunks;
mod config;
mod engine;
mod error;
mod inputs;
mod job;
mod lease;
mod settle;
mod stats;
mod worker;

pub use config::{ConverterConfig, REFERENCE_TOML};
pub use mp3converter_queue::Tunable;
pub use stats::{
    CONVERSION_SECONDS, INPUT_BYTES_TOTAL, JOBS_FINISHED_TOTAL, OUTPUT_BYTES_TOTAL,
    describe_metrics,
};
pub use worker::{Converter, ConverterDeps, DEFAULT_SHUTDOWN_GRACE};
