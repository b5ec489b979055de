//! EBML primitives for the Matroska extractor: element IDs and sizes (variable-length
//! integers), read from a buffered sequential scan of the file that knows its position.

use std::io::{BufReader, Read, Seek};

use super::{Fail, whole};

pub(super) const EBML_HEADER_ID: u32 = 0x1A45_DFA3;
/// The marker of an element whose size is unknown (any width of all-ones).
pub(super) const UNKNOWN: u64 = u64::MAX;

/// A sequential reader over the file that tracks its position and never goes past `len`.
pub(super) struct Scan<R: Read + Seek> {
    inner: BufReader<R>,
    pub(super) pos: u64,
    pub(super) len: u64,
}

/// An element header: its ID, where it starts, where its payload starts, and its size
/// ([`UNKNOWN`] when unknown).
#[derive(Debug, Clone, Copy)]
pub(super) struct Header {
    pub(super) id: u32,
    pub(super) start: u64,
    pub(super) body: u64,
    pub(super) size: u64,
}

impl Header {
    /// The end of the element, when its size is known.
    pub(super) fn end(&self) -> Option<u64> {
        (self.size != UNKNOWN).then(|| self.body + self.size)
    }
}

impl<R: Read + Seek> Scan<R> {
    /// A scan from the start of `file` (already positioned there) with a 1 MiB buffer.
    pub(super) fn new(file: R, len: u64) -> Self {
        Scan {
            inner: BufReader::with_capacity(1 << 20, file),
            pos: 0,
            len,
        }
    }

    /// Reads exactly `buf.len()` bytes; reading past the end is a reason to send the file whole.
    pub(super) fn read(&mut self, buf: &mut [u8]) -> Result<(), Fail> {
        if (buf.len() as u64) > self.len - self.pos {
            return whole("an element is cut off by the end of the file");
        }
        self.inner.read_exact(buf)?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn byte(&mut self) -> Result<u8, Fail> {
        let mut b = [0u8];
        self.read(&mut b)?;
        Ok(b[0])
    }

    /// Skips forward to `to` (not past the end of the file).
    pub(super) fn skip_to(&mut self, to: u64) -> Result<(), Fail> {
        if to > self.len || to < self.pos {
            return whole("an element overruns the file");
        }
        let mut left = to - self.pos;
        while left > 0 {
            let step = left.min(i64::MAX as u64);
            self.inner.seek_relative(step as i64)?;
            left -= step;
        }
        self.pos = to;
        Ok(())
    }

    /// Reads the payload of `h` (known size, at most `cap` bytes).
    pub(super) fn payload(&mut self, h: &Header, cap: u64) -> Result<Vec<u8>, Fail> {
        if h.size == UNKNOWN || h.size > cap || h.size > self.len - self.pos {
            return whole(format!(
                "element {:#x} is too large or of unknown size",
                h.id
            ));
        }
        let mut buf = vec![0u8; h.size as usize];
        self.read(&mut buf)?;
        Ok(buf)
    }

    /// Reads an element header at the current position.
    pub(super) fn header(&mut self) -> Result<Header, Fail> {
        let start = self.pos;
        let first = self.byte()?;
        let width = first.leading_zeros() as usize + 1;
        if width > 4 {
            return whole("an element ID is not valid");
        }
        let mut id = u32::from(first);
        for _ in 1..width {
            id = id << 8 | u32::from(self.byte()?);
        }
        let first = self.byte()?;
        let width = first.leading_zeros() as usize + 1;
        if width > 8 {
            return whole("an element size is not valid");
        }
        let mut size = u64::from(first) & (0xFF >> width);
        let mut all_ones = size == (0xFF >> width);
        for _ in 1..width {
            let b = self.byte()?;
            all_ones &= b == 0xFF;
            size = size << 8 | u64::from(b);
        }
        let body = self.pos;
        let size = if all_ones { UNKNOWN } else { size };
        if size != UNKNOWN && size > self.len - body {
            return whole(format!("element {id:#x} overruns the file"));
        }
        Ok(Header {
            id,
            start,
            body,
            size,
        })
    }
}

/// An element parsed from a buffer: its ID, payload, and where it starts and ends in the buffer.
pub(super) struct Element<'a> {
    pub(super) id: u32,
    pub(super) payload: &'a [u8],
    pub(super) start: usize,
    pub(super) end: usize,
}

/// Parses the elements of a buffer (a master element's payload).
pub(super) fn elements(mut buf: &[u8]) -> Result<Vec<Element<'_>>, Fail> {
    let total = buf.len();
    let mut out = Vec::new();
    while !buf.is_empty() {
        let at = total - buf.len();
        let (id, rest) = vint(buf, true)?;
        let (size, rest) = vint(rest, false)?;
        let header = buf.len() - rest.len();
        if size > rest.len() as u64 {
            return whole(format!("element {id:#x} overruns its parent"));
        }
        let size = size as usize;
        out.push(Element {
            id: id as u32,
            payload: &rest[..size],
            start: at,
            end: at + header + size,
        });
        buf = &buf[header + size..];
    }
    Ok(out)
}

/// A variable-length integer at the start of `buf`: an ID (marker kept, at most 4 bytes) or a
/// size (marker removed); and the bytes after it.
pub(super) fn vint(buf: &[u8], is_id: bool) -> Result<(u64, &[u8]), Fail> {
    match read_vint(buf, is_id) {
        Some(read) => Ok(read),
        None if buf.is_empty() => whole("an element header is cut off"),
        None => whole("an element header is not valid"),
    }
}

/// [`vint`] without the reason: `None` when `buf` holds no valid one (also read by the tag
/// reader, `meta/mkv.rs`).
pub(crate) fn read_vint(buf: &[u8], is_id: bool) -> Option<(u64, &[u8])> {
    let first = *buf.first()?;
    let width = first.leading_zeros() as usize + 1;
    if width > if is_id { 4 } else { 8 } || buf.len() < width {
        return None;
    }
    let mut value = if is_id {
        u64::from(first)
    } else {
        u64::from(first) & (0xFF >> width)
    };
    for &b in &buf[1..width] {
        value = value << 8 | u64::from(b);
    }
    Some((value, &buf[width..]))
}

/// An unsigned integer element's value.
pub(crate) fn uint(payload: &[u8]) -> Option<u64> {
    (payload.len() <= 8).then(|| payload.iter().fold(0u64, |v, &b| v << 8 | u64::from(b)))
}

/// An element header with an 8-byte size (`0x01` + 7 bytes), as every new element is written.
pub(super) fn header8(id: u32, size: u64) -> Result<Vec<u8>, Fail> {
    if size >= (1 << 56) - 1 {
        return whole("an element is too large for an 8-byte size");
    }
    let mut out: Vec<u8> = id
        .to_be_bytes()
        .into_iter()
        .skip_while(|&b| b == 0)
        .collect();
    out.push(0x01);
    out.extend_from_slice(&size.to_be_bytes()[1..]);
    Ok(out)
}
