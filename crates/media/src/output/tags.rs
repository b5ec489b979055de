//! The tag writers: what an output file says about itself (tags, cover art, chapters), written
//! as an ID3v2.4 tag for MP3 (the `id3` crate; the Xing/LAME info frame after it stays ours, in
//! `mp3out.rs`) and as Vorbis comments for Ogg Opus (OpusTags) and FLAC (VORBIS_COMMENT, plus a
//! PICTURE block). The ffmpeg pipeline hands the same [`Tagging`] to ffmpeg (`ffmpeg.rs`).

use base64::Engine as _;
use id3::TagLike as _;
use id3::frame::{Chapter as Chap, Comment, Frame, Picture, PictureType, TableOfContents};
use mp3converter_core::Tags;

use crate::MediaError;
use crate::meta::{Chapter, Cover};

/// What one output file is tagged with, resolved from the source, the job's options and its
/// cover (see `tagging.rs`). Chapter times are in seconds of the output.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Tagging {
    /// Title, artist, album, date, genre, track number, comment.
    pub tags: Tags,
    /// The front cover, validated and re-encoded.
    pub cover: Option<Cover>,
    /// Chapter marks, sorted, inside the output.
    pub chapters: Vec<Chapter>,
    /// How many tracks the set has (for split parts: `3/12`).
    pub total_tracks: Option<u32>,
}

/// The encoder note written in every file.
const ENCODED_BY: &str = "mp3converter";

/// An ID3v2.4 tag for the start of an MP3: text frames, a COMM comment, an APIC front cover,
/// and one CHAP frame per chapter under a top-level CTOC (what podcast players read).
pub(crate) fn id3_tag(tagging: &Tagging, encoder: &str) -> Result<Vec<u8>, MediaError> {
    let t = &tagging.tags;
    let mut tag = id3::Tag::new();
    if let Some(v) = &t.title {
        tag.set_title(v.as_str());
    }
    if let Some(v) = &t.artist {
        tag.set_artist(v.as_str());
    }
    if let Some(v) = &t.album {
        tag.set_album(v.as_str());
    }
    if let Some(v) = &t.date {
        tag.set_text("TDRC", v.as_str());
    }
    if let Some(v) = &t.genre {
        tag.set_genre(v.as_str());
    }
    if let Some(n) = t.track_number {
        tag.set_track(n);
        if let Some(total) = tagging.total_tracks {
            tag.set_total_tracks(total);
        }
    }
    if let Some(v) = &t.comment {
        tag.add_frame(Comment {
            lang: "eng".into(),
            description: String::new(),
            text: v.clone(),
        });
    }
    tag.set_text("TSSE", format!("{ENCODED_BY} ({encoder})"));
    if let Some(cover) = &tagging.cover {
        tag.add_frame(Picture {
            mime_type: "image/jpeg".into(),
            picture_type: PictureType::CoverFront,
            description: String::new(),
            data: cover.jpeg.clone(),
        });
    }
    if !tagging.chapters.is_empty() {
        let ids: Vec<String> = (1..=tagging.chapters.len())
            .map(|i| format!("chp{i}"))
            .collect();
        tag.add_frame(TableOfContents {
            element_id: "toc".into(),
            top_level: true,
            ordered: true,
            elements: ids.clone(),
            frames: Vec::new(),
        });
        for (id, (i, c)) in ids.into_iter().zip(tagging.chapters.iter().enumerate()) {
            let title = chapter_title(c, i);
            tag.add_frame(Chap {
                element_id: id,
                start_time: millis(c.start_secs),
                end_time: millis(c.end_secs),
                // "Not used": players seek by time.
                start_offset: u32::MAX,
                end_offset: u32::MAX,
                frames: vec![Frame::text("TIT2", title)],
            });
        }
    }
    let mut out = Vec::new();
    tag.write_to(&mut out, id3::Version::Id3v24)
        .map_err(|e| MediaError::Encoder(format!("ID3 tag: {e}")))?;
    Ok(out)
}

/// The Vorbis comments for `tagging` (Opus, FLAC): `TITLE`, `ARTIST`, `ALBUM`, `DATE`, `GENRE`,
/// `TRACKNUMBER`/`TRACKTOTAL`, `COMMENT`, chapters as `CHAPTERnnn`/`CHAPTERnnnNAME` (the
/// convention ffmpeg and most players read) and, when `cover_in_comment`, the cover as a
/// base64 `METADATA_BLOCK_PICTURE` (Opus has no other place for it; FLAC has a PICTURE block).
pub(crate) fn vorbis_comment_body(
    vendor: &str,
    tagging: &Tagging,
    cover_in_comment: bool,
) -> Vec<u8> {
    let t = &tagging.tags;
    let mut comments: Vec<(String, String)> = vec![("ENCODER".into(), ENCODED_BY.into())];
    let mut text = |key: &str, value: Option<&str>| {
        if let Some(v) = value {
            comments.push((key.to_owned(), v.to_owned()));
        }
    };
    text("TITLE", t.title.as_deref());
    text("ARTIST", t.artist.as_deref());
    text("ALBUM", t.album.as_deref());
    text("DATE", t.date.as_deref());
    text("GENRE", t.genre.as_deref());
    text("COMMENT", t.comment.as_deref());
    if let Some(n) = t.track_number {
        comments.push(("TRACKNUMBER".into(), n.to_string()));
        if let Some(total) = tagging.total_tracks {
            comments.push(("TRACKTOTAL".into(), total.to_string()));
        }
    }
    for (i, c) in tagging.chapters.iter().enumerate() {
        let n = i + 1;
        comments.push((format!("CHAPTER{n:03}"), clock(c.start_secs)));
        comments.push((format!("CHAPTER{n:03}NAME"), chapter_title(c, i)));
    }
    if cover_in_comment && let Some(cover) = &tagging.cover {
        let block = picture_block(cover);
        comments.push((
            "METADATA_BLOCK_PICTURE".into(),
            base64::engine::general_purpose::STANDARD.encode(block),
        ));
    }
    let pairs: Vec<(&str, &str)> = comments
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    vorbis_comments(vendor, &pairs)
}

