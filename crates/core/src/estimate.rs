//! Predicting a conversion before running it: the output's size and how long the work takes.
//!
//! A pure model, no I/O: the CLI (`convert --dry-run`) feeds it a probed duration and a speed
//! measured on the machine, the gateway (`POST /api/v1/estimate`) a duration the browser read
//! and a speed from recent jobs or the reference table below.
//!
//! **Size.** Constant-bitrate MP3 is exact to a frame: whole frames of `144000 × kbps / rate`
//! bytes (MPEG-2 and 2.5: half that) covering the kept samples plus LAME's delay and padding,
//! behind the ID3v2 tag and the Xing/Info frame. WAV is exact: 16-bit PCM plus the 44-byte
//! header. Everything else depends on the audio and is flagged `bytes_approximate`:
//!
//! * **Opus** is the bitrate over the kept time plus Ogg framing (27 bytes a page, one lacing
//!   byte per 255 bytes of packet, the two header pages); libopus runs unconstrained VBR, so a
//!   real file measured 0.7–1.4× of that (less for sparse or band-limited sources like speech,
//!   more for dense music at low bitrates).
//! * **M4A** (ffmpeg's AAC, average bitrate) is the bitrate plus the MP4 sample tables; tonal
//!   sources come out smaller (measured down to 0.7×).
//! * **MP3 VBR** uses LAME's typical bitrate per quality for stereo 44.1 kHz music
//!   ([`VBR_TYPICAL_KBPS`]), ×0.6 for mono.
//! * **FLAC** is [`FLAC_TYPICAL_RATIO`] of the PCM size: music typically compresses to 50–60 %;
//!   speech and quiet sources to less, noise hardly at all.
//! * The **copy** route writes the source's MP3 frames again: the source's size.
//!
//! **Time.** `seconds = overhead + kept × secs_per_sec ÷ parallel + measuring`: the speed is CPU
//! seconds of work per second of audio for the format (measured on this machine, derived from
//! recent jobs, or [`reference_speed`]); chunk-parallel MP3 divides all but the first
//! chunk's work by the threads at [`PARALLEL_EFFICIENCY`]; a loudness target adds a measuring pass on one thread, at its
//! measured speed or else as [`LOUDNESS_FACTOR`] of the conversion.

use serde::{Deserialize, Serialize};

use crate::format::{AudioFormat, MP3_SAMPLE_RATES, OPUS_RATE};
use crate::options::{ConvertOptions, Encoding};

/// LAME's typical bitrate (kbps) for VBR quality 0–9 on stereo 44.1 kHz music.
pub const VBR_TYPICAL_KBPS: [f64; 10] = [
    245.0, 225.0, 190.0, 175.0, 165.0, 130.0, 115.0, 100.0, 85.0, 65.0,
];
/// The share of 16-bit PCM a FLAC file typically takes (music).
pub const FLAC_TYPICAL_RATIO: f64 = 0.55;
/// A loudness target's cost over the plain conversion (the measuring pass; measured 1.3–1.4×).
pub const LOUDNESS_FACTOR: f64 = 1.35;
/// What each extra chunk-parallel thread adds beyond the first chunk's work, which does not
/// divide (2 threads measured 1.83× one on a 600 s input, 1.42–1.48× on 100 s inputs with
/// 30 s chunks).
pub const PARALLEL_EFFICIENCY: f64 = 0.9;
/// The rate and channels assumed when the source's are not known.
const ASSUMED_RATE: u32 = 44_100;
/// LAME's encoder delay plus the decoder delay it pads for, samples.
const MP3_DELAY: f64 = 576.0 + 529.0;

/// Which way the engine converts: decode and encode, copy MP3 frames, or ffmpeg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EstimateRoute {
    /// In-process decode and encode.
    Native,
    /// MP3 frames copied as they are.
    Copy,
    /// The ffmpeg binary.
    Ffmpeg,
}

/// Where a speed figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpeedSource {
    /// A short calibration run of the real engine, just now.
    #[serde(rename = "measured on this machine")]
    Measured,
    /// The durations of recent successful jobs in this service.
    #[serde(rename = "recent jobs")]
    RecentJobs,
    /// The built-in table, measured on the project's 2-core reference machine.
    #[serde(rename = "reference machine")]
    Reference,
}

