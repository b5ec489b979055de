//! A small incremental parser of `text/event-stream` (the WHATWG server-sent events format):
//! feed it the body's chunks as they arrive, take the complete events out.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when absent.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// Parser state between chunks.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of an unfinished line.
    pending: Vec<u8>,
    event: Option<String>,
    data: Option<String>,
}

impl SseParser {
    /// Consumes `chunk`; returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(chunk);
        let mut events = Vec::new();
        let mut start = 0;
        while let Some(offset) = self.pending[start..]
            .iter()
            .position(|&b| b == b'\n' || b == b'\r')
        {
            let end = start + offset;
            let next = match self.pending[end] {
                // A CR may be the first half of CRLF: wait for the next byte to know.
                b'\r' if end + 1 == self.pending.len() => break,
                b'\r' if self.pending[end + 1] == b'\n' => end + 2,
                _ => end + 1,
            };
            let line = String::from_utf8_lossy(&self.pending[start..end]).into_owned();
            if let Some(event) = self.line(&line) {
                events.push(event);
            }
            start = next;
        }
        self.pending.drain(..start);
        events
    }

    fn line(&mut self, line: &str) -> Option<SseEvent> {
        if line.is_empty() {
            let event = self.event.take();
            // An event without data is not dispatched.
            return self.data.take().map(|data| SseEvent {
                event: event.unwrap_or_else(|| "message".to_owned()),
                data,
            });
        }
        let (field, value) = match line.split_once(':') {
            Some(("", _)) => return None, // a comment (keep-alive)
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            },
            "event" => self.event = Some(value.to_owned()),
            _ => {} // `id`, `retry` and unknown fields do not matter here
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(data: &str) -> SseEvent {
        SseEvent {
            event: "message".into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let stream = b": keep-alive\n\ndata: {\"a\":1}\n\nevent: resync\ndata:3\n\ndata: x\r\ndata:  y\r\n\r\nid: 7\n\n";
        let expected = vec![
            message("{\"a\":1}"),
            SseEvent {
                event: "resync".into(),
                data: "3".into(),
            },
            message("x\n y"),
        ];
        // Every way of cutting the stream in two gives the same events.
        for cut in 0..=stream.len() {
            let mut parser = SseParser::default();
            let mut events = parser.push(&stream[..cut]);
            events.extend(parser.push(&stream[cut..]));
            assert_eq!(events, expected, "cut at {cut}");
        }
        // And so does one byte at a time.
        let mut parser = SseParser::default();
        let events: Vec<_> = stream.iter().flat_map(|b| parser.push(&[*b])).collect();
        assert_eq!(events, expected);
    }

    #[test]
    fn a_lone_cr_ends_a_line_and_an_unfinished_event_is_held_back() {
        let mut parser = SseParser::default();
        assert_eq!(parser.push(b"data: a\r\rdata: b"), vec![message("a")]);
        assert_eq!(parser.push(b"\n"), vec![]);
        assert_eq!(parser.push(b"\n"), vec![message("b")]);
    }
}
