//! `AuthConfig`: the `[auth]` config section (env `MP3C_AUTH__<KEY>`), its validation and its
//! commented reference text.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::AuthError;
use crate::rate_limit::{FAILURE_MEMORY, LoginPolicy};

/// The shortest HS256 secret accepted, in bytes (the hash output size of SHA-256).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// How tokens are signed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Ed25519 key pair; the public key is published at `/.well-known/jwks.json`.
    #[default]
    EdDsa,
    /// HMAC-SHA256 with a secret shared by auth and every gateway (the seed's choice).
    Hs256,
}

/// The `[auth]` config section. `Debug` redacts the secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Where a gateway without the auth role finds the auth service (carried, not used here).
    pub url: Option<String>,
    /// `eddsa` (default) or `hs256`.
    pub algorithm: Algorithm,
    /// The HS256 secret, at least [`MIN_HS256_SECRET_BYTES`] bytes. Required with `hs256`.
    pub jwt_secret: Option<SecretString>,
    /// The Ed25519 private key (PKCS#8 PEM), created with mode 0600 when missing. Required with
    /// `eddsa`; the composition root defaults it to `<data_dir>/jwt-ed25519.pem`.
    pub key_path: Option<PathBuf>,
    /// Seconds a token is valid.
    pub token_ttl_secs: u64,
    /// Seconds a process trusts what it read about an account (token generation, disabled
    /// flag, role) before reading it again; open event streams re-check this often. A disabled
    /// account or a changed password revokes tokens within this time (at most 30, the default).
    pub revocation_check_secs: u64,
    /// The `iss` claim written and required.
    pub issuer: String,
    /// The `aud` claim written and required.
    pub audience: String,
    /// Login attempts (successful or not) one client IP (IPv6: /64) may make per window.
    pub login_limit_per_ip: u32,
    /// Failed logins one account may have per window (all clients together); past it, clients
    /// that have already failed on the account are refused until the window ends, while a
    /// client with no failure on it is still checked.
    pub login_limit_per_account: u32,
    /// Length of the rate-limit window in seconds.
    pub login_limit_window_secs: u64,
    /// Failed logins of one client on one account before its back-off starts.
    pub login_backoff_free_failures: u32,
    /// The first back-off delay in seconds; it doubles with each further failure.
    pub login_backoff_base_secs: u64,
    /// The longest back-off delay in seconds (at most one day).
    pub login_backoff_max_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            url: None,
            algorithm: Algorithm::EdDsa,
            jwt_secret: None,
            key_path: None,
            token_ttl_secs: 86_400,
            revocation_check_secs: 30,
            issuer: "mp3converter".into(),
            audience: "mp3converter".into(),
            login_limit_per_ip: 20,
            login_limit_per_account: 5,
            login_limit_window_secs: 60,
            login_backoff_free_failures: 3,
            login_backoff_base_secs: 1,
            login_backoff_max_secs: 900,
        }
    }
}