/// Seconds of work per second of audio, and where the figure came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Speed {
    /// Seconds of single-thread work per second of kept audio (before loudness and threads).
    pub secs_per_sec: f64,
    /// Seconds of a loudness target's measuring pass per second of kept audio, when measured
    /// (it runs on one thread before the conversion); `None`: modelled as
    /// [`LOUDNESS_FACTOR`] of the conversion.
    pub measure_secs_per_sec: Option<f64>,
    /// Where it came from.
    pub source: SpeedSource,
}

/// What is known about the conversion to predict.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateInput<'a> {
    /// The options, already validated and with any preset resolved (`Preset::under`).
    pub options: &'a ConvertOptions,
    /// The source's duration, seconds (trims are applied here).
    pub duration_secs: f64,
    /// The source's sample rate, when known.
    pub source_rate: Option<u32>,
    /// The source's channel count, when known.
    pub source_channels: Option<u32>,
    /// The source's size in bytes, when known (the copy route writes about that much).
    pub source_bytes: Option<u64>,
    /// The route, when known (the CLI probes it; the gateway cannot).
    pub route: Option<EstimateRoute>,
    /// Encoder threads available for chunk-parallel MP3 (1: none).
    pub threads: usize,
    /// Shortest kept duration that is encoded chunk-parallel, seconds.
    pub parallel_min_secs: f64,
    /// Length of one chunk of chunk-parallel encoding, seconds.
    pub parallel_chunk_secs: f64,
    /// Work per second of audio for this format.
    pub speed: Speed,
    /// Seconds of fixed cost (start-up, probing, queueing).
    pub overhead_secs: f64,
}

/// A prediction, as `convert --dry-run` prints it and `POST /api/v1/estimate` answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The route, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub route: Option<EstimateRoute>,
    /// The output format.
    pub format: AudioFormat,
    /// Duration of the output (the kept range), seconds.
    pub duration_secs: f64,
    /// Predicted size of the output, bytes.
    pub bytes: u64,
    /// True when the size depends on the audio itself (VBR, FLAC, Opus, M4A, unknown source
    /// rate for WAV); false for constant-bitrate MP3 and WAV of a known source.
    pub bytes_approximate: bool,
    /// Predicted time of the conversion, seconds.
    pub seconds: f64,
    /// Where the speed behind `seconds` came from.
    pub speed_source: SpeedSource,
}

/// The reference machine's speed for `format` on `route` (2-core AMD EPYC, `docs/benchmarks.md`,
/// "Output formats": CPU seconds per second of a 180 s AAC-in-MP4 source, decode included).
pub fn reference_speed(format: AudioFormat, route: Option<EstimateRoute>) -> f64 {
    match (route, format) {
        (Some(EstimateRoute::Copy), _) => 0.000_07,
        (Some(EstimateRoute::Ffmpeg), AudioFormat::Wav) => 0.003,
        (Some(EstimateRoute::Ffmpeg), AudioFormat::Flac) => 0.005,
        (Some(EstimateRoute::Ffmpeg), AudioFormat::Mp3 | AudioFormat::Opus) => 0.0175,
        (_, AudioFormat::Mp3) => 0.0140,
        (_, AudioFormat::Opus) => 0.0158,
        (_, AudioFormat::Flac) => 0.0127,
        (_, AudioFormat::Wav) => 0.0016,
        // ffmpeg's AAC encoder: 3.8 s (noise) to 31 s (tonal music) for 180 s; speech 16 s.
        (_, AudioFormat::M4a) => 0.090,
    }
}

/// The kept part of `duration_secs` after the options' trims.
pub fn kept_secs(options: &ConvertOptions, duration_secs: f64) -> f64 {
    let duration = if duration_secs.is_finite() {
        duration_secs.max(0.0)
    } else {
        0.0
    };
    let start = options.start.unwrap_or(0.0).clamp(0.0, duration);
    let end = options.end.unwrap_or(duration).clamp(start, duration);
    end - start
}

