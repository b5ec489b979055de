//! MP4/MOV chapters: the Nero chapter list (`moov/udta/chpl`, which ffmpeg writes by default),
//! else a QuickTime chapter text track (a `trak` named by another track's `tref/chap`, its
//! samples being the titles). Reads the top-level box headers and the `moov` (bounded), and for
//! a text track only its few small samples.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::RawChapter;

/// Largest `moov` read into memory (long files have big sample tables; 64 MiB is hours).
const MAX_MOOV: u64 = 64 << 20;
/// Top-level boxes looked at before giving up on finding the `moov`.
const MAX_TOP_LEVEL: usize = 10_000;
/// Longest chapter title sample read from a text track.
const MAX_TITLE_SAMPLE: u32 = 4096;

/// Why the chapters could not be read (logged, never shown).
pub(super) type Error = String;

/// Box types that may start an MP4/MOV file.
pub(super) fn is_top_level_box(kind: &[u8]) -> bool {
    matches!(
        kind,
        b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide" | b"pnot" | b"uuid"
    )
}

/// A box inside a buffer: its type and payload.
#[derive(Debug, Clone, Copy)]
struct Bx<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

/// The boxes in `buf`; parsing stops at the first box that overruns it.
fn children(buf: &[u8]) -> Vec<Bx<'_>> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() >= 8 {
        let size32 = be32(rest);
        let kind = [rest[4], rest[5], rest[6], rest[7]];
        let (header, size) = match size32 {
            0 => (8, rest.len() as u64),
            1 if rest.len() >= 16 => (16, be64(&rest[8..])),
            1 => break,
            n => (8, u64::from(n)),
        };
        if size < header as u64 || size > rest.len() as u64 {
            break;
        }
        out.push(Bx {
            kind,
            body: &rest[header..size as usize],
        });
        rest = &rest[size as usize..];
    }
    out
}

fn child<'a>(buf: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(buf)
        .into_iter()
        .find(|b| &b.kind == kind)
        .map(|b| b.body)
}

fn path<'a>(buf: &'a [u8], kinds: &[&[u8; 4]]) -> Option<&'a [u8]> {
    kinds.iter().try_fold(buf, |b, k| child(b, k))
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// Reads `n` bytes at `at` from a big-endian view, `None` past the end.
fn get(b: &[u8], at: usize, n: usize) -> Option<&[u8]> {
    b.get(at..at.checked_add(n)?)
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    get(b, at, 4).map(be32)
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    get(b, at, 8).map(be64)
}

/// The chapters of the MP4/MOV at `input` (empty when it has none), and the duration its
/// `mvhd` declares.
pub(super) fn chapters(input: &Path) -> Result<(Vec<RawChapter>, Option<f64>), Error> {
    let mut file = BufReader::new(File::open(input).map_err(|e| e.to_string())?);
    let len = file.get_ref().metadata().map_err(|e| e.to_string())?.len();
    let Some(moov) = read_moov(&mut file, len)? else {
        return Ok((Vec::new(), None));
    };
    let duration = child(&moov, b"mvhd").and_then(movie_duration);
    if let Some(chpl) = path(&moov, &[b"udta", b"chpl"]) {
        let found = nero(chpl);
        if !found.is_empty() {
            return Ok((found, duration));
        }
    }
    Ok((
        text_track(&moov, &mut file, len).unwrap_or_default(),
        duration,
    ))
}

/// The movie's duration in seconds from its `mvhd` (version 0: 32-bit times, 1: 64-bit).
fn movie_duration(mvhd: &[u8]) -> Option<f64> {
    let (timescale, duration) = if mvhd.first() == Some(&1) {
        (u32_at(mvhd, 20)?, u64_at(mvhd, 24)?)
    } else {
        (u32_at(mvhd, 12)?, u64::from(u32_at(mvhd, 16)?))
    };
    (timescale > 0 && duration > 0 && duration != u64::MAX && duration != u64::from(u32::MAX))
        .then(|| duration as f64 / f64::from(timescale))
}

