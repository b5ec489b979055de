//! Joining encoded chunks into the final MP3: the ID3 tag, the Xing/LAME info frame over the
//! whole, the chunks' frames in order. Every chunk is checked against the plan first, so a lost,
//! repeated or foreign chunk fails the join instead of making a file with a hole in it.

use std::path::Path;

use super::{ChunkPlan, EncodedChunk, planning};
use crate::mp3out::{self, Mp3Writer};
use crate::output::mp3::info_kind;
use crate::output::tags::id3_tag;
use crate::{
    ConvertOptions, ConvertReport, EngineConfig, Extras, MediaError, Pipeline, contain_panics,
    route, tagging,
};

/// Writes `output` from the chunks of `plan` in order (chunk 0, 1, …): the tags and cover (from
/// the source, `options` and `extras`, as `convert_with`), the info frame over the whole and the
/// frames. Byte-identical to `convert_with` with the same input, options and extras when that
/// one runs chunk-parallel. Fails with [`MediaError::ChunkMismatch`] when the chunks do not add
/// up (a count other than the plan's, a chunk of the wrong length or layout, audio after the
/// chunk that ended it); the output is then not created. The report's `threads` is 1: the
/// chunks were encoded elsewhere.
pub fn join_chunks(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    extras: &Extras<'_>,
    config: &EngineConfig,
    plan: &ChunkPlan,
    chunks: &mut dyn Iterator<Item = Result<EncodedChunk, MediaError>>,
) -> Result<ConvertReport, MediaError> {
    contain_panics(|| join_unguarded(input, output, options, extras, config, plan, chunks))
}

fn join_unguarded(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    extras: &Extras<'_>,
    config: &EngineConfig,
    plan: &ChunkPlan,
    chunks: &mut dyn Iterator<Item = Result<EncodedChunk, MediaError>>,
) -> Result<ConvertReport, MediaError> {
    let checked = planning::check(plan, input, options)?;
    let route = route::plan(input, options, config)?;
    if route.pipeline != Pipeline::Native {
        return Err(MediaError::ChunkMismatch(
            "the input no longer takes the native route".into(),
        ));
    }
    let tagging = tagging::resolve(input, options, extras, &route, config)?;
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".mp3c-")
        .suffix(".part")
        .tempfile_in(dir)?;
    let mut writer = Mp3Writer::create(
        tmp.path(),
        &id3_tag(&tagging, "LAME 3.100")?,
        info_kind(options),
    )?;
    let grid = checked.grid;
    let mut total: u64 = 0;
    let mut count: u32 = 0;
    let mut ended = false;
    for chunk in chunks {
        let chunk = chunk?;
        let i = count;
        count += 1;
        let mismatch = |what: &str| MediaError::ChunkMismatch(format!("chunk {i} {what}"));
        let bad = |what: &str| Err(mismatch(what));
        if count > plan.chunks {
            return bad(&format!("is past the plan's {} chunks", plan.chunks));
        }
        if ended {
            if chunk.frames != 0 || !chunk.bytes.is_empty() || chunk.samples != 0 {
                return bad("holds audio after the chunk where the audio ended");
            }
            continue;
        }
        check_frames(&chunk, plan).map_err(|what| mismatch(&what))?;
        if chunk.last {
            ended = true;
            if chunk.samples > chunk.frames * grid.spf {
                return bad("covers more samples than its frames hold");
            }
        } else if chunk.frames != grid.chunk_frames || chunk.samples != grid.chunk_frames * grid.spf
        {
            return bad("is not a whole chunk, yet not the last");
        }
        writer.write(&chunk.bytes)?;
        total += chunk.samples;
    }
    if count != plan.chunks {
        return Err(MediaError::ChunkMismatch(format!(
            "{count} chunks were handed to the join; the plan has {}",
            plan.chunks
        )));
    }
    if !ended {
        return Err(MediaError::ChunkMismatch(
            "no chunk reached the end of the audio".into(),
        ));
    }
    let written = writer.finish(plan.encoder_delay, total)?;
    // Temp files are created 0600; the result is an ordinary file.
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )?;
    tmp.persist(output).map_err(|e| MediaError::Io(e.error))?;
    Ok(ConvertReport {
        route: Pipeline::Native,
        route_reason: route.reason,
        format: options.format(),
        duration_secs: total as f64 / f64::from(plan.sample_rate),
        sample_rate: written.rate,
        channels: u32::from(written.channels),
        bytes: written.bytes,
        threads: 1,
        title: tagging.tags.title.clone(),
        tags: tagging.tags.clone(),
        cover: tagging.cover.is_some(),
        chapters: tagging.chapters.len(),
        ..ConvertReport::blank()
    })
}

/// `Err(what)` unless `chunk.bytes` is exactly `chunk.frames` whole frames of the plan's rate
/// and channels.
fn check_frames(chunk: &EncodedChunk, plan: &ChunkPlan) -> Result<(), String> {
    let (mut frames, mut len) = (0u64, 0usize);
    for (h, frame) in mp3out::frames(&chunk.bytes) {
        if h.rate != plan.sample_rate || h.channels != plan.channels {
            return Err(format!(
                "holds a {} Hz, {}-channel frame; the plan is {} Hz, {}",
                h.rate, h.channels, plan.sample_rate, plan.channels
            ));
        }
        frames += 1;
        len += frame.len();
    }
    if len != chunk.bytes.len() || frames != chunk.frames {
        return Err(format!(
            "is not {} whole MP3 frames ({frames} frames in {len} of {} bytes)",
            chunk.frames,
            chunk.bytes.len()
        ));
    }
    Ok(())
}