/// Predicts the output size and conversion time.
pub fn estimate(input: &EstimateInput<'_>) -> Estimate {
    let options = input.options;
    let format = options.format();
    let kept = kept_secs(options, input.duration_secs);
    let (bytes, bytes_approximate) = match (input.route, input.source_bytes) {
        (Some(EstimateRoute::Copy), Some(source)) => (source, true),
        _ => predict_bytes(input, kept),
    };
    let parallel = if format == AudioFormat::Mp3
        && input.route != Some(EstimateRoute::Copy)
        && input.route != Some(EstimateRoute::Ffmpeg)
        && input.threads > 1
        && kept >= input.parallel_min_secs
    {
        1.0 + PARALLEL_EFFICIENCY * (input.threads - 1) as f64
    } else {
        1.0
    };
    let secs_per_sec = if input.speed.secs_per_sec.is_finite() {
        input.speed.secs_per_sec.max(0.0)
    } else {
        reference_speed(format, input.route)
    };
    // Chunk-parallel: nothing can be encoded beside the decoding until the first chunk is
    // decoded, and the last one is encoded when nothing else is left, so about one chunk's
    // work does not divide over the threads.
    let serial = if parallel > 1.0 {
        input.parallel_chunk_secs.clamp(0.0, kept)
    } else {
        kept
    };
    let work = serial * secs_per_sec + (kept - serial) * secs_per_sec / parallel;
    let measuring = match (options.loudness, input.speed.measure_secs_per_sec) {
        (None, _) => 0.0,
        (Some(_), Some(m)) if m.is_finite() => kept * m.max(0.0),
        (Some(_), _) => work * (LOUDNESS_FACTOR - 1.0),
    };
    let seconds = input.overhead_secs.max(0.0) + work + measuring;
    Estimate {
        route: input.route,
        format,
        duration_secs: kept,
        bytes,
        bytes_approximate,
        seconds,
        speed_source: input.speed.source,
    }
}

/// The output's rate and channels.
fn output_shape(input: &EstimateInput<'_>) -> (u32, u32, bool) {
    let options = input.options;
    let known = input.source_rate.is_some() && input.source_channels.is_some();
    let source_rate = input.source_rate.unwrap_or(ASSUMED_RATE);
    let rate = match (options.sample_rate, options.format()) {
        (Some(r), _) => r,
        (None, AudioFormat::Opus) => OPUS_RATE,
        (None, AudioFormat::Mp3) => MP3_SAMPLE_RATES
            .iter()
            .rev()
            .copied()
            .find(|&r| r <= source_rate)
            .unwrap_or(MP3_SAMPLE_RATES[0]),
        (None, _) => source_rate.clamp(8_000, 192_000),
    };
    let channels = if options.mono {
        1
    } else {
        input.source_channels.unwrap_or(2).clamp(1, 2)
    };
    (
        rate,
        channels,
        known || options.mono && options.sample_rate.is_some(),
    )
}

fn predict_bytes(input: &EstimateInput<'_>, kept: f64) -> (u64, bool) {
    let options = input.options;
    let (rate, channels, shape_known) = output_shape(input);
    let title = options.title.as_deref().map_or(0, |t| t.chars().count());
    let pcm = kept * f64::from(rate) * f64::from(channels) * 2.0;
    let (bytes, approximate) = match (options.format(), options.encoding()) {
        (AudioFormat::Mp3, Encoding::Cbr(kbps)) => (mp3_cbr_bytes(kbps, rate, kept, title), false),
        (AudioFormat::Mp3, Encoding::Vbr(q)) => {
            let typical = VBR_TYPICAL_KBPS[usize::from(q.min(9))];
            let kbps = if channels == 1 {
                typical * 0.6
            } else {
                typical
            };
            (kbps * 125.0 * kept + 4_000.0, true)
        }
        (AudioFormat::Opus, encoding) => (opus_bytes(kbps_of(encoding), kept, title), true),
        (AudioFormat::M4a, encoding) => {
            let frames = kept * f64::from(rate) / 1024.0;
            let kbps = f64::from(kbps_of(encoding));
            (kbps * 125.0 * kept + frames * 5.0 + 1_200.0, true)
        }
        (AudioFormat::Wav, _) => (pcm + 44.0, !shape_known),
        (AudioFormat::Flac, _) => (pcm * FLAC_TYPICAL_RATIO + 8_400.0, true),
    };
    (bytes.max(0.0).round() as u64, approximate)
}

fn kbps_of(encoding: Encoding) -> u16 {
    match encoding {
        Encoding::Cbr(kbps) => kbps,
        Encoding::Vbr(_) => 128,
    }
}

/// Constant-bitrate MP3: whole frames for the samples, LAME's delay and end padding, the
/// Xing/Info frame and the ID3v2 tag (title as UTF-16, the encoder note).
fn mp3_cbr_bytes(kbps: u16, rate: u32, kept: f64, title_chars: usize) -> f64 {
    let mpeg1 = rate >= 32_000;
    let spf = if mpeg1 { 1152.0 } else { 576.0 };
    let frame = if mpeg1 { 144_000.0 } else { 72_000.0 } * f64::from(kbps) / f64::from(rate);
    let samples = kept * f64::from(rate);
    let frames = ((samples + MP3_DELAY) / spf).ceil();
    let id3 = 10.0
        + 63.0
        + if title_chars > 0 {
            13.0 + 2.0 * title_chars as f64
        } else {
            0.0
        };
    frames * frame + frame.floor() + id3
}

