//! The copy path: MP3 audio is re-muxed frame by frame, never re-encoded.
//!
//! The output gets the engine's own ID3 tag and a fresh info frame (frame count, byte count, seek
//! table, and the source's gapless delay/padding when it declared them).

use std::path::Path;

use crate::decode::{self, map_error};
use crate::mp3out::{Header, InfoKind, Mp3Writer};
use crate::output::tags::Tagging;
use crate::plan::Plan;
use crate::{Control, ConvertOptions, ConvertReport, EngineConfig, MediaError, Pipeline};

/// Copies the MP3 frames of the selected track of `input` into `output`.
pub(crate) fn copy_mp3(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    plan: &Plan,
    tagging: &Tagging,
    control: Control<'_>,
) -> Result<ConvertReport, MediaError> {
    let mut opened = decode::open(input, options.track)?;
    let track = opened
        .audio_tracks
        .iter()
        .find(|t| t.id == opened.track_id)
        .cloned();
    let delay = track.as_ref().and_then(|t| t.delay).unwrap_or(0);
    let declared_samples = track.as_ref().and_then(|t| t.num_frames);

    // A "Xing" (VBR-style) info frame suits CBR sources too, and the source's kind is only
    // known after the last frame.
    let mut writer = Mp3Writer::create(
        output,
        &crate::output::tags::id3_tag(tagging, "copied, not re-encoded")?,
        InfoKind::Vbr,
    )?;
    let mut first: Option<Header> = None;
    let mut frames: u64 = 0;
    let mut data = Vec::new();
    let total_bytes = std::fs::metadata(input)?.len().max(1);
    let mut last_report = 0.0;
    let mut read_bytes: u64 = 0;
    while let Some(packet) = opened.reader.next_packet().map_err(map_error).transpose() {
        let packet = match packet {
            Ok(p) => p,
            Err(MediaError::Corrupt { .. }) if frames > 0 => break,
            Err(e) => return Err(e),
        };
        if packet.track_id != opened.track_id {
            continue;
        }
        data.clear();
        for (h, frame) in crate::mp3out::frames(&packet.data) {
            if is_info_frame(&h, frame) {
                continue;
            }
            first.get_or_insert(h);
            data.extend_from_slice(frame);
            frames += 1;
        }
        writer.write(&data)?;
        if let Some(h) = &first {
            let copied = frames * u64::from(h.samples());
            decode::check_decoded_length(copied, h.rate, config.max_duration_secs)?;
        }
        control.check_cancelled()?;
        read_bytes += packet.data.len() as u64;
        let done = (read_bytes as f64 / total_bytes as f64).min(0.99);
        if done - last_report >= 0.01 {
            last_report = done;
            (control.progress)(done);
        }
    }
    let first = first.ok_or_else(|| MediaError::corrupt("no MP3 frames could be read"))?;
    let spf = u64::from(first.samples());
    // A truncated file declares more than it holds: report what was copied.
    let copied = (frames * spf).saturating_sub(u64::from(delay));
    let samples = declared_samples.map_or(copied, |declared| declared.min(copied));
    let written = writer.finish(delay, samples)?;
    Ok(ConvertReport {
        route: Pipeline::Copy,
        route_reason: plan.reason.clone(),
        duration_secs: samples as f64 / f64::from(first.rate),
        sample_rate: written.rate,
        channels: u32::from(written.channels),
        bytes: written.bytes,
        threads: 1,
        format: mp3converter_core::AudioFormat::Mp3,
        loudness: None,
        ..ConvertReport::blank()
    })
}

/// True for a Xing/Info/VBRI frame (it carries no audio).
fn is_info_frame(h: &Header, frame: &[u8]) -> bool {
    let at = 4 + h.side_info_len();
    matches!(frame.get(at..at + 4), Some(b"Xing" | b"Info")) || frame.get(36..40) == Some(b"VBRI")
}
