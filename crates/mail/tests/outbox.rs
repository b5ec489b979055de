//! The outbox adapter writes one parseable `.eml` file per email, atomically.

use mail_parser::MessageParser;
use mp3converter_mail::{Email, MailBackend, MailConfig, Mailer, OutboxMailer, build};

/// Body text with line ends normalised (messages use CRLF on the wire).
fn lines(text: &str) -> Vec<&str> {
    text.trim_end().lines().collect()
}

fn email() -> Email {
    Email {
        to: "Jane Doe <jane@example.com>".into(),
        subject: "Ihr MP3 ist fertig — „Größe“ ✓".into(),
        text: "Hallo Jörg,\nyour file clip.mp4 was converted.\n".into(),
        html: Some("<p>Hallo Jörg, <b>clip.mp4</b> was converted.</p>".into()),
        message_id: "job-42@mp3converter".into(),
        headers: vec![("X-Job-Id".into(), "42".into())],
    }
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn outbox_writes_one_parseable_eml_file_per_send() {
    let dir = tempfile::tempdir().unwrap();
    let config = MailConfig {
        backend: MailBackend::Outbox,
        from: "mp3converter <noreply@example.com>".into(),
        outbox_dir: dir.path().to_owned(),
        ..MailConfig::default()
    };
    let mailer = build(&config).unwrap();
    mailer.health_check().await.unwrap();
    mailer.send(&email()).await.unwrap();

    let names = files(dir.path());
    assert_eq!(
        names.len(),
        1,
        "exactly one file and no temp file: {names:?}"
    );
    assert!(
        names[0].ends_with("Z-job-42_mp3converter.eml"),
        "{}",
        names[0]
    );
    assert!(names[0].starts_with("20"), "{}", names[0]);

    let raw = std::fs::read(dir.path().join(&names[0])).unwrap();
    let head = String::from_utf8_lossy(&raw);
    let subject_line = head.lines().find(|l| l.starts_with("Subject: ")).unwrap();
    assert!(
        subject_line.contains("=?utf-8?"),
        "non-ASCII subject is RFC 2047 encoded: {subject_line}"
    );
    assert!(head.contains("multipart/alternative"), "{head}");
    // Headers are 7-bit (RFC 2047); a non-ASCII text part travels as 8bit, as written, so
    // its links are not cut by quoted-printable soft line breaks.
    let headers_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(raw[..headers_end].is_ascii(), "the headers are 7-bit clean");
    assert!(
        head.contains("Content-Transfer-Encoding: 8bit")
            || head.contains("Content-Transfer-Encoding: 7bit"),
        "{head}"
    );

    let parsed = MessageParser::default().parse(&raw).unwrap();
    assert_eq!(parsed.subject(), Some(email().subject.as_str()));
    assert_eq!(parsed.message_id(), Some("job-42@mp3converter"));
    let from = parsed.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.address(), Some("noreply@example.com"));
    let to = parsed.to().and_then(|a| a.first()).unwrap();
    assert_eq!(
        (to.name(), to.address()),
        (Some("Jane Doe"), Some("jane@example.com"))
    );
    assert!(parsed.date().is_some());
    assert_eq!(lines(&parsed.body_text(0).unwrap()), lines(&email().text));
    assert_eq!(
        lines(&parsed.body_html(0).unwrap()),
        lines(&email().html.unwrap())
    );
    assert_eq!(parsed.header_raw("X-Job-Id").map(str::trim), Some("42"));

    mailer.send(&email()).await.unwrap();
    assert_eq!(files(dir.path()).len(), 2, "a second send is a second file");
}

#[tokio::test]
async fn text_only_email_is_a_single_plain_part() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = OutboxMailer::open(dir.path(), "noreply@example.com").unwrap();
    let plain = Email {
        html: None,
        ..email()
    };
    mailer.send(&plain).await.unwrap();
    let name = &files(dir.path())[0];
    let raw = std::fs::read(dir.path().join(name)).unwrap();
    let parsed = MessageParser::default().parse(&raw).unwrap();
    assert!(!String::from_utf8_lossy(&raw).contains("multipart"));
    assert_eq!(lines(&parsed.body_text(0).unwrap()), lines(&plain.text));
}

#[tokio::test]
async fn invalid_email_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mailer = OutboxMailer::open(dir.path(), "noreply@example.com").unwrap();
    let bad = Email {
        to: "not-an-address".into(),
        ..email()
    };
    assert!(mailer.send(&bad).await.unwrap_err().is_permanent());
    assert!(files(dir.path()).is_empty());
}

#[tokio::test]
async fn outbox_health_check_fails_when_the_directory_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let mailer = OutboxMailer::open(&outbox, "noreply@example.com").unwrap();
    mailer.health_check().await.unwrap();
    std::fs::remove_dir(&outbox).unwrap();
    assert!(mailer.health_check().await.is_err());
}