/// A FLAC PICTURE block body (FLAC format §8.8): front cover, JPEG, its size, 24-bit colour.
/// Also the payload of Ogg's `METADATA_BLOCK_PICTURE`.
pub(crate) fn picture_block(cover: &Cover) -> Vec<u8> {
    let mime = b"image/jpeg";
    let mut out = Vec::with_capacity(32 + mime.len() + cover.jpeg.len());
    let u32be = |v: u32, out: &mut Vec<u8>| out.extend_from_slice(&v.to_be_bytes());
    u32be(3, &mut out); // front cover
    u32be(mime.len() as u32, &mut out);
    out.extend_from_slice(mime);
    u32be(0, &mut out); // no description
    u32be(cover.width, &mut out);
    u32be(cover.height, &mut out);
    u32be(24, &mut out);
    u32be(0, &mut out); // not indexed
    u32be(cover.jpeg.len() as u32, &mut out);
    out.extend_from_slice(&cover.jpeg);
    out
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

/// A chapter's title, or "Chapter N" when it has none.
pub(crate) fn chapter_title(chapter: &Chapter, index: usize) -> String {
    chapter
        .title
        .clone()
        .unwrap_or_else(|| format!("Chapter {}", index + 1))
}

/// Seconds as whole milliseconds for ID3 (clamped to u32: 49 days).
fn millis(secs: f64) -> u32 {
    (secs.max(0.0) * 1000.0).round().min(f64::from(u32::MAX)) as u32
}

/// `HH:MM:SS.mmm`, the time form of Vorbis `CHAPTERnnn` comments.
fn clock(secs: f64) -> String {
    let ms = (secs.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Tagging {
        Tagging {
            tags: Tags {
                title: Some("Größe \u{1F3B5}".into()),
                artist: Some("Ada".into()),
                track_number: Some(2),
                comment: Some("notes".into()),
                ..Tags::default()
            },
            cover: Some(Cover {
                jpeg: vec![0xFF, 0xD8, 0xFF, 0xD9],
                width: 2,
                height: 1,
            }),
            chapters: vec![
                Chapter {
                    start_secs: 0.0,
                    end_secs: 61.5,
                    title: Some("Intro".into()),
                },
                Chapter {
                    start_secs: 61.5,
                    end_secs: 3725.25,
                    title: None,
                },
            ],
            total_tracks: Some(5),
        }
    }

    #[test]
    fn comments_are_length_prefixed_little_endian() {
        let c = vorbis_comments("v", &[("TITLE", "ab")]);
        assert_eq!(c, b"\x01\0\0\0v\x01\0\0\0\x08\0\0\0TITLE=ab");
    }

    #[test]
    fn id3_tag_is_v24_with_chapters_cover_and_text() {
        let bytes = id3_tag(&sample(), "LAME 3.100").unwrap();
        assert_eq!(&bytes[..4], b"ID3\x04");
        let tag = id3::Tag::read_from2(std::io::Cursor::new(&bytes)).unwrap();
        assert_eq!(tag.title(), Some("Größe \u{1F3B5}"));
        assert_eq!(tag.artist(), Some("Ada"));
        assert_eq!((tag.track(), tag.total_tracks()), (Some(2), Some(5)));
        assert_eq!(tag.comments().next().unwrap().text, "notes");
        assert_eq!(
            tag.pictures().next().unwrap().data,
            [0xFF, 0xD8, 0xFF, 0xD9]
        );
        let chapters: Vec<_> = tag.chapters().collect();
        assert_eq!(chapters.len(), 2);
        assert_eq!(
            (chapters[1].start_time, chapters[1].end_time),
            (61_500, 3_725_250)
        );
        assert_eq!(
            chapters[1].frames[0].content().text(),
            Some("Chapter 2"),
            "an untitled chapter is named by its number"
        );
        let toc = tag.tables_of_contents().next().unwrap();
        assert_eq!(toc.elements, ["chp1", "chp2"]);
    }

    #[test]
    fn vorbis_comments_carry_tags_chapters_and_the_cover() {
        let body = vorbis_comment_body("v", &sample(), true);
        let text = String::from_utf8_lossy(&body);
        for want in [
            "TITLE=Größe \u{1F3B5}",
            "ARTIST=Ada",
            "TRACKNUMBER=2",
            "TRACKTOTAL=5",
            "COMMENT=notes",
            "CHAPTER001=00:00:00.000",
            "CHAPTER001NAME=Intro",
            "CHAPTER002=00:01:01.500",
            "CHAPTER002NAME=Chapter 2",
            "METADATA_BLOCK_PICTURE=",
        ] {
            assert!(text.contains(want), "{want} missing from {text}");
        }
        let no_cover = vorbis_comment_body("v", &sample(), false);
        assert!(!String::from_utf8_lossy(&no_cover).contains("METADATA_BLOCK_PICTURE"));
        assert_eq!(clock(3725.25), "01:02:05.250");
    }
}
