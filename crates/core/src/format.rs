//! The output formats a job can produce, and what each accepts.
//!
//! This is the one table every layer reads: the gateway for the download's `Content-Type` and
//! file name, the converter for the storage key's extension, the CLI for `--format` and `-o`'s
//! extension, option validation for the bitrates and rates a format can carry. The engine's
//! encoders for each format are in the media crate's `output` module. Adding a format is a
//! variant here, its row in each `match` below, and its encoder there.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The sample rates an MPEG-1/2/2.5 Layer III stream can carry.
pub const MP3_SAMPLE_RATES: [u32; 9] =
    [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
/// The sample rates AAC-LC in MP4 is written at (the sampling-frequency-index table).
pub const AAC_SAMPLE_RATES: [u32; 12] = [
    8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200, 96000,
];
/// The lowest and highest rate the lossless formats are written at (Hz).
pub const LOSSLESS_RATES: (u32, u32) = (8000, 192_000);
/// Opus always runs at 48 kHz (a decoder plays it back at 48 kHz whatever the source was).
pub const OPUS_RATE: u32 = 48_000;

/// An output format: container, codec and tag style together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioFormat {
    /// MPEG-1/2 Layer III (LAME) with an ID3v2 tag and a Xing/LAME info frame. The default.
    #[default]
    Mp3,
    /// Opus (libopus) in Ogg, with Vorbis comments.
    Opus,
    /// FLAC, 16-bit, lossless, with Vorbis comments.
    Flac,
    /// RIFF WAVE, 16-bit PCM.
    Wav,
    /// AAC-LC in an MP4 (`.m4a`) container, with MP4 metadata atoms.
    M4a,
}

/// How a format's encoder is driven by `bitrate`/`vbr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Lossy with a bitrate: the accepted range and the default (kbps), and whether LAME's
    /// VBR quality scale applies.
    Lossy {
        /// Lowest accepted bitrate, kbps.
        min_kbps: u16,
        /// Highest accepted bitrate, kbps.
        max_kbps: u16,
        /// The bitrate when none is asked for, kbps.
        default_kbps: u16,
        /// True when `vbr` (0–9) is accepted.
        vbr: bool,
    },
    /// Lossless: neither `bitrate` nor `vbr` applies.
    Lossless,
}

impl AudioFormat {
    /// Every format, in the order the UI and the docs list them.
    pub const ALL: [AudioFormat; 5] = [
        AudioFormat::Mp3,
        AudioFormat::Opus,
        AudioFormat::Flac,
        AudioFormat::Wav,
        AudioFormat::M4a,
    ];

    /// The name used in forms, JSON, the CLI and file extensions' place (`"mp3"`, `"opus"`, …).
    pub fn name(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "mp3",
            AudioFormat::Opus => "opus",
            AudioFormat::Flac => "flac",
            AudioFormat::Wav => "wav",
            AudioFormat::M4a => "m4a",
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        self.name()
    }

