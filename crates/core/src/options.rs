//! What a user may ask of a conversion: output format, bitrate or VBR quality, sample rate, mono,
//! trim, track.
//!
//! These travel inside queue messages (`"options": {...}`) and HTTP requests, so the serde form is
//! part of the public contract: flat, snake_case, every field optional.

use serde::{Deserialize, Serialize};

use crate::format::{AudioFormat, Rate};
use crate::tags::{MAX_TAG_CHARS, Tags};

/// Lowest and highest constant bitrate (kbps) the MP3 format allows.
pub const MIN_BITRATE: u16 = 32;
/// See [`MIN_BITRATE`].
pub const MAX_BITRATE: u16 = 320;
/// MP3 bitrate used when the user asks for nothing in particular (kbps).
pub const DEFAULT_BITRATE: u16 = 192;
/// Quietest and loudest accepted `loudness` target (LUFS).
pub const LOUDNESS_RANGE: (f64, f64) = (-70.0, -5.0);
/// The true-peak ceiling of loudness normalisation (dBTP).
pub const TRUE_PEAK_CEILING_DBTP: f64 = -1.0;
/// Longest accepted `title`, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Highest accepted `track` index.
pub const MAX_TRACK: usize = 255;
/// Latest accepted `start`/`end`, in seconds (about 11.5 days: far beyond any real input).
pub const MAX_TIME_SECS: f64 = 1_000_000.0;

/// Options for one conversion. `Default` is "MP3, 192 kbps CBR, keep rate and channels, whole
/// file".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConvertOptions {
    /// The output format. Absent means MP3 (and is left out of messages, so an MP3 job's
    /// messages are what they were before there were other formats).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<AudioFormat>,
    /// Constant bitrate in kbps (MP3 and M4A 32–320, Opus 6–510; not for FLAC or WAV).
    /// Exclusive with `vbr`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u16>,
    /// LAME VBR quality, 0 (best) to 9 (smallest); MP3 only. Exclusive with `bitrate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vbr: Option<u8>,
    /// Output sample rate in Hz; must be one the format can carry.
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
    /// Integrated loudness to normalise to, LUFS (EBU R128 / ITU-R BS.1770, two passes, true
    /// peak kept under −1 dBTP): −16 for podcasts, −23 for broadcast, −14 for streaming.
    /// Default: the loudness is left as it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loudness: Option<f64>,
    /// Which audio track to convert, counted among audio tracks from 0. Default: the first.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track: Option<usize>,
    /// Title tag. Default: the source's title tag, else the input's file name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Artist tag. Default: the source's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    /// Album tag. Default: the source's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
    /// Date tag, `YYYY`, `YYYY-MM` or `YYYY-MM-DD`. Default: the source's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Genre tag. Default: the source's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genre: Option<String>,
    /// Track-number tag, from 1 (`track` above chooses the audio track). Default: the source's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_number: Option<u32>,
    /// Comment tag. Default: the source's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Drop what the source carries (tags, cover art, chapters); the job's own tags and cover
    /// are still written.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub no_tags: bool,
    /// The job came with its own cover image (the upload's `cover` part), stored beside its
    /// video. Set by the gateway, never by a client.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cover: bool,
    /// Take the cover from the video's picture at this many seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cover_from_video: Option<f64>,
    /// Deliver one file per part, in a ZIP with an M3U playlist.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<Split>,
    /// `split=silence`: what counts as silence, dBFS (default [`DEFAULT_SPLIT_THRESHOLD`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_threshold: Option<f64>,
    /// `split=silence`: the shortest silence that separates two parts, seconds (default
    /// [`DEFAULT_SPLIT_MIN_GAP`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_min_gap: Option<f64>,
}

/// How a job's output is split into parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// One part per chapter of the source.
    Chapters,
    /// A part ends where a silence at least `split_min_gap` long begins.
    Silence,
}

impl Split {
    /// Its name in forms, JSON and the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Split::Chapters => "chapters",
            Split::Silence => "silence",
        }
    }
}

impl std::str::FromStr for Split {
    type Err = OptionsError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "chapters" => Ok(Split::Chapters),
            "silence" => Ok(Split::Silence),
            _ => Err(OptionsError::Split("must be chapters or silence")),
        }
    }
}

