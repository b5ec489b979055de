//! Presets: named bundles of options for what people convert most (`speech`, `podcast`,
//! `music`, `audiobook`). A preset fills in what the user did not say; every option given
//! explicitly wins. The reasons for each number are in `docs/formats.md`, "Presets".

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::format::{AudioFormat, Rate};
use crate::options::ConvertOptions;

/// A named bundle of conversion options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Lectures, talks, voice memos: Opus 32 kbps mono at −16 LUFS.
    Speech,
    /// Episodes for podcast apps: MP3 96 kbps mono, 44.1 kHz, −16 LUFS.
    Podcast,
    /// Concerts and albums: MP3 at LAME's best VBR quality (V0), stereo, loudness as mastered.
    Music,
    /// Long spoken books: MP3 64 kbps mono at −18 LUFS.
    Audiobook,
}

impl Preset {
    /// Every preset, in the order the UI and the docs list them.
    pub const ALL: [Preset; 4] = [
        Preset::Speech,
        Preset::Podcast,
        Preset::Music,
        Preset::Audiobook,
    ];

    /// The name used in forms, the CLI and the UI.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Speech => "speech",
            Preset::Podcast => "podcast",
            Preset::Music => "music",
            Preset::Audiobook => "audiobook",
        }
    }

    /// The options the preset stands for.
    pub fn options(self) -> ConvertOptions {
        match self {
            Preset::Speech => ConvertOptions {
                format: Some(AudioFormat::Opus),
                bitrate: Some(32),
                mono: true,
                loudness: Some(-16.0),
                ..ConvertOptions::default()
            },
            Preset::Podcast => ConvertOptions {
                bitrate: Some(96),
                sample_rate: Some(44_100),
                mono: true,
                loudness: Some(-16.0),
                ..ConvertOptions::default()
            },
            Preset::Music => ConvertOptions {
                vbr: Some(0),
                ..ConvertOptions::default()
            },
            Preset::Audiobook => ConvertOptions {
                bitrate: Some(64),
                mono: true,
                loudness: Some(-18.0),
                ..ConvertOptions::default()
            },
        }
    }

    /// `explicit` over the preset: every option set in `explicit` wins, and a preset value that
    /// no longer fits beside them is dropped (a bitrate or VBR quality when the format chosen is
    /// lossless or has no VBR scale, the other of bitrate/VBR when one is given, a sample rate
    /// the chosen format cannot carry). `mono` can only be added: a preset's mono stays mono.
    pub fn under(self, explicit: &ConvertOptions) -> ConvertOptions {
        let preset = self.options();
        // Everything a preset does not set (trim, track, tags, cover, splitting) is the job's.
        let mut o = explicit.clone();
        o.format = explicit.format.or(preset.format);
        if explicit.bitrate.is_none() && explicit.vbr.is_none() {
            o.bitrate = preset.bitrate;
            o.vbr = preset.vbr;
        }
        o.sample_rate = explicit.sample_rate.or(preset.sample_rate);
        o.mono |= preset.mono;
        o.loudness = explicit.loudness.or(preset.loudness);
        let format = o.format();
        match format.rate() {
            Rate::Lossless => {
                if explicit.bitrate.is_none() {
                    o.bitrate = None;
                }
                if explicit.vbr.is_none() {
                    o.vbr = None;
                }
            }
            Rate::Lossy { vbr: false, .. } if explicit.vbr.is_none() && o.vbr.is_some() => {
                o.vbr = None;
            }
            Rate::Lossy { .. } => {}
        }
        if explicit.sample_rate.is_none()
            && o.sample_rate
                .is_some_and(|r| !format.accepts_sample_rate(r))
        {
            o.sample_rate = None;
        }
        o
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A preset name that is not one of [`Preset::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown preset {0:?}: choose speech, podcast, music or audiobook")]
pub struct UnknownPreset(pub String);

impl FromStr for Preset {
    type Err = UnknownPreset;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Preset::ALL
            .into_iter()
            .find(|p| p.name() == lower)
            .ok_or_else(|| UnknownPreset(s.chars().take(40).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_on_its_own() {
        for p in Preset::ALL {
            assert_eq!(p.options().validate(), Ok(()), "{p}");
            assert_eq!(p.name().parse::<Preset>(), Ok(p));
            assert_eq!(p.under(&ConvertOptions::default()), p.options());
        }
        assert!("radio".parse::<Preset>().is_err());
    }

    #[test]
    fn explicit_options_win_and_what_no_longer_fits_is_dropped() {
        let flac = ConvertOptions {
            format: Some(AudioFormat::Flac),
            ..Default::default()
        };
        let o = Preset::Podcast.under(&flac);
        assert_eq!(o.format(), AudioFormat::Flac);
        assert_eq!((o.bitrate, o.vbr), (None, None), "no bitrate for FLAC");
        assert_eq!(o.sample_rate, Some(44_100), "FLAC can carry 44.1 kHz");
        assert!(o.mono && o.loudness == Some(-16.0));
        assert_eq!(o.validate(), Ok(()));

        let bitrate = ConvertOptions {
            bitrate: Some(256),
            ..Default::default()
        };
        let o = Preset::Music.under(&bitrate);
        assert_eq!((o.bitrate, o.vbr), (Some(256), None));

        let opus = ConvertOptions {
            format: Some(AudioFormat::Opus),
            ..Default::default()
        };
        let o = Preset::Podcast.under(&opus);
        assert_eq!(o.sample_rate, None, "Opus is 48 kHz only");
        assert_eq!(o.bitrate, Some(96));
        assert_eq!(o.validate(), Ok(()));
        let o = Preset::Music.under(&opus);
        assert_eq!(o.vbr, None, "Opus has no VBR quality scale");
        assert_eq!(o.validate(), Ok(()));

        let quiet = ConvertOptions {
            loudness: Some(-23.0),
            title: Some("Ch. 1".into()),
            ..Default::default()
        };
        let o = Preset::Audiobook.under(&quiet);
        assert_eq!(o.loudness, Some(-23.0));
        assert_eq!(o.title.as_deref(), Some("Ch. 1"));
        // An explicit option that does not fit the preset's format is the user's to fix.
        let vbr = ConvertOptions {
            vbr: Some(2),
            ..Default::default()
        };
        assert_eq!(
            Preset::Speech.under(&vbr).validate().unwrap_err().field(),
            "vbr"
        );
    }
}
