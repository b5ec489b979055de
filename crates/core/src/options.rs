//! What a user may ask of a conversion: bitrate or VBR quality, sample rate, mono, trim, track.
//!
//! These travel inside queue messages (`"options": {...}`) and HTTP requests, so the serde form is
//! part of the public contract: flat, snake_case, every field optional.

use serde::{Deserialize, Serialize};

/// Lowest and highest constant bitrate (kbps) the MP3 format allows.
pub const MIN_BITRATE: u16 = 32;
/// See [`MIN_BITRATE`].
pub const MAX_BITRATE: u16 = 320;
/// Bitrate used when the user asks for nothing in particular (kbps).
pub const DEFAULT_BITRATE: u16 = 192;
/// The sample rates an MPEG-1/2/2.5 Layer III stream can carry.
pub const MP3_SAMPLE_RATES: [u32; 9] =
    [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
/// Longest accepted `title`, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Highest accepted `track` index.
pub const MAX_TRACK: usize = 255;
/// Latest accepted `start`/`end`, in seconds (about 11.5 days: far beyond any real input).
pub const MAX_TIME_SECS: f64 = 1_000_000.0;

/// Options for one conversion. `Default` is "192 kbps CBR, keep rate and channels, whole file".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConvertOptions {
    /// Constant bitrate in kbps (32–320). Exclusive with `vbr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u16>,
    /// LAME VBR quality, 0 (best) to 9 (smallest). Exclusive with `bitrate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vbr: Option<u8>,
    /// Output sample rate in Hz; must be one MP3 can carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// Mix down to one channel.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub mono: bool,
    /// Start of the kept range, seconds from the beginning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    /// End of the kept range, seconds from the beginning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    /// Which audio track to convert, counted among audio tracks from 0. Default: the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<usize>,
    /// ID3v2 title. Default: the container's title tag, else the input's file name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// The encoder mode the options resolve to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Constant bitrate, kbps.
    Cbr(u16),
    /// Variable bitrate, LAME quality 0–9.
    Vbr(u8),
}

/// Why a set of options was refused. The message is safe to show to the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptionsError {
    /// Both `bitrate` and `vbr` were given.
    #[error("choose either a constant bitrate or a VBR quality, not both")]
    BitrateAndVbr,
    /// `bitrate` outside 32–320.
    #[error("bitrate {0} kbps is outside {MIN_BITRATE}–{MAX_BITRATE} kbps")]
    Bitrate(u16),
    /// `vbr` above 9.
    #[error("VBR quality {0} is outside 0–9")]
    Vbr(u8),
    /// A sample rate MP3 cannot carry.
    #[error(
        "sample rate {0} Hz is not an MP3 rate (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100 or 48000)"
    )]
    SampleRate(u32),
    /// Negative, non-finite, too late or empty trim range.
    #[error("the trim range is invalid: {0}")]
    Trim(&'static str),
    /// `track` above [`MAX_TRACK`].
    #[error("track {0} is outside 0–{MAX_TRACK}")]
    Track(usize),
    /// A `title` with a control character (NUL, newline, escape…) or longer than
    /// [`MAX_TITLE_CHARS`].
    #[error("title {0}")]
    Title(&'static str),
}

impl OptionsError {
    /// The option the error is about, as named in forms, JSON and the CLI's flags.
    pub fn field(&self) -> &'static str {
        match self {
            OptionsError::BitrateAndVbr | OptionsError::Bitrate(_) => "bitrate",
            OptionsError::Vbr(_) => "vbr",
            OptionsError::SampleRate(_) => "sample_rate",
            OptionsError::Trim(_) => "start",
            OptionsError::Track(_) => "track",
            OptionsError::Title(_) => "title",
        }
    }
}

impl ConvertOptions {
    /// Checks every field; the engine, the HTTP layer and the CLI call this before accepting a
    /// job. Text must be printable (no control character, so no NUL, newline or escape reaches
    /// a tag, a log line or ffmpeg's arguments) and bounded; numbers must be in range.
    pub fn validate(&self) -> Result<(), OptionsError> {
        if self.bitrate.is_some() && self.vbr.is_some() {
            return Err(OptionsError::BitrateAndVbr);
        }
        if let Some(b) = self.bitrate
            && !(MIN_BITRATE..=MAX_BITRATE).contains(&b)
        {
            return Err(OptionsError::Bitrate(b));
        }
        if let Some(q) = self.vbr
            && q > 9
        {
            return Err(OptionsError::Vbr(q));
        }
        if let Some(rate) = self.sample_rate
            && !MP3_SAMPLE_RATES.contains(&rate)
        {
            return Err(OptionsError::SampleRate(rate));
        }
        for t in [self.start, self.end].into_iter().flatten() {
            if !t.is_finite() || t < 0.0 {
                return Err(OptionsError::Trim("times must be zero or positive seconds"));
            }
            if t > MAX_TIME_SECS {
                return Err(OptionsError::Trim("times must be at most 1000000 seconds"));
            }
        }
        if let (Some(s), Some(e)) = (self.start, self.end)
            && e <= s
        {
            return Err(OptionsError::Trim("the end must come after the start"));
        }
        if let Some(track) = self.track
            && track > MAX_TRACK
        {
            return Err(OptionsError::Track(track));
        }
        if let Some(title) = &self.title {
            if title.chars().any(char::is_control) {
                return Err(OptionsError::Title(
                    "must not contain control characters (NUL, newline, tab, escape…)",
                ));
            }
            if title.chars().count() > MAX_TITLE_CHARS {
                return Err(OptionsError::Title("must be at most 200 characters"));
            }
        }
        Ok(())
    }