/// The `moov` payload, if the file has one of a sane size.
fn read_moov(file: &mut BufReader<File>, len: u64) -> Result<Option<Vec<u8>>, Error> {
    let mut pos = 0u64;
    for _ in 0..MAX_TOP_LEVEL {
        if len.saturating_sub(pos) < 8 {
            return Ok(None);
        }
        file.seek(SeekFrom::Start(pos)).map_err(|e| e.to_string())?;
        let mut head = [0u8; 16];
        file.read_exact(&mut head[..8]).map_err(|e| e.to_string())?;
        let (header, size) = match be32(&head) {
            0 => (8, len - pos),
            1 => {
                if len - pos < 16 {
                    return Ok(None);
                }
                file.read_exact(&mut head[8..]).map_err(|e| e.to_string())?;
                (16, be64(&head[8..]))
            }
            n => (8, u64::from(n)),
        };
        if size < header || size > len - pos {
            return Err("a top-level box overruns the file".into());
        }
        if &head[4..8] == b"moov" {
            let body = size - header;
            if body > MAX_MOOV {
                return Err(format!("the moov box is {body} bytes, too large to read"));
            }
            let mut moov = vec![0u8; body as usize];
            file.read_exact(&mut moov).map_err(|e| e.to_string())?;
            return Ok(Some(moov));
        }
        pos += size;
    }
    Ok(None)
}

/// The Nero chapter list: version, flags, (version 1: 4 reserved bytes), a count, then per
/// chapter a start in 100 ns units and a length-prefixed UTF-8 title.
fn nero(chpl: &[u8]) -> Vec<RawChapter> {
    let mut out = Vec::new();
    let Some(&version) = chpl.first() else {
        return out;
    };
    let mut at = if version == 0 { 4 } else { 8 };
    let Some(&count) = chpl.get(at) else {
        return out;
    };
    at += 1;
    for _ in 0..count {
        let Some(start) = u64_at(chpl, at) else { break };
        let Some(&title_len) = chpl.get(at + 8) else {
            break;
        };
        let Some(title) = get(chpl, at + 9, usize::from(title_len)) else {
            break;
        };
        at += 9 + usize::from(title_len);
        out.push(RawChapter {
            start: start as f64 / 10_000_000.0,
            end: None,
            title: Some(String::from_utf8_lossy(title).into_owned()),
        });
    }
    out
}