impl AuthConfig {
    /// Checks the section once, at start; the error names the key and the reason.
    pub fn validate(&self) -> Result<(), AuthError> {
        let bad = |msg: String| Err(AuthError::Config(msg));
        match self.algorithm {
            Algorithm::Hs256 => match &self.jwt_secret {
                None => {
                    return bad(
                        "auth.jwt_secret is required when auth.algorithm = \"hs256\"".into(),
                    );
                }
                Some(s) if s.expose_secret().len() < MIN_HS256_SECRET_BYTES => {
                    return bad(format!(
                        "auth.jwt_secret must be at least {MIN_HS256_SECRET_BYTES} bytes"
                    ));
                }
                Some(_) => {}
            },
            Algorithm::EdDsa => {
                if self.key_path.is_none() {
                    return bad("auth.key_path is required when auth.algorithm = \"eddsa\"".into());
                }
            }
        }
        if self.token_ttl_secs == 0 {
            return bad("auth.token_ttl_secs must be at least 1".into());
        }
        if !(1..=30).contains(&self.revocation_check_secs) {
            return bad("auth.revocation_check_secs must be between 1 and 30".into());
        }
        if self.issuer.trim().is_empty() {
            return bad("auth.issuer must not be empty".into());
        }
        if self.audience.trim().is_empty() {
            return bad("auth.audience must not be empty".into());
        }
        if self.login_limit_per_ip == 0 || self.login_limit_per_account == 0 {
            return bad(
                "auth.login_limit_per_ip and auth.login_limit_per_account must be at least 1"
                    .into(),
            );
        }
        if self.login_limit_window_secs == 0 {
            return bad("auth.login_limit_window_secs must be at least 1".into());
        }
        if self.login_backoff_base_secs == 0 {
            return bad("auth.login_backoff_base_secs must be at least 1".into());
        }
        if self.login_backoff_max_secs < self.login_backoff_base_secs
            || self.login_backoff_max_secs > FAILURE_MEMORY.as_secs()
        {
            return bad(format!(
                "auth.login_backoff_max_secs must be between auth.login_backoff_base_secs and {}",
                FAILURE_MEMORY.as_secs()
            ));
        }
        Ok(())
    }

    /// How long an account's state is trusted (`revocation_check_secs`).
    pub fn revocation_check(&self) -> Duration {
        Duration::from_secs(self.revocation_check_secs)
    }

    /// The rate-limit window.
    pub fn login_window(&self) -> Duration {
        Duration::from_secs(self.login_limit_window_secs)
    }

    /// The login limiter's numbers.
    pub(crate) fn login_policy(&self) -> LoginPolicy {
        LoginPolicy {
            per_ip: self.login_limit_per_ip,
            per_account: self.login_limit_per_account,
            window: self.login_window(),
            free_failures: self.login_backoff_free_failures,
            backoff_base: Duration::from_secs(self.login_backoff_base_secs),
            backoff_max: Duration::from_secs(self.login_backoff_max_secs),
        }
    }
}

/// The `[auth]` section of the reference configuration: every key with its default.
pub const REFERENCE_TOML: &str = r#"[auth]
# Where a gateway without the auth role reaches the auth service (to fetch its JWKS).
# url = "http://auth:8080"
# Token signature: eddsa (Ed25519, public key at /.well-known/jwks.json) or hs256 (shared secret).
algorithm = "eddsa"
# hs256: the shared secret, at least 32 bytes (better read from a file: MP3C_AUTH__JWT_SECRET_FILE).
# jwt_secret = "change-me-to-at-least-32-random-bytes"
# eddsa: the Ed25519 private key (PKCS#8 PEM), created with mode 0600 if missing. Default: <data_dir>/jwt-ed25519.pem
# key_path = "data/jwt-ed25519.pem"
# Seconds a token stays valid.
token_ttl_secs = 86400
# Seconds a process trusts what it read about an account (token generation, disabled flag, role)
# before reading it again: disabling an account or changing a password revokes its tokens, and
# closes its open event streams, within this time (1–30).
revocation_check_secs = 30
# The token issuer (`iss`), written and required.
issuer = "mp3converter"
# The token audience (`aud`), written and required.
audience = "mp3converter"
# Login limits (docs/reliability.md, "Login limits"). A client is an IPv4 address or an IPv6 /64.
# Login attempts (successful or not) one client may make per window; then 429.
login_limit_per_ip = 20
# Failed logins one account may have per window, all clients together. Past it, clients that
# have already failed on the account get 429 until the window ends; a client with no failure on
# it still has its password checked, so strangers cannot lock the owner out.
login_limit_per_account = 5
# Length of the login rate-limit window in seconds.
login_limit_window_secs = 60
# Failed logins of one client on one account before it must wait between attempts.
login_backoff_free_failures = 3
# Then it waits this many seconds, doubled after each further failure...
login_backoff_base_secs = 1
# ...up to this many (at most 86400). Its failures are forgotten after a success or a day.
login_backoff_max_secs = 900
"#;

