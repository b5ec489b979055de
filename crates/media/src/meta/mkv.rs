//! Matroska/WebM tags, cover attachment and chapters, which `lofty` does not read.
//!
//! Walks the Segment's top-level elements by their headers, skipping everything else by size
//! (clusters are never read), and follows the SeekHead to elements written after a cluster of
//! unknown size (ffmpeg writes Tags at the end). Reads only:
//! * `Info/Title` (title when no tag gives one), `Info/TimestampScale` and `Info/Duration`;
//! * `Tags/Tag` with global targets (no `TargetTypeValue`, or 50, and no UIDs), their
//!   `SimpleTag` names TITLE, ARTIST, ALBUM, DATE_RELEASED/DATE_RECORDED/DATE, GENRE,
//!   PART_NUMBER/TRACK, COMMENT (case-insensitive);
//! * `Attachments/AttachedFile` with an `image/*` MIME type (a `cover.*` file name preferred);
//! * `Chapters`: the default (else first) edition's top-level visible `ChapterAtom`s.
//!
//! Every element read into memory is size-bounded; a damaged element ends the walk with what
//! was found so far.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use super::{Found, MAX_COVER_BYTES, RawChapter, parse_track};
use crate::extract::ebml::{read_vint as vint, uint};

const EBML_HEADER: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const SEEK_HEAD: u32 = 0x114D_9B74;
const SEEK: u32 = 0x4DBB;
const SEEK_ID: u32 = 0x53AB;
const SEEK_POSITION: u32 = 0x53AC;
const INFO: u32 = 0x1549_A966;
const TITLE: u32 = 0x7BA9;
const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
const DURATION: u32 = 0x4489;
const TAGS: u32 = 0x1254_C367;
const TAG: u32 = 0x7373;
const TARGETS: u32 = 0x63C0;
const TARGET_TYPE_VALUE: u32 = 0x68CA;
/// TagTrackUID, TagEditionUID, TagChapterUID, TagAttachmentUID: a tag about a part.
const TARGET_UIDS: [u32; 4] = [0x63C5, 0x63C9, 0x63C4, 0x63C6];
const SIMPLE_TAG: u32 = 0x67C8;
const TAG_NAME: u32 = 0x45A3;
const TAG_STRING: u32 = 0x4487;
const ATTACHMENTS: u32 = 0x1941_A469;
const ATTACHED_FILE: u32 = 0x61A7;
const FILE_NAME: u32 = 0x466E;
const FILE_MIME_TYPE: u32 = 0x4660;
const FILE_DATA: u32 = 0x465C;
const CHAPTERS: u32 = 0x1043_A770;
const EDITION_ENTRY: u32 = 0x45B9;
const EDITION_FLAG_HIDDEN: u32 = 0x45BD;
const EDITION_FLAG_DEFAULT: u32 = 0x45DB;
const CHAPTER_ATOM: u32 = 0xB6;
const CHAPTER_TIME_START: u32 = 0x91;
const CHAPTER_TIME_END: u32 = 0x92;
const CHAPTER_FLAG_HIDDEN: u32 = 0x98;
const CHAPTER_FLAG_ENABLED: u32 = 0x4598;
const CHAPTER_DISPLAY: u32 = 0x80;
const CHAP_STRING: u32 = 0x85;

/// Largest SeekHead or Info read.
const MAX_SMALL: u64 = 1 << 20;
/// Largest Tags or Chapters element read.
const MAX_LIST: u64 = 8 << 20;
/// Largest AttachedFile read (a picture up to the cover limit plus its name and type).
const MAX_ATTACHED_FILE: u64 = MAX_COVER_BYTES as u64 + (64 << 10);
/// Top-level elements (mostly clusters, skipped by size) looked at before giving up.
const MAX_TOP_LEVEL: usize = 1_000_000;
/// Attached files looked at.
const MAX_ATTACHED_FILES: usize = 1000;

/// Why the walk stopped (logged, never shown).
pub(super) type Error = String;

