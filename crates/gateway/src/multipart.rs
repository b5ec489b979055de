//! Limits on a multipart body before the parser sees it, so that no request can make the
//! gateway buffer more than a few KiB of anything but the file it streams to storage.
//!
//! The multipart parser (multer, behind axum's `Multipart`) buffers a part's whole header
//! section while it looks for its end, and a chunked body (no `Content-Length`) is not bounded
//! by anything: a 200 MiB "header" was held in memory. [`GuardedBody`] wraps the request body
//! and scans it as it passes (never holding more than a boundary's length of it):
//!
//! * the preamble and each part's header section may be at most [`MAX_HEADER_BYTES`];
//! * the whole body may be at most `max_upload_bytes` plus an allowance for framing and fields,
//!   with or without `Content-Length`.
//!
//! A tripped limit ends the body with an error and records the refusal in a shared
//! [`Refusal`], which the upload pipeline turns into the answer (400
//! `multipart-headers-too-large`, 413 `too-large`) whatever the parser made of the error.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::StatusCode;
use bytes::Bytes;
use futures_util::Stream;
use memchr::memmem;

use crate::error::{ApiError, too_large};

/// Most bytes of one part's header section (from its boundary line to the blank line), and of
/// the preamble before the first boundary.
pub(crate) const MAX_HEADER_BYTES: usize = 8 * 1024;

/// Why the body was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tripped {
    Headers,
    TooLarge(u64),
}

/// The refusal a [`GuardedBody`] recorded, shared with the handler. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub(crate) struct Refusal(Arc<Mutex<Option<Tripped>>>);

impl Refusal {
    fn set(&self, why: Tripped) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(why);
    }

    /// The answer for a tripped limit, if one was.
    pub(crate) fn error(&self) -> Option<ApiError> {
        let tripped = *self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tripped.map(|t| match t {
            Tripped::Headers => ApiError::new(
                StatusCode::BAD_REQUEST,
                "multipart-headers-too-large",
                format!("a form part's headers are larger than {MAX_HEADER_BYTES} bytes"),
            ),
            Tripped::TooLarge(limit) => too_large(limit),
        })
    }
}

/// The error the guarded body ends with (the parser wraps it; [`Refusal`] says what it was).
#[derive(Debug, thiserror::Error)]
#[error("the form was refused: {0:?}")]
struct LimitError(Tripped);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first boundary; looking for `--boundary`.
    Preamble,
    /// After a boundary; looking for the blank line that ends the part's headers.
    Headers,
    /// In a part's content; looking for `\r\n--boundary`.
    Content,
}

/// The patterns and position of the scan.
#[derive(Debug)]
struct Scanner {
    /// `\r\n--boundary`; the preamble state looks for it without the leading CRLF.
    delimiter: Vec<u8>,
    state: State,
    /// Bytes seen in the current preamble or header section.
    in_state: usize,
    /// The last bytes of the previous chunk (shorter than the pattern), for matches that
    /// straddle two chunks.
    tail: Vec<u8>,
}

const BLANK_LINE: &[u8] = b"\r\n\r\n";

impl Scanner {
    fn new(boundary: &str) -> Self {
        Scanner {
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            state: State::Preamble,
            in_state: 0,
            tail: Vec::new(),
        }
    }

    fn pattern(&self) -> &[u8] {
        match self.state {
            State::Preamble => &self.delimiter[2..],
            State::Headers => BLANK_LINE,
            State::Content => &self.delimiter,
        }
    }

