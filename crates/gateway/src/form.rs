//! The text fields of an upload form: conversion options as separate fields (`format`,
//! `bitrate`, `vbr`, `sample_rate`, `mono`, `start`, `end`, `loudness`, `track`, the tags
//! `title`, `artist`, `album`, `date`, `genre`, `track_number`, `comment`, and `no_tags`,
//! `cover_from_video`, `split`, `split_threshold`, `split_min_gap`) or as
//! one `options` JSON field, a `preset` under them, the job's retention `keep` flag, and
//! `source_size` from a client that extracted the audio.

use std::str::FromStr;

use axum::http::StatusCode;
use mp3converter_core::{ConvertOptions, Preset};

use crate::error::ApiError;

/// Options collected from an upload form. The `options` JSON field is the base; separate fields
/// override it; a `preset` fills in what neither says. Empty values (what an untouched HTML
/// input sends) count as absent.
#[derive(Debug, Default)]
pub(crate) struct FormOptions {
    json: Option<ConvertOptions>,
    fields: Vec<(String, String)>,
    /// The `preset` field.
    preset: Option<Preset>,
    /// The `keep` field: exempt the job from retention.
    pub(crate) keep: bool,
    /// The `source_size` field: the client extracted the audio track and sent only that; the
    /// size of the file the user chose (shown to the user, never trusted for anything else).
    pub(crate) source_size: Option<u64>,
    /// A `cover` image part was stored with the upload.
    pub(crate) cover_part: bool,
}

/// Highest accepted `source_size`: 2^53 − 1, the largest integer every JSON reader keeps exact.
const MAX_SOURCE_SIZE: u64 = (1 << 53) - 1;

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid-options", message)
}

fn number<T: FromStr>(name: &str, value: &str) -> Result<T, ApiError> {
    value
        .trim()
        .parse()
        .map_err(|_| invalid(format!("{name} must be a number, got {value:?}")))
}

fn boolean(name: &str, value: &str) -> Result<bool, ApiError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Ok(true),
        "0" | "false" | "off" | "no" => Ok(false),
        _ => Err(invalid(format!(
            "{name} must be true or false, got {value:?}"
        ))),
    }
}

impl FormOptions {
    /// Records one text field; unknown names are refused (a typo must not be silently ignored).
    pub(crate) fn add(&mut self, name: &str, value: String) -> Result<(), ApiError> {
        match name {
            "options" => {
                if value.trim().is_empty() {
                    return Ok(());
                }
                let parsed = serde_json::from_str(&value)
                    .map_err(|e| invalid(format!("the options field is not valid: {e}")))?;
                self.json = Some(parsed);
            }
            "preset" => {
                if !value.trim().is_empty() {
                    let preset = value.parse().map_err(|e| invalid(format!("{e}")))?;
                    self.preset = Some(preset);
                }
            }
            "keep" => {
                if !value.trim().is_empty() {
                    self.keep = boolean(name, &value)?;
                }
            }
            "source_size" => {
                if !value.trim().is_empty() {
                    let size: u64 = number(name, &value)?;
                    if size == 0 || size > MAX_SOURCE_SIZE {
                        return Err(invalid(format!(
                            "source_size must be a size in bytes from 1 to {MAX_SOURCE_SIZE}"
                        )));
                    }
                    self.source_size = Some(size);
                }
            }
            "format" | "bitrate" | "vbr" | "sample_rate" | "mono" | "start" | "end"
            | "loudness" | "track" | "title" | "artist" | "album" | "date" | "genre"
            | "track_number" | "comment" | "no_tags" | "cover_from_video" | "split"
            | "split_threshold" | "split_min_gap" => {
                if !value.trim().is_empty() {
                    self.fields.push((name.to_owned(), value));
                }
            }
            other => {
                return Err(ApiError::bad_request(
                    "unknown-field",
                    format!("unknown form field {other:?}"),
                ));
            }
        }
        Ok(())
    }

