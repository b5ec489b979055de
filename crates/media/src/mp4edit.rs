//! Reads MP4 edit lists (`moov/trak/edts/elst`) for audio tracks.
//!
//! AAC encoders prepend priming samples (1024 for most) and MP4 muxers signal them with an edit
//! list whose `media_time` skips them. symphonia's MP4 reader ignores edit lists, so without this
//! the output would start ~23 ms late compared with ffmpeg and every other player.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// The first edit of one audio track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AudioEdit {
    /// Start of the presented media, in media timescale units.
    pub media_time: u64,
    /// Presented length, in movie timescale units (0: the rest of the track).
    pub segment_duration: u64,
    /// `mvhd` timescale.
    pub movie_timescale: u32,
    /// `mdhd` timescale of the track.
    pub media_timescale: u32,
}

impl AudioEdit {
    /// Leading samples to drop at `rate`.
    pub fn priming_samples(&self, rate: u32) -> u64 {
        scale(self.media_time, rate, self.media_timescale)
    }

    /// Samples to keep after the priming at `rate`, when the edit bounds it.
    pub fn kept_samples(&self, rate: u32) -> Option<u64> {
        (self.segment_duration > 0)
            .then(|| scale(self.segment_duration, rate, self.movie_timescale))
    }
}

fn scale(value: u64, rate: u32, timescale: u32) -> u64 {
    if timescale == 0 {
        return 0;
    }
    (u128::from(value) * u128::from(rate) / u128::from(timescale))
        .try_into()
        .unwrap_or(u64::MAX)
}

/// Largest `moov` we are willing to read into memory (long files have big sample tables).
const MAX_MOOV: u64 = 64 << 20;

/// The first edit of each audio track that has one, in track order; tracks without an edit list
/// get an edit with `media_time` 0. Malformed or missing boxes yield an empty list, not an error:
/// the demuxer reports real damage.
pub(crate) fn audio_edits(path: &Path) -> std::io::Result<Vec<AudioEdit>> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    let mut pos = 0u64;
    while pos + 8 <= len {
        file.seek(SeekFrom::Start(pos))?;
        let Some((kind, header, size)) = read_header(&mut file, len - pos)? else {
            break;
        };
        if &kind == b"moov" {
            if size > MAX_MOOV {
                return Ok(Vec::new());
            }
            let mut moov = vec![0; (size - header) as usize];
            file.read_exact(&mut moov)?;
            return Ok(parse_moov(&moov));
        }
        pos += size;
    }
    Ok(Vec::new())
}

fn read_header(file: &mut File, available: u64) -> std::io::Result<Option<([u8; 4], u64, u64)>> {
    let mut h = [0u8; 8];
    file.read_exact(&mut h)?;
    let kind = [h[4], h[5], h[6], h[7]];
    let (header, size) = match u32::from_be_bytes([h[0], h[1], h[2], h[3]]) {
        0 => (8, available),
        1 => {
            let mut big = [0u8; 8];
            file.read_exact(&mut big)?;
            (16, u64::from_be_bytes(big))
        }
        n => (8, u64::from(n)),
    };
    Ok((size >= header && size <= available).then_some((kind, header, size)))
}

/// Iterates over the child boxes of a box body: `(kind, body)`.
fn children(mut data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 8 {
            return None;
        }
        let size = u32::from_be_bytes(data[..4].try_into().ok()?) as usize;
        let kind: [u8; 4] = data[4..8].try_into().ok()?;
        let (header, size) = match size {
            0 => (8, data.len()),
            1 if data.len() >= 16 => (
                16,
                usize::try_from(u64::from_be_bytes(data[8..16].try_into().ok()?)).ok()?,
            ),
            n => (8, n),
        };
        if size < header || size > data.len() {
            return None;
        }
        let body = &data[header..size];
        data = &data[size..];
        Some((kind, body))
    })
}

fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(data).find(|(k, _)| k == kind).map(|(_, b)| b)
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Timescale of an `mvhd` or `mdhd` body (version 0 or 1).
fn timescale(body: &[u8]) -> Option<u32> {
    be_u32(body, if body.first()? == &1 { 20 } else { 12 })
}

fn parse_moov(moov: &[u8]) -> Vec<AudioEdit> {
    let Some(movie_timescale) = child(moov, b"mvhd").and_then(timescale) else {
        return Vec::new();
    };
    children(moov)
        .filter(|(k, _)| k == b"trak")
        .filter_map(|(_, trak)| {
            let mdia = child(trak, b"mdia")?;
            let handler = child(mdia, b"hdlr")?.get(8..12)?;
            if handler != b"soun" {
                return None;
            }
            let media_timescale = child(mdia, b"mdhd").and_then(timescale)?;
            let (media_time, segment_duration) = child(trak, b"edts")
                .and_then(|e| child(e, b"elst"))
                .and_then(first_edit)
                .unwrap_or((0, 0));
            Some(AudioEdit {
                media_time,
                segment_duration,
                movie_timescale,
                media_timescale,
            })
        })
        .collect()
}

/// The first non-empty edit's `(media_time, segment_duration)`; an initial empty edit
/// (`media_time` −1, a presentation delay) is skipped.
fn first_edit(elst: &[u8]) -> Option<(u64, u64)> {
    let version = *elst.first()?;
    let count = be_u32(elst, 4)? as usize;
    let entry_len = if version == 1 { 20 } else { 12 };
    (0..count.min(16)).find_map(|i| {
        let at = 8 + i * entry_len;
        let (duration, media_time) = if version == 1 {
            (be_u64(elst, at)?, be_u64(elst, at + 8)? as i64)
        } else {
            (
                u64::from(be_u32(elst, at)?),
                i64::from(be_u32(elst, at + 4)? as i32),
            )
        };
        (media_time >= 0).then_some((media_time as u64, duration))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a box from its kind and body parts.
    fn bx(kind: &[u8; 4], parts: &[&[u8]]) -> Vec<u8> {
        let body: Vec<u8> = parts.concat();
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn reads_priming_and_length_from_an_edit_list() {
        let elst = bx(
            b"elst",
            &[
                &[0, 0, 0, 0],
                &1u32.to_be_bytes(),
                &44_100u32.to_be_bytes(),
                &1024u32.to_be_bytes(),
                &[0, 1, 0, 0],
            ],
        );
        let mdhd = bx(b"mdhd", &[&[0; 12], &44_100u32.to_be_bytes(), &[0; 8]]);
        let hdlr = bx(b"hdlr", &[&[0; 8], b"soun", &[0; 13]]);
        let trak = bx(
            b"trak",
            &[&bx(b"edts", &[&elst]), &bx(b"mdia", &[&mdhd, &hdlr])],
        );
        let video = bx(
            b"trak",
            &[&bx(b"mdia", &[&bx(b"hdlr", &[&[0; 8], b"vide", &[0; 13]])])],
        );
        let mvhd = bx(b"mvhd", &[&[0; 12], &1000u32.to_be_bytes(), &[0; 84]]);
        let moov = bx(b"moov", &[&mvhd, &video, &trak]);
        let edits = parse_moov(&moov[8..]);
        assert_eq!(edits.len(), 1);
        assert_eq!(edits[0].priming_samples(44_100), 1024);
        // 44 100 movie ticks at 1000/s = 44.1 s of audio.
        assert_eq!(edits[0].kept_samples(44_100), Some(44_100 * 44_100 / 1000));
    }

    #[test]
    fn garbage_yields_no_edits() {
        assert!(parse_moov(&[0xFF; 64]).is_empty());
        assert_eq!(first_edit(&[1, 0, 0, 0, 0, 0, 0, 9]), None);
    }
}
