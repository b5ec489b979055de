//! `MailConfig` and [`build`]: the one place where the mail backend is chosen.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::smtp::SmtpSettings;
use crate::{MailError, Mailer, MemoryMailer, OutboxMailer, SmtpMailer};

/// Which adapter sends the emails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailBackend {
    /// `.eml` files in [`MailConfig::outbox_dir`].
    #[default]
    Outbox,
    /// An SMTP server at [`MailConfig::url`].
    Smtp,
    /// Kept in memory (tests).
    Memory,
}

/// The `[mail]` config section (env: `MP3C_MAIL__<KEY>`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    /// `outbox` (default), `smtp` or `memory`.
    pub backend: MailBackend,
    /// Sender, e.g. `mp3converter <noreply@example.com>`.
    pub from: String,
    /// smtp: `smtp://user:pass@host:port?tls=none|starttls|tls` or `smtps://...`. Secret, as
    /// it holds the password; redacted in `Debug`.
    pub url: Option<SecretString>,
    /// outbox: the directory, created if missing. Default `data/outbox`.
    pub outbox_dir: PathBuf,
    /// smtp: the longest one send (connect, TLS, dialogue) may take before it fails as
    /// retryable. Default 30.
    pub timeout_secs: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            backend: MailBackend::Outbox,
            from: "mp3converter <mp3converter@localhost>".to_owned(),
            url: None,
            outbox_dir: PathBuf::from("data/outbox"),
            timeout_secs: 30,
        }
    }
}

/// Builds the configured adapter. The only `match` over mail backends.
pub fn build(config: &MailConfig) -> Result<Arc<dyn Mailer>, MailError> {
    Ok(match config.backend {
        MailBackend::Outbox => Arc::new(OutboxMailer::open(&config.outbox_dir, &config.from)?),
        MailBackend::Smtp => {
            let url = config
                .url
                .as_ref()
                .ok_or_else(|| MailError::Config("mail.url is required for smtp".into()))?;
            if config.timeout_secs == 0 {
                return Err(MailError::Config(
                    "mail.timeout_secs must be at least 1".into(),
                ));
            }
            Arc::new(SmtpMailer::new(
                SmtpSettings::from_url(url)?,
                &config.from,
                Duration::from_secs(config.timeout_secs),
            )?)
        }
        MailBackend::Memory => Arc::new(MemoryMailer::new(&config.from)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_of_config_and_built_mailer_never_shows_the_password() {
        let config = MailConfig {
            backend: MailBackend::Smtp,
            url: Some(SecretString::from(
                "smtps://bob:Sup3rS3cret@smtp.example.com",
            )),
            ..MailConfig::default()
        };
        let mailer = build(&config).unwrap();
        for shown in [format!("{config:?}"), format!("{mailer:?}")] {
            assert!(!shown.contains("Sup3rS3cret"), "{shown}");
        }
    }

    #[test]
    fn smtp_without_url_and_invalid_sender_are_config_errors() {
        let no_url = MailConfig {
            backend: MailBackend::Smtp,
            ..MailConfig::default()
        };
        assert!(matches!(build(&no_url), Err(MailError::Config(_))));
        let bad_from = MailConfig {
            backend: MailBackend::Memory,
            from: "not an address".into(),
            ..MailConfig::default()
        };
        assert!(matches!(
            build(&bad_from),
            Err(MailError::InvalidAddress { .. })
        ));
    }

    #[test]
    fn config_keys_deserialize_and_misspelt_keys_are_refused() {
        let config: MailConfig = serde_json::from_str(
            r#"{"backend": "smtp", "from": "a@example.com", "url": "smtp://h?tls=none",
                "outbox_dir": "/tmp/x", "timeout_secs": 5}"#,
        )
        .unwrap();
        assert_eq!(
            (config.backend, config.timeout_secs),
            (MailBackend::Smtp, 5)
        );
        let defaults: MailConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(defaults.backend, MailBackend::Outbox);
        let typo = serde_json::from_str::<MailConfig>(r#"{"outbox_directory": "x"}"#);
        assert!(typo.unwrap_err().to_string().contains("outbox_directory"));
    }

    #[test]
    fn outbox_backend_creates_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        let config = MailConfig {
            outbox_dir: dir.path().join("outbox"),
            ..MailConfig::default()
        };
        build(&config).unwrap();
        assert!(dir.path().join("outbox").is_dir());
    }
}