    /// Records one field of a JSON request body (an import, an estimate): numbers, booleans
    /// and strings as the form's text, the `options` object as its JSON; `null` leaves the field
    /// out. An empty string is refused: JSON leaves a field out to say nothing (a form's empty
    /// input is another matter, see [`FormOptions::add`]).
    pub(crate) fn add_json(
        &mut self,
        name: &str,
        value: serde_json::Value,
    ) -> Result<(), ApiError> {
        use serde_json::Value;
        let text = match value {
            Value::Null => return Ok(()),
            Value::String(s) if s.trim().is_empty() => {
                self.add(name, String::new())?; // an unknown name is refused as such
                return Err(invalid(format!("{name} is empty: leave it out instead")));
            }
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Object(_) if name == "options" => value.to_string(),
            Value::Array(_) | Value::Object(_) => {
                self.add(name, String::new())?; // an unknown name is refused as such
                return Err(invalid(format!(
                    "{name} must be a number, a boolean or a string"
                )));
            }
        };
        self.add(name, text)
    }

    /// The combined options, validated.
    pub(crate) fn finish(self) -> Result<ConvertOptions, ApiError> {
        let mut o = self.json.unwrap_or_default();
        for (name, value) in &self.fields {
            let v = value.as_str();
            match name.as_str() {
                "format" => o.format = Some(v.parse().map_err(|e| invalid(format!("{e}")))?),
                "bitrate" => o.bitrate = Some(number(name, v)?),
                "vbr" => o.vbr = Some(number(name, v)?),
                "sample_rate" => o.sample_rate = Some(number(name, v)?),
                "mono" => o.mono = boolean(name, v)?,
                "start" => o.start = Some(number(name, v)?),
                "end" => o.end = Some(number(name, v)?),
                "loudness" => o.loudness = Some(number(name, v)?),
                "track" => o.track = Some(number(name, v)?),
                "track_number" => o.track_number = Some(number(name, v)?),
                "no_tags" => o.no_tags = boolean(name, v)?,
                "cover_from_video" => o.cover_from_video = Some(number(name, v)?),
                "split" => o.split = Some(v.parse().map_err(|e| invalid(format!("{e}")))?),
                "split_threshold" => o.split_threshold = Some(number(name, v)?),
                "split_min_gap" => o.split_min_gap = Some(number(name, v)?),
                "title" => o.title = Some(v.trim().to_owned()),
                "artist" => o.artist = Some(v.trim().to_owned()),
                "album" => o.album = Some(v.trim().to_owned()),
                "date" => o.date = Some(v.trim().to_owned()),
                "genre" => o.genre = Some(v.trim().to_owned()),
                _ => o.comment = Some(v.trim().to_owned()),
            }
        }
        // Only the gateway says that a cover came with the job: it is the image part.
        if o.cover && !self.cover_part {
            return Err(ApiError::bad_request(
                "bad-cover",
                "cover: send the image as a file part named cover",
            ));
        }
        o.cover = self.cover_part;
        if let Some(preset) = self.preset {
            o = preset.under(&o);
        }
        o.validate().map_err(|e| invalid(e.to_string()))?;
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(fields: &[(&str, &str)]) -> Result<ConvertOptions, ApiError> {
        let mut f = FormOptions::default();
        for (n, v) in fields {
            f.add(n, (*v).to_owned())?;
        }
        f.finish()
    }

    #[test]
    fn separate_fields_override_the_json_field() {
        let o = options(&[
            ("options", r#"{"bitrate": 128, "mono": true}"#),
            ("bitrate", "256"),
            ("start", "1.5"),
            ("vbr", ""),
        ])
        .unwrap();
        assert_eq!(o.bitrate, Some(256));
        assert!(o.mono);
        assert_eq!(o.start, Some(1.5));
        assert_eq!(o.vbr, None);
    }

    #[test]
    fn keep_is_a_boolean_beside_the_options() {
        let mut f = FormOptions::default();
        f.add("keep", "on".into()).unwrap();
        f.add("bitrate", "128".into()).unwrap();
        assert!(f.keep);
        assert_eq!(f.finish().unwrap().bitrate, Some(128));
        let mut f = FormOptions::default();
        f.add("keep", "".into()).unwrap();
        assert!(!f.keep, "an untouched checkbox is not a keep");
    }

    #[test]
    fn source_size_is_a_positive_byte_count_beside_the_options() {
        let mut f = FormOptions::default();
        f.add("source_size", "1048576".into()).unwrap();
        assert_eq!(f.source_size, Some(1_048_576));
        for bad in ["0", "-5", "1.5", "lots", "9007199254740992"] {
            let e = FormOptions::default()
                .add("source_size", bad.into())
                .unwrap_err();
            assert_eq!(e.code, "invalid-options", "{bad}");
        }
        assert_eq!(f.finish().unwrap(), ConvertOptions::default());
        let e = FormOptions::default()
            .add("keep", "forever".into())
            .unwrap_err();
        assert_eq!(e.code, "invalid-options");
    }

    #[test]
    fn the_format_field_chooses_the_output_and_its_rules() {
        let o = options(&[("format", "FLAC"), ("sample_rate", "96000")]).unwrap();
        assert_eq!(o.format(), mp3converter_core::AudioFormat::Flac);
        let e = options(&[("format", "aiff")]).unwrap_err();
        assert_eq!(e.code, "invalid-options");
        assert!(
            e.message.contains("choose mp3, opus, flac, wav or m4a"),
            "{}",
            e.message
        );
        let o = options(&[("loudness", "-16"), ("format", "opus")]).unwrap();
        assert_eq!(o.loudness, Some(-16.0));
        let e = options(&[("loudness", "0")]).unwrap_err();
        assert!(
            e.message.contains("outside −70 to −5 LUFS"),
            "{}",
            e.message
        );
        let e = options(&[("format", "wav"), ("bitrate", "128")]).unwrap_err();
        assert_eq!(e.message, "bitrate does not apply to WAV: it is lossless");
    }

    #[test]
    fn a_preset_fills_in_what_the_fields_do_not_say() {
        let o = options(&[("preset", "Podcast"), ("bitrate", "128")]).unwrap();
        assert_eq!(
            (o.bitrate, o.mono, o.loudness),
            (Some(128), true, Some(-16.0))
        );
        let o = options(&[("preset", "speech"), ("options", r#"{"format": "flac"}"#)]).unwrap();
        assert_eq!(o.format(), mp3converter_core::AudioFormat::Flac);
        assert_eq!(o.bitrate, None);
        let e = options(&[("preset", "radio")]).unwrap_err();
        assert_eq!(e.code, "invalid-options");
        assert!(
            e.message
                .contains("choose speech, podcast, music or audiobook"),
            "{}",
            e.message
        );
    }

    #[test]
    fn bad_values_and_unknown_fields_are_400_with_the_reason() {
        let e = options(&[("bitrate", "999")]).unwrap_err();
        assert_eq!(
            (e.status, e.code),
            (StatusCode::BAD_REQUEST, "invalid-options")
        );
        assert!(e.message.contains("999"), "{}", e.message);
        assert_eq!(
            options(&[("mono", "maybe")]).unwrap_err().code,
            "invalid-options"
        );
        assert_eq!(
            options(&[("bitrat", "1")]).unwrap_err().code,
            "unknown-field"
        );
        assert_eq!(
            options(&[("options", "{\"x\":1}")]).unwrap_err().code,
            "invalid-options"
        );
    }

    #[test]
    fn json_fields_leave_out_null_and_refuse_empty_strings() {
        let mut form = FormOptions::default();
        form.add_json("format", serde_json::json!("opus")).unwrap();
        form.add_json("mono", serde_json::json!(true)).unwrap();
        form.add_json("bitrate", serde_json::json!(64)).unwrap();
        form.add_json("title", serde_json::Value::Null).unwrap();
        let e = form.add_json("preset", serde_json::json!("")).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert_eq!(e.code, "invalid-options");
        let e = form.add_json("nope", serde_json::json!("")).unwrap_err();
        assert_eq!(e.code, "unknown-field");
        let o = form.finish().unwrap();
        assert_eq!(
            (o.format, o.mono, o.bitrate, o.title),
            (
                Some(mp3converter_core::AudioFormat::Opus),
                true,
                Some(64),
                None
            )
        );
    }
}