    /// The encoder mode: the requested one, or 192 kbps CBR.
    pub fn encoding(&self) -> Encoding {
        match (self.bitrate, self.vbr) {
            (_, Some(q)) => Encoding::Vbr(q),
            (Some(b), None) => Encoding::Cbr(b),
            (None, None) => Encoding::Cbr(DEFAULT_BITRATE),
        }
    }

    /// True when the options change the audio itself, so an MP3 source cannot simply be copied.
    /// A title alone does not count: the copy path writes its own tag.
    pub fn requires_reencode(&self) -> bool {
        self.bitrate.is_some()
            || self.vbr.is_some()
            || self.sample_rate.is_some()
            || self.mono
            || self.start.is_some()
            || self.end.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_192_kbps_cbr_and_copyable() {
        let o = ConvertOptions::default();
        assert_eq!(o.validate(), Ok(()));
        assert_eq!(o.encoding(), Encoding::Cbr(192));
        assert!(!o.requires_reencode());
    }

    #[test]
    fn refuses_out_of_range_values() {
        let bad = |o: ConvertOptions| o.validate().unwrap_err();
        assert_eq!(
            bad(ConvertOptions {
                bitrate: Some(16),
                ..Default::default()
            }),
            OptionsError::Bitrate(16)
        );
        assert_eq!(
            bad(ConvertOptions {
                vbr: Some(10),
                ..Default::default()
            }),
            OptionsError::Vbr(10)
        );
        assert_eq!(
            bad(ConvertOptions {
                bitrate: Some(128),
                vbr: Some(2),
                ..Default::default()
            }),
            OptionsError::BitrateAndVbr
        );
        assert_eq!(
            bad(ConvertOptions {
                sample_rate: Some(96_000),
                ..Default::default()
            }),
            OptionsError::SampleRate(96_000)
        );
        assert!(matches!(
            bad(ConvertOptions {
                start: Some(5.0),
                end: Some(2.0),
                ..Default::default()
            }),
            OptionsError::Trim(_)
        ));
        assert!(matches!(
            bad(ConvertOptions {
                start: Some(f64::NAN),
                ..Default::default()
            }),
            OptionsError::Trim(_)
        ));
    }

    #[test]
    fn refuses_control_characters_and_overlong_text() {
        let title = |t: &str| ConvertOptions {
            title: Some(t.to_owned()),
            ..Default::default()
        };
        for bad in [
            "a\0b",
            "line\nforged",
            "tab\there",
            "\u{1b}[31m",
            "c1\u{85}",
        ] {
            let e = title(bad).validate().unwrap_err();
            assert_eq!(e.field(), "title", "{bad:?}");
            assert!(e.to_string().starts_with("title "), "{e}");
        }
        assert_eq!(title(&"é".repeat(MAX_TITLE_CHARS)).validate(), Ok(()));
        assert!(title(&"é".repeat(MAX_TITLE_CHARS + 1)).validate().is_err());
        assert_eq!(title("Ça va — 日本 🎵").validate(), Ok(()));
        let track = ConvertOptions {
            track: Some(MAX_TRACK + 1),
            ..Default::default()
        };
        assert_eq!(track.validate(), Err(OptionsError::Track(MAX_TRACK + 1)));
        let late = ConvertOptions {
            end: Some(MAX_TIME_SECS * 2.0),
            ..Default::default()
        };
        assert_eq!(late.validate().unwrap_err().field(), "start");
    }

    #[test]
    fn serde_form_is_flat_and_rejects_unknown_fields() {
        let o: ConvertOptions = serde_json::from_str(r#"{"vbr": 2, "mono": true}"#).unwrap();
        assert_eq!(o.encoding(), Encoding::Vbr(2));
        assert!(o.mono && o.requires_reencode());
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"vbr":2,"mono":true}"#
        );
        assert!(serde_json::from_str::<ConvertOptions>(r#"{"bitrat": 128}"#).is_err());
    }
}
