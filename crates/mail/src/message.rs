//! Turns an [`Email`] into an RFC 5322 message with `lettre`'s builder (shared by all adapters,
//! so an email that one adapter refuses is refused by all of them).
//!
//! The text part is sent as written (`7bit`, or `8bit` when it is not ASCII), not
//! quoted-printable: lettre would choose quoted-printable for any line past 76 characters, which
//! splits URLs with soft line breaks and turns `=` into `=3D` — `cat data/outbox/*.eml` then
//! shows links that no longer work. Only a line longer than SMTP allows (998 bytes) falls back
//! to lettre's choice. The HTML part keeps lettre's encoding (mail clients decode it).

use lettre::Message;
use lettre::message::header::{ContentTransferEncoding, ContentType, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};

use crate::{Email, MailError};

/// Headers that the builder sets itself and that a custom header must not replace.
const RESERVED_HEADERS: &[&str] = &[
    "bcc",
    "cc",
    "content-transfer-encoding",
    "content-type",
    "date",
    "from",
    "message-id",
    "mime-version",
    "sender",
    "subject",
    "to",
];

/// Parses an address like `jane@example.com` or `Jane Doe <jane@example.com>`.
pub(crate) fn parse_mailbox(address: &str) -> Result<Mailbox, MailError> {
    address.parse().map_err(|source| MailError::InvalidAddress {
        address: address.to_owned(),
        source,
    })
}

/// Builds the message: `text/plain`, or `multipart/alternative` (text then HTML) when the
/// email has an HTML body. Headers are RFC 2047-encoded where needed.
pub(crate) fn build(from: &Mailbox, email: &Email) -> Result<Message, MailError> {
    let to = parse_mailbox(&email.to)?;
    check_message_id(&email.message_id)?;
    let mut builder = Message::builder()
        .from(from.clone())
        .to(to)
        .subject(email.subject.clone())
        .message_id(Some(format!("<{}>", email.message_id)));
    for (name, value) in &email.headers {
        if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
            return Err(MailError::InvalidMessage(format!(
                "header {name:?} is set by the mailer and cannot be overridden"
            )));
        }
        if value.contains(['\r', '\n']) {
            return Err(MailError::InvalidMessage(format!(
                "header {name:?} contains a line break"
            )));
        }
        let name = HeaderName::new_from_ascii(name.clone())
            .map_err(|_| MailError::InvalidMessage(format!("invalid header name {name:?}")))?;
        builder = builder.raw_header(HeaderValue::new(name, value.clone()));
    }
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(text_body(&email.text));
    let built = match &email.html {
        Some(html) => builder.multipart(
            MultiPart::alternative()
                .singlepart(text)
                .singlepart(SinglePart::html(html.clone())),
        ),
        None => builder.singlepart(text),
    };
    built.map_err(|e| MailError::InvalidMessage(e.to_string()))
}

/// Longest line SMTP allows, without its CRLF (RFC 5322 section 2.1.1).
const MAX_LINE: usize = 998;

/// The text as a body with CRLF line ends and no transfer encoding applied: `7bit` for ASCII,
/// `8bit` otherwise. Text that cannot travel so (a line over [`MAX_LINE`] bytes, a bare CR or a
/// NUL) gets lettre's own choice instead.
fn text_body(text: &str) -> Body {
    let fits = !text.contains(['\r', '\0']) && text.split('\n').all(|l| l.len() <= MAX_LINE);
    if !fits {
        return Body::new(text.to_owned());
    }
    let encoding = if text.is_ascii() {
        ContentTransferEncoding::SevenBit
    } else {
        ContentTransferEncoding::EightBit
    };
    Body::dangerous_pre_encoded(text.replace('\n', "\r\n").into_bytes(), encoding)
}

/// A message id is `left@right` without brackets, whitespace or control characters.
fn check_message_id(id: &str) -> Result<(), MailError> {
    let ok = id
        .split_once('@')
        .is_some_and(|(l, r)| !l.is_empty() && !r.is_empty())
        && id
            .chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '<' | '>' | '"' | '\\'));
    if ok {
        Ok(())
    } else {
        Err(MailError::InvalidMessage(format!(
            "message id {id:?} is not of the form left@right"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email {
            to: "Jane <jane@example.com>".into(),
            subject: "Your MP3 is ready".into(),
            text: "Hello".into(),
            html: None,
            message_id: "job-1@mp3converter".into(),
            headers: vec![("X-Job-Id".into(), "1".into())],
        }
    }

    fn sender() -> Mailbox {
        parse_mailbox("mp3converter <noreply@example.com>").unwrap()
    }

    #[test]
    fn plain_email_has_the_headers_and_custom_header() {
        let raw = String::from_utf8(build(&sender(), &email()).unwrap().formatted()).unwrap();
        assert!(raw.contains("Message-ID: <job-1@mp3converter>"), "{raw}");
        assert!(raw.contains("X-Job-Id: 1"), "{raw}");
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
    }

    #[test]
    fn long_lines_and_equals_signs_are_sent_as_written() {
        let url = format!(
            "https://mp3.example.com/download?fid=audio/{}.mp3",
            "x".repeat(80)
        );
        let e = Email {
            text: format!("Hello Zoë,\n  {url}\n"),
            html: Some("<p>Hi</p>".into()),
            ..email()
        };
        let raw = String::from_utf8(build(&sender(), &e).unwrap().formatted()).unwrap();
        assert!(raw.contains(&format!("\r\n  {url}\r\n")), "{raw}");
        assert!(!raw.contains("=3D"), "{raw}");
        assert!(raw.contains("Content-Transfer-Encoding: 8bit"), "{raw}");
        assert!(raw.contains("Content-Type: text/html"), "{raw}");
        let ascii = Email {
            text: format!("Hello,\n{url}\n"),
            ..email()
        };
        let raw = String::from_utf8(build(&sender(), &ascii).unwrap().formatted()).unwrap();
        assert!(raw.contains("Content-Transfer-Encoding: 7bit"), "{raw}");
        assert!(raw.contains(&format!("\r\n{url}\r\n")), "{raw}");
    }

    #[test]
    fn a_line_longer_than_smtp_allows_is_still_encoded() {
        let e = Email {
            text: "y".repeat(MAX_LINE + 1),
            ..email()
        };
        let raw = String::from_utf8(build(&sender(), &e).unwrap().formatted()).unwrap();
        assert!(raw.lines().all(|l| l.len() <= MAX_LINE), "{raw}");
    }

    #[test]
    fn bad_recipient_is_an_invalid_address() {
        let bad = Email {
            to: "not an address".into(),
            ..email()
        };
        let err = build(&sender(), &bad).unwrap_err();
        assert!(matches!(err, MailError::InvalidAddress { .. }) && err.is_permanent());
    }

    #[test]
    fn reserved_headers_and_header_injection_are_refused() {
        for headers in [
            vec![("From".to_owned(), "evil@example.com".to_owned())],
            vec![("X-Note".to_owned(), "a\r\nBcc: evil@example.com".to_owned())],
            vec![("Bad Name".to_owned(), "x".to_owned())],
        ] {
            let e = Email { headers, ..email() };
            assert!(matches!(
                build(&sender(), &e),
                Err(MailError::InvalidMessage(_))
            ));
        }
    }

    #[test]
    fn message_ids_must_be_left_at_right() {
        for id in ["", "no-at-sign", "<a@b>", "a b@c", "@b", "a@"] {
            let e = Email {
                message_id: id.into(),
                ..email()
            };
            assert!(build(&sender(), &e).is_err(), "{id:?} accepted");
        }
    }
}
