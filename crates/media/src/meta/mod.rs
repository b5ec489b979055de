//! What a source carries besides its audio: descriptive tags (title, artist, album, date, genre,
//! track number, comment), its embedded cover picture and its chapters, read so that outputs can
//! carry them over.
//!
//! * MP4/MOV, FLAC, Ogg (Opus, Vorbis), MP3 (ID3v2/ID3v1/APE) and WAV tags and pictures are read
//!   with `lofty`; MP4 chapters (Nero `chpl`, else a QuickTime chapter text track) by our own
//!   box walk in [`mp4`].
//! * Matroska/WebM (tags, attachments, chapters) by our own EBML walk in [`mkv`], which reads
//!   only the few elements it needs and never a cluster.
//!
//! Reading never fails: an unreadable block yields empty fields and a log line. Every byte is
//! untrusted (DESIGN §14): reads are bounded, text goes through [`clean_tag_text`], chapters are
//! put in order and bounded by [`normalize_chapters`], and a cover is returned raw but at most
//! [`cover::MAX_COVER_BYTES`] long, to be validated and re-encoded with [`cover::clean`] before
//! it goes anywhere.

pub mod cover;
mod lofty_read;
mod mkv;
mod mp4;

use std::io::Read;
use std::path::Path;

pub use mp3converter_core::Tags;
use mp3converter_core::clean_tag_text;

pub use cover::{Cover, MAX_COVER_BYTES};

/// Most chapters kept from one source (the rest are dropped).
pub const MAX_CHAPTERS: usize = 1000;

/// One chapter of a source, in seconds from the source's start.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Chapter {
    /// Where the chapter starts.
    pub start_secs: f64,
    /// Where it ends (the next chapter's start, or the end of the source, when the container
    /// gives only starts).
    pub end_secs: f64,
    /// Its title, cleaned like tag text.
    pub title: Option<String>,
}

/// What a source carries besides its audio. Fields are cleaned: text via [`clean_tag_text`],
/// chapters sorted, non-overlapping, inside `[0, duration]`, at most [`MAX_CHAPTERS`],
/// zero-length ones dropped, and end = next start (or the duration) when the container gives
/// only starts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceMeta {
    /// Descriptive tags.
    pub tags: Tags,
    /// The embedded cover picture: raw, unvalidated bytes, at most [`MAX_COVER_BYTES`]. Pass it
    /// through [`cover::clean`] before using it.
    pub cover: Option<Vec<u8>>,
    /// Chapters, in order.
    pub chapters: Vec<Chapter>,
}

/// A chapter as a container gives it, before [`normalize_chapters`].
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RawChapter {
    /// Start in seconds.
    pub(crate) start: f64,
    /// End in seconds, when the container says.
    pub(crate) end: Option<f64>,
    /// Title as read (cleaned later).
    pub(crate) title: Option<String>,
}

/// What a container reader found, before cleaning.
#[derive(Debug, Default)]
pub(crate) struct Found {
    pub(crate) tags: Tags,
    pub(crate) cover: Option<Vec<u8>>,
    pub(crate) chapters: Vec<RawChapter>,
    /// The duration the container declares, used when the caller gives none.
    pub(crate) duration_secs: Option<f64>,
}

/// Reads the tags, cover and chapters of `input`. `duration_secs` (the probed duration) bounds
/// the chapters; without it, the duration the container declares is used.
///
/// Never fails: an unreadable or absent tag block yields empty fields (logged with `tracing`).
pub fn read(input: &Path, duration_secs: Option<f64>) -> SourceMeta {
    let found = std::panic::catch_unwind(|| read_found(input)).unwrap_or_else(|_| {
        tracing::warn!(
            input = %input.display(),
            "reading the source's tags panicked; carrying none over"
        );
        Found::default()
    });
    let duration = duration_secs
        .filter(|d| d.is_finite() && *d > 0.0)
        .or(found.duration_secs.filter(|d| d.is_finite() && *d > 0.0));
    SourceMeta {
        tags: clean_tags(found.tags),
        cover: found
            .cover
            .filter(|c| !c.is_empty() && c.len() <= MAX_COVER_BYTES),
        chapters: normalize_chapters(found.chapters, duration),
    }
}

/// Which reader a file goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Matroska,
    Mp4,
    Other,
}