/// An element header in the file: its ID, where its payload starts, its size (`None` when
/// unknown).
#[derive(Debug, Clone, Copy)]
struct Header {
    id: u32,
    start: u64,
    body: u64,
    size: Option<u64>,
}

/// A seekable reader that knows the file's length and its position, so that skipping forward
/// within its small buffer costs no system call.
struct Reader {
    file: BufReader<File>,
    len: u64,
    pos: u64,
}

impl Reader {
    /// A reader at the start of `file` (a small buffer: element headers are read one by one,
    /// large payloads bypass it).
    fn new(file: File, len: u64) -> Reader {
        Reader {
            file: BufReader::with_capacity(8 << 10, file),
            len,
            pos: 0,
        }
    }

    fn seek(&mut self, to: u64) -> Result<(), Error> {
        if to != self.pos {
            let delta = i64::try_from(to)
                .ok()
                .zip(i64::try_from(self.pos).ok())
                .map(|(to, pos)| to - pos)
                .ok_or("a position is out of range")?;
            self.file.seek_relative(delta).map_err(|e| e.to_string())?;
            self.pos = to;
        }
        Ok(())
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), Error> {
        // On a failed read the position is unknown: find it again.
        if let Err(e) = self.file.read_exact(buf) {
            self.pos = self.file.stream_position().map_err(|e| e.to_string())?;
            return Err(e.to_string());
        }
        self.pos += buf.len() as u64;
        Ok(())
    }

    /// The element header at `at`.
    fn header(&mut self, at: u64) -> Result<Header, Error> {
        self.seek(at)?;
        let mut head = [0u8; 12];
        let n = (self.len.saturating_sub(at)).min(12) as usize;
        self.read_exact(&mut head[..n])?;
        let (id, rest) = vint(&head[..n], true).ok_or("an element ID is not valid")?;
        let used = n - rest.len();
        let (size, rest) = vint(rest, false).ok_or("an element size is not valid")?;
        let header_len = n - rest.len();
        let width = header_len - used;
        let unknown = size == (1u64 << (7 * width)) - 1;
        let body = at + header_len as u64;
        let size = (!unknown).then_some(size);
        if size.is_some_and(|s| s > self.len - body) {
            return Err(format!("element {id:#x} overruns the file"));
        }
        Ok(Header {
            id: id as u32,
            start: at,
            body,
            size,
        })
    }

    /// The payload of `h`, if its size is known and at most `cap`.
    fn payload(&mut self, h: &Header, cap: u64) -> Result<Vec<u8>, Error> {
        let size = h
            .size
            .filter(|&s| s <= cap)
            .ok_or_else(|| format!("element {:#x} is too large or of unknown size", h.id))?;
        self.seek(h.body)?;
        let mut buf = vec![0u8; size as usize];
        self.read_exact(&mut buf)?;
        Ok(buf)
    }
}

/// The child elements of a payload (ID, payload); parsing stops at the first one that overruns.
fn elements(mut buf: &[u8]) -> Vec<(u32, &[u8])> {
    let mut out = Vec::new();
    while let Some((id, rest)) = vint(buf, true) {
        let Some((size, rest)) = vint(rest, false) else {
            break;
        };
        if size > rest.len() as u64 {
            break;
        }
        out.push((id as u32, &rest[..size as usize]));
        buf = &rest[size as usize..];
    }
    out
}

fn first(buf: &[u8], id: u32) -> Option<&[u8]> {
    elements(buf)
        .into_iter()
        .find(|(i, _)| *i == id)
        .map(|(_, p)| p)
}

fn float(payload: &[u8]) -> Option<f64> {
    match payload.len() {
        4 => Some(f64::from(f32::from_be_bytes(payload.try_into().ok()?))),
        8 => Some(f64::from_be_bytes(payload.try_into().ok()?)),
        _ => None,
    }
}

