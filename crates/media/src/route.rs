//! Deciding how to convert a file: native, copy, or ffmpeg, and why.
//!
//! The native decoders get some inputs silently wrong; those are caught here, before decoding:
//!
//! * **HE-AAC** (SBR/PS): the native AAC decoder decodes only the core, at half the rate, and
//!   v2 comes out mono. Detected from the signalled profile, from a decoded rate that differs
//!   from the declared one or from the MP4 track's timescale, and for ADTS at ≤ 24 kHz.
//! * **MPEG-PS** (.mpg) is mis-probed as raw MPEG audio: detected by its pack header (sniffing).
//! * **Multichannel AAC** and codecs without a native decoder (Opus, AC-3, E-AC-3, DTS, ...).
//! * Containers the native demuxers cannot read (AVI, MPEG-TS, FLV, ASF): detected by sniffing.
//!
//! MP3 audio with options that do not change it is copied instead of re-encoded.

use std::path::Path;

use mp3converter_sniff::{self as sniff, Sniffed};
use symphonia::core::codecs::audio::well_known::profiles::{
    CODEC_PROFILE_AAC_HE, CODEC_PROFILE_AAC_HE_V2,
};
use symphonia::core::codecs::audio::well_known::{CODEC_ID_AAC, CODEC_ID_MP3};

pub use crate::plan::Plan;

use crate::codec::codec_name;
use crate::decode::{self, Opened, PcmSource};
use crate::output;
use crate::{ConvertOptions, EngineChoice, EngineConfig, MediaError, Pipeline, ffmpeg};

/// Highest sample rate accepted from a header (anything above is treated as damage).
const MAX_RATE: u32 = 768_000;

/// Decides the pipeline for `input`.
pub fn plan(
    input: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
) -> Result<Plan, MediaError> {
    let sniffed = sniff::sniff_file(input)?.ok_or(MediaError::Empty)?;
    let stem_title = || input.file_stem().map(|s| s.to_string_lossy().into_owned());
    let title = |container: Option<String>| options.title.clone().or(container).or_else(stem_title);
    let fallback = |what: String, duration_secs: Option<f64>, container_title: Option<String>| {
        fallback_plan(input, config, what, duration_secs, title(container_title))
    };

    if sniffed == Sniffed::Native(sniff::Container::Wav)
        && let Some(channels) = crate::wavhead::declared_channels(input)?
        && u32::from(channels) > config.max_channels
    {
        return Err(MediaError::TooManyChannels {
            channels: u32::from(channels),
            limit: config.max_channels,
        });
    }
    match sniffed {
        Sniffed::NotMedia(_) => return Err(MediaError::NotMedia),
        Sniffed::NeedsFfmpeg(c) => return fallback(c.describe().to_string(), None, None),
        Sniffed::Native(_) | Sniffed::Unknown => {}
    }

    let opened = match decode::open(input, options.track) {
        Ok(o) => o,
        Err(MediaError::UnsupportedInput { .. } | MediaError::Corrupt { .. })
            if sniffed == Sniffed::Unknown =>
        {
            return Err(MediaError::NotMedia);
        }
        Err(MediaError::UnsupportedInput { what, .. }) => return fallback(what, None, None),
        Err(e) => return Err(e),
    };
    let duration = opened.duration_secs;
    check_limits(&opened, config)?;
    if config.engine == EngineChoice::Ffmpeg {
        return fallback_plan(
            input,
            config,
            "the ffmpeg engine was chosen".into(),
            duration,
            title(opened.title),
        );
    }
    if let Some(what) = needs_fallback(input, options, &opened)? {
        return fallback(what, duration, opened.title);
    }
    if !output::is_native(options.format()) {
        return encoder_plan(input, options, config, duration, title(opened.title));
    }
    let copy = opened.params.codec == CODEC_ID_MP3 && !options.requires_reencode();
    Ok(Plan {
        pipeline: if copy {
            Pipeline::Copy
        } else {
            Pipeline::Native
        },
        reason: copy.then(|| "the audio is already MP3: frames are copied".to_string()),
        duration_secs: duration,
        title: title(opened.title),
    })
}