fn kind_of(input: &Path) -> std::io::Result<Kind> {
    let mut head = [0u8; 12];
    let mut file = std::fs::File::open(input)?;
    let mut got = 0;
    while got < head.len() {
        let n = file.read(&mut head[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    let head = &head[..got];
    Ok(if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Kind::Matroska
    } else if head.len() >= 8 && mp4::is_top_level_box(&head[4..8]) {
        Kind::Mp4
    } else {
        Kind::Other
    })
}

fn read_found(input: &Path) -> Found {
    let kind = match kind_of(input) {
        Ok(kind) => kind,
        Err(e) => {
            tracing::warn!(input = %input.display(), error = %e, "cannot open the source to read its tags");
            return Found::default();
        }
    };
    match kind {
        Kind::Matroska => mkv::read(input).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the Matroska tags could not be read; carrying none over");
            Found::default()
        }),
        Kind::Mp4 => {
            let mut found = lofty_read::read(input);
            match mp4::chapters(input) {
                Ok((chapters, duration)) => {
                    found.chapters = chapters;
                    found.duration_secs = duration;
                }
                Err(e) => tracing::warn!(error = %e, "the MP4 chapters could not be read"),
            }
            found
        }
        Kind::Other => lofty_read::read(input),
    }
}

fn clean_tags(tags: Tags) -> Tags {
    let clean = |t: Option<String>| t.as_deref().and_then(clean_tag_text);
    Tags {
        title: clean(tags.title),
        artist: clean(tags.artist),
        album: clean(tags.album),
        date: clean(tags.date),
        genre: clean(tags.genre),
        track_number: tags.track_number.filter(|&n| n > 0),
        comment: clean(tags.comment),
    }
}

/// A track number from tag text: `3`, `3/12`, ` 03 `; `None` for anything else or 0.
pub(crate) fn parse_track(text: &str) -> Option<u32> {
    let first = text.trim().split('/').next()?.trim();
    first.parse::<u32>().ok().filter(|&n| n > 0)
}

