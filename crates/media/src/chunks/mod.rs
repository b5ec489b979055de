//! Distributed chunk encoding: one MP3 job cut into chunk tasks that separate processes (or
//! machines) encode, then joined into one file byte-identical to the chunk-parallel encode of
//! one process (`parallel.rs`).
//!
//! * [`plan_chunks`] decides whether `input` can be cut, and where: the same frame grid, pre-roll
//!   and look-ahead as [`crate::parallel`]'s threads (a reservoir-free encode cut on that grid is
//!   byte-identical to one pass, so the chunk length need not be the engine's `chunk_secs`). It
//!   says [`Chunking::Whole`] with a reason for what cannot be cut exactly.
//! * [`encode_chunk`] decodes only its chunk (plus pre-rolls): it seeks the demuxer, throws away
//!   what the decoder gets wrong right after a seek, and checks every packet lands where one pass
//!   would have put it (`window.rs`). It encodes with the shared chunk encoder.
//! * [`join_chunks`] writes the tag, the Xing/LAME info frame over the whole and the chunks'
//!   frames, as `convert_with` does.
//!
//! The plan is stored by the orchestrator as JSON and comes back untrusted: every call checks it
//! against the input (a fingerprint of its bytes), the options and the encoder it implies.
//!
//! Chunk `k` covers output samples `[k·F·spf, (k+1)·F·spf)` (F = `chunk_frames`), except the
//! last, which runs to the end of the audio. When the audio turns out shorter than declared, the
//! chunk that reaches its end says so ([`EncodedChunk::last`]) and the later ones come back empty;
//! when it is longer, the last planned chunk simply holds more.

mod aacnoise;
mod planning;
mod window;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::parallel::{self, ChunkGrid};
use crate::{Control, ConvertOptions, EngineConfig, MediaError, contain_panics};

pub use planning::plan_chunks;

mod join;
pub use join::join_chunks;

/// How many chunk lengths past the declared end the last chunk may run before the job is refused
/// (the orchestrator then converts it whole).
const LAST_CHUNK_SLACK: u64 = 2;

/// How a job is cut into chunk tasks. Stored by the orchestrator (serde) and handed back
/// unchanged to [`encode_chunk`] and [`join_chunks`], which check it before use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkPlan {
    /// Number of chunk tasks (indices `0..chunks`).
    pub chunks: u32,
    /// MP3 frames each chunk but the last keeps.
    pub chunk_frames: u64,
    /// Frames each chunk encodes before its own and throws away (encoder pre-roll).
    pub preroll_frames: u64,
    /// Frames each chunk encodes past its own (encoder look-ahead).
    pub tail_frames: u64,
    /// Samples per channel in one MP3 frame.
    pub samples_per_frame: u64,
    /// Sample rate of the decoded audio and of the MP3 (no resampling in chunk jobs), Hz.
    pub sample_rate: u32,
    /// Output channels, 1 or 2.
    pub channels: u8,
    /// LAME's encoder delay, samples (written in the info frame).
    pub encoder_delay: u32,
    /// Output samples per channel the declared duration promises (the real count is what the
    /// chunks report).
    pub expected_samples: u64,
    /// Size of the input the plan was made for.
    pub input_bytes: u64,
    /// Fingerprint of that input (its size, first and last 64 KiB).
    pub input_digest: String,
    /// Fingerprint of the options that shape the audio (format, bitrate, rate, channels, trim,
    /// track).
    pub options_digest: String,
}

/// Whether a job is encoded in chunks.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunking {
    /// Cut into chunk tasks.
    Split(ChunkPlan),
    /// Converted whole with `convert_with`; the reason is for the log.
    Whole {
        /// Why, in words ("loudness normalisation measures the whole input first").
        reason: String,
    },
}