    /// The download's `Content-Type`.
    pub fn content_type(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "audio/mpeg",
            AudioFormat::Opus => "audio/ogg",
            AudioFormat::Flac => "audio/flac",
            AudioFormat::Wav => "audio/wav",
            AudioFormat::M4a => "audio/mp4",
        }
    }

    /// A name for people ("MP3", "Ogg Opus", …), for messages and the UI.
    pub fn label(self) -> &'static str {
        match self {
            AudioFormat::Mp3 => "MP3",
            AudioFormat::Opus => "Ogg Opus",
            AudioFormat::Flac => "FLAC",
            AudioFormat::Wav => "WAV",
            AudioFormat::M4a => "M4A (AAC)",
        }
    }

    /// What `bitrate` and `vbr` mean for this format.
    pub fn rate(self) -> Rate {
        match self {
            AudioFormat::Mp3 => Rate::Lossy {
                min_kbps: 32,
                max_kbps: 320,
                default_kbps: 192,
                vbr: true,
            },
            AudioFormat::Opus => Rate::Lossy {
                min_kbps: 6,
                max_kbps: 510,
                default_kbps: 128,
                vbr: false,
            },
            AudioFormat::M4a => Rate::Lossy {
                min_kbps: 32,
                max_kbps: 320,
                default_kbps: 192,
                vbr: false,
            },
            AudioFormat::Flac | AudioFormat::Wav => Rate::Lossless,
        }
    }

    /// True when `rate` (Hz) can be asked for with `sample_rate`.
    pub fn accepts_sample_rate(self, rate: u32) -> bool {
        match self {
            AudioFormat::Mp3 => MP3_SAMPLE_RATES.contains(&rate),
            AudioFormat::M4a => AAC_SAMPLE_RATES.contains(&rate),
            AudioFormat::Opus => rate == OPUS_RATE,
            AudioFormat::Flac | AudioFormat::Wav => {
                (LOSSLESS_RATES.0..=LOSSLESS_RATES.1).contains(&rate)
            }
        }
    }

    /// The sample rates `sample_rate` may name, in words (for error messages).
    pub fn sample_rates_in_words(self) -> String {
        let list = |rates: &[u32]| {
            let (last, rest) = rates.split_last().expect("non-empty table");
            let rest: Vec<String> = rest.iter().map(u32::to_string).collect();
            format!("{} or {last}", rest.join(", "))
        };
        match self {
            AudioFormat::Mp3 => list(&MP3_SAMPLE_RATES),
            AudioFormat::M4a => list(&AAC_SAMPLE_RATES),
            AudioFormat::Opus => OPUS_RATE.to_string(),
            AudioFormat::Flac | AudioFormat::Wav => {
                format!("{}–{}", LOSSLESS_RATES.0, LOSSLESS_RATES.1)
            }
        }
    }

    /// The format a file name's extension implies (`talk.opus` → Opus), if any: `.ogg` is taken
    /// as Ogg Opus, `.wave` as WAV. Case-insensitive.
    pub fn from_extension(ext: &str) -> Option<AudioFormat> {
        match ext.to_ascii_lowercase().as_str() {
            "mp3" => Some(AudioFormat::Mp3),
            "opus" | "ogg" | "oga" => Some(AudioFormat::Opus),
            "flac" => Some(AudioFormat::Flac),
            "wav" | "wave" => Some(AudioFormat::Wav),
            "m4a" => Some(AudioFormat::M4a),
            _ => None,
        }
    }

    /// The format whose storage key ends `key` (`audio/<job>.opus`); keys without a known
    /// extension are MP3, as every key was before there were other formats.
    pub fn of_key(key: &str) -> AudioFormat {
        key.rsplit_once('.')
            .and_then(|(_, ext)| AudioFormat::ALL.into_iter().find(|f| f.extension() == ext))
            .unwrap_or_default()
    }
}

impl fmt::Display for AudioFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not one of [`AudioFormat::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}: choose mp3, opus, flac, wav or m4a")]
pub struct UnknownFormat(pub String);

impl FromStr for AudioFormat {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        AudioFormat::ALL
            .into_iter()
            .find(|f| f.name() == lower)
            .ok_or_else(|| UnknownFormat(s.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_text_and_json() {
        for f in AudioFormat::ALL {
            assert_eq!(f.name().parse::<AudioFormat>(), Ok(f));
            assert_eq!(
                serde_json::to_string(&f).unwrap(),
                format!("\"{}\"", f.name())
            );
            assert_eq!(AudioFormat::from_extension(f.extension()), Some(f));
            assert_eq!(
                AudioFormat::of_key(&format!("audio/x.{}", f.extension())),
                f
            );
        }
        assert_eq!(" FLAC ".parse::<AudioFormat>(), Ok(AudioFormat::Flac));
        assert!("aiff".parse::<AudioFormat>().is_err());
        assert_eq!(AudioFormat::of_key("audio/legacy"), AudioFormat::Mp3);
        assert_eq!(AudioFormat::from_extension("OGG"), Some(AudioFormat::Opus));
        assert_eq!(AudioFormat::from_extension("mp4"), None);
    }

    #[test]
    fn each_format_states_its_rates() {
        assert!(AudioFormat::Mp3.accepts_sample_rate(22_050));
        assert!(!AudioFormat::Mp3.accepts_sample_rate(96_000));
        assert!(AudioFormat::M4a.accepts_sample_rate(96_000));
        assert!(!AudioFormat::Opus.accepts_sample_rate(44_100));
        assert!(AudioFormat::Flac.accepts_sample_rate(96_000));
        assert!(!AudioFormat::Wav.accepts_sample_rate(7_999));
        assert_eq!(
            AudioFormat::Mp3.sample_rates_in_words(),
            "8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100 or 48000"
        );
        assert_eq!(AudioFormat::Flac.rate(), Rate::Lossless);
    }
}
