//! Audio extraction: the audio track of an MP4/MOV or Matroska/WebM file, taken out of its
//! container without decoding, as a list of pieces (new bytes and verbatim ranges of the source)
//! so the caller can stream the small audio-only file without holding it in memory.
//!
//! The layout is specified in `docs/audio-extraction.md` (the web client builds the same bytes).
//! Whatever that document says falls back yields [`Outcome::Whole`] with a reason, never an
//! error: only I/O errors are errors.

pub(crate) mod ebml;
mod mkv;
mod mp4;

use std::io::{self, Read, Seek, SeekFrom, Write};

/// One part of the extracted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Bytes written anew (headers, the rewritten `moov`).
    Bytes(Vec<u8>),
    /// `len` bytes of the source file from `offset`, copied verbatim.
    Source {
        /// Where the range starts in the source file.
        offset: u64,
        /// How many bytes it holds.
        len: u64,
    },
}

impl Piece {
    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Piece::Bytes(bytes) => bytes.len() as u64,
            Piece::Source { len, .. } => *len,
        }
    }

    /// Whether it holds no byte.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The container the extracted file is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// MP4 audio (from MP4, MOV, M4V).
    M4a,
    /// WebM audio (from WebM).
    Webm,
    /// Matroska audio (from Matroska).
    Matroska,
}

impl Container {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Container::M4a => "m4a",
            Container::Webm => "webm",
            Container::Matroska => "mka",
        }
    }
}

/// The extracted audio-only file, as pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    /// The pieces in order; adjacent source ranges are merged.
    pub pieces: Vec<Piece>,
    /// The total length in bytes.
    pub len: u64,
    /// What the pieces make.
    pub container: Container,
}

/// What [`plan`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Only the audio is to be sent.
    Extracted(Extraction),
    /// The file is to be sent whole; the reason is for a log line.
    Whole(String),
}

/// Plans the extraction of audio track `track` (counted among audio tracks from 0; `None`: the
/// only one) from `file` of `file_len` bytes. `progress` is called with the bytes scanned so far.
///
/// MP4 files are read box header by box header plus the `moov`; Matroska files are read through
/// once (block payloads of other tracks are skipped). Errors are I/O errors only.
pub fn plan(
    file: &mut (impl Read + Seek),
    file_len: u64,
    track: Option<usize>,
    progress: &dyn Fn(u64),
) -> io::Result<Outcome> {
    let mut head = [0u8; 12];
    let n = read_up_to(file, 0, &mut head)?;
    let head = &head[..n];
    let result = if head.starts_with(&ebml::EBML_HEADER_ID.to_be_bytes()) {
        mkv::plan(file, file_len, track, progress)
    } else if head.len() >= 8 && mp4::is_top_level_box(&head[4..8]) {
        mp4::plan(file, file_len, track, progress)
    } else {
        Err(Fail::Whole("neither MP4 nor Matroska".to_owned()))
    };
    match result {
        Ok(extraction) => Ok(Outcome::Extracted(extraction)),
        Err(Fail::Whole(reason)) => Ok(Outcome::Whole(reason)),
        // The sizes were all checked against `file_len`: a short read means the file shrank
        // or lied about its length, which the whole upload will meet too.
        Err(Fail::Io(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Ok(Outcome::Whole("the file ended early".to_owned()))
        }
        Err(Fail::Io(e)) => Err(e),
    }
}

impl Extraction {
    /// Writes the extracted file to `out`, reading the source ranges from `source`.
    pub fn write_to(
        &self,
        source: &mut (impl Read + Seek),
        out: &mut impl Write,
    ) -> io::Result<()> {
        write_pieces(&self.pieces, source, out)
    }

    /// The pieces from byte `offset` of the extracted file on (to resume an upload); empty at
    /// or past the end.
    pub fn pieces_from(&self, offset: u64) -> Vec<Piece> {
        let mut start = 0u64;
        let mut rest = Vec::new();
        for piece in &self.pieces {
            let len = piece.len();
            let end = start + len;
            if end > offset {
                let skip = offset.saturating_sub(start);
                rest.push(match piece {
                    Piece::Bytes(bytes) => Piece::Bytes(bytes[skip as usize..].to_vec()),
                    Piece::Source { offset: at, len } => Piece::Source {
                        offset: at + skip,
                        len: len - skip,
                    },
                });
            }
            start = end;
        }
        rest
    }
}

/// Writes `pieces` to `out`, reading the source ranges from `source`.
pub fn write_pieces(
    pieces: &[Piece],
    source: &mut (impl Read + Seek),
    out: &mut impl Write,
) -> io::Result<()> {
    for piece in pieces {
        match piece {
            Piece::Bytes(bytes) => out.write_all(bytes)?,
            Piece::Source { offset, len } => {
                source.seek(SeekFrom::Start(*offset))?;
                let copied = io::copy(&mut (&mut *source).take(*len), out)?;
                if copied != *len {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the source file is shorter than when it was planned",
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Why a plan stopped: fall back to the whole file, or an I/O error.
#[derive(Debug)]
enum Fail {
    Whole(String),
    Io(io::Error),
}

impl From<io::Error> for Fail {
    fn from(e: io::Error) -> Self {
        Fail::Io(e)
    }
}

/// `Err(Fail::Whole(reason))`.
fn whole<T>(reason: impl Into<String>) -> Result<T, Fail> {
    Err(Fail::Whole(reason.into()))
}

/// The chosen one of the file's `audio` tracks: the `track` option (counted among audio tracks),
/// or the only one; `total` is how many tracks of any kind the file has.
fn choose_track<T: Copy>(track: Option<usize>, audio: &[T], total: usize) -> Result<T, Fail> {
    let chosen = match (track, audio) {
        (_, []) => return whole("no audio track"),
        (Some(i), _) => match audio.get(i) {
            Some(&t) => t,
            None => return whole(format!("there is no audio track {i}")),
        },
        (None, [only]) => *only,
        (None, _) => return whole("several audio tracks and none chosen"),
    };
    if total == 1 {
        return whole("audio only: nothing to leave out");
    }
    Ok(chosen)
}

/// The pieces being assembled, merging adjacent source ranges.
#[derive(Debug, Default)]
struct Pieces {
    pieces: Vec<Piece>,
    len: u64,
}

impl Pieces {
    fn bytes(&mut self, bytes: Vec<u8>) {
        self.len += bytes.len() as u64;
        if let Some(Piece::Bytes(last)) = self.pieces.last_mut() {
            last.extend_from_slice(&bytes);
        } else if !bytes.is_empty() {
            self.pieces.push(Piece::Bytes(bytes));
        }
    }

    fn source(&mut self, offset: u64, len: u64) {
        if len == 0 {
            return;
        }
        self.len += len;
        if let Some(Piece::Source {
            offset: at,
            len: last,
        }) = self.pieces.last_mut()
            && *at + *last == offset
        {
            *last += len;
            return;
        }
        self.pieces.push(Piece::Source { offset, len });
    }

    fn finish(self, container: Container) -> Extraction {
        Extraction {
            pieces: self.pieces,
            len: self.len,
            container,
        }
    }
}

/// Reads up to `buf.len()` bytes at `offset`; how many were read (fewer at the end of the file).
fn read_up_to(file: &mut (impl Read + Seek), offset: u64, buf: &mut [u8]) -> io::Result<usize> {
    file.seek(SeekFrom::Start(offset))?;
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
