//! Describing a file: container, duration, audio streams, and the route a conversion would take.

use std::path::Path;

use symphonia::core::codecs::audio::AudioCodecId;
use symphonia::core::codecs::audio::well_known::profiles::{
    CODEC_PROFILE_AAC_HE, CODEC_PROFILE_AAC_HE_V2, CODEC_PROFILE_AAC_LC, CODEC_PROFILE_AAC_MAIN,
};
use symphonia::core::codecs::audio::well_known::*;

use crate::decode::{self, track_duration_secs};
use crate::sniff::{self, Sniffed};
use crate::{
    AudioStream, ConvertOptions, EngineConfig, MediaError, ProbeReport, Route, ffmpeg, route,
};

/// Probes `input` natively, or with ffprobe for containers only ffmpeg reads.
pub(crate) fn probe(input: &Path, config: &EngineConfig) -> Result<ProbeReport, MediaError> {
    let plan = route::plan(input, &ConvertOptions::default(), config);
    let (route, route_reason) = match plan {
        Ok(p) => (p.route, p.reason),
        Err(MediaError::UnsupportedInput { what, .. }) => (
            Route::Ffmpeg,
            Some(format!("{what} needs ffmpeg, which is not available")),
        ),
        Err(e @ (MediaError::NotMedia | MediaError::Empty | MediaError::Io(_))) => return Err(e),
        // No audio, damage, limits: still describe what can be described.
        Err(_) => (Route::Native, None),
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
                        profile: p.and_then(|p| p.profile).and_then(|pr| match pr {
                            CODEC_PROFILE_AAC_LC => Some("LC".to_string()),
                            CODEC_PROFILE_AAC_MAIN => Some("Main".to_string()),
                            CODEC_PROFILE_AAC_HE => Some("HE-AAC".to_string()),
                            CODEC_PROFILE_AAC_HE_V2 => Some("HE-AACv2".to_string()),
                            _ => None,
                        }),
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

/// A codec in short words (`aac`, `mp3`, `opus`, ...).
pub(crate) fn codec_name(id: AudioCodecId) -> String {
    let name = match id {
        CODEC_ID_AAC => "aac",
        CODEC_ID_MP3 => "mp3",
        CODEC_ID_MP2 => "mp2",
        CODEC_ID_MP1 => "mp1",
        CODEC_ID_FLAC => "flac",
        CODEC_ID_VORBIS => "vorbis",
        CODEC_ID_OPUS => "opus",
        CODEC_ID_ALAC => "alac",
        CODEC_ID_AC3 => "ac3",
        CODEC_ID_EAC3 => "eac3",
        CODEC_ID_AC4 => "ac4",
        CODEC_ID_DCA => "dts",
        CODEC_ID_TRUEHD => "truehd",
        CODEC_ID_WMA => "wma",
        CODEC_ID_SPEEX => "speex",
        CODEC_ID_WAVPACK => "wavpack",
        CODEC_ID_MONKEYS_AUDIO => "ape",
        CODEC_ID_TTA => "tta",
        CODEC_ID_PCM_ALAW => "pcm_alaw",
        CODEC_ID_PCM_MULAW => "pcm_mulaw",
        CODEC_ID_ADPCM_MS | CODEC_ID_ADPCM_IMA_WAV | CODEC_ID_ADPCM_IMA_QT => "adpcm",
        other => {
            return match symphonia::default::get_codecs().get_audio_decoder(other) {
                Some(d) => d.codec.info.short_name.to_string(),
                None => format!("codec {other}"),
            };
        }
    };
    name.to_string()
}
