//! Runs the mailer conformance suite on every adapter: memory, the outbox folder, and SMTP
//! against the capture server of `mp3converter-testkit`. Each test gets a fresh adapter.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use mail_parser::MessageParser;
use mp3converter_mail::conformance::{self, Delivered, Inbox};
use mp3converter_mail::{MailBackend, MailConfig, Mailer, MemoryMailer, OutboxMailer, build};
use mp3converter_testkit::smtp::{Mode, SmtpCapture};
use secrecy::SecretString;

const FROM: &str = "mp3converter <noreply@example.com>";

/// Reads a raw RFC 5322 message back.
fn parse(raw: &[u8]) -> Delivered {
    let parsed = MessageParser::default()
        .parse(raw)
        .expect("parseable email");
    Delivered {
        message_id: parsed.message_id().unwrap_or_default().to_owned(),
        subject: parsed.subject().unwrap_or_default().to_owned(),
        text: parsed
            .body_text(0)
            .unwrap_or_default()
            .replace("\r\n", "\n")
            .trim_end()
            .to_owned(),
    }
}

struct Memory(MemoryMailer);

#[async_trait]
impl Inbox for Memory {
    async fn delivered(&self) -> Vec<Delivered> {
        (self.0.sent().iter())
            .map(|e| Delivered {
                message_id: e.message_id.clone(),
                subject: e.subject.clone(),
                text: e.text.replace("\r\n", "\n").trim_end().to_owned(),
            })
            .collect()
    }
}

struct Folder(PathBuf);

#[async_trait]
impl Inbox for Folder {
    async fn delivered(&self) -> Vec<Delivered> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.0)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| parse(&std::fs::read(p).unwrap()))
            .collect()
    }
}

struct Capture(SmtpCapture);

#[async_trait]
impl Inbox for Capture {
    async fn delivered(&self) -> Vec<Delivered> {
        self.0.messages().iter().map(|m| parse(&m.data)).collect()
    }
}

macro_rules! suite {
    ($adapter:ident, $open:expr, [$($check:ident),*]) => {
        mod $adapter {
            use super::*;
            $(
                #[tokio::test]
                async fn $check() {
                    let (mailer, inbox, _keep) = $open;
                    conformance::$check(&*mailer, &inbox).await;
                }
            )*
        }
    };
}

async fn memory() -> (Arc<dyn Mailer>, Memory, ()) {
    let mailer = MemoryMailer::new(FROM).unwrap();
    (Arc::new(mailer.clone()), Memory(mailer), ())
}

async fn outbox() -> (Arc<dyn Mailer>, Folder, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mailer = OutboxMailer::open(dir.path(), FROM).unwrap();
    (Arc::new(mailer), Folder(dir.path().to_owned()), dir)
}

async fn smtp() -> (Arc<dyn Mailer>, Capture, ()) {
    let server = SmtpCapture::start(Mode::Accept).await;
    let mailer = build(&MailConfig {
        backend: MailBackend::Smtp,
        from: FROM.into(),
        url: Some(SecretString::from(format!(
            "smtp://{}?tls=none",
            server.addr
        ))),
        timeout_secs: 2,
        ..MailConfig::default()
    })
    .unwrap();
    (mailer, Capture(server), ())
}

macro_rules! every_adapter {
    ($($t:tt)*) => {
        suite!(memory, memory().await, $($t)*);
        suite!(outbox, outbox().await, $($t)*);
        suite!(smtp, smtp().await, $($t)*);
    };
}

mp3converter_mail::mail_checks!(every_adapter);

/// The whole suite on one SMTP server, as `run_all` promises.
#[tokio::test]
async fn whole_suite_passes_on_one_smtp_server() {
    let (mailer, inbox, ()) = smtp().await;
    conformance::run_all(&*mailer, &inbox).await;
}
