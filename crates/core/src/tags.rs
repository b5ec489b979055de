//! Descriptive tags of an output file (title, artist, album, …): the ones read from a source and
//! the ones a job sets, in one shape so the engine can merge them and every tag writer (ID3v2.4,
//! Vorbis comments, MP4 atoms) reads the same fields.

use serde::{Deserialize, Serialize};

/// Longest text kept in one tag, in characters (longer source tags are cut there; longer
/// options are refused).
pub const MAX_TAG_CHARS: usize = 200;

/// Title, artist, album, date, genre, track number and comment. Every field optional; in JSON,
/// absent fields are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Tags {
    /// Title of the work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Performer or author.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    /// Album, show or series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
    /// Release or recording date (`2024`, `2024-05-17`, as the source wrote it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    /// Genre in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub genre: Option<String>,
    /// Track number, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub track_number: Option<u32>,
    /// Free-form comment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Tags {
    /// True when no field is set.
    pub fn is_empty(&self) -> bool {
        *self == Tags::default()
    }

    /// These tags with every field `over` sets replaced by its value.
    pub fn overridden_by(&self, over: &Tags) -> Tags {
        let pick = |a: &Option<String>, b: &Option<String>| b.clone().or_else(|| a.clone());
        Tags {
            title: pick(&self.title, &over.title),
            artist: pick(&self.artist, &over.artist),
            album: pick(&self.album, &over.album),
            date: pick(&self.date, &over.date),
            genre: pick(&self.genre, &over.genre),
            track_number: over.track_number.or(self.track_number),
            comment: pick(&self.comment, &over.comment),
        }
    }

    /// The text fields with their tag names, in a fixed order (for messages and writers).
    pub fn texts(&self) -> [(&'static str, Option<&str>); 6] {
        [
            ("title", self.title.as_deref()),
            ("artist", self.artist.as_deref()),
            ("album", self.album.as_deref()),
            ("date", self.date.as_deref()),
            ("genre", self.genre.as_deref()),
            ("comment", self.comment.as_deref()),
        ]
    }
}

/// Text as it may go into a tag: trimmed, control characters dropped, at most
/// [`MAX_TAG_CHARS`] characters; `None` when nothing is left. For text read from a source,
/// which is not ours to refuse.
pub fn clean_tag_text(text: &str) -> Option<String> {
    let t: String = text
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_TAG_CHARS)
        .collect();
    let t = t.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_replaces_only_what_it_sets() {
        let source = Tags {
            title: Some("Source".into()),
            artist: Some("Band".into()),
            track_number: Some(3),
            ..Tags::default()
        };
        let over = Tags {
            title: Some("Mine".into()),
            genre: Some("Talk".into()),
            ..Tags::default()
        };
        let merged = source.overridden_by(&over);
        assert_eq!(merged.title.as_deref(), Some("Mine"));
        assert_eq!(merged.artist.as_deref(), Some("Band"));
        assert_eq!(merged.genre.as_deref(), Some("Talk"));
        assert_eq!(merged.track_number, Some(3));
        assert!(!merged.is_empty());
        assert!(Tags::default().is_empty());
    }

    #[test]
    fn source_text_is_cleaned_not_refused() {
        assert_eq!(clean_tag_text("  a\nb\0c ").as_deref(), Some("abc"));
        assert_eq!(clean_tag_text(" \t\r\n"), None);
        assert_eq!(
            clean_tag_text(&"x".repeat(500)).unwrap().len(),
            MAX_TAG_CHARS
        );
    }

    #[test]
    fn empty_fields_are_left_out_of_json() {
        let t = Tags {
            artist: Some("A".into()),
            ..Tags::default()
        };
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"artist":"A"}"#);
    }
}
