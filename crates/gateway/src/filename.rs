//! File names from clients and in `Content-Disposition`: sanitising uploaded names and building a
//! safe `attachment; filename="…"; filename*=UTF-8''…` header for downloads.

use axum::http::HeaderValue;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Longest kept file name, in characters.
const MAX_NAME_CHARS: usize = 200;
/// Name used when nothing usable is left.
const FALLBACK: &str = "upload";

/// The uploaded file's name made safe to store and show: only the last path component (either
/// slash), without control characters, quotes or backslashes, trimmed, at most 200 characters;
/// `upload` when nothing is left.
pub fn sanitize(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or_default();
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\'' | '`' | '\\'))
        .take(MAX_NAME_CHARS)
        .collect();
    let cleaned = cleaned.trim().trim_start_matches('.').trim();
    if cleaned.is_empty() {
        FALLBACK.to_owned()
    } else {
        cleaned.to_owned()
    }
}

/// The download's name: the original name's stem with the delivered file's extension.
pub fn audio_name(original: &str, extension: &str) -> String {
    let name = sanitize(Some(original));
    let stem = match name.rsplit_once('.') {
        Some((stem, _)) if !stem.trim().is_empty() => stem.trim(),
        _ => name.as_str(),
    };
    format!("{stem}.{extension}")
}

/// RFC 8187 `attr-char`: everything else is percent-encoded in `filename*`.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="<ascii>"; filename*=UTF-8''<encoded>` for `name` (sanitised again, so
/// whatever is stored can never break out of the header). Non-ASCII characters become `_` in the
/// plain form; `filename*` carries the real name.
pub fn content_disposition(name: &str) -> HeaderValue {
    let name = sanitize(Some(name));
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .map(|c| if matches!(c, ';' | '%') { '_' } else { c })
        .collect();
    let encoded = utf8_percent_encode(&name, ATTR_CHAR);
    let value = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("attachment"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_keeps_the_base_name_without_dangerous_characters() {
        assert_eq!(sanitize(Some("C:\\Users\\me\\clip.mp4")), "clip.mp4");
        assert_eq!(sanitize(Some("../../etc/passwd")), "passwd");
        assert_eq!(sanitize(Some("a\"b\r\nc\0.mp4")), "abc.mp4");
        assert_eq!(sanitize(Some("  ")), "upload");
        assert_eq!(sanitize(Some("..")), "upload");
        assert_eq!(sanitize(None), "upload");
        assert_eq!(sanitize(Some(&"é".repeat(500))).chars().count(), 200);
    }

    #[test]
    fn audio_name_replaces_the_extension() {
        assert_eq!(audio_name("holiday.final.mp4", "mp3"), "holiday.final.mp3");
        assert_eq!(audio_name("noext", "mp3"), "noext.mp3");
        assert_eq!(audio_name("", "mp3"), "upload.mp3");
        assert_eq!(audio_name("talk.mkv", "opus"), "talk.opus");
        assert_eq!(audio_name("album.mkv", "zip"), "album.zip");
    }

    #[test]
    fn content_disposition_is_ascii_and_carries_the_utf8_name() {
        let v = content_disposition("Mötley \"Crüe\";\r\nx=1 %41.mp3");
        let s = v.to_str().unwrap();
        assert_eq!(
            s,
            "attachment; filename=\"M_tley Cr_e_x=1 _41.mp3\"; \
             filename*=UTF-8''M%C3%B6tley%20Cr%C3%BCe%3Bx%3D1%20%2541.mp3"
        );
    }
}
