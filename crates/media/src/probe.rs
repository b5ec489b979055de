//! Describing a file: container, duration, audio streams, and the route a conversion would take.

use std::path::Path;

use mp3converter_sniff::{self as sniff, Sniffed};

use crate::codec::{codec_name, profile_name};
use crate::decode::{self, track_duration_secs};
use crate::{
    AudioStream, ConvertOptions, EngineConfig, MediaError, Pipeline, ProbeReport, ffmpeg, route,
};

/// Probes `input` natively, or with ffprobe for containers only ffmpeg reads.
pub(crate) fn probe(input: &Path, config: &EngineConfig) -> Result<ProbeReport, MediaError> {
    let plan = route::plan(input, &ConvertOptions::default(), config);
    let (route, route_reason) = match plan {
        Ok(p) => (p.pipeline, p.reason),
        Err(MediaError::UnsupportedInput { what, .. }) => (
            Pipeline::Ffmpeg,
            Some(format!("{what} needs ffmpeg, which is not available")),
        ),
        Err(e @ (MediaError::NotMedia | MediaError::Empty | MediaError::Io(_))) => return Err(e),
        // No audio, damage, limits: still describe what can be described.
        Err(_) => (Pipeline::Native, None),
    };
    // Containers only ffmpeg reads correctly are described by ffprobe (symphonia may "open" a
    // transport stream as raw ADTS, for instance).
    let native = match sniff::sniff_file(input)? {
        Some(Sniffed::NeedsFfmpeg(c)) => Err(MediaError::UnsupportedInput {
            what: c.describe().into(),
            needs_ffmpeg: true,
        }),
        _ => decode::open_format(input),
    };
    match native {
        Ok(mut reader) => {
            let tracks = decode::audio_tracks(reader.as_ref());
            let audio_streams: Vec<AudioStream> = tracks
                .iter()
                .enumerate()
                .map(|(index, t)| {
                    let p = t.codec_params.as_ref().and_then(|p| p.audio());
                    AudioStream {
                        index,
                        codec: p.map_or_else(|| "unknown".into(), |p| codec_name(p.codec)),
                        profile: p.and_then(|p| p.profile).and_then(profile_name),
                        sample_rate: p.and_then(|p| p.sample_rate),
                        channels: p
                            .and_then(|p| p.channels.as_ref())
                            .map(|c| c.count() as u32),
                        language: t.language.clone().filter(|l| !l.is_empty() && l != "und"),
                        title: None,
                        duration_secs: track_duration_secs(t),
                    }
                })
                .collect();
            let duration_secs = audio_streams
                .iter()
                .filter_map(|s| s.duration_secs)
                .reduce(f64::max);
            Ok(ProbeReport {
                container: container_name(reader.format_info().short_name),
                duration_secs,
                audio_streams,
                title: decode::title_of(reader.as_mut()),
                route,
                route_reason,
            })
        }
        Err(native_error) => {
            if !ffmpeg::available(config) {
                return Err(native_error);
            }
            match ffmpeg::probe(input, config) {
                Ok(mut report) => {
                    report.route = route;
                    report.route_reason = route_reason;
                    Ok(report)
                }
                // ffprobe may time out on a busy machine: worth trying again.
                Err(e) if e.is_retryable() => Err(e),
                // Neither could read it: the native reason is the one in plain words.
                Err(e) => {
                    tracing::debug!(error = %e, "ffprobe could not read the file either");
                    Err(native_error)
                }
            }
        }
    }
}

fn container_name(short: &str) -> String {
    match short {
        "isomp4" => "mp4",
        "mkv" => "matroska",
        "riff" | "wave" => "wav",
        other => other,
    }
    .to_string()
}
