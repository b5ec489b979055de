//! The mailer conformance suite: what every [`Mailer`] adapter must do (the port's contract),
//! run by each adapter's tests through [`mail_checks!`](crate::mail_checks). A check sees what
//! was delivered through an [`Inbox`] the test provides (the memory mailer's record, the outbox
//! folder, an SMTP capture server). Every check uses message ids of its own, so checks may
//! share one adapter and one inbox.

use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

use crate::{Email, Mailer};

/// One delivered email, as a test's inbox reads it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The `Message-ID`, without angle brackets.
    pub message_id: String,
    /// The decoded subject.
    pub subject: String,
    /// The decoded plain-text body, line ends normalised to `\n`, trailing space trimmed.
    pub text: String,
}

/// Where a test reads back what an adapter delivered.
#[async_trait]
pub trait Inbox: Send + Sync {
    /// Everything delivered so far, oldest first.
    async fn delivered(&self) -> Vec<Delivered>;
}

/// The suite's one list of checks: calls `$callback! { $($arg,)* [check, ...] }`; each check
/// is `async fn(&dyn Mailer, &dyn Inbox)`. Adapter tests pass a macro that turns the names into
/// tests, so a new check is added here only.
#[macro_export]
macro_rules! mail_checks {
    ($callback:ident $(, $arg:tt)*) => {
        $callback! {
            $($arg,)*
            [
                healthy_mailer_passes_its_health_check,
                sent_email_is_delivered_once_with_its_subject_and_body,
                repeated_send_is_delivered_again,
                invalid_recipient_is_permanent_and_delivers_nothing,
                invalid_message_id_is_permanent_and_delivers_nothing,
                reserved_or_multi_line_header_is_permanent_and_delivers_nothing
            ]
        }
    };
}

macro_rules! define_run_all {
    ([$($check:ident),*]) => {
        /// Runs every check on one adapter and inbox.
        pub async fn run_all(mailer: &dyn Mailer, inbox: &dyn Inbox) {
            $($check(mailer, inbox).await;)*
        }
    };
}

crate::mail_checks!(define_run_all);

/// An email with a message id no other check uses.
pub fn unique_email(label: &str) -> Email {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    Email {
        to: "Jane Doe <jane@example.com>".into(),
        subject: format!("Your MP3 is ready — {label} ✓"),
        text: format!("Your file {label}.mp4 was converted.\n.\nA line that starts with a dot.\n"),
        html: Some(format!(
            "<p>Your file <b>{label}.mp4</b> was converted.</p>"
        )),
        message_id: format!("{label}-{nanos}@mp3converter"),
        headers: vec![("X-Job-Id".into(), "42".into())],
    }
}

async fn delivered_with(inbox: &dyn Inbox, message_id: &str) -> Vec<Delivered> {
    let mut found = inbox.delivered().await;
    found.retain(|d| d.message_id == message_id);
    found
}

/// A ready adapter says so.
pub async fn healthy_mailer_passes_its_health_check(mailer: &dyn Mailer, _inbox: &dyn Inbox) {
    mailer.health_check().await.expect("health check");
}

/// `send` delivers the email once, subject and text intact.
pub async fn sent_email_is_delivered_once_with_its_subject_and_body(
    mailer: &dyn Mailer,
    inbox: &dyn Inbox,
) {
    let email = unique_email("delivered");
    mailer.send(&email).await.expect("send");
    let found = delivered_with(inbox, &email.message_id).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].subject, email.subject);
    assert_eq!(
        found[0].text.trim_end(),
        email.text.replace("\r\n", "\n").trim_end()
    );
}

/// The mailer does not deduplicate: the caller decides what is sent once.
pub async fn repeated_send_is_delivered_again(mailer: &dyn Mailer, inbox: &dyn Inbox) {
    let email = unique_email("repeated");
    mailer.send(&email).await.expect("first send");
    mailer.send(&email).await.expect("second send");
    assert_eq!(delivered_with(inbox, &email.message_id).await.len(), 2);
}

async fn refused(mailer: &dyn Mailer, inbox: &dyn Inbox, email: Email, what: &str) {
    let err = mailer.send(&email).await.expect_err(what);
    assert!(err.is_permanent() && !err.is_retryable(), "{what}: {err:?}");
    assert!(
        delivered_with(inbox, &email.message_id).await.is_empty(),
        "{what}: nothing is delivered"
    );
}

/// A recipient that is not an address fails at once, for good.
pub async fn invalid_recipient_is_permanent_and_delivers_nothing(
    mailer: &dyn Mailer,
    inbox: &dyn Inbox,
) {
    let mut email = unique_email("bad-recipient");
    email.to = "not an address".into();
    refused(mailer, inbox, email, "invalid recipient").await;
}

/// A message id that is not `left@right` fails at once, for good.
pub async fn invalid_message_id_is_permanent_and_delivers_nothing(
    mailer: &dyn Mailer,
    inbox: &dyn Inbox,
) {
    let mut email = unique_email("bad-id");
    email.message_id = "no at sign".into();
    refused(mailer, inbox, email, "invalid message id").await;
}

/// Custom headers cannot override standard ones or smuggle in more lines.
pub async fn reserved_or_multi_line_header_is_permanent_and_delivers_nothing(
    mailer: &dyn Mailer,
    inbox: &dyn Inbox,
) {
    let mut reserved = unique_email("reserved-header");
    reserved.headers = vec![("Subject".into(), "another subject".into())];
    refused(mailer, inbox, reserved, "reserved header").await;
    let mut multi_line = unique_email("multi-line-header");
    multi_line.headers = vec![("X-Note".into(), "one\r\nBcc: eve@example.com".into())];
    refused(mailer, inbox, multi_line, "multi-line header").await;
}