fn text(payload: &[u8]) -> String {
    // Strings may be zero-padded.
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

/// What the walk collects.
#[derive(Default)]
struct State {
    found: Found,
    info_title: Option<String>,
    /// Tag values by priority: (field, rank) — a lower rank wins.
    date_rank: usize,
    artist_rank: usize,
    cover_is_named: bool,
    seen: Vec<u64>,
    targets: Vec<(u32, u64)>,
    done_info: bool,
    done_tags: bool,
    done_chapters: bool,
    done_attachments: bool,
}

/// Reads the Matroska file at `input`.
pub(super) fn read(input: &Path) -> Result<Found, Error> {
    let file = File::open(input).map_err(|e| e.to_string())?;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut r = Reader::new(file, len);
    let ebml = r.header(0)?;
    if ebml.id != EBML_HEADER {
        return Err("not a Matroska file".into());
    }
    let mut at = ebml.body + ebml.size.ok_or("the EBML header has no size")?;
    // The Segment (Void or other elements may come first).
    let segment = loop {
        if len.saturating_sub(at) < 2 {
            return Err("no Segment".into());
        }
        let h = r.header(at)?;
        if h.id == SEGMENT {
            break h;
        }
        at = h.body + h.size.ok_or("an element before the Segment has no size")?;
    };
    let segment_end = segment.size.map_or(len, |s| segment.body + s).min(len);
    let mut state = State {
        date_rank: usize::MAX,
        artist_rank: usize::MAX,
        ..State::default()
    };
    let mut at = segment.body;
    let mut walked = 0;
    while segment_end.saturating_sub(at) >= 2 && walked < MAX_TOP_LEVEL {
        walked += 1;
        let h = match r.header(at) {
            Ok(h) => h,
            Err(e) => {
                tracing::debug!(error = %e, "the Matroska walk stopped at a damaged element");
                break;
            }
        };
        if let Err(e) = visit(&mut r, &h, segment.body, &mut state) {
            tracing::debug!(error = %e, "a Matroska element could not be read");
        }
        match h.size {
            Some(size) => at = h.body + size,
            // A cluster of unknown size (a live recording): the rest is found by the SeekHead.
            None => break,
        }
    }
    // Elements the SeekHead points to that the walk did not reach (a SeekHead may point to
    // another one: a few rounds).
    for _ in 0..4 {
        let targets = std::mem::take(&mut state.targets);
        if targets.is_empty() {
            break;
        }
        for (id, pos) in targets {
            if state.seen.contains(&pos) || pos >= len {
                continue;
            }
            let wanted = match id {
                SEEK_HEAD => true,
                INFO => !state.done_info,
                TAGS => !state.done_tags,
                CHAPTERS => !state.done_chapters,
                ATTACHMENTS => !state.done_attachments,
                _ => false,
            };
            if !wanted {
                continue;
            }
            match r.header(pos) {
                Ok(h) if h.id == id => {
                    if let Err(e) = visit(&mut r, &h, segment.body, &mut state) {
                        tracing::debug!(error = %e, "a Matroska element could not be read");
                    }
                }
                Ok(_) => tracing::debug!("a SeekHead entry points to the wrong element"),
                Err(e) => tracing::debug!(error = %e, "a SeekHead entry points nowhere"),
            }
        }
    }
    if state.found.tags.title.is_none() {
        state.found.tags.title = state.info_title.take();
    }
    Ok(state.found)
}

/// Reads a top-level element if it is one of ours.
fn visit(r: &mut Reader, h: &Header, segment_body: u64, state: &mut State) -> Result<(), Error> {
    if state.seen.len() < MAX_TOP_LEVEL
        && matches!(h.id, SEEK_HEAD | INFO | TAGS | CHAPTERS | ATTACHMENTS)
    {
        state.seen.push(h.start);
    }
    match h.id {
        SEEK_HEAD => {
            let buf = r.payload(h, MAX_SMALL)?;
            for (id, seek) in elements(&buf) {
                if id != SEEK {
                    continue;
                }
                let target = first(seek, SEEK_ID)
                    .and_then(|p| vint(p, true))
                    .map(|(v, _)| v as u32);
                let pos = first(seek, SEEK_POSITION).and_then(uint);
                if let (Some(target), Some(pos)) = (target, pos)
                    && state.targets.len() < 1000
                {
                    state
                        .targets
                        .push((target, segment_body.saturating_add(pos)));
                }
            }
        }
        INFO if !state.done_info => {
            state.done_info = true;
            let buf = r.payload(h, MAX_SMALL)?;
            let scale = first(&buf, TIMESTAMP_SCALE)
                .and_then(uint)
                .filter(|&s| s > 0)
                .unwrap_or(1_000_000);
            state.info_title = first(&buf, TITLE).map(text);
            state.found.duration_secs = first(&buf, DURATION)
                .and_then(float)
                .map(|d| d * scale as f64 / 1e9)
                .filter(|d| d.is_finite() && *d > 0.0);
        }
        TAGS if !state.done_tags => {
            state.done_tags = true;
            let buf = r.payload(h, MAX_LIST)?;
            tags(&buf, state);
        }
        CHAPTERS if !state.done_chapters => {
            state.done_chapters = true;
            let buf = r.payload(h, MAX_LIST)?;
            state.found.chapters = chapters(&buf);
        }
        ATTACHMENTS if !state.done_attachments => {
            state.done_attachments = true;
            attachments(r, h, state)?;
        }
        _ => {}
    }
    Ok(())
}

/// The global tags' fields.
fn tags(buf: &[u8], state: &mut State) {
    for (id, tag) in elements(buf) {
        if id != TAG {
            continue;
        }
        let children = elements(tag);
        let global = children
            .iter()
            .find(|(i, _)| *i == TARGETS)
            .is_none_or(|(_, targets)| {
                let targets = elements(targets);
                let level = targets
                    .iter()
                    .find(|(i, _)| *i == TARGET_TYPE_VALUE)
                    .and_then(|(_, p)| uint(p))
                    .unwrap_or(50);
                let about_a_part = targets
                    .iter()
                    .any(|(i, p)| TARGET_UIDS.contains(i) && uint(p) != Some(0));
                level == 50 && !about_a_part
            });
        if !global {
            continue;
        }
        for (_, simple) in children.iter().filter(|(i, _)| *i == SIMPLE_TAG) {
            let (Some(name), Some(value)) = (first(simple, TAG_NAME), first(simple, TAG_STRING))
            else {
                continue;
            };
            let name = text(name).to_ascii_uppercase();
            let value = text(value);
            let tags = &mut state.found.tags;
            let set = |field: &mut Option<String>| {
                if field.is_none() {
                    *field = Some(value.clone());
                }
            };
            match name.as_str() {
                "TITLE" => set(&mut tags.title),
                "ALBUM" => set(&mut tags.album),
                "GENRE" => set(&mut tags.genre),
                "COMMENT" => set(&mut tags.comment),
                "ARTIST" | "ALBUM_ARTIST" => {
                    let rank = usize::from(name != "ARTIST");
                    if rank < state.artist_rank {
                        state.artist_rank = rank;
                        tags.artist = Some(value.clone());
                    }
                }
                "DATE_RELEASED" | "DATE_RECORDED" | "DATE" => {
                    let rank = ["DATE_RELEASED", "DATE_RECORDED", "DATE"]
                        .iter()
                        .position(|n| *n == name)
                        .unwrap_or(usize::MAX);
                    if rank < state.date_rank {
                        state.date_rank = rank;
                        tags.date = Some(value.clone());
                    }
                }
                "PART_NUMBER" | "TRACK" | "TRACKNUMBER" if tags.track_number.is_none() => {
                    tags.track_number = parse_track(&value);
                }
                _ => {}
            }
        }
    }
}

/// The chapters of the default (else the first visible) edition.
fn chapters(buf: &[u8]) -> Vec<RawChapter> {
    let editions: Vec<&[u8]> = elements(buf)
        .into_iter()
        .filter(|(i, _)| *i == EDITION_ENTRY)
        .map(|(_, p)| p)
        .collect();
    let flag = |edition: &[u8], id: u32| first(edition, id).and_then(uint) == Some(1);
    let Some(edition) = editions
        .iter()
        .find(|e| flag(e, EDITION_FLAG_DEFAULT))
        .or_else(|| editions.iter().find(|e| !flag(e, EDITION_FLAG_HIDDEN)))
        .or(editions.first())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (id, atom) in elements(edition) {
        if id != CHAPTER_ATOM {
            continue;
        }
        let hidden = first(atom, CHAPTER_FLAG_HIDDEN).and_then(uint) == Some(1);
        let disabled = first(atom, CHAPTER_FLAG_ENABLED).and_then(uint) == Some(0);
        let Some(start) = first(atom, CHAPTER_TIME_START).and_then(uint) else {
            continue;
        };
        if hidden || disabled {
            continue;
        }
        let end = first(atom, CHAPTER_TIME_END).and_then(uint);
        let title = first(atom, CHAPTER_DISPLAY)
            .and_then(|d| first(d, CHAP_STRING))
            .map(text);
        out.push(RawChapter {
            start: start as f64 / 1e9,
            end: end.map(|e| e as f64 / 1e9),
            title,
        });
    }
    out
}

/// The attached pictures: a `cover.*` one, else the first image.
fn attachments(r: &mut Reader, h: &Header, state: &mut State) -> Result<(), Error> {
    let end = h.size.map_or(r.len, |s| h.body + s).min(r.len);
    let mut at = h.body;
    for _ in 0..MAX_ATTACHED_FILES {
        if end.saturating_sub(at) < 2 || state.cover_is_named {
            break;
        }
        let file = r.header(at)?;
        let Some(size) = file.size else {
            return Err("an attachment has an unknown size".into());
        };
        at = file.body + size;
        if file.id != ATTACHED_FILE || size > MAX_ATTACHED_FILE {
            continue;
        }
        let buf = r.payload(&file, MAX_ATTACHED_FILE)?;
        let mime = first(&buf, FILE_MIME_TYPE).map(text).unwrap_or_default();
        if !mime.to_ascii_lowercase().starts_with("image/") {
            continue;
        }
        let Some(data) =
            first(&buf, FILE_DATA).filter(|d| !d.is_empty() && d.len() <= MAX_COVER_BYTES)
        else {
            continue;
        };
        let named = first(&buf, FILE_NAME)
            .map(|n| text(n).to_ascii_lowercase().starts_with("cover."))
            .unwrap_or(false);
        if named || state.found.cover.is_none() {
            state.found.cover = Some(data.to_vec());
            state.cover_is_named = named;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An element with a two-byte size.
    fn el(id: u32, payload: &[u8]) -> Vec<u8> {
        let mut out: Vec<u8> = id
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        assert!(payload.len() < 0x3FFF);
        out.extend_from_slice(&(0x4000 | payload.len() as u16).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    fn simple(name: &str, value: &str) -> Vec<u8> {
        el(
            SIMPLE_TAG,
            &[
                el(TAG_NAME, name.as_bytes()),
                el(TAG_STRING, value.as_bytes()),
            ]
            .concat(),
        )
    }

    #[test]
    fn only_global_tags_count_and_names_are_case_insensitive() {
        let track_tag = el(
            TAG,
            &[
                el(TARGETS, &el(0x63C5, &[1])),
                simple("TITLE", "Stream title"),
            ]
            .concat(),
        );
        let global = el(
            TAG,
            &[
                el(TARGETS, &[]),
                simple("title", "Global"),
                simple("DATE", "2020"),
                simple("DATE_RELEASED", "2021-02-03"),
                simple("ALBUM_ARTIST", "Band"),
                simple("Artist", "Singer"),
                simple("PART_NUMBER", "4"),
            ]
            .concat(),
        );
        let mut state = State {
            date_rank: usize::MAX,
            artist_rank: usize::MAX,
            ..State::default()
        };
        tags(&[track_tag, global].concat(), &mut state);
        let t = &state.found.tags;
        assert_eq!(t.title.as_deref(), Some("Global"));
        assert_eq!(t.date.as_deref(), Some("2021-02-03"));
        assert_eq!(t.artist.as_deref(), Some("Singer"));
        assert_eq!(t.track_number, Some(4));
    }

    #[test]
    fn hidden_chapters_and_other_editions_are_left_out() {
        let atom = |start: u8, title: &str, hidden: bool| {
            el(
                CHAPTER_ATOM,
                &[
                    el(CHAPTER_TIME_START, &[start]),
                    el(CHAPTER_FLAG_HIDDEN, &[u8::from(hidden)]),
                    el(CHAPTER_DISPLAY, &el(CHAP_STRING, title.as_bytes())),
                ]
                .concat(),
            )
        };
        let other = el(EDITION_ENTRY, &atom(9, "Other", false));
        let default = el(
            EDITION_ENTRY,
            &[
                el(EDITION_FLAG_DEFAULT, &[1]),
                atom(0, "A", false),
                atom(5, "Hidden", true),
            ]
            .concat(),
        );
        let got = chapters(&[other, default].concat());
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].title.as_deref(), Some("A"));
    }

    #[test]
    fn tags_after_a_cluster_of_unknown_size_are_found_through_the_seek_head() {
        let tags_el = el(
            TAGS,
            &el(
                TAG,
                &[el(TARGETS, &[]), simple("ARTIST", "Live Band")].concat(),
            ),
        );
        let info = el(INFO, &el(TITLE, b"Info title"));
        // A cluster of unknown size (1-byte all-ones size) with a block in it.
        let cluster = [
            &CLUSTER_ID[..],
            &[0xFF],
            &el(0xA3, &[0x81, 0, 0, 0, 1, 2, 3]),
        ]
        .concat();
        let seek_head_len = el(
            SEEK_HEAD,
            &el(
                SEEK,
                &[el(SEEK_ID, &TAGS.to_be_bytes()), el(SEEK_POSITION, &[0; 4])].concat(),
            ),
        )
        .len();
        let tags_at = (seek_head_len + info.len() + cluster.len()) as u32;
        let seek_head = el(
            SEEK_HEAD,
            &el(
                SEEK,
                &[
                    el(SEEK_ID, &TAGS.to_be_bytes()),
                    el(SEEK_POSITION, &tags_at.to_be_bytes()),
                ]
                .concat(),
            ),
        );
        let file = [
            el(EBML_HEADER, &[]),
            SEGMENT.to_be_bytes().to_vec(),
            vec![0xFF],
            seek_head,
            info,
            cluster,
            tags_el,
        ]
        .concat();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("live.mkv");
        std::fs::write(&path, &file).unwrap();
        let found = read(&path).unwrap();
        assert_eq!(found.tags.artist.as_deref(), Some("Live Band"));
        assert_eq!(found.tags.title.as_deref(), Some("Info title"));
        // A SeekHead pointing past the end or at the wrong element is ignored.
        let cut = &file[..file.len() - 3];
        std::fs::write(&path, cut).unwrap();
        let found = read(&path).unwrap();
        assert_eq!(found.tags.artist, None);
        assert_eq!(found.tags.title.as_deref(), Some("Info title"));
    }

    const CLUSTER_ID: [u8; 4] = [0x1F, 0x43, 0xB6, 0x75];

    #[test]
    fn a_cut_element_stops_the_parse_without_panicking() {
        let mut buf = simple("TITLE", "x");
        buf.truncate(buf.len() - 1);
        assert!(elements(&buf).is_empty());
        assert!(vint(&[0x00], false).is_none());
        assert!(vint(&[], true).is_none());
    }
}