fn fallback_plan(
    input: &Path,
    config: &EngineConfig,
    what: String,
    duration_secs: Option<f64>,
    title: Option<String>,
) -> Result<Plan, MediaError> {
    if config.engine == EngineChoice::Native || !ffmpeg::available(config) {
        return Err(MediaError::UnsupportedInput {
            what,
            needs_ffmpeg: true,
        });
    }
    ffmpeg_plan(
        input,
        config,
        format!("{what} needs ffmpeg"),
        duration_secs,
        title,
    )
}

/// The ffmpeg pipeline for an output format the engine has no encoder of its own for.
fn encoder_plan(
    input: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    duration_secs: Option<f64>,
    title: Option<String>,
) -> Result<Plan, MediaError> {
    let format = options.format();
    if config.engine == EngineChoice::Native || !ffmpeg::available(config) {
        return Err(MediaError::FormatNeedsFfmpeg(format));
    }
    let reason = format!("{} output is encoded by ffmpeg", format.label());
    ffmpeg_plan(input, config, reason, duration_secs, title)
}

fn ffmpeg_plan(
    input: &Path,
    config: &EngineConfig,
    reason: String,
    duration_secs: Option<f64>,
    title: Option<String>,
) -> Result<Plan, MediaError> {
    // The timeout and progress need the duration; ask ffprobe when the native side could not.
    let duration_secs = duration_secs.or_else(|| {
        ffmpeg::probe(input, config)
            .ok()
            .and_then(|p| p.duration_secs)
    });
    Ok(Plan {
        pipeline: Pipeline::Ffmpeg,
        reason: Some(reason),
        duration_secs,
        title,
    })
}

fn check_limits(opened: &Opened, config: &EngineConfig) -> Result<(), MediaError> {
    let p = &opened.params;
    let channels = p.channels.as_ref().map_or(0, |c| c.count()) as u32;
    if channels > config.max_channels {
        return Err(MediaError::TooManyChannels {
            channels,
            limit: config.max_channels,
        });
    }
    if let Some(rate) = p.sample_rate
        && (rate == 0 || rate > MAX_RATE)
    {
        return Err(MediaError::BadSampleRate(rate));
    }
    if let (Some(d), Some(limit)) = (opened.duration_secs, config.max_duration_secs)
        && d > limit
    {
        return Err(MediaError::TooLong {
            duration_secs: d,
            limit_secs: limit,
        });
    }
    Ok(())
}

/// Why the native path would get this input wrong, if it would.
fn needs_fallback(
    input: &Path,
    options: &ConvertOptions,
    opened: &Opened,
) -> Result<Option<String>, MediaError> {
    let p = &opened.params;
    if symphonia::default::get_codecs()
        .get_audio_decoder(p.codec)
        .is_none()
    {
        return Ok(Some(format!("{} audio", codec_name(p.codec))));
    }
    if p.codec != CODEC_ID_AAC {
        return Ok(None);
    }
    let channels = p.channels.as_ref().map_or(0, |c| c.count());
    if matches!(
        p.profile,
        Some(CODEC_PROFILE_AAC_HE | CODEC_PROFILE_AAC_HE_V2)
    ) {
        return Ok(Some("HE-AAC audio".into()));
    }
    if channels > 2 {
        return Ok(Some(format!("{channels}-channel AAC audio")));
    }
    let rate = p.sample_rate.unwrap_or(0);
    // symphonia's ADTS reader calls itself "aac".
    if opened.container == "aac" && rate <= 24_000 {
        return Ok(Some("low-rate ADTS AAC (possibly HE-AAC)".into()));
    }
    if opened
        .timescale_rate
        .is_some_and(|ts| ts != rate && ts == rate * 2)
    {
        return Ok(Some("HE-AAC audio (implicit SBR)".into()));
    }
    // Decode the first packet: SBR/PS streams decode at a rate or channel count other than declared.
    let mut src = PcmSource::new(decode::open(input, options.track)?)?;
    let mut block = Vec::new();
    while src.next_block(&mut block)? {
        if block.first().is_some_and(|b| !b.is_empty()) {
            let declared_channels = if channels == 0 { block.len() } else { channels };
            if (rate != 0 && src.rate != rate) || block.len() != declared_channels {
                return Ok(Some(
                    "HE-AAC audio (decoded rate or channels differ from the header)".into(),
                ));
            }
            break;
        }
    }
    Ok(None)
}
