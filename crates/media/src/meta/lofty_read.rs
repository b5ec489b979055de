//! Tags and pictures of the formats `lofty` reads: MP4/MOV (`ilst` atoms, `covr`), FLAC
//! (Vorbis comments, PICTURE blocks), Ogg Opus/Vorbis (comments, `METADATA_BLOCK_PICTURE`),
//! MP3 (ID3v2 with APIC, ID3v1, APE) and WAV (ID3 chunk, RIFF INFO). lofty keeps its own
//! allocation limit (16 MiB per item by default), so a tag claiming gigabytes is refused before
//! it is allocated.

use std::path::Path;

use lofty::file::{AudioFile, TaggedFileExt};
use lofty::picture::PictureType;
use lofty::prelude::{Accessor, ItemKey};
use lofty::tag::Tag;

use super::{Found, MAX_COVER_BYTES, parse_track};
use mp3converter_core::Tags;

/// Reads what lofty finds in `input`; nothing (with a log line) when it cannot.
pub(super) fn read(input: &Path) -> Found {
    let options = lofty::config::ParseOptions::new()
        .read_properties(false)
        .read_cover_art(true)
        .parsing_mode(lofty::config::ParsingMode::Relaxed);
    let probe = match lofty::probe::Probe::open(input).and_then(|p| Ok(p.guess_file_type()?)) {
        Ok(probe) => probe.options(options),
        Err(e) => {
            tracing::debug!(error = %e, "lofty cannot open the source");
            return Found::default();
        }
    };
    if probe.file_type().is_none() {
        tracing::debug!("lofty does not know this container; no tags read");
        return Found::default();
    }
    let file = match probe.read() {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!(error = %e, "the source's tags could not be read; carrying none over");
            return Found::default();
        }
    };
    // The format's own tag first (ID3v2 for MP3, ilst for MP4, Vorbis comments for FLAC/Ogg),
    // then the others for what it lacks.
    let primary = file.primary_tag();
    let mut ordered: Vec<&Tag> = primary.into_iter().collect();
    ordered.extend(
        file.tags()
            .iter()
            .filter(|t| primary.is_none_or(|p| !std::ptr::eq(*t, p))),
    );
    let mut tags = Tags::default();
    let mut cover: Option<Vec<u8>> = None;
    let mut first_picture: Option<Vec<u8>> = None;
    for tag in ordered {
        merge(&mut tags, tag);
        for picture in tag.pictures() {
            if picture.data().is_empty() || picture.data().len() > MAX_COVER_BYTES {
                continue;
            }
            if picture.pic_type() == PictureType::CoverFront {
                if cover.is_none() {
                    cover = Some(picture.data().to_vec());
                }
            } else if first_picture.is_none() {
                first_picture = Some(picture.data().to_vec());
            }
        }
    }
    if tags.comment.is_none() && file.file_type() == lofty::file::FileType::Mpeg {
        tags.comment = id3_user_comment(input);
    }
    Found {
        tags,
        cover: cover.or(first_picture),
        chapters: Vec::new(),
        // Only MP4 and Matroska have chapters, and their readers give the duration; reading
        // the audio properties here would be work for nothing.
        duration_secs: None,
    }
}

/// ffmpeg writes an MP3's comment as a `TXXX` frame described `comment`, which lofty's
/// generic tag leaves out: read from the ID3v2 tag itself (tags only, a second short read).
fn id3_user_comment(input: &Path) -> Option<String> {
    let mut file = std::fs::File::open(input).ok()?;
    let options = lofty::config::ParseOptions::new()
        .read_properties(false)
        .read_cover_art(false)
        .parsing_mode(lofty::config::ParsingMode::Relaxed);
    let mpeg = lofty::mpeg::MpegFile::read_from(&mut file, options).ok()?;
    let id3 = mpeg.id3v2()?;
    ["comment", "COMMENT", "Comment"]
        .into_iter()
        .find_map(|d| id3.get_user_text(d))
        .map(str::to_owned)
}

/// Fills the fields of `tags` still empty from `tag`.
fn merge(tags: &mut Tags, tag: &Tag) {
    let text = |key: ItemKey| tag.get_string(key).map(str::to_owned);
    let fill = |field: &mut Option<String>, value: Option<String>| {
        if field.is_none() {
            *field = value;
        }
    };
    fill(&mut tags.title, text(ItemKey::TrackTitle));
    fill(
        &mut tags.artist,
        text(ItemKey::TrackArtist).or_else(|| text(ItemKey::AlbumArtist)),
    );
    fill(&mut tags.album, text(ItemKey::AlbumTitle));
    fill(
        &mut tags.date,
        text(ItemKey::RecordingDate)
            .or_else(|| text(ItemKey::Year))
            .or_else(|| text(ItemKey::ReleaseDate)),
    );
    fill(&mut tags.genre, text(ItemKey::Genre));
    // Vorbis comments (ffmpeg, most taggers) carry the comment as DESCRIPTION.
    fill(
        &mut tags.comment,
        text(ItemKey::Comment).or_else(|| text(ItemKey::Description)),
    );
    if tags.track_number.is_none() {
        tags.track_number = tag
            .track()
            .filter(|&n| n > 0)
            .or_else(|| tag.get_string(ItemKey::TrackNumber).and_then(parse_track));
    }
}
