//! `Upload-Metadata`: comma-separated `key base64(value)` pairs (tus 1.0). The file's name comes
//! as `filename` (or `name`, as Uppy sends it); conversion options use the upload form's field
//! names and are validated the same way. Keys that tus clients add on their own (`filetype`,
//! `type`, `relativePath`) are ignored; any other key is refused like an unknown form field.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::error::ApiError;
use crate::form::FormOptions;

/// Longest accepted `Upload-Metadata` header.
pub(crate) const MAX_METADATA_BYTES: usize = 16 * 1024;

/// The parsed metadata of an upload.
#[derive(Debug, Default)]
pub(crate) struct Metadata {
    /// The file's name as the client sent it (sanitized later, like a form upload's).
    pub(crate) filename: Option<String>,
    /// The conversion options and the `keep` flag.
    pub(crate) form: FormOptions,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::bad_request("invalid-metadata", message)
}

/// Parses and checks `header` (absent: empty). Options are validated, so a bad one is refused
/// when the upload is created, before any byte is sent.
pub(crate) fn parse(header: &str) -> Result<Metadata, ApiError> {
    if header.len() > MAX_METADATA_BYTES {
        return Err(invalid(format!(
            "Upload-Metadata is longer than {MAX_METADATA_BYTES} bytes"
        )));
    }
    let mut meta = Metadata::default();
    let mut seen: Vec<&str> = Vec::new();
    for pair in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut words = pair.split(' ');
        let key = words.next().unwrap_or_default();
        let encoded = words.next().unwrap_or_default();
        if words.next().is_some() || key.is_empty() {
            return Err(invalid(format!(
                "Upload-Metadata pair {pair:?} is not `key base64value`"
            )));
        }
        if seen.contains(&key) {
            return Err(invalid(format!("Upload-Metadata names {key:?} twice")));
        }
        seen.push(key);
        let bytes = STANDARD.decode(encoded).map_err(|_| {
            invalid(format!(
                "the Upload-Metadata value of {key:?} is not base64"
            ))
        })?;
        let value = String::from_utf8(bytes)
            .map_err(|_| invalid(format!("the Upload-Metadata value of {key:?} is not UTF-8")))?;
        match key {
            "filename" => meta.filename = Some(value),
            "name" => {
                meta.filename.get_or_insert(value);
            }
            "filetype" | "type" | "relativePath" => {}
            _ => meta.form.add(key, value)?,
        }
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        STANDARD.encode(s)
    }

    #[test]
    fn names_options_and_client_keys() {
        let header = format!(
            "filename {},filetype {},bitrate {}, mono {},keep {}",
            b64("talk é.mp4"),
            b64("video/mp4"),
            b64("128"),
            b64("true"),
            b64("on")
        );
        let meta = parse(&header).unwrap();
        assert_eq!(meta.filename.as_deref(), Some("talk é.mp4"));
        assert!(meta.form.keep);
        let options = meta.form.finish().unwrap();
        assert_eq!((options.bitrate, options.mono), (Some(128), true));
        assert_eq!(parse("").unwrap().filename, None);
        // Uppy's `name` is a fallback only.
        let both = format!("name {},filename {}", b64("a.mp4"), b64("b.mp4"));
        assert_eq!(parse(&both).unwrap().filename.as_deref(), Some("b.mp4"));
    }

    #[test]
    fn malformed_and_unknown_keys_are_refused_with_a_code() {
        let code = |h: &str| parse(h).unwrap_err().code;
        assert_eq!(code("filename not-base64!"), "invalid-metadata");
        assert_eq!(code("filename a b"), "invalid-metadata");
        assert_eq!(
            code(&format!("filename {}", STANDARD.encode([0xff, 0xfe]))),
            "invalid-metadata"
        );
        assert_eq!(
            code(&format!("bitrate {0},bitrate {0}", b64("128"))),
            "invalid-metadata"
        );
        assert_eq!(code(&format!("bitrat {}", b64("128"))), "unknown-field");
        assert_eq!(
            code(&"x".repeat(MAX_METADATA_BYTES + 1)),
            "invalid-metadata"
        );
        // A bad option value surfaces when the options are finished.
        let meta = parse(&format!("bitrate {}", b64("999"))).unwrap();
        assert_eq!(meta.form.finish().unwrap_err().code, "invalid-options");
        // A key with no value is allowed by tus (an empty value).
        assert_eq!(parse("filetype").unwrap().filename, None);
    }
}
