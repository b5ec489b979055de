//! SMTP adapter: delivers through a mail server with lettre over rustls (no OpenSSL).
//!
//! Configured from one URL, `smtp://user:pass@host:port?tls=none|starttls|tls`; `smtps://`
//! means `tls=tls`. Without `tls`, `smtp://` uses STARTTLS (required, never opportunistic).
//! Default ports: 25 (none), 587 (starttls), 465 (tls). User and password are optional and
//! percent-decoded, so `p%40ss` is `p@ss`.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use percent_encoding::percent_decode_str;
use secrecy::{ExposeSecret, SecretString};

use crate::{Email, MailError, Mailer, message};

/// How the connection to the server is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain TCP (local relays and test servers only).
    None,
    /// Plain TCP upgraded with STARTTLS; fails if the server does not offer it.
    StartTls,
    /// TLS from the first byte (SMTPS, "implicit TLS").
    Tls,
}

/// Where and how to connect, parsed from the URL. The password stays secret.
#[derive(Debug, Clone)]
pub struct SmtpSettings {
    /// Server host name (also the TLS server name).
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Connection security.
    pub tls: TlsMode,
    /// Login user, if the server needs authentication.
    pub user: Option<String>,
    /// Login password (redacted in `Debug`).
    pub password: Option<SecretString>,
}

impl SmtpSettings {
    /// Parses `smtp[s]://[user[:pass]@]host[:port][?tls=none|starttls|tls]`.
    ///
    /// Errors never repeat the URL, which may hold the password.
    pub fn from_url(url: &SecretString) -> Result<Self, MailError> {
        let bad = |why: &str| MailError::Config(format!("mail.url: {why}"));
        let url = url::Url::parse(url.expose_secret()).map_err(|e| bad(&e.to_string()))?;
        let mut tls = match url.scheme() {
            "smtp" => TlsMode::StartTls,
            "smtps" => TlsMode::Tls,
            _ => return Err(bad("scheme must be smtp:// or smtps://")),
        };
        for (key, value) in url.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "none") if url.scheme() == "smtp" => tls = TlsMode::None,
                ("tls", "starttls") if url.scheme() == "smtp" => tls = TlsMode::StartTls,
                ("tls", "tls") => tls = TlsMode::Tls,
                ("tls", _) => {
                    return Err(bad(
                        "tls must be none, starttls or tls (smtps:// is always tls)",
                    ));
                }
                _ => return Err(bad("unknown query parameter (only tls= is supported)")),
            }
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("missing host"))?
            .trim_matches(['[', ']'])
            .to_owned();
        let port = url.port().unwrap_or(match tls {
            TlsMode::None => 25,
            TlsMode::StartTls => 587,
            TlsMode::Tls => 465,
        });
        let decode = |s: &str| {
            percent_decode_str(s)
                .decode_utf8()
                .map(|s| s.into_owned())
                .map_err(|_| bad("user and password must be UTF-8 after percent-decoding"))
        };
        let user = Some(decode(url.username())?).filter(|u| !u.is_empty());
        let password = url
            .password()
            .map(decode)
            .transpose()?
            .map(SecretString::from);
        if password.is_some() && user.is_none() {
            return Err(bad("a password needs a user"));
        }
        Ok(Self {
            host,
            port,
            tls,
            user,
            password,
        })
    }
}

/// Sends emails through an SMTP server, one connection per email (no pool: notifications are
/// rare, and building the mailer needs no running runtime).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    settings: SmtpSettings,
    /// Bound on a whole send or health check: lettre's own timeout covers only connecting,
    /// so a server that accepts and then stalls would otherwise hang the caller forever.
    timeout: Duration,
}