/// Ogg Opus: 20 ms packets at the bitrate, their lacing bytes, a page header per second or
/// per 4 KiB of packets, and the two header pages.
fn opus_bytes(kbps: u16, kept: f64, title_chars: usize) -> f64 {
    let packets = (kept * 50.0).ceil() + 1.0;
    let per_packet = f64::from(kbps) * 1000.0 / 8.0 / 50.0;
    let lacing = (per_packet / 255.0).floor() + 1.0;
    let pages = (packets / 50.0).max(packets * per_packet / 4096.0).ceil();
    let headers = 47.0 + 28.0 + 16.0 + 40.0 + title_chars as f64;
    packets * (per_packet + lacing) + pages * 28.0 + headers
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(options: &ConvertOptions, duration: f64) -> EstimateInput<'_> {
        EstimateInput {
            options,
            duration_secs: duration,
            source_rate: Some(44_100),
            source_channels: Some(2),
            source_bytes: None,
            route: Some(EstimateRoute::Native),
            threads: 1,
            parallel_min_secs: 90.0,
            parallel_chunk_secs: 30.0,
            speed: Speed {
                secs_per_sec: 0.01,
                measure_secs_per_sec: None,
                source: SpeedSource::Reference,
            },
            overhead_secs: 0.0,
        }
    }

    #[test]
    fn cbr_mp3_is_the_bitrate_over_the_duration_plus_a_few_frames() {
        let o = ConvertOptions::default();
        let e = estimate(&input(&o, 600.0));
        let ideal = 192_000.0 / 8.0 * 600.0;
        assert!(!e.bytes_approximate);
        // The engine benchmark's 600 s file at 192 kbps: 14,401,507 bytes.
        assert!(
            (e.bytes as f64 - 14_401_507.0).abs() < 2_000.0,
            "{}",
            e.bytes
        );
        assert!(e.bytes as f64 > ideal);
        assert_eq!(e.format, AudioFormat::Mp3);
        assert_eq!(e.duration_secs, 600.0);
    }

    #[test]
    fn trims_keep_only_the_range_and_clamp_to_the_duration() {
        let o = ConvertOptions {
            start: Some(10.0),
            end: Some(70.0),
            ..ConvertOptions::default()
        };
        assert_eq!(estimate(&input(&o, 600.0)).duration_secs, 60.0);
        assert_eq!(estimate(&input(&o, 40.0)).duration_secs, 30.0);
        assert_eq!(estimate(&input(&o, 5.0)).duration_secs, 0.0);
        let late = ConvertOptions {
            start: Some(100.0),
            ..ConvertOptions::default()
        };
        assert_eq!(kept_secs(&late, 600.0), 500.0);
        assert_eq!(kept_secs(&late, f64::NAN), 0.0);
    }

    #[test]
    fn wav_is_pcm_plus_the_header_and_mono_halves_it() {
        let o = ConvertOptions {
            format: Some(AudioFormat::Wav),
            ..ConvertOptions::default()
        };
        let e = estimate(&input(&o, 10.0));
        assert_eq!(e.bytes, 44_100 * 2 * 2 * 10 + 44);
        assert!(!e.bytes_approximate);
        let mono = ConvertOptions {
            mono: true,
            sample_rate: Some(16_000),
            ..o.clone()
        };
        assert_eq!(estimate(&input(&mono, 10.0)).bytes, 16_000 * 2 * 10 + 44);
        let mut unknown = input(&o, 10.0);
        unknown.source_rate = None;
        assert!(estimate(&unknown).bytes_approximate);
    }

    #[test]
    fn vbr_flac_opus_and_m4a_are_flagged_approximate() {
        for o in [
            ConvertOptions {
                vbr: Some(2),
                ..ConvertOptions::default()
            },
            ConvertOptions {
                format: Some(AudioFormat::Flac),
                ..ConvertOptions::default()
            },
            ConvertOptions {
                format: Some(AudioFormat::Opus),
                bitrate: Some(64),
                ..ConvertOptions::default()
            },
            ConvertOptions {
                format: Some(AudioFormat::M4a),
                ..ConvertOptions::default()
            },
        ] {
            let e = estimate(&input(&o, 60.0));
            assert!(e.bytes_approximate, "{o:?}");
            assert!(e.bytes > 100_000, "{o:?}: {}", e.bytes);
        }
    }

    #[test]
    fn opus_adds_ogg_framing_to_the_bitrate() {
        let o = ConvertOptions {
            format: Some(AudioFormat::Opus),
            bitrate: Some(64),
            ..ConvertOptions::default()
        };
        let bytes = estimate(&input(&o, 3600.0)).bytes as f64;
        let ideal = 8_000.0 * 3600.0;
        assert!(bytes > ideal && bytes < ideal * 1.03, "{bytes}");
    }

    #[test]
    fn a_preset_resolved_under_the_options_changes_the_prediction() {
        let explicit = ConvertOptions::default();
        let speech = crate::Preset::Speech.under(&explicit);
        let plain = estimate(&input(&explicit, 600.0));
        let e = estimate(&input(&speech, 600.0));
        assert_eq!(e.format, AudioFormat::Opus);
        // 32 kbps instead of 192; the loudness pass costs time.
        assert!(e.bytes * 5 < plain.bytes);
        assert!((e.seconds / plain.seconds - LOUDNESS_FACTOR).abs() < 1e-9);
    }

    #[test]
    fn time_scales_with_the_kept_audio_loudness_and_threads() {
        let o = ConvertOptions::default();
        let mut i = input(&o, 600.0);
        i.overhead_secs = 0.5;
        assert!((estimate(&i).seconds - (0.5 + 6.0)).abs() < 1e-9);
        i.threads = 2;
        let two = estimate(&i).seconds;
        // The first 30 s chunk's work does not divide.
        let parallel = 1.0 + PARALLEL_EFFICIENCY;
        let work = 0.3 + 5.7 / parallel;
        assert!((two - (0.5 + work)).abs() < 1e-9, "{two}");
        // A measured loudness pass runs on one thread before the parallel encoding.
        let loud = ConvertOptions {
            loudness: Some(-16.0),
            ..ConvertOptions::default()
        };
        let mut l = input(&loud, 600.0);
        l.threads = 2;
        l.speed.measure_secs_per_sec = Some(0.004);
        let measured = estimate(&l).seconds;
        assert!((measured - (work + 2.4)).abs() < 1e-9, "{measured}");
        l.speed.measure_secs_per_sec = None;
        let modelled = estimate(&l).seconds;
        assert!((modelled - work * LOUDNESS_FACTOR).abs() < 1e-9);
        // Short inputs, and formats other than MP3, run on one thread.
        i.duration_secs = 60.0;
        assert!((estimate(&i).seconds - (0.5 + 0.6)).abs() < 1e-9);
        let opus = ConvertOptions {
            format: Some(AudioFormat::Opus),
            ..ConvertOptions::default()
        };
        let mut i = input(&opus, 600.0);
        i.threads = 2;
        assert!((estimate(&i).seconds - 6.0).abs() < 1e-9);
    }

    #[test]
    fn the_copy_route_is_the_source_size_and_nearly_free() {
        let o = ConvertOptions::default();
        let mut i = input(&o, 600.0);
        i.route = Some(EstimateRoute::Copy);
        i.source_bytes = Some(14_401_298);
        i.speed.secs_per_sec = reference_speed(AudioFormat::Mp3, i.route);
        let e = estimate(&i);
        assert_eq!(e.bytes, 14_401_298);
        assert!(e.seconds < 0.1);
    }

    #[test]
    fn serializes_snake_case_with_the_speed_source_in_words() {
        let o = ConvertOptions::default();
        let json = serde_json::to_value(estimate(&input(&o, 1.0))).unwrap();
        assert_eq!(json["route"], "native");
        assert_eq!(json["format"], "mp3");
        assert_eq!(json["speed_source"], "reference machine");
        assert_eq!(json["bytes_approximate"], false);
        for key in ["duration_secs", "bytes", "seconds"] {
            assert!(json[key].is_number(), "{key}");
        }
        let measured = serde_json::to_value(SpeedSource::Measured).unwrap();
        assert_eq!(measured, "measured on this machine");
        assert_eq!(
            serde_json::to_value(SpeedSource::RecentJobs).unwrap(),
            "recent jobs"
        );
    }

    #[test]
    fn a_nonsense_speed_falls_back_to_the_reference_table() {
        let o = ConvertOptions::default();
        let mut i = input(&o, 100.0);
        i.speed.secs_per_sec = f64::NAN;
        assert!(
            (estimate(&i).seconds - 100.0 * reference_speed(AudioFormat::Mp3, i.route)).abs()
                < 1e-9
        );
    }
}
