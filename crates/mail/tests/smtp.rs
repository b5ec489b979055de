//! The smtp adapter against a real SMTP conversation over TCP (the capture server in
//! `mp3converter-testkit`), including how failures are classified.

use std::time::Duration;

use mail_parser::MessageParser;
use mp3converter_mail::{Email, MailBackend, MailConfig, MailError, build};
use mp3converter_testkit::smtp::{Mode, SmtpCapture};
use secrecy::SecretString;

fn config(url: String) -> MailConfig {
    MailConfig {
        backend: MailBackend::Smtp,
        from: "mp3converter <noreply@example.com>".into(),
        url: Some(SecretString::from(url)),
        timeout_secs: 2,
        ..MailConfig::default()
    }
}

/// Body text with line ends normalised (messages use CRLF on the wire).
fn lines(text: &str) -> Vec<&str> {
    text.trim_end().lines().collect()
}

fn email() -> Email {
    Email {
        to: "Jane Doe <jane@example.com>".into(),
        subject: "Ihr MP3 ist fertig — „Größe“ ✓".into(),
        text: "Your file clip.mp4 was converted.\n.\nA line that starts with a dot.\n".into(),
        html: Some("<p>Your file <b>clip.mp4</b> was converted.</p>".into()),
        message_id: "job-42@mp3converter".into(),
        headers: vec![("X-Job-Id".into(), "42".into())],
    }
}

/// A port on which nothing listens: bind one, remember it, close it.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn smtp_mailer_delivers_multipart_email_with_login_over_real_smtp() {
    let server = SmtpCapture::start(Mode::Accept).await;
    let url = format!("smtp://alice:s3cr%40t@{}?tls=none", server.addr);
    let mailer = build(&config(url)).unwrap();

    mailer.health_check().await.unwrap();
    mailer.send(&email()).await.unwrap();

    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let captured = &messages[0];
    assert_eq!(captured.mail_from, "noreply@example.com");
    assert_eq!(captured.rcpt_to, vec!["jane@example.com".to_owned()]);
    assert_eq!(
        captured.auth,
        Some(("alice".to_owned(), "s3cr@t".to_owned())),
        "the percent-encoded password from the URL is used to log in"
    );
    let parsed = MessageParser::default().parse(&captured.data).unwrap();
    assert_eq!(parsed.subject(), Some(email().subject.as_str()));
    assert_eq!(parsed.message_id(), Some("job-42@mp3converter"));
    assert_eq!(lines(&parsed.body_text(0).unwrap()), lines(&email().text));
    assert_eq!(
        lines(&parsed.body_html(0).unwrap()),
        lines(&email().html.unwrap())
    );
    assert_eq!(parsed.header_raw("X-Job-Id").map(str::trim), Some("42"));
}

#[tokio::test]
async fn rejected_recipient_is_a_permanent_error() {
    let server = SmtpCapture::start(Mode::RejectRecipient).await;
    let mailer = build(&config(format!("smtp://{}?tls=none", server.addr))).unwrap();
    let err = mailer.send(&email()).await.unwrap_err();
    assert!(matches!(err, MailError::Rejected(_)), "{err:?}");
    assert!(err.is_permanent());
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn deferred_recipient_is_a_retryable_error() {
    let server = SmtpCapture::start(Mode::DeferRecipient).await;
    let mailer = build(&config(format!("smtp://{}?tls=none", server.addr))).unwrap();
    let err = mailer.send(&email()).await.unwrap_err();
    assert!(matches!(err, MailError::Deferred(_)), "{err:?}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn refused_connection_is_a_retryable_error() {
    let mailer = build(&config(format!(
        "smtp://127.0.0.1:{}?tls=none",
        closed_port()
    )))
    .unwrap();
    let err = mailer.send(&email()).await.unwrap_err();
    assert!(matches!(err, MailError::Unavailable(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(mailer.health_check().await.unwrap_err().is_retryable());
}

/// A server that closes each connection at once (restarting, or a proxy with no backend): lettre
/// calls it an incomplete response, which must not dead-letter the email.
#[tokio::test]
async fn connection_closed_before_the_greeting_is_a_retryable_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            drop(stream);
        }
    });
    let mailer = build(&config(format!("smtp://{addr}?tls=none"))).unwrap();
    let err = mailer.send(&email()).await.unwrap_err();
    assert!(
        matches!(err, MailError::Unavailable(_)) && err.is_retryable(),
        "{err:?}"
    );
}

#[tokio::test]
async fn silent_server_times_out_as_a_retryable_error() {
    let server = SmtpCapture::start(Mode::Silent).await;
    let mut config = config(format!("smtp://{}?tls=none", server.addr));
    config.timeout_secs = 1;
    let mailer = build(&config).unwrap();
    // A watchdog far above the 1 s timeout, so a missing timeout fails instead of hanging.
    let sent = tokio::time::timeout(Duration::from_secs(20), mailer.send(&email())).await;
    let err = sent.expect("send must give up by itself").unwrap_err();
    assert!(
        matches!(err, MailError::Unavailable(_)) && err.is_retryable(),
        "{err:?}"
    );
    let checked = tokio::time::timeout(Duration::from_secs(20), mailer.health_check()).await;
    assert!(
        checked
            .expect("health_check must give up by itself")
            .unwrap_err()
            .is_retryable()
    );
}

#[tokio::test]
async fn errors_and_debug_output_never_contain_the_password() {
    let mailer = build(&config(format!(
        "smtp://alice:Sup3rS3cret@127.0.0.1:{}?tls=none",
        closed_port()
    )))
    .unwrap();
    let err = mailer.send(&email()).await.unwrap_err();
    let shown = format!(
        "{mailer:?} {err} {err:?} {}",
        mp3converter_core::error_chain(&err)
    );
    assert!(!shown.contains("Sup3rS3cret"), "{shown}");
}
