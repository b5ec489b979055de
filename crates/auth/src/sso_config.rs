//! `OidcConfig`: the `[oidc]` config section (single sign-on with an OpenID Connect provider,
//! env `MP3C_OIDC__<KEY>`), its validation and its commented reference text.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::AuthError;

/// The longest issuer URL accepted (it is stored with each account link).
const MAX_ISSUER_CHARS: usize = 255;
/// The longest button label accepted.
const MAX_DISPLAY_NAME_CHARS: usize = 60;

/// The `[oidc]` section. Single sign-on is off while `issuer_url` is unset. `Debug` redacts the
/// client secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer URL (discovery at `<issuer_url>/.well-known/openid-configuration`).
    pub issuer_url: Option<String>,
    /// Our client id at the provider.
    pub client_id: Option<String>,
    /// Our client secret at the provider (better from a file: `MP3C_OIDC__CLIENT_SECRET_FILE`).
    pub client_secret: Option<SecretString>,
    /// Who the login button names: "Sign in with <display_name>".
    pub display_name: String,
    /// Log in to an existing account whose email is the provider's verified email.
    pub match_email: bool,
    /// Create an account at the first login of someone without one.
    pub create_users: bool,
}

impl Default for OidcConfig {
    fn default() -> Self {
        OidcConfig {
            issuer_url: None,
            client_id: None,
            client_secret: None,
            display_name: "single sign-on".into(),
            match_email: true,
            create_users: true,
        }
    }
}

impl OidcConfig {
    /// True when an issuer is configured.
    pub fn enabled(&self) -> bool {
        self.issuer_url.is_some()
    }

    /// Checks the section once, at start; the error names the key and the reason.
    pub fn validate(&self) -> Result<(), AuthError> {
        let bad = |msg: &str| Err(AuthError::Config(msg.to_string()));
        let Some(issuer) = &self.issuer_url else {
            return Ok(());
        };
        match url::Url::parse(issuer) {
            Ok(url) if url.scheme() == "https" => {}
            // Plain HTTP only to this machine (a provider in development or in tests).
            Ok(url) if url.scheme() == "http" && is_loopback(&url) => {}
            Ok(_) => return bad("oidc.issuer_url must be an https URL (http only to localhost)"),
            Err(_) => return bad("oidc.issuer_url is not a URL"),
        }
        if issuer.chars().count() > MAX_ISSUER_CHARS {
            return bad("oidc.issuer_url must be at most 255 characters");
        }
        if self
            .client_id
            .as_deref()
            .is_none_or(|id| id.trim().is_empty())
        {
            return bad("oidc.client_id is required with oidc.issuer_url");
        }
        if self
            .client_secret
            .as_ref()
            .is_none_or(|s| s.expose_secret().is_empty())
        {
            return bad("oidc.client_secret is required with oidc.issuer_url");
        }
        let name = self.display_name.trim();
        if name.is_empty() || name.chars().count() > MAX_DISPLAY_NAME_CHARS {
            return bad("oidc.display_name must have 1 to 60 characters");
        }
        Ok(())
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// The `[oidc]` section of the reference configuration.
pub const OIDC_REFERENCE_TOML: &str = r#"[oidc]
# Single sign-on with an OpenID Connect provider (Keycloak, Google, Entra ID, Authentik, ...):
# off while issuer_url is unset. Register <public_url>/api/v1/auth/sso/callback as the
# redirect URI of a confidential client (see docs/sso.md).
# issuer_url = "https://id.example.com/realms/main"
# client_id = "mp3converter"
# The client secret (better read from a file: MP3C_OIDC__CLIENT_SECRET_FILE).
# client_secret = "change-me"
# The login button says "Sign in with <display_name>".
display_name = "single sign-on"
# Log in to the existing account whose email is the provider's verified email.
match_email = true
# Create an account at the first login of someone who has none (off: only existing accounts).
create_users = true
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn configured(issuer: &str) -> OidcConfig {
        OidcConfig {
            issuer_url: Some(issuer.into()),
            client_id: Some("mp3converter".into()),
            client_secret: Some("s3cret".into()),
            ..OidcConfig::default()
        }
    }

    #[test]
    fn the_reference_section_parses_to_the_defaults() {
        let parsed: toml::Table = OIDC_REFERENCE_TOML.parse().unwrap();
        let section: OidcConfig = parsed["oidc"].clone().try_into().unwrap();
        let default = OidcConfig::default();
        assert!(!section.enabled());
        assert_eq!(section.display_name, default.display_name);
        assert_eq!(section.match_email, default.match_email);
        assert_eq!(section.create_users, default.create_users);
        let uncommented: String = OIDC_REFERENCE_TOML
            .lines()
            .map(|l| {
                l.strip_prefix("# ")
                    .filter(|r| r.contains(" = "))
                    .unwrap_or(l)
            })
            .collect::<Vec<_>>()
            .join("\n");
        let parsed: toml::Table = uncommented.parse().unwrap();
        let section: OidcConfig = parsed["oidc"].clone().try_into().unwrap();
        section.validate().unwrap();
        assert!(section.enabled());
    }

    #[test]
    fn an_issuer_needs_https_a_client_and_a_secret() {
        assert!(OidcConfig::default().validate().is_ok(), "off is valid");
        configured("https://id.example.com/realms/x")
            .validate()
            .unwrap();
        configured("http://127.0.0.1:4000").validate().unwrap();
        configured("http://localhost:4000").validate().unwrap();
        for (config, key) in [
            (configured("http://id.example.com"), "issuer_url"),
            (configured("not a url"), "issuer_url"),
            (
                OidcConfig {
                    client_id: None,
                    ..configured("https://id.example.com")
                },
                "client_id",
            ),
            (
                OidcConfig {
                    client_secret: Some("".into()),
                    ..configured("https://id.example.com")
                },
                "client_secret",
            ),
            (
                OidcConfig {
                    display_name: " ".into(),
                    ..configured("https://id.example.com")
                },
                "display_name",
            ),
        ] {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[test]
    fn the_secret_is_redacted_in_debug() {
        let text = format!("{:?}", configured("https://id.example.com"));
        assert!(!text.contains("s3cret"), "{text}");
    }
}