    /// Scans one chunk; `Err` when a preamble or header section passes [`MAX_HEADER_BYTES`].
    fn scan(&mut self, mut chunk: &[u8]) -> Result<(), Tripped> {
        while !chunk.is_empty() {
            let pattern = self.pattern().to_vec();
            let end = find_across(&self.tail, chunk, &pattern);
            let consumed = end.unwrap_or(chunk.len());
            if self.state != State::Content {
                self.in_state += consumed;
                if self.in_state > MAX_HEADER_BYTES {
                    return Err(Tripped::Headers);
                }
            }
            match end {
                Some(end) => {
                    self.state = match self.state {
                        State::Preamble | State::Content => State::Headers,
                        State::Headers => State::Content,
                    };
                    self.in_state = 0;
                    self.tail.clear();
                    chunk = &chunk[end..];
                }
                None => {
                    keep_tail(&mut self.tail, chunk, pattern.len() - 1);
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// Where in `chunk` the first `pattern` ends, counting one that starts in `tail` (the end of
/// the previous chunk).
fn find_across(tail: &[u8], chunk: &[u8], pattern: &[u8]) -> Option<usize> {
    if !tail.is_empty() {
        let head = &chunk[..chunk.len().min(pattern.len() - 1)];
        let joined = [tail, head].concat();
        if let Some(i) = memmem::find(&joined, pattern)
            && i < tail.len()
        {
            return Some(i + pattern.len() - tail.len());
        }
    }
    memmem::find(chunk, pattern).map(|i| i + pattern.len())
}

/// Keeps the last `n` bytes of `tail` + `chunk` in `tail`.
fn keep_tail(tail: &mut Vec<u8>, chunk: &[u8], n: usize) {
    if chunk.len() >= n {
        tail.clear();
        tail.extend_from_slice(&chunk[chunk.len() - n..]);
    } else {
        tail.extend_from_slice(chunk);
        let excess = tail.len().saturating_sub(n);
        tail.drain(..excess);
    }
}

/// A request body that ends with an error once a limit is passed.
pub(crate) struct GuardedBody {
    inner: axum::body::BodyDataStream,
    scanner: Scanner,
    seen: u64,
    max_bytes: u64,
    limit_shown: u64,
    refusal: Refusal,
    done: bool,
}

impl GuardedBody {
    /// `body` (a multipart form with `boundary`) bounded to `max_bytes` in all, of which
    /// `limit_shown` is the limit named in a 413 (the configured `max_upload_bytes`).
    pub(crate) fn wrap(
        body: Body,
        boundary: &str,
        max_bytes: u64,
        limit_shown: u64,
        refusal: Refusal,
    ) -> Body {
        Body::from_stream(GuardedBody {
            inner: body.into_data_stream(),
            scanner: Scanner::new(boundary),
            seen: 0,
            max_bytes,
            limit_shown,
            refusal,
            done: false,
        })
    }

    fn trip(&mut self, why: Tripped) -> Poll<Option<Result<Bytes, axum::Error>>> {
        self.done = true;
        self.refusal.set(why);
        Poll::Ready(Some(Err(axum::Error::new(LimitError(why)))))
    }
}

impl Stream for GuardedBody {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                this.seen += chunk.len() as u64;
                if this.seen > this.max_bytes {
                    return this.trip(Tripped::TooLarge(this.limit_shown));
                }
                if let Err(why) = this.scanner.scan(&chunk) {
                    return this.trip(why);
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_in_pieces(body: &[u8], piece: usize) -> Result<(), Tripped> {
        let mut s = Scanner::new("XyZ");
        body.chunks(piece).try_for_each(|c| s.scan(c))
    }

    fn form(header_filler: usize, content: usize) -> Vec<u8> {
        let mut body = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n".to_vec();
        body.extend(std::iter::repeat_n(b'h', header_filler));
        body.extend_from_slice(b"\r\n\r\n");
        body.extend(std::iter::repeat_n(b'c', content));
        body.extend_from_slice(b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"b\"\r\n\r\nv");
        body.extend_from_slice(b"\r\n--XyZ--\r\n");
        body
    }

    #[test]
    fn normal_forms_pass_whatever_the_chunking() {
        let body = form(100, 100_000);
        for piece in [1, 2, 3, 7, 64, 4096, body.len()] {
            assert_eq!(scan_in_pieces(&body, piece), Ok(()), "pieces of {piece}");
        }
    }

    #[test]
    fn a_long_header_section_trips_whatever_the_chunking() {
        let body = form(MAX_HEADER_BYTES, 10);
        for piece in [1, 5, 4096, body.len()] {
            assert_eq!(scan_in_pieces(&body, piece), Err(Tripped::Headers));
        }
        // Content is not a header: megabytes of it pass.
        assert_eq!(scan_in_pieces(&form(0, 3 * 1024 * 1024), 8192), Ok(()));
        // Nor may the preamble grow without end.
        let preamble = vec![b'p'; MAX_HEADER_BYTES + 1];
        assert_eq!(scan_in_pieces(&preamble, 1000), Err(Tripped::Headers));
    }

    #[test]
    fn a_second_part_header_is_counted_from_its_own_boundary() {
        let first = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nc\r\n--XyZ\r\n";
        let mut body = first.to_vec();
        body.extend(std::iter::repeat_n(b'h', MAX_HEADER_BYTES - 100));
        assert_eq!(scan_in_pieces(&body, 333), Ok(()), "under the limit");
        body.extend(std::iter::repeat_n(b'h', 200));
        assert_eq!(scan_in_pieces(&body, 333), Err(Tripped::Headers));
    }
}