/// Chapters as [`SourceMeta`] promises them: sorted by start, starts clamped to 0, each ending
/// at its own end, the next start or the duration (whichever comes first), zero-length and
/// non-finite ones dropped, at most [`MAX_CHAPTERS`]. Without a duration, a last chapter with no
/// end is dropped (its length is unknown).
pub(crate) fn normalize_chapters(mut raw: Vec<RawChapter>, duration: Option<f64>) -> Vec<Chapter> {
    raw.retain(|c| c.start.is_finite() && c.end.is_none_or(f64::is_finite));
    // Bounded work before the sort: a hostile file cannot make us sort millions.
    raw.truncate(MAX_CHAPTERS * 4);
    for c in &mut raw {
        c.start = c.start.max(0.0);
    }
    raw.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut out: Vec<Chapter> = Vec::new();
    for i in 0..raw.len() {
        if out.len() == MAX_CHAPTERS {
            break;
        }
        let c = &raw[i];
        if duration.is_some_and(|d| c.start >= d) {
            break;
        }
        let next = raw[i + 1..].iter().map(|n| n.start).find(|&s| s > c.start);
        let mut end = match (c.end, next) {
            (Some(e), Some(n)) => e.min(n),
            (Some(e), None) => e,
            (None, Some(n)) => n,
            (None, None) => duration.unwrap_or(c.start),
        };
        if let Some(d) = duration {
            end = end.min(d);
        }
        // Zero-length, or a second chapter at the same start as the one before (which already
        // runs to the next start): dropped, so chapters never overlap.
        if end <= c.start || out.last().is_some_and(|p| c.start < p.end_secs) {
            continue;
        }
        out.push(Chapter {
            start_secs: c.start,
            end_secs: end,
            title: c.title.as_deref().and_then(clean_tag_text),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(start: f64, end: Option<f64>, title: &str) -> RawChapter {
        RawChapter {
            start,
            end,
            title: Some(title.to_owned()),
        }
    }

    #[test]
    fn chapters_are_sorted_closed_bounded_and_cleaned() {
        let chapters = normalize_chapters(
            vec![
                raw(20.0, None, "Three"),
                raw(0.0, None, " One\n"),
                raw(10.0, Some(50.0), "Two"),
                raw(10.0, Some(10.0), "Empty"),
                raw(20.0, None, "Same start"),
                raw(f64::NAN, None, "Nan"),
                raw(40.0, None, "Past the end"),
            ],
            Some(30.0),
        );
        let got: Vec<(f64, f64, Option<&str>)> = chapters
            .iter()
            .map(|c| (c.start_secs, c.end_secs, c.title.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (0.0, 10.0, Some("One")),
                (10.0, 20.0, Some("Two")),
                (20.0, 30.0, Some("Three")),
            ]
        );
    }

    #[test]
    fn without_a_duration_an_open_last_chapter_is_dropped_and_negative_starts_clamp() {
        let chapters = normalize_chapters(vec![raw(-5.0, None, "A"), raw(5.0, None, "B")], None);
        assert_eq!(chapters.len(), 1);
        assert_eq!((chapters[0].start_secs, chapters[0].end_secs), (0.0, 5.0));
    }

    #[test]
    fn chapters_are_capped() {
        let many = (0..5000).map(|i| raw(f64::from(i), None, "c")).collect();
        assert_eq!(normalize_chapters(many, Some(1e6)).len(), MAX_CHAPTERS);
    }

    #[test]
    fn track_numbers_parse_like_tags_write_them() {
        assert_eq!(parse_track("3/12"), Some(3));
        assert_eq!(parse_track(" 07 "), Some(7));
        assert_eq!(parse_track("0"), None);
        assert_eq!(parse_track("three"), None);
    }

    /// A damaged copy of an ffmpeg-made MP4 and MKV (cut at many lengths, bytes flipped) is
    /// read without a panic (`read_found`, not `read`, which would hide one) and with bounded
    /// results. Skipped without ffmpeg.
    #[test]
    fn damaged_files_never_panic_the_readers() {
        if !crate::ffmpeg::available(&crate::EngineConfig::default()) {
            eprintln!("skipping: ffmpeg is not installed (apt-get install ffmpeg)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("meta.txt"),
            ";FFMETADATA1\ntitle=T\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=500\ntitle=A\n\
             [CHAPTER]\nTIMEBASE=1/1000\nSTART=500\nEND=1000\ntitle=B\n",
        )
        .unwrap();
        for (name, extra) in [
            ("x.mp4", &["-c:a", "aac"][..]),
            ("y.mp4", &["-c:a", "aac", "-movflags", "+disable_chpl"][..]),
            ("x.mkv", &["-c:a", "libopus"][..]),
        ] {
            let status = std::process::Command::new("ffmpeg")
                .current_dir(dir.path())
                .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi"])
                .args(["-i", "sine=duration=1", "-i", "meta.txt"])
                .args(["-map", "0:a", "-map_metadata", "1", "-map_chapters", "1"])
                .args(extra)
                .arg(name)
                .status()
                .unwrap();
            assert!(status.success());
            let bytes = std::fs::read(dir.path().join(name)).unwrap();
            let whole = read_found(&dir.path().join(name));
            assert_eq!(whole.chapters.len(), 2, "{name}");
            let cut = dir.path().join(format!("cut-{name}"));
            let step = (bytes.len() / 200).max(1);
            for len in (0..bytes.len()).step_by(step) {
                std::fs::write(&cut, &bytes[..len]).unwrap();
                let found = read_found(&cut);
                assert!(found.chapters.len() <= 2, "{name} cut at {len}");
            }
            let mut flipped = bytes.clone();
            for (n, i) in (0..flipped.len()).step_by(step).enumerate() {
                flipped[i] ^= 0xA5;
                if n % 4 == 0 {
                    std::fs::write(&cut, &flipped).unwrap();
                    let _ = read_found(&cut);
                }
            }
        }
    }

    #[test]
    fn a_missing_or_foreign_file_reads_as_nothing() {
        assert_eq!(
            read(Path::new("/nonexistent/x.mp4"), None),
            SourceMeta::default()
        );
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.bin");
        std::fs::write(&junk, b"not media at all, just some words").unwrap();
        assert_eq!(read(&junk, Some(3.0)), SourceMeta::default());
        let fake_mkv = dir.path().join("fake.mkv");
        std::fs::write(&fake_mkv, [0x1A, 0x45, 0xDF, 0xA3, 0xFF, 0xFF]).unwrap();
        assert_eq!(read(&fake_mkv, Some(3.0)), SourceMeta::default());
        let fake_mp4 = dir.path().join("fake.mp4");
        std::fs::write(&fake_mp4, b"\0\0\0\x10ftypisom\0\0\0\0\xff\xff\xff\xffmoov").unwrap();
        assert_eq!(read(&fake_mp4, Some(3.0)), SourceMeta::default());
    }
}