/// A QuickTime chapter track: the `trak` whose ID another track's `tref/chap` names; each
/// sample is a 16-bit length and the title, lasting its sample duration.
fn text_track(moov: &[u8], file: &mut BufReader<File>, len: u64) -> Option<Vec<RawChapter>> {
    let traks: Vec<&[u8]> = children(moov)
        .into_iter()
        .filter(|b| &b.kind == b"trak")
        .map(|b| b.body)
        .collect();
    let chap_id = traks
        .iter()
        .find_map(|t| path(t, &[b"tref", b"chap"]).and_then(|c| u32_at(c, 0)))?;
    let trak = traks.iter().find(|t| {
        path(t, &[b"tkhd"]).and_then(|h| {
            let at = if h.first() == Some(&1) { 20 } else { 12 };
            u32_at(h, at)
        }) == Some(chap_id)
    })?;
    let mdia = child(trak, b"mdia")?;
    let mdhd = child(mdia, b"mdhd")?;
    let timescale = if mdhd.first() == Some(&1) {
        u32_at(mdhd, 20)?
    } else {
        u32_at(mdhd, 12)?
    };
    if timescale == 0 {
        return None;
    }
    let stbl = path(mdia, &[b"minf", b"stbl"])?;
    // Sample durations (stts), sizes (stsz), chunk offsets (stco/co64), samples per chunk (stsc).
    let stts = child(stbl, b"stts")?;
    let mut durations = Vec::new();
    let entries = u32_at(stts, 4)?;
    for i in 0..entries as usize {
        let count = u32_at(stts, 8 + i * 8)?;
        let delta = u32_at(stts, 12 + i * 8)?;
        for _ in 0..count {
            if durations.len() >= super::MAX_CHAPTERS {
                break;
            }
            durations.push(delta);
        }
    }
    let stsz = child(stbl, b"stsz")?;
    let fixed = u32_at(stsz, 4)?;
    let n = (u32_at(stsz, 8)? as usize).min(durations.len());
    let sizes: Vec<u32> = (0..n)
        .map(|i| {
            if fixed != 0 {
                Some(fixed)
            } else {
                u32_at(stsz, 12 + i * 4)
            }
        })
        .collect::<Option<_>>()?;
    let offsets: Vec<u64> = if let Some(stco) = child(stbl, b"stco") {
        let count = u32_at(stco, 4)? as usize;
        (0..count.min(n))
            .map(|i| u32_at(stco, 8 + i * 4).map(u64::from))
            .collect::<Option<_>>()?
    } else {
        let co64 = child(stbl, b"co64")?;
        let count = u32_at(co64, 4)? as usize;
        (0..count.min(n))
            .map(|i| u64_at(co64, 8 + i * 8))
            .collect::<Option<_>>()?
    };
    // Sample offsets from the chunk table and samples-per-chunk runs.
    let stsc = child(stbl, b"stsc")?;
    // A chapter track has a handful of runs; more is not a chapter track worth reading.
    let runs = (u32_at(stsc, 4)? as usize).min(1000);
    let mut sample_offsets = Vec::with_capacity(n);
    for (chunk, &offset) in offsets.iter().enumerate() {
        let chunk_no = chunk as u32 + 1;
        let mut per_chunk = 1;
        for r in 0..runs {
            let first = u32_at(stsc, 8 + r * 12)?;
            if first > chunk_no {
                break;
            }
            per_chunk = u32_at(stsc, 12 + r * 12)?;
        }
        let mut at = offset;
        for _ in 0..per_chunk {
            let i = sample_offsets.len();
            if i >= n {
                break;
            }
            sample_offsets.push(at);
            at = at.saturating_add(u64::from(sizes[i]));
        }
    }
    let mut out = Vec::new();
    let mut time = 0u64;
    for (i, &at) in sample_offsets.iter().enumerate() {
        let size = sizes[i];
        let title = if (2..=MAX_TITLE_SAMPLE).contains(&size)
            && at.saturating_add(u64::from(size)) <= len
        {
            let mut buf = vec![0u8; size as usize];
            file.seek(SeekFrom::Start(at)).ok()?;
            file.read_exact(&mut buf).ok()?;
            let text_len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
            buf.get(2..2 + text_len)
                .map(|t| String::from_utf8_lossy(t).into_owned())
        } else {
            None
        };
        let start = time as f64 / f64::from(timescale);
        time = time.saturating_add(u64::from(durations[i]));
        out.push(RawChapter {
            start,
            end: Some(time as f64 / f64::from(timescale)),
            title,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nero_list_gives_starts_and_titles_and_stops_at_a_cut() {
        let mut chpl = vec![1, 0, 0, 0, 0, 0, 0, 0, 3];
        for (start, title) in [(0u64, "Intro"), (15_000_000, "Middle")] {
            chpl.extend_from_slice(&start.to_be_bytes());
            chpl.push(title.len() as u8);
            chpl.extend_from_slice(title.as_bytes());
        }
        // The third chapter the count promises is cut off.
        chpl.extend_from_slice(&[0, 0, 1]);
        let got = nero(&chpl);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].start, 1.5);
        assert_eq!(got[1].title.as_deref(), Some("Middle"));
        assert!(nero(&[]).is_empty());
    }

    #[test]
    fn overrunning_boxes_are_not_followed() {
        let buf = b"\0\0\0\x20udta\0\0\0\x08chpl";
        assert!(children(buf).is_empty());
        assert_eq!(children(b"\0\0\0\x08free").len(), 1);
    }
}
