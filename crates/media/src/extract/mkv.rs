//! Matroska/WebM → Matroska/WebM audio: the EBML header, then a new `Segment` holding `Info`,
//! a `Tracks` with only the chosen `TrackEntry`, `Chapters`, `Tags`, and for each cluster with
//! blocks of the chosen track a new `Cluster` of its `Timecode` and those blocks, all verbatim.
//! The file is read once, front to back; other tracks' block payloads are skipped unread.

use std::io::{Read, Seek, SeekFrom};

use super::ebml::{self, EBML_HEADER_ID, Header, Scan, UNKNOWN, header8, uint};
use super::{Container, Extraction, Fail, Pieces, choose_track, whole};

const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TRACKS: u32 = 0x1654_AE6B;
const CHAPTERS: u32 = 0x1043_A770;
const TAGS: u32 = 0x1254_C367;
const CLUSTER: u32 = 0x1F43_B675;
const TRACK_ENTRY: u32 = 0xAE;
const TRACK_NUMBER: u32 = 0xD7;
const TRACK_TYPE: u32 = 0x83;
const CODEC_ID: u32 = 0x86;
const DOC_TYPE: u32 = 0x4282;
const TIMECODE: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;
const BLOCK_GROUP: u32 = 0xA0;
const BLOCK: u32 = 0xA1;
/// What may appear inside a cluster: an unknown-size cluster ends at anything else.
const CLUSTER_CHILDREN: [u32; 9] = [
    TIMECODE,
    0x5854, // SilentTracks
    0xA7,   // Position
    0xAB,   // PrevSize
    SIMPLE_BLOCK,
    BLOCK_GROUP,
    0xAF, // EncryptedBlock
    0xEC, // Void
    0xBF, // CRC-32
];
/// Largest EBML header or `Tracks` read into memory.
const MAX_HEADER: u64 = 1 << 20;
/// How often (in bytes scanned) progress is reported.
const PROGRESS_STEP: u64 = 4 << 20;

/// A byte range of the source: offset and length.
type Range = (u64, u64);

fn range(h: &Header) -> Range {
    // Only called for elements of known size.
    (h.start, h.body - h.start + h.size)
}

/// The chosen track, from `Tracks`.
struct Chosen {
    number: u64,
    /// The `TrackEntry` element in the source.
    entry: Range,
}

/// A cluster of the output.
struct Cluster {
    timecode: Range,
    blocks: Vec<Range>,
}

pub(super) fn plan(
    file: &mut (impl Read + Seek),
    file_len: u64,
    track: Option<usize>,
    progress: &dyn Fn(u64),
) -> Result<Extraction, Fail> {
    file.seek(SeekFrom::Start(0))?;
    let mut scan = Scan::new(file, file_len);

    let head = scan.header()?;
    if head.id != EBML_HEADER_ID {
        return whole("no EBML header");
    }
    let container = match ebml::elements(&scan.payload(&head, MAX_HEADER)?)?
        .iter()
        .find(|e| e.id == DOC_TYPE)
    {
        Some(e) if e.payload == b"webm" => Container::Webm,
        Some(e) if e.payload == b"matroska" => Container::Matroska,
        _ => return whole("neither a webm nor a matroska DocType"),
    };
    let ebml_header = range(&head);

    let segment = loop {
        if scan.pos >= file_len {
            return whole("no Segment");
        }
        let h = scan.header()?;
        if h.id == SEGMENT {
            break h;
        }
        match h.end() {
            Some(end) => scan.skip_to(end)?,
            None => return whole("an element of unknown size before the Segment"),
        }
    };
    let seg_end = segment.end();
    let limit = seg_end.unwrap_or(file_len);

    let mut info = None;
    let mut chosen: Option<Chosen> = None;
    let (mut chapters, mut tags, mut clusters) = (Vec::new(), Vec::new(), Vec::new());
    let mut pending = None;
    let mut reported = 0;
    while scan.pos < limit || pending.is_some() {
        let h = match pending.take() {
            Some(h) => h,
            None => scan.header()?,
        };
        if seg_end.is_none() && matches!(h.id, EBML_HEADER_ID | SEGMENT) {
            break; // only the first segment is read
        }
        if h.end().is_some_and(|end| end > limit) {
            return whole(format!("element {:#x} overruns the Segment", h.id));
        }
        match h.id {
            CLUSTER => {
                let Some(chosen) = &chosen else {
                    return whole("a Cluster before the Tracks");
                };
                let (cluster, next) = read_cluster(&mut scan, &h, chosen.number, limit)?;
                clusters.extend(cluster);
                pending = next;
            }
            _ if h.size == UNKNOWN => {
                return whole(format!("element {:#x} of unknown size", h.id));
            }
            INFO if info.is_some() => return whole("more than one Info"),
            INFO => info = Some(range(&h)),
            TRACKS if chosen.is_some() => return whole("more than one Tracks"),
            TRACKS => {
                let payload = scan.payload(&h, MAX_HEADER)?;
                chosen = Some(choose(&payload, h.body, track)?);
            }
            CHAPTERS => chapters.push(range(&h)),
            TAGS => tags.push(range(&h)),
            _ => {}
        }
        if let Some(end) = h.end()
            && scan.pos < end
        {
            scan.skip_to(end)?;
        }
        if scan.pos - reported >= PROGRESS_STEP {
            reported = scan.pos;
            progress(scan.pos);
        }
    }
    progress(scan.pos);

    let (Some(info), Some(chosen)) = (info, chosen) else {
        return whole("no Info or no Tracks");
    };
    if clusters.is_empty() {
        return whole("no block of the audio track");
    }
    let tracks_header = header8(TRACKS, chosen.entry.1)?;
    let mut cluster_headers = Vec::with_capacity(clusters.len());
    let mut content = info.1 + tracks_header.len() as u64 + chosen.entry.1;
    content += chapters.iter().chain(&tags).map(|r| r.1).sum::<u64>();
    for c in &clusters {
        let len = c.timecode.1 + c.blocks.iter().map(|b| b.1).sum::<u64>();
        let header = header8(CLUSTER, len)?;
        content += header.len() as u64 + len;
        cluster_headers.push(header);
    }

    let mut pieces = Pieces::default();
    pieces.source(ebml_header.0, ebml_header.1);
    pieces.bytes(header8(SEGMENT, content)?);
    pieces.source(info.0, info.1);
    pieces.bytes(tracks_header);
    pieces.source(chosen.entry.0, chosen.entry.1);
    for r in chapters.iter().chain(&tags) {
        pieces.source(r.0, r.1);
    }
    for (c, header) in clusters.iter().zip(cluster_headers) {
        pieces.bytes(header);
        pieces.source(c.timecode.0, c.timecode.1);
        for b in &c.blocks {
            pieces.source(b.0, b.1);
        }
    }
    Ok(pieces.finish(container))
}

