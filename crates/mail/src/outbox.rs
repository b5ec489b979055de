//! Outbox adapter: each email becomes one RFC 5322 `.eml` file in a folder (single-node default;
//! open the files with any mail client, or let another tool relay them).
//!
//! Files appear atomically: the message is written and synced to a hidden temp file, then
//! hard-linked under its final name (which never replaces an existing file) and the temp file
//! removed. Names are `<UTC timestamp>-<message id>.eml`, so they sort by time.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use lettre::message::Mailbox;

use crate::{Email, MailError, Mailer, message};

/// Writes emails as `.eml` files into a directory.
#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
    from: Mailbox,
}

impl OutboxMailer {
    /// An outbox in `dir` (created if missing), sending as `from`.
    pub fn open(dir: &Path, from: &str) -> Result<Self, MailError> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_owned(),
            from: message::parse_mailbox(from)?,
        })
    }

    /// The directory the files are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let bytes = message::build(&self.from, email)?.formatted();
        let name = file_stem(SystemTime::now(), &email.message_id);
        let dir = self.dir.clone();
        let path = tokio::task::spawn_blocking(move || write_atomically(&dir, &name, &bytes))
            .await
            .map_err(io::Error::other)??;
        tracing::info!(path = %path.display(), to = %email.to, "email written to outbox");
        Ok(())
    }

    async fn health_check(&self) -> Result<(), MailError> {
        let dir = self.dir.clone();
        tokio::task::spawn_blocking(move || {
            let probe = dir.join(format!(".health-{}", std::process::id()));
            File::create(&probe)?;
            fs::remove_file(&probe)
        })
        .await
        .map_err(io::Error::other)??;
        Ok(())
    }
}

/// Writes `bytes` to `<dir>/<stem>.eml` (or `<stem>-<n>.eml` if taken) without ever exposing a
/// partial file or replacing another one. Returns the final path.
fn write_atomically(dir: &Path, stem: &str, bytes: &[u8]) -> io::Result<PathBuf> {
    let temp = dir.join(format!(".{stem}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)?;
    let written = file.write_all(bytes).and_then(|()| file.sync_all());
    drop(file);
    let linked = written.and_then(|()| {
        for n in 0u32.. {
            let name = match n {
                0 => format!("{stem}.eml"),
                n => format!("{stem}-{n}.eml"),
            };
            let path = dir.join(name);
            match fs::hard_link(&temp, &path) {
                Ok(()) => return Ok(path),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => {}
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns within 1000 attempts")
    });
    let removed = fs::remove_file(&temp);
    let path = linked?;
    removed?;
    Ok(path)
}

/// `20261123T183931.123456789Z-job-1_mp3converter`: sortable time, then a file-name-safe id.
fn file_stem(now: SystemTime, message_id: &str) -> String {
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    let id: String = message_id
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:09}Z-{id}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since_epoch.subsec_nanos()
    )
}

/// Gregorian (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn file_stem_is_a_utc_timestamp_and_a_safe_id() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 42);
        assert_eq!(
            file_stem(t, "job-1@mp3/../converter"),
            "20231114T221320.000000042Z-job-1_mp3_.._converter"
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }

    #[test]
    fn a_taken_name_gets_a_suffix_instead_of_being_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let first = write_atomically(dir.path(), "same", b"one").unwrap();
        let second = write_atomically(dir.path(), "same", b"two").unwrap();
        assert_ne!(first, second);
        assert_eq!(fs::read(&first).unwrap(), b"one");
        assert_eq!(fs::read(&second).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temp file left: {names:?}");
    }
}