#[cfg(test)]
mod tests {
    use figment::Figment;
    use figment::providers::{Format, Toml};

    use super::*;

    fn from_toml(text: &str) -> Result<AuthConfig, String> {
        Figment::from(Toml::string(text))
            .extract_inner("auth")
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_reference_section_parses_to_the_defaults_and_lists_every_key() {
        let parsed = from_toml(REFERENCE_TOML).unwrap();
        let default = AuthConfig::default();
        assert_eq!(parsed.algorithm, default.algorithm);
        assert_eq!(parsed.token_ttl_secs, default.token_ttl_secs);
        assert_eq!(parsed.revocation_check_secs, default.revocation_check_secs);
        assert_eq!(parsed.issuer, default.issuer);
        assert_eq!(parsed.audience, default.audience);
        assert_eq!(parsed.login_limit_per_ip, default.login_limit_per_ip);
        assert_eq!(
            parsed.login_limit_per_account,
            default.login_limit_per_account
        );
        assert_eq!(
            parsed.login_limit_window_secs,
            default.login_limit_window_secs
        );
        assert_eq!(parsed.login_policy(), default.login_policy());
        for key in [
            "url",
            "algorithm",
            "jwt_secret",
            "key_path",
            "token_ttl_secs",
            "revocation_check_secs",
            "issuer",
            "audience",
            "login_limit_per_ip",
            "login_limit_per_account",
            "login_limit_window_secs",
            "login_backoff_free_failures",
            "login_backoff_base_secs",
            "login_backoff_max_secs",
        ] {
            assert!(
                REFERENCE_TOML.contains(&format!("\n{key} = "))
                    || REFERENCE_TOML.contains(&format!("# {key} = ")),
                "{key} missing from REFERENCE_TOML"
            );
        }
        // Uncommenting every example still parses (the commented values are valid too).
        let uncommented: String = REFERENCE_TOML
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = "))
                    .unwrap_or(l)
            })
            .filter(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let all = from_toml(&uncommented).unwrap();
        assert!(all.jwt_secret.is_some() && all.key_path.is_some() && all.url.is_some());
    }

    #[test]
    fn unknown_keys_and_bad_algorithms_are_refused() {
        assert!(from_toml("[auth]\ntoken_tll_secs = 5").is_err());
        assert!(from_toml("[auth]\nalgorithm = \"rs256\"").is_err());
        assert_eq!(
            from_toml("[auth]\nalgorithm = \"hs256\"")
                .unwrap()
                .algorithm,
            Algorithm::Hs256
        );
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let config = AuthConfig {
            jwt_secret: Some("super-secret-value-that-is-long-enough!".into()),
            ..AuthConfig::default()
        };
        let debug = format!("{config:?}");
        assert!(!debug.contains("super-secret"), "{debug}");
    }

    #[test]
    fn hs256_needs_a_long_secret_and_eddsa_a_key_path() {
        let mut config = AuthConfig {
            algorithm: Algorithm::Hs256,
            ..AuthConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("auth.jwt_secret")
        );
        config.jwt_secret = Some("short".into());
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("32 bytes")
        );
        config.jwt_secret = Some("x".repeat(32).into());
        config.validate().unwrap();

        let config = AuthConfig::default();
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("auth.key_path")
        );
        let config = AuthConfig {
            key_path: Some("k.pem".into()),
            login_limit_window_secs: 0,
            ..AuthConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("window")
        );
        for (base, max) in [(0, 900), (10, 5), (1, 86_401)] {
            let config = AuthConfig {
                key_path: Some("k.pem".into()),
                login_backoff_base_secs: base,
                login_backoff_max_secs: max,
                ..AuthConfig::default()
            };
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains("auth.login_backoff_"), "{base} {max}: {err}");
        }
    }
}