/// Picks the audio track from the `Tracks` payload (which starts at `at` in the file).
fn choose(tracks: &[u8], at: u64, track: Option<usize>) -> Result<Chosen, Fail> {
    let entries: Vec<_> = ebml::elements(tracks)?
        .into_iter()
        .filter(|e| e.id == TRACK_ENTRY)
        .collect();
    let mut audio = Vec::new();
    for e in &entries {
        let fields = ebml::elements(e.payload)?;
        let field = |id| fields.iter().find(|f| f.id == id).map(|f| f.payload);
        if field(TRACK_TYPE).and_then(uint) == Some(2) {
            let Some(number) = field(TRACK_NUMBER).and_then(uint) else {
                return whole("an audio track without a number");
            };
            let codec = field(CODEC_ID).unwrap_or_default();
            audio.push((number, codec, e.start, e.end));
        }
    }
    let (number, codec, start, end) = choose_track(track, &audio, entries.len())?;
    if !(codec == b"A_OPUS" || codec == b"A_VORBIS" || codec.starts_with(b"A_AAC")) {
        return whole(format!("codec {}", String::from_utf8_lossy(codec)));
    }
    Ok(Chosen {
        number,
        entry: (at + start as u64, (end - start) as u64),
    })
}

/// Reads the cluster whose header is `h`: its timecode and blocks of track `number` (`None`
/// when it holds none), and the header that ended it when its size is unknown.
fn read_cluster<R: Read + Seek>(
    scan: &mut Scan<R>,
    h: &Header,
    number: u64,
    limit: u64,
) -> Result<(Option<Cluster>, Option<Header>), Fail> {
    let end = h.end().unwrap_or(limit);
    let mut timecode = None;
    let mut blocks = Vec::new();
    let mut next = None;
    while scan.pos < end {
        let c = scan.header()?;
        if h.size == UNKNOWN && !CLUSTER_CHILDREN.contains(&c.id) {
            next = Some(c);
            break;
        }
        let Some(c_end) = c.end().filter(|&e| e <= end) else {
            return whole(format!("element {:#x} overruns its Cluster", c.id));
        };
        let ours = match c.id {
            TIMECODE => {
                timecode = Some(range(&c));
                false
            }
            SIMPLE_BLOCK => block_track(scan, c_end)? == number,
            BLOCK_GROUP => {
                let mut ours = false;
                while scan.pos < c_end {
                    let b = scan.header()?;
                    let Some(b_end) = b.end().filter(|&e| e <= c_end) else {
                        return whole("an element overruns its BlockGroup");
                    };
                    if b.id == BLOCK {
                        ours |= block_track(scan, b_end)? == number;
                    }
                    scan.skip_to(b_end)?;
                }
                ours
            }
            _ => false,
        };
        if ours {
            blocks.push(range(&c));
        }
        scan.skip_to(c_end)?;
    }
    if blocks.is_empty() {
        return Ok((None, next));
    }
    let Some(timecode) = timecode else {
        return whole("a Cluster without a Timecode");
    };
    Ok((Some(Cluster { timecode, blocks }), next))
}

/// The track number at the start of a block's payload (which ends at `end`).
fn block_track<R: Read + Seek>(scan: &mut Scan<R>, end: u64) -> Result<u64, Fail> {
    let mut first = [0u8];
    if scan.pos >= end {
        return whole("an empty block");
    }
    scan.read(&mut first)?;
    let width = first[0].leading_zeros() as usize + 1;
    if width > 8 || scan.pos + width as u64 - 1 > end {
        return whole("a block's track number is not valid");
    }
    let mut buf = [0u8; 8];
    buf[0] = first[0];
    scan.read(&mut buf[1..width])?;
    Ok(ebml::vint(&buf[..width], false)?.0)
}