/// One encoded chunk: its MP3 frames exactly as they go into the joined file, and what the join
/// needs to know about them. The orchestrator keeps `bytes` in blob storage and the rest beside
/// its checksum: the serde form leaves `bytes` out (JSON of the counts only), so the chunk is
/// rebuilt for the join as `EncodedChunk { bytes, ..serde_json::from_str(&stored)? }`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EncodedChunk {
    /// Whole MP3 frames.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Frames in `bytes`.
    pub frames: u64,
    /// Output samples per channel the chunk covers.
    pub samples: u64,
    /// True when the audio ends in this chunk (the last planned chunk, or an earlier one when
    /// the audio is shorter than declared: the chunks after it are then empty).
    pub last: bool,
    /// Samples per channel the decoder produced for this chunk (its pre-rolls included): about
    /// the chunk's length, not the input up to it. For tests and logs.
    pub decoded_samples: u64,
}

/// Encodes chunk `index` of `plan`: decodes its range of `input` (seeking near its start),
/// encodes it with the pre-roll and look-ahead and keeps the chunk's frames. Progress (0..1 of
/// this chunk) and cancellation through `control`, as for `convert`.
pub fn encode_chunk(
    input: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    plan: &ChunkPlan,
    index: u32,
    control: Control<'_>,
) -> Result<EncodedChunk, MediaError> {
    contain_panics(|| encode_unguarded(input, options, config, plan, index, control))
}

fn encode_unguarded(
    input: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    plan: &ChunkPlan,
    index: u32,
    control: Control<'_>,
) -> Result<EncodedChunk, MediaError> {
    let checked = planning::check(plan, input, options)?;
    if index >= plan.chunks {
        return Err(MediaError::ChunkMismatch(format!(
            "chunk {index} asked of a plan with {} chunks",
            plan.chunks
        )));
    }
    let grid = checked.grid;
    let k = u64::from(index);
    let planned_last = index + 1 == plan.chunks;
    let (start, discard) = grid.chunk_start(k);
    let chunk_len = grid.chunk_frames * grid.spf;
    // The last chunk runs to the end of the audio, but not without bound: a header that
    // understates the length must not make one task hold the whole input.
    let end = if planned_last {
        plan.expected_samples
            .max(grid.kept_start(k))
            .saturating_add(LAST_CHUNK_SLACK * chunk_len)
    } else {
        grid.chunk_end(k)
    };
    let expected = if planned_last {
        plan.expected_samples.saturating_sub(start).max(1)
    } else {
        end - start
    };
    (control.progress)(0.0);
    let (shape, window) = window::decode_window(
        input,
        options,
        config,
        (start, Some(end)),
        expected,
        control,
    )?;
    if planned_last && !window.ended {
        return Err(MediaError::ChunkMismatch(
            "the audio runs on far past the declared length; convert it whole".into(),
        ));
    }
    if (shape.rate, shape.channels) != (plan.sample_rate, plan.channels) {
        return Err(MediaError::ChunkMismatch(format!(
            "the input decodes to {} Hz, {} channel(s); the plan says {} Hz, {}",
            shape.rate, shape.channels, plan.sample_rate, plan.channels
        )));
    }
    let total = start + window.left.len() as u64;
    if k == 0 && total == 0 {
        return Err(MediaError::EmptySelection);
    }
    // Where the one-process encoder would have cut: chunk k exists when the audio reaches the
    // previous chunk's end (its kept frames and look-ahead), and is the last when it does not
    // reach its own.
    if k > 0 && window.ended && total < grid.chunk_end(k - 1) {
        return Ok(EncodedChunk {
            decoded_samples: window.decoded,
            ..EncodedChunk::default()
        });
    }
    let last = planned_last || window.ended;
    control.check_cancelled()?;
    let bytes = parallel::encode_pcm_chunk(
        &checked.settings,
        &window.left,
        &window.right,
        discard as usize,
        (!last).then_some(grid.chunk_frames as usize),
    )?;
    let frames = crate::mp3out::frames(&bytes).count() as u64;
    (control.progress)(1.0);
    Ok(EncodedChunk {
        frames,
        samples: if last {
            total.saturating_sub(grid.kept_start(k))
        } else {
            grid.chunk_frames * grid.spf
        },
        bytes,
        last,
        decoded_samples: window.decoded,
    })
}

/// The encoder and grid a checked plan implies.
struct Checked {
    settings: mp3converter_lame::Settings,
    grid: ChunkGrid,
}