impl SmtpMailer {
    /// A mailer for `settings`, sending as `from`; a send (connect, TLS, the whole dialogue)
    /// that takes longer than `timeout` fails as retryable.
    /// Does no I/O; use `health_check` to see if the server answers.
    pub fn new(settings: SmtpSettings, from: &str, timeout: Duration) -> Result<Self, MailError> {
        let from = message::parse_mailbox(from)?;
        let tls_params = || {
            TlsParameters::new(settings.host.clone())
                .map_err(|e| MailError::Config(format!("mail.url: TLS setup: {e}")))
        };
        let tls = match settings.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_params()?),
            TlsMode::Tls => Tls::Wrapper(tls_params()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(timeout));
        if let Some(user) = &settings.user {
            if settings.tls == TlsMode::None {
                tracing::warn!(host = %settings.host, "SMTP credentials will be sent without TLS");
            }
            let password = settings
                .password
                .as_ref()
                .map(|p| p.expose_secret().to_owned())
                .unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            settings,
            timeout,
        })
    }
}

impl SmtpMailer {
    fn timed_out(&self) -> MailError {
        MailError::Unavailable(
            format!(
                "SMTP server {}:{} did not finish within {:?}",
                self.settings.host, self.settings.port, self.timeout
            )
            .into(),
        )
    }
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("host", &self.settings.host)
            .field("port", &self.settings.port)
            .field("tls", &self.settings.tls)
            .field("user", &self.settings.user)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = message::build(&self.from, email)?;
        tokio::time::timeout(self.timeout, self.transport.send(message))
            .await
            .map_err(|_| self.timed_out())?
            .map_err(MailError::from_smtp)?;
        tracing::info!(to = %email.to, message_id = %email.message_id, "email sent");
        Ok(())
    }

    async fn health_check(&self) -> Result<(), MailError> {
        let tested = tokio::time::timeout(self.timeout, self.transport.test_connection()).await;
        match tested.map_err(|_| self.timed_out())? {
            Ok(true) => Ok(()),
            Ok(false) => Err(MailError::Unavailable(
                "SMTP server did not answer NOOP".into(),
            )),
            Err(e) => Err(MailError::from_smtp(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<SmtpSettings, MailError> {
        SmtpSettings::from_url(&SecretString::from(url))
    }

    #[test]
    fn smtp_defaults_to_required_starttls_on_587() {
        let s = parse("smtp://mail.example.com").unwrap();
        assert_eq!(
            (s.host.as_str(), s.port, s.tls),
            ("mail.example.com", 587, TlsMode::StartTls)
        );
        assert!(s.user.is_none() && s.password.is_none());
    }

    #[test]
    fn tls_query_and_smtps_choose_the_mode_and_default_port() {
        let none = parse("smtp://localhost?tls=none").unwrap();
        assert_eq!((none.port, none.tls), (25, TlsMode::None));
        let smtps = parse("smtps://smtp.gmail.com").unwrap();
        assert_eq!((smtps.port, smtps.tls), (465, TlsMode::Tls));
        let explicit = parse("smtp://relay:2525?tls=tls").unwrap();
        assert_eq!((explicit.port, explicit.tls), (2525, TlsMode::Tls));
    }

    #[test]
    fn credentials_are_percent_decoded() {
        let s = parse("smtp://apikey:p%40ss%3Aword@smtp.sendgrid.net:587").unwrap();
        assert_eq!(s.user.as_deref(), Some("apikey"));
        assert_eq!(s.password.unwrap().expose_secret(), "p@ss:word");
    }

    #[test]
    fn bad_urls_are_refused_without_echoing_the_password() {
        for url in [
            "http://user:hunter2@host",
            "smtp://user:hunter2@host?tls=maybe",
            "smtps://user:hunter2@host?tls=none",
            "smtp://user:hunter2@host?tsl=none",
            "smtp://:hunter2@host",
            "not a url hunter2",
        ] {
            match parse(url) {
                Err(e @ MailError::Config(_)) => {
                    assert!(!format!("{e} {e:?}").contains("hunter2"), "{url}: {e}");
                }
                other => panic!("{url} should be refused, got {other:?}"),
            }
        }
    }

    #[test]
    fn debug_of_settings_and_mailer_hides_the_password() {
        let s = parse("smtp://alice:hunter2@127.0.0.1:2525?tls=none").unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
        let mailer = SmtpMailer::new(s, "noreply@example.com", Duration::from_secs(5)).unwrap();
        let shown = format!("{mailer:?}");
        assert!(
            shown.contains("alice") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
}
