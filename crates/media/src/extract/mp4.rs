//! MP4/MOV → M4A: the chosen `soun` track's `trak` kept in a copied `moov` (chunk offsets
//! patched in place) and its chunks gathered into one `mdat`. Reads only the top-level box
//! headers and the `moov`.

use std::io::{Read, Seek};

use super::{Container, Extraction, Fail, Pieces, choose_track, read_up_to, whole};

/// Largest `moov` read into memory (long files have big sample tables; 64 MiB is hours).
const MAX_MOOV: u64 = 64 << 20;

/// The new `ftyp`: `M4A `, minor 0, compatible `M4A `, `mp42`, `isom`.
const FTYP: [u8; 28] = *b"\0\0\0\x1cftypM4A \0\0\0\0M4A mp42isom";

/// Box types that may start an MP4/MOV file.
pub(super) fn is_top_level_box(kind: &[u8]) -> bool {
    matches!(
        kind,
        b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide" | b"pnot" | b"uuid"
    )
}

/// A box inside a buffer: its type and where its header and payload are.
#[derive(Debug, Clone, Copy)]
struct Bx {
    kind: [u8; 4],
    start: usize,
    body: usize,
    end: usize,
}

impl Bx {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// The boxes in `buf[from..to]`; a box that overruns the range is a reason to send the file
/// whole.
fn children(buf: &[u8], from: usize, to: usize) -> Result<Vec<Bx>, Fail> {
    let mut out = Vec::new();
    let mut pos = from;
    while pos < to {
        if to - pos < 8 {
            return whole("a box header overruns its parent");
        }
        let size32 = be32(&buf[pos..]);
        let kind: [u8; 4] = [buf[pos + 4], buf[pos + 5], buf[pos + 6], buf[pos + 7]];
        let (header, size) = match size32 {
            0 => (8, (to - pos) as u64),
            1 => {
                if to - pos < 16 {
                    return whole("a box header overruns its parent");
                }
                (16, be64(&buf[pos + 8..]))
            }
            n => (8, u64::from(n)),
        };
        if size < header as u64 || size > (to - pos) as u64 {
            return whole(format!("box {} overruns its parent", name(&kind)));
        }
        let end = pos + size as usize;
        out.push(Bx {
            kind,
            start: pos,
            body: pos + header,
            end,
        });
        pos = end;
    }
    Ok(out)
}

fn child(buf: &[u8], parent: &Bx, kind: &[u8; 4]) -> Result<Option<Bx>, Fail> {
    Ok(children(buf, parent.body, parent.end)?
        .into_iter()
        .find(|b| &b.kind == kind))
}

fn need(buf: &[u8], parent: &Bx, kind: &[u8; 4]) -> Result<Bx, Fail> {
    match child(buf, parent, kind)? {
        Some(b) => Ok(b),
        None => whole(format!("no {} box", name(kind))),
    }
}

fn name(kind: &[u8; 4]) -> String {
    String::from_utf8_lossy(kind).into_owned()
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}

/// The `moov` of the file: its offset and length.
fn find_moov(file: &mut (impl Read + Seek), file_len: u64) -> Result<(u64, u64), Fail> {
    let mut pos = 0u64;
    let mut moov = None;
    while pos < file_len {
        let mut head = [0u8; 16];
        let n = read_up_to(file, pos, &mut head)?;
        if n < 8 {
            return whole("a top-level box header is cut off");
        }
        let kind = [head[4], head[5], head[6], head[7]];
        let size = match be32(&head) {
            0 => file_len - pos,
            1 if n == 16 => be64(&head[8..]),
            1 => return whole("a top-level box header is cut off"),
            n => u64::from(n),
        };
        if size < 8 || size > file_len - pos {
            return whole(format!("top-level box {} overruns the file", name(&kind)));
        }
        match &kind {
            b"moov" if moov.is_some() => return whole("more than one moov"),
            b"moov" => moov = Some((pos, size)),
            b"moof" | b"mfra" => return whole("fragmented MP4"),
            _ => {}
        }
        pos += size;
    }
    match moov {
        Some(found) => Ok(found),
        None => whole("no moov box"),
    }
}

/// One track of the `moov`.
struct Trak {
    bx: Bx,
    audio: bool,
    /// Its `mdia`, when it has one.
    mdia: Option<Bx>,
}

pub(super) fn plan(
    file: &mut (impl Read + Seek),
    file_len: u64,
    track: Option<usize>,
    progress: &dyn Fn(u64),
) -> Result<Extraction, Fail> {
    let (moov_at, moov_len) = find_moov(file, file_len)?;
    if moov_len > MAX_MOOV {
        return whole("the moov is too large to read");
    }
    let mut moov = vec![0u8; moov_len as usize];
    if read_up_to(file, moov_at, &mut moov)? != moov.len() {
        return whole("the moov is cut off");
    }
    progress(file_len);
    let root = children(&moov, 0, moov.len())?;
    let [top] = root.as_slice() else {
        return whole("the moov does not hold exactly one box");
    };
    let top = *top;

    let mut traks = Vec::new();
    for b in children(&moov, top.body, top.end)? {
        match &b.kind {
            b"mvex" => return whole("fragmented MP4 (mvex)"),
            b"trak" => traks.push(read_trak(&moov, b)?),
            _ => {}
        }
    }
    let audio: Vec<usize> = (0..traks.len()).filter(|&i| traks[i].audio).collect();
    let chosen = choose_track(track, &audio, traks.len())?;
    let kept = &traks[chosen];
    // Only the kept track is read further: the others are left out, whatever their insides.
    let Some(mdia) = kept.mdia else {
        return whole("the audio track has no mdia");
    };
    let stbl = need(&moov, &need(&moov, &mdia, b"minf")?, b"stbl")?;
    check_codec(&moov, &stbl)?;
    let tables = chunk_table(&moov, &stbl, file_len)?;

    // Lay out: ftyp, moov (minus the other traks), mdat header, chunks.
    let mut new_moov_len = 8u64;
    for b in children(&moov, top.body, top.end)? {
        if &b.kind != b"trak" || b.start == kept.bx.start {
            new_moov_len += b.len() as u64;
        }
    }
    let Ok(new_moov_size) = u32::try_from(new_moov_len) else {
        return whole("the moov is too large");
    };
    let payload = tables
        .chunks
        .iter()
        .fold(0u64, |sum, c| sum.saturating_add(c.1));
    if payload > file_len {
        return whole("the chunks overlap");
    }
    let mdat_header: Vec<u8> = match u32::try_from(payload + 8) {
        Ok(size) => [&size.to_be_bytes()[..], b"mdat"].concat(),
        Err(_) => [
            &1u32.to_be_bytes()[..],
            b"mdat",
            &(payload + 16).to_be_bytes(),
        ]
        .concat(),
    };
    let data_start = FTYP.len() as u64 + new_moov_len + mdat_header.len() as u64;

    // Patch the chunk offsets in place.
    let mut at = data_start;
    for (i, &(_, len)) in tables.chunks.iter().enumerate() {
        let entry = tables.entries + i * tables.width;
        if tables.width == 4 {
            let Ok(at32) = u32::try_from(at) else {
                return whole("chunk offsets do not fit stco");
            };
            moov[entry..entry + 4].copy_from_slice(&at32.to_be_bytes());
        } else {
            moov[entry..entry + 8].copy_from_slice(&at.to_be_bytes());
        }
        at += len;
    }

    let mut new_moov = Vec::with_capacity(new_moov_len as usize);
    new_moov.extend_from_slice(&new_moov_size.to_be_bytes());
    new_moov.extend_from_slice(b"moov");
    for b in children(&moov, top.body, top.end)? {
        if &b.kind != b"trak" || b.start == kept.bx.start {
            new_moov.extend_from_slice(&moov[b.start..b.end]);
        }
    }

    let mut pieces = Pieces::default();
    pieces.bytes(FTYP.to_vec());
    pieces.bytes(new_moov);
    pieces.bytes(mdat_header);
    for &(offset, len) in &tables.chunks {
        pieces.source(offset, len);
    }
    Ok(pieces.finish(Container::M4a))
}

fn read_trak(moov: &[u8], bx: Bx) -> Result<Trak, Fail> {
    let mdia = child(moov, &bx, b"mdia")?;
    let mut audio = false;
    if let Some(mdia) = &mdia
        && let Some(hdlr) = child(moov, mdia, b"hdlr")?
    {
        // version/flags, pre_defined, handler_type
        audio = hdlr.end - hdlr.body >= 12 && &moov[hdlr.body + 8..hdlr.body + 12] == b"soun";
    }
    Ok(Trak { bx, audio, mdia })
}

/// Accepts AAC, MP3 and ALAC sample entries.
fn check_codec(moov: &[u8], stbl: &Bx) -> Result<(), Fail> {
    let stsd = need(moov, stbl, b"stsd")?;
    if stsd.end - stsd.body < 8 || be32(&moov[stsd.body + 4..]) != 1 {
        return whole("the audio track has not exactly one sample description");
    }
    let entries = children(moov, stsd.body + 8, stsd.end)?;
    let Some(entry) = entries.first() else {
        return whole("no sample description");
    };
    match &entry.kind {
        b".mp3" | b"alac" => Ok(()),
        b"mp4a" => match esds_object_type(&moov[entry.body..entry.end]) {
            Some(0x40 | 0x66 | 0x67 | 0x68 | 0x69 | 0x6B) => Ok(()),
            Some(other) => whole(format!("mp4a object type {other:#04x}")),
            None => whole("mp4a without a readable esds"),
        },
        other => whole(format!("codec {}", name(other))),
    }
}

/// The object type indication of the `esds` box somewhere in an `mp4a` entry (directly, or in
/// QuickTime's `wave`).
fn esds_object_type(entry: &[u8]) -> Option<u8> {
    let mut from = 0;
    while let Some(i) = entry[from..].windows(4).position(|w| w == b"esds") {
        let at = from + i;
        from = at + 4;
        if at < 4 {
            continue;
        }
        let size = be32(&entry[at - 4..]) as usize;
        let Some(body) = entry.get(at + 4..(at - 4).checked_add(size)?) else {
            continue;
        };
        if let Some(object_type) = decoder_config_object_type(body.get(4..)?) {
            return Some(object_type);
        }
    }
    None
}

/// Walks an ES_Descriptor to its DecoderConfigDescriptor's object type.
fn decoder_config_object_type(d: &[u8]) -> Option<u8> {
    let (tag, mut pos) = descriptor(d, 0)?;
    if tag != 0x03 {
        return None;
    }
    let flags = *d.get(pos + 2)?;
    pos += 3;
    if flags & 0x80 != 0 {
        pos += 2;
    }
    if flags & 0x40 != 0 {
        pos += 1 + usize::from(*d.get(pos)?);
    }
    if flags & 0x20 != 0 {
        pos += 2;
    }
    let (tag, pos) = descriptor(d, pos)?;
    (tag == 0x04).then_some(*d.get(pos)?)
}

/// A descriptor's tag and where its payload starts.
fn descriptor(d: &[u8], mut pos: usize) -> Option<(u8, usize)> {
    let tag = *d.get(pos)?;
    pos += 1;
    for _ in 0..4 {
        let b = *d.get(pos)?;
        pos += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    Some((tag, pos))
}

/// The track's chunks (source offset, length) and where the chunk offset entries are.
struct Chunks {
    chunks: Vec<(u64, u64)>,
    /// Offset in the moov buffer of the first `stco`/`co64` entry.
    entries: usize,
    /// 4 (`stco`) or 8 (`co64`).
    width: usize,
}

fn chunk_table(moov: &[u8], stbl: &Bx, file_len: u64) -> Result<Chunks, Fail> {
    let boxes = children(moov, stbl.body, stbl.end)?;
    let find = |kind: &[u8; 4]| boxes.iter().find(|b| &b.kind == kind).copied();
    if find(b"stz2").is_some() {
        return whole("compact sample sizes (stz2)");
    }
    let (Some(stsz), Some(stsc)) = (find(b"stsz"), find(b"stsc")) else {
        return whole("no stsz or stsc");
    };
    let (co, width) = match (find(b"stco"), find(b"co64")) {
        (Some(b), None) => (b, 4),
        (None, Some(b)) => (b, 8),
        _ => return whole("not exactly one of stco and co64"),
    };

    // stsz: version/flags, sample_size, sample_count, [sizes]
    let sz = &moov[stsz.body..stsz.end];
    if sz.len() < 12 {
        return whole("stsz is cut off");
    }
    let uniform = u64::from(be32(&sz[4..]));
    let samples = be32(&sz[8..]) as usize;
    if uniform == 0 && (sz.len() - 12) / 4 < samples {
        return whole("stsz holds fewer sizes than samples");
    }
    let size_of = |i: usize| {
        if uniform != 0 {
            uniform
        } else {
            u64::from(be32(&sz[12 + 4 * i..]))
        }
    };

    // stco/co64: version/flags, count, entries
    let c = &moov[co.body..co.end];
    if c.len() < 8 {
        return whole("the chunk offset table is cut off");
    }
    let count = be32(&c[4..]) as usize;
    if (c.len() - 8) / width < count {
        return whole("the chunk offset table holds fewer entries than it says");
    }
    let offset_of = |i: usize| {
        let e = &c[8 + width * i..];
        if width == 4 {
            u64::from(be32(e))
        } else {
            be64(e)
        }
    };

    // stsc: version/flags, count, (first_chunk, samples_per_chunk, description) entries
    let s = &moov[stsc.body..stsc.end];
    if s.len() < 8 {
        return whole("stsc is cut off");
    }
    let runs = be32(&s[4..]) as usize;
    if (s.len() - 8) / 12 < runs || runs == 0 {
        return whole("stsc holds fewer entries than it says");
    }
    let run = |i: usize| {
        (
            be32(&s[8 + 12 * i..]) as usize,
            be32(&s[12 + 12 * i..]) as u64,
        )
    };
    if run(0).0 != 1 {
        return whole("stsc does not start at chunk 1");
    }

    let mut chunks = Vec::with_capacity(count);
    let mut sample = 0usize;
    let mut r = 0;
    for chunk in 1..=count {
        while r + 1 < runs && run(r + 1).0 <= chunk {
            if run(r + 1).0 <= run(r).0 {
                return whole("stsc is not in chunk order");
            }
            r += 1;
        }
        let per_chunk = run(r).1;
        if per_chunk > (samples - sample) as u64 {
            return whole("the chunk table has more samples than stsz");
        }
        let per_chunk = per_chunk as usize;
        let len = if uniform != 0 {
            uniform * per_chunk as u64
        } else {
            (sample..sample + per_chunk).map(size_of).sum()
        };
        sample += per_chunk;
        let offset = offset_of(chunk - 1);
        if offset.checked_add(len).is_none_or(|end| end > file_len) {
            return whole("a chunk lies beyond the end of the file");
        }
        chunks.push((offset, len));
    }
    if sample != samples {
        return whole("the chunk table has fewer samples than stsz");
    }
    Ok(Chunks {
        chunks,
        entries: co.body + 8,
        width,
    })
}
