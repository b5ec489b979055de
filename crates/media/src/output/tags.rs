//! Vorbis comments, the `KEY=value` tag list that Ogg Opus (OpusTags) and FLAC (VORBIS_COMMENT)
//! share: built once here for both writers.

/// The title as it goes into a tag: trimmed, without control characters, at most 512 characters;
/// `None` when nothing is left (the same rules as the MP3 writer's ID3 title).
pub(crate) fn clean_title(title: Option<&str>) -> Option<String> {
    let t = title.map(str::trim).filter(|t| !t.is_empty())?;
    let t: String = t.chars().filter(|c| !c.is_control()).take(512).collect();
    (!t.is_empty()).then_some(t)
}

/// A Vorbis comment body (without any framing bit): the vendor string, then each `KEY=value`
/// comment, every length a little-endian u32.
pub(crate) fn vorbis_comments(vendor: &str, comments: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        8 + vendor.len()
            + comments
                .iter()
                .map(|(k, v)| 5 + k.len() + v.len())
                .sum::<usize>(),
    );
    out.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    out.extend_from_slice(vendor.as_bytes());
    out.extend_from_slice(&(comments.len() as u32).to_le_bytes());
    for (key, value) in comments {
        out.extend_from_slice(&((key.len() + 1 + value.len()) as u32).to_le_bytes());
        out.extend_from_slice(key.as_bytes());
        out.push(b'=');
        out.extend_from_slice(value.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_length_prefixed_little_endian() {
        let c = vorbis_comments("v", &[("TITLE", "ab")]);
        assert_eq!(c, b"\x01\0\0\0v\x01\0\0\0\x08\0\0\0TITLE=ab");
    }

    #[test]
    fn titles_are_trimmed_and_stripped_of_control_characters() {
        assert_eq!(clean_title(Some("  a\nb ")).as_deref(), Some("ab"));
        assert_eq!(clean_title(Some(" \t ")), None);
        assert_eq!(clean_title(None), None);
    }
}
