//! Blob key validation: keys are relative, `/`-separated paths from a small portable alphabet.
//!
//! The same key must mean the same thing on a local disk and in an S3 bucket, and must never
//! escape the storage root, so keys are checked before any adapter sees them.

use object_store::path::Path;

use crate::StorageError;

/// Longest accepted key in bytes (S3 allows 1024).
pub const MAX_KEY_LEN: usize = 1024;

/// Checks `key` and turns it into an `object_store` path.
///
/// Accepted: non-empty segments of ASCII letters, digits, `-`, `_`, `.` and `=`, joined by `/`.
/// Refused: empty keys, absolute paths, empty segments (`a//b`, trailing `/`), `.`/`..` and other
/// segments starting with `.` (hidden and temporary files), backslashes, control characters,
/// `#` (the local adapter's staging suffix) and anything else outside the alphabet.
pub(crate) fn to_path(key: &str) -> Result<Path, StorageError> {
    validate(key).map_err(|reason| StorageError::InvalidKey {
        key: key.to_owned(),
        reason,
    })?;
    Path::parse(key).map_err(|_| StorageError::InvalidKey {
        key: key.to_owned(),
        reason: "not a valid object path",
    })
}

/// Like [`to_path`] but the empty string (meaning "everything") is allowed.
pub(crate) fn prefix_to_path(prefix: &str) -> Result<Option<Path>, StorageError> {
    if prefix.is_empty() {
        Ok(None)
    } else {
        to_path(prefix).map(Some)
    }
}

fn validate(key: &str) -> Result<(), &'static str> {
    if key.is_empty() {
        return Err("empty key");
    }
    if key.len() > MAX_KEY_LEN {
        return Err("longer than 1024 bytes");
    }
    if key.starts_with('/') {
        return Err("absolute path");
    }
    if key.chars().any(char::is_control) {
        return Err("control character");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return Err("empty path segment");
        }
        if segment == "." || segment == ".." {
            return Err("relative path segment");
        }
        if segment.starts_with('.') {
            return Err("segment starts with '.'");
        }
        if !segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
        {
            return Err("character outside [A-Za-z0-9._=-]");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_keys_are_accepted() {
        for key in ["a", "videos/0193-abc.mp4", "audio/2024/x_y=z.mp3", "a.b.c"] {
            assert_eq!(to_path(key).unwrap().as_ref(), key);
        }
    }

    #[test]
    fn dangerous_keys_are_refused_with_a_reason() {
        for (key, reason) in [
            ("", "empty key"),
            ("/etc/passwd", "absolute path"),
            ("a/../b", "relative path segment"),
            ("..", "relative path segment"),
            ("./a", "relative path segment"),
            ("a//b", "empty path segment"),
            ("a/", "empty path segment"),
            ("a\nb", "control character"),
            ("a\0b", "control character"),
            ("a\\b", "character outside [A-Za-z0-9._=-]"),
            ("a#1", "character outside [A-Za-z0-9._=-]"),
            ("a b", "character outside [A-Za-z0-9._=-]"),
            (".hidden", "segment starts with '.'"),
        ] {
            match to_path(key) {
                Err(StorageError::InvalidKey { reason: r, .. }) => assert_eq!(r, reason, "{key:?}"),
                other => panic!("{key:?} should be refused, got {other:?}"),
            }
        }
        assert!(to_path(&"a".repeat(MAX_KEY_LEN + 1)).is_err());
    }

    #[test]
    fn empty_prefix_means_everything() {
        assert!(prefix_to_path("").unwrap().is_none());
        assert!(prefix_to_path("videos").unwrap().is_some());
        assert!(prefix_to_path("../x").is_err());
    }
}