/// Default silence threshold of `split=silence`, dBFS: under the noise floor of speech
/// recordings, above that of lossy-coded digital silence.
pub const DEFAULT_SPLIT_THRESHOLD: f64 = -45.0;
/// Accepted silence thresholds, dBFS.
pub const SPLIT_THRESHOLD_RANGE: (f64, f64) = (-90.0, -10.0);
/// Default shortest silence between two parts of `split=silence`, seconds: longer than the
/// pauses inside speech or music, shorter than the gap between tracks.
pub const DEFAULT_SPLIT_MIN_GAP: f64 = 2.0;
/// Accepted shortest silences, seconds.
pub const SPLIT_MIN_GAP_RANGE: (f64, f64) = (0.3, 60.0);
/// Highest accepted `track_number`.
pub const MAX_TRACK_NUMBER: u32 = 9999;

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
    /// `bitrate` outside the format's range.
    #[error("bitrate {kbps} kbps is outside {min}–{max} kbps{}", for_format(*format))]
    Bitrate {
        /// The refused bitrate.
        kbps: u16,
        /// The lowest the format accepts.
        min: u16,
        /// The highest the format accepts.
        max: u16,
        /// The output format.
        format: AudioFormat,
    },
    /// `vbr` above 9.
    #[error("VBR quality {0} is outside 0–9")]
    Vbr(u8),
    /// `bitrate` or `vbr` asked of a format that has no such setting.
    #[error("{what} does not apply to {}: {why}", format.label())]
    NotForFormat {
        /// The option, as named in forms (`bitrate`, `vbr`).
        what: &'static str,
        /// The output format.
        format: AudioFormat,
        /// Why, in words.
        why: &'static str,
    },
    /// A sample rate the format cannot carry.
    #[error(
        "sample rate {rate} Hz is not {} rate ({})",
        article_label(*format),
        format.sample_rates_in_words()
    )]
    SampleRate {
        /// The refused rate.
        rate: u32,
        /// The output format.
        format: AudioFormat,
    },
    /// Negative, non-finite, too late or empty trim range.
    #[error("the trim range is invalid: {0}")]
    Trim(&'static str),
    /// A `loudness` target outside [`LOUDNESS_RANGE`] or not a number.
    #[error("loudness target {0} LUFS is outside −70 to −5 LUFS")]
    Loudness(f64),
    /// `track` above [`MAX_TRACK`].
    #[error("track {0} is outside 0–{MAX_TRACK}")]
    Track(usize),
    /// A `title` with a control character (NUL, newline, escape…) or longer than
    /// [`MAX_TITLE_CHARS`].
    #[error("title {0}")]
    Title(&'static str),
    /// Another tag (`artist`, `album`, `date`, `genre`, `track_number`, `comment`) refused.
    #[error("{field} {why}")]
    Tag {
        /// The option, as named in forms.
        field: &'static str,
        /// Why, in words.
        why: &'static str,
    },
    /// `cover_from_video` refused, or given with an uploaded cover.
    #[error("cover {0}")]
    Cover(&'static str),
    /// `split`, `split_threshold` or `split_min_gap` refused.
    #[error("split {0}")]
    Split(&'static str),
}

impl OptionsError {
    /// The option the error is about, as named in forms, JSON and the CLI's flags.
    pub fn field(&self) -> &'static str {
        match self {
            OptionsError::BitrateAndVbr | OptionsError::Bitrate { .. } => "bitrate",
            OptionsError::Vbr(_) => "vbr",
            OptionsError::NotForFormat { what, .. } => what,
            OptionsError::SampleRate { .. } => "sample_rate",
            OptionsError::Trim(_) => "start",
            OptionsError::Loudness(_) => "loudness",
            OptionsError::Track(_) => "track",
            OptionsError::Title(_) => "title",
            OptionsError::Tag { field, .. } => field,
            OptionsError::Cover(_) => "cover_from_video",
            OptionsError::Split(_) => "split",
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
        let format = self.format();
        match format.rate() {
            Rate::Lossless => {
                let what = if self.bitrate.is_some() {
                    "bitrate"
                } else {
                    "vbr"
                };
                if self.bitrate.is_some() || self.vbr.is_some() {
                    return Err(OptionsError::NotForFormat {
                        what,
                        format,
                        why: "it is lossless",
                    });
                }
            }
            Rate::Lossy {
                min_kbps,
                max_kbps,
                vbr,
                ..
            } => {
                if let Some(kbps) = self.bitrate
                    && !(min_kbps..=max_kbps).contains(&kbps)
                {
                    return Err(OptionsError::Bitrate {
                        kbps,
                        min: min_kbps,
                        max: max_kbps,
                        format,
                    });
                }
                if self.vbr.is_some() && !vbr {
                    return Err(OptionsError::NotForFormat {
                        what: "vbr",
                        format,
                        why: "the VBR quality scale is LAME's; give a bitrate instead",
                    });
                }
            }
        }
        if let Some(q) = self.vbr
            && q > 9
        {
            return Err(OptionsError::Vbr(q));
        }
        if let Some(rate) = self.sample_rate
            && !format.accepts_sample_rate(rate)
        {
            return Err(OptionsError::SampleRate { rate, format });
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
        if let Some(lufs) = self.loudness
            && !(LOUDNESS_RANGE.0..=LOUDNESS_RANGE.1).contains(&lufs)
        {
            return Err(OptionsError::Loudness(lufs));
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
        self.validate_tags()?;
        self.validate_cover_and_split()
    }

    fn validate_tags(&self) -> Result<(), OptionsError> {
        let texts = [
            ("artist", &self.artist),
            ("album", &self.album),
            ("date", &self.date),
            ("genre", &self.genre),
            ("comment", &self.comment),
        ];
        for (field, text) in texts {
            let Some(text) = text else { continue };
            if text.chars().any(char::is_control) {
                return Err(OptionsError::Tag {
                    field,
                    why: "must not contain control characters (NUL, newline, tab, escape…)",
                });
            }
            if text.chars().count() > MAX_TAG_CHARS {
                return Err(OptionsError::Tag {
                    field,
                    why: "must be at most 200 characters",
                });
            }
        }
        if let Some(date) = &self.date
            && !is_tag_date(date)
        {
            return Err(OptionsError::Tag {
                field: "date",
                why: "must be YYYY, YYYY-MM or YYYY-MM-DD",
            });
        }
        if let Some(n) = self.track_number
            && !(1..=MAX_TRACK_NUMBER).contains(&n)
        {
            return Err(OptionsError::Tag {
                field: "track_number",
                why: "must be 1–9999",
            });
        }
        Ok(())
    }

    fn validate_cover_and_split(&self) -> Result<(), OptionsError> {
        if let Some(at) = self.cover_from_video {
            if !at.is_finite() || !(0.0..=MAX_TIME_SECS).contains(&at) {
                return Err(OptionsError::Cover(
                    "from the video must be at 0–1000000 seconds",
                ));
            }
            if self.cover {
                return Err(OptionsError::Cover(
                    "comes either from an image or from the video, not both",
                ));
            }
        }
        if self.split != Some(Split::Silence)
            && (self.split_threshold.is_some() || self.split_min_gap.is_some())
        {
            return Err(OptionsError::Split(
                "threshold and minimum gap apply to split=silence only",
            ));
        }
        if let Some(db) = self.split_threshold
            && !(SPLIT_THRESHOLD_RANGE.0..=SPLIT_THRESHOLD_RANGE.1).contains(&db)
        {
            return Err(OptionsError::Split("threshold must be −90 to −10 dBFS"));
        }
        if let Some(gap) = self.split_min_gap
            && !(SPLIT_MIN_GAP_RANGE.0..=SPLIT_MIN_GAP_RANGE.1).contains(&gap)
        {
            return Err(OptionsError::Split("minimum gap must be 0.3–60 seconds"));
        }
        Ok(())
    }

    /// The tags this job sets itself (each overrides the source's).
    pub fn tags(&self) -> Tags {
        Tags {
            title: self.title.clone(),
            artist: self.artist.clone(),
            album: self.album.clone(),
            date: self.date.clone(),
            genre: self.genre.clone(),
            track_number: self.track_number,
            comment: self.comment.clone(),
        }
    }

    /// The `Content-Type` of what the job delivers: `application/zip` when split, else the
    /// format's.
    pub fn output_content_type(&self) -> &'static str {
        if self.split.is_some() {
            "application/zip"
        } else {
            self.format().content_type()
        }
    }

    /// The extension of the file the job delivers: `zip` when split, else the format's.
    pub fn output_extension(&self) -> &'static str {
        if self.split.is_some() {
            "zip"
        } else {
            self.format().extension()
        }
    }

    /// The output format (MP3 unless another was asked for).
    pub fn format(&self) -> AudioFormat {
        self.format.unwrap_or_default()
    }

    /// The encoder mode: the requested one, or the format's default bitrate as CBR (for the
    /// lossless formats, which have none, MP3's default; it is not used there).
    pub fn encoding(&self) -> Encoding {
        let default = match self.format().rate() {
            Rate::Lossy { default_kbps, .. } => default_kbps,
            Rate::Lossless => DEFAULT_BITRATE,
        };
        match (self.bitrate, self.vbr) {
            (_, Some(q)) => Encoding::Vbr(q),
            (Some(b), None) => Encoding::Cbr(b),
            (None, None) => Encoding::Cbr(default),
        }
    }

    /// True when the options change the audio itself, so an MP3 source cannot simply be copied.
    /// A title alone does not count: the copy path writes its own tag.
    pub fn requires_reencode(&self) -> bool {
        self.format() != AudioFormat::Mp3
            || self.bitrate.is_some()
            || self.vbr.is_some()
            || self.sample_rate.is_some()
            || self.mono
            || self.start.is_some()
            || self.end.is_some()
            || self.loudness.is_some()
            || self.split.is_some()
    }
}

/// " for Opus" — the format in a bitrate message, left out for MP3 (whose message predates
/// the other formats).
fn for_format(format: AudioFormat) -> String {
    match format {
        AudioFormat::Mp3 => String::new(),
        other => format!(" for {}", other.label()),
    }
}

/// "an MP3" / "an Ogg Opus" / "a FLAC" — for the sample-rate message.
/// `YYYY`, `YYYY-MM` or `YYYY-MM-DD`, digits where digits belong (what ID3v2.4's TDRC and
/// the other formats' date tags all take).
fn is_tag_date(date: &str) -> bool {
    let b = date.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    match b.len() {
        4 => digits(0..4),
        7 => digits(0..4) && b[4] == b'-' && digits(5..7),
        10 => digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10),
        _ => false,
    }
}

fn article_label(format: AudioFormat) -> String {
    let label = format.label();
    let an = matches!(
        format,
        AudioFormat::Mp3 | AudioFormat::Opus | AudioFormat::M4a
    );
    format!("{} {label}", if an { "an" } else { "a" })
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
            OptionsError::Bitrate {
                kbps: 16,
                min: 32,
                max: 320,
                format: AudioFormat::Mp3
            }
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
            OptionsError::SampleRate {
                rate: 96_000,
                format: AudioFormat::Mp3
            }
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
    fn each_format_takes_only_its_own_settings() {
        let with = |format, bitrate, vbr, sample_rate| ConvertOptions {
            format: Some(format),
            bitrate,
            vbr,
            sample_rate,
            ..Default::default()
        };
        let flac_bitrate = with(AudioFormat::Flac, Some(128), None, None).validate();
        let e = flac_bitrate.unwrap_err();
        assert_eq!(e.field(), "bitrate");
        assert_eq!(
            e.to_string(),
            "bitrate does not apply to FLAC: it is lossless"
        );
        let wav_vbr = with(AudioFormat::Wav, None, Some(2), None).validate();
        assert_eq!(wav_vbr.unwrap_err().field(), "vbr");
        let opus_vbr = with(AudioFormat::Opus, None, Some(2), None).validate();
        assert_eq!(opus_vbr.unwrap_err().field(), "vbr");
        assert_eq!(
            with(AudioFormat::Opus, Some(6), None, None).validate(),
            Ok(())
        );
        let e = with(AudioFormat::Opus, Some(600), None, None)
            .validate()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "bitrate 600 kbps is outside 6–510 kbps for Ogg Opus"
        );
        let e = with(AudioFormat::Opus, None, None, Some(44_100))
            .validate()
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "sample rate 44100 Hz is not an Ogg Opus rate (48000)"
        );
        assert_eq!(
            with(AudioFormat::Flac, None, None, Some(96_000)).validate(),
            Ok(())
        );
        assert_eq!(
            with(AudioFormat::M4a, Some(256), None, Some(96_000)).validate(),
            Ok(())
        );
        // Every format but MP3 is an encode, whatever the source.
        assert!(with(AudioFormat::Flac, None, None, None).requires_reencode());
        assert_eq!(
            with(AudioFormat::Opus, None, None, None).encoding(),
            Encoding::Cbr(128)
        );
    }

    #[test]
    fn loudness_is_a_target_in_lufs_within_reason() {
        let at = |lufs| ConvertOptions {
            loudness: Some(lufs),
            ..Default::default()
        };
        assert_eq!(at(-16.0).validate(), Ok(()));
        assert!(at(-16.0).requires_reencode());
        for bad in [-80.0, 0.0, f64::NAN, f64::INFINITY] {
            let e = at(bad).validate().unwrap_err();
            assert_eq!(e.field(), "loudness", "{bad}");
        }
        assert_eq!(
            at(-3.0).validate().unwrap_err().to_string(),
            "loudness target -3 LUFS is outside −70 to −5 LUFS"
        );
    }

    #[test]
    fn an_mp3_job_serialises_as_it_always_did() {
        let o = ConvertOptions {
            format: Some(AudioFormat::Mp3),
            ..Default::default()
        };
        assert_eq!(o.format(), ConvertOptions::default().format());
        assert_eq!(
            serde_json::to_string(&ConvertOptions::default()).unwrap(),
            "{}"
        );
        let o: ConvertOptions = serde_json::from_str(r#"{"format":"flac"}"#).unwrap();
        assert_eq!(o.format(), AudioFormat::Flac);
        assert!(serde_json::from_str::<ConvertOptions>(r#"{"format":"aiff"}"#).is_err());
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

    #[test]
    fn tag_options_are_checked_and_collected() {
        let o = ConvertOptions {
            artist: Some("Ada".into()),
            date: Some("2024-05".into()),
            track_number: Some(7),
            ..Default::default()
        };
        assert_eq!(o.validate(), Ok(()));
        let tags = o.tags();
        assert_eq!(tags.artist.as_deref(), Some("Ada"));
        assert_eq!(tags.track_number, Some(7));
        assert!(!o.requires_reencode(), "tags alone do not need a re-encode");
        let field = |o: ConvertOptions| o.validate().unwrap_err().field();
        for date in ["24", "2024-5", "2024-05-1x", "May 2024"] {
            let e = ConvertOptions {
                date: Some(date.into()),
                ..Default::default()
            }
            .validate()
            .unwrap_err();
            assert_eq!(
                e.to_string(),
                "date must be YYYY, YYYY-MM or YYYY-MM-DD",
                "{date}"
            );
        }
        assert_eq!(
            field(ConvertOptions {
                genre: Some("a\nb".into()),
                ..Default::default()
            }),
            "genre"
        );
        assert_eq!(
            field(ConvertOptions {
                comment: Some("x".repeat(201)),
                ..Default::default()
            }),
            "comment"
        );
        assert_eq!(
            field(ConvertOptions {
                track_number: Some(0),
                ..Default::default()
            }),
            "track_number"
        );
    }

    #[test]
    fn cover_and_split_options_are_checked() {
        let err = |o: ConvertOptions| o.validate().unwrap_err().to_string();
        assert_eq!(
            err(ConvertOptions {
                cover: true,
                cover_from_video: Some(3.0),
                ..Default::default()
            }),
            "cover comes either from an image or from the video, not both"
        );
        assert!(
            err(ConvertOptions {
                cover_from_video: Some(f64::NAN),
                ..Default::default()
            })
            .starts_with("cover from the video")
        );
        assert_eq!(
            err(ConvertOptions {
                split: Some(Split::Chapters),
                split_min_gap: Some(1.0),
                ..Default::default()
            }),
            "split threshold and minimum gap apply to split=silence only"
        );
        assert!(
            err(ConvertOptions {
                split: Some(Split::Silence),
                split_threshold: Some(0.0),
                ..Default::default()
            })
            .contains("−90 to −10 dBFS")
        );
        let split = ConvertOptions {
            split: Some(Split::Silence),
            split_threshold: Some(-50.0),
            split_min_gap: Some(1.5),
            ..Default::default()
        };
        assert_eq!(split.validate(), Ok(()));
        assert!(split.requires_reencode());
        assert_eq!(split.output_extension(), "zip");
        assert_eq!(ConvertOptions::default().output_extension(), "mp3");
        assert_eq!("Chapters".parse::<Split>(), Ok(Split::Chapters));
        assert!("tracks".parse::<Split>().is_err());
        assert_eq!(
            serde_json::to_string(&split).unwrap(),
            r#"{"split":"silence","split_threshold":-50.0,"split_min_gap":1.5}"#
        );
    }
}
