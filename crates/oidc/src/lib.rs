//! The OpenID Connect relying party of mp3converter (single sign-on): provider discovery, the
//! Authorization Code request with PKCE (S256), state and nonce, and the code exchange that
//! ends in a verified [`Identity`].
//!
//! A thin, non-generic wrapper of the `openidconnect` crate, kept in a crate of its own so that
//! its many generic types are compiled once, here, and not again whenever the auth crate
//! changes. What the ID token must satisfy is checked by `openidconnect`: signature against the
//! provider's published keys (JWKS), issuer, audience (our client id), expiry and the nonce of
//! this login. The HTTP client never follows redirects (a discovery document, a token or a
//! userinfo answer that redirects elsewhere is an error), so a provider cannot bounce our
//! client secret or access token to another host.
//!
//! Where the login's secrets (state, nonce, PKCE verifier) are kept between the redirect and
//! the callback, and what the identity becomes (an account), is the caller's business.

#![forbid(unsafe_code)]

mod error;

pub use error::OidcError;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AccessToken, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SubjectIdentifier,
    TokenResponse, UserInfoError,
};
use serde::{Deserialize, Serialize};

/// How long a call to the provider may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long discovered metadata and keys are used before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Fewest seconds between two discoveries forced by an ID token signed with an unknown key.
const FORCED_REFRESH_MIN: Duration = Duration::from_secs(10);

/// The client as `from_provider_metadata` makes it: authorization endpoint set, token and
/// userinfo endpoints as discovered (maybe absent).
type DiscoveredClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// Who the relying party is and where the provider sends the browser back.
#[derive(Clone)]
pub struct OidcSettings {
    /// The provider's issuer URL (`iss`); `/.well-known/openid-configuration` is under it.
    pub issuer_url: String,
    /// Our client id at the provider.
    pub client_id: String,
    /// Our client secret at the provider (a confidential client).
    pub client_secret: String,
    /// The callback URL registered at the provider.
    pub redirect_url: String,
    /// Scopes asked for besides `openid` (`email` is needed to match or create accounts).
    pub scopes: Vec<String>,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer_url", &self.issuer_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("redirect_url", &self.redirect_url)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// The secrets of one login between the redirect to the provider and the callback. They must
/// stay with the server (or sealed) and be bound to the browser that started the login.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` parameter the callback must bring back.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier (its S256 challenge went to the provider).
    pub pkce_verifier: String,
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PendingLogin([redacted])")
    }
}

/// Where to send the browser, and what to remember until it comes back.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    /// The provider's authorization URL with every parameter (no secret of ours in it: the
    /// PKCE challenge is a hash, state and nonce are meant to travel).
    pub url: String,
    /// The login's secrets.
    pub pending: PendingLogin,
}

/// The end user as the provider vouches for them, from a verified ID token (and the userinfo
/// endpoint when the ID token leaves the email out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider (`iss`).
    pub issuer: String,
    /// The user at that provider (`sub`): stable, unlike the email.
    pub subject: String,
    /// The email address, if the provider shared one.
    pub email: Option<String>,
    /// True only when the provider says `email_verified: true`.
    pub email_verified: bool,
}

/// The discovered provider and when it was fetched.
#[derive(Debug)]
struct Discovered {
    client: DiscoveredClient,
    fetched: Instant,
}

/// An OpenID Connect relying party for one provider. Discovery happens on first use (and
/// again when it failed, or after an hour); cheap to clone.
#[derive(Debug, Clone)]
pub struct OidcClient {
    settings: Arc<OidcSettings>,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    discovered: Arc<Mutex<Option<Arc<Discovered>>>>,
}

impl OidcClient {
    /// A client for `settings`; fails on a malformed issuer or redirect URL. Fetches nothing.
    pub fn new(settings: OidcSettings) -> Result<Self, OidcError> {
        let issuer = IssuerUrl::new(settings.issuer_url.clone())
            .map_err(|e| OidcError::Config(format!("issuer URL: {e}")))?;
        let redirect = RedirectUrl::new(settings.redirect_url.clone())
            .map_err(|e| OidcError::Config(format!("redirect URL: {e}")))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| OidcError::Config(format!("HTTP client: {e}")))?;
        Ok(OidcClient {
            settings: Arc::new(settings),
            issuer,
            redirect,
            http,
            discovered: Arc::new(Mutex::new(None)),
        })
    }

    /// Fetches the provider's metadata and keys now (at start, and for readiness checks).
    pub async fn discover(&self) -> Result<(), OidcError> {
        self.provider(false).await.map(drop)
    }

    /// The discovered provider: the cached one unless it is missing, old, or `force` (and the
    /// last fetch was long enough ago).
    async fn provider(&self, force: bool) -> Result<Arc<Discovered>, OidcError> {
        let cached = self
            .discovered
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(d) = &cached {
            let age = d.fetched.elapsed();
            if age < METADATA_TTL && !(force && age >= FORCED_REFRESH_MIN) {
                return Ok(Arc::clone(d));
            }
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| OidcError::Unavailable(format!("discovery: {}", chain(&e))))?;
        let client = CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.settings.client_id.clone()),
            Some(ClientSecret::new(self.settings.client_secret.clone())),
        )
        .set_redirect_uri(self.redirect.clone());
        let fresh = Arc::new(Discovered {
            client,
            fetched: Instant::now(),
        });
        *self.discovered.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::clone(&fresh));
        tracing::info!(issuer = %self.settings.issuer_url, "discovered the OpenID provider");
        Ok(fresh)
    }

    /// Starts a login: the authorization URL (code flow, PKCE S256, fresh random state and
    /// nonce, scopes `openid` + the configured ones) and the secrets to keep.
    pub async fn begin(&self) -> Result<AuthorizationRequest, OidcError> {
        let provider = self.provider(false).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = provider.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok(AuthorizationRequest {
            url: url.to_string(),
            pending: PendingLogin {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
            },
        })
    }

    /// Ends a login whose callback brought `code` (its `state` already checked against
    /// `pending.state` by the caller): exchanges the code with the PKCE verifier, verifies the
    /// ID token (signature, issuer, audience, expiry, nonce) and reads the email, from the
    /// userinfo endpoint when the ID token has none.
    pub async fn finish(&self, code: &str, pending: &PendingLogin) -> Result<Identity, OidcError> {
        let provider = self.provider(false).await?;
        let tokens = provider
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Unavailable(format!("token endpoint: {e}")))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier.clone()))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(refused) => {
                    OidcError::ExchangeRefused(refused.to_string())
                }
                other => OidcError::Unavailable(format!("token endpoint: {}", chain(&other))),
            })?;
        let id_token = tokens.id_token().ok_or(OidcError::NoIdToken)?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = match id_token.claims(&provider.client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // A key we do not know yet (the provider rotated its keys): fetch them again once.
            Err(ClaimsVerificationError::SignatureVerification(_)) => {
                let fresh = self.provider(true).await?;
                id_token
                    .claims(&fresh.client.id_token_verifier(), &nonce)
                    .map_err(id_token_refused)?
                    .clone()
            }
            Err(e) => return Err(id_token_refused(e)),
        };
        let mut identity = Identity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified() == Some(true),
        };
        if identity.email.is_none() {
            self.add_userinfo_email(&provider, tokens.access_token(), &mut identity)
                .await?;
        }
        Ok(identity)
    }

    /// Reads the email from the userinfo endpoint, for providers whose ID tokens only carry
    /// the subject in the code flow. The answer must be about the same subject.
    async fn add_userinfo_email(
        &self,
        provider: &Discovered,
        access_token: &AccessToken,
        identity: &mut Identity,
    ) -> Result<(), OidcError> {
        let Ok(request) = provider.client.user_info(
            access_token.clone(),
            Some(SubjectIdentifier::new(identity.subject.clone())),
        ) else {
            return Ok(()); // no userinfo endpoint: no email
        };
        let info: openidconnect::core::CoreUserInfoClaims = request
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                UserInfoError::ClaimsVerification(e) => OidcError::InvalidIdToken(e.to_string()),
                other => OidcError::Unavailable(format!("userinfo: {}", chain(&other))),
            })?;
        identity.email = info.email().map(|e| e.to_string());
        identity.email_verified = info.email_verified() == Some(true);
        Ok(())
    }
}

fn id_token_refused(e: ClaimsVerificationError) -> OidcError {
    match e {
        ClaimsVerificationError::InvalidNonce(_) => OidcError::NonceMismatch,
        other => OidcError::InvalidIdToken(other.to_string()),
    }
}

/// An error with its causes, `: `-separated (the crate's errors keep the interesting part in
/// their sources).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(issuer: &str, redirect: &str) -> OidcSettings {
        OidcSettings {
            issuer_url: issuer.into(),
            client_id: "c".into(),
            client_secret: "very-secret".into(),
            redirect_url: redirect.into(),
            scopes: vec!["email".into()],
        }
    }

    #[test]
    fn malformed_urls_are_config_errors() {
        let bad_issuer = OidcClient::new(settings("not a url", "https://a.example/cb"));
        assert!(matches!(bad_issuer, Err(OidcError::Config(m)) if m.contains("issuer")));
        let bad_redirect = OidcClient::new(settings("https://id.example", "::"));
        assert!(matches!(bad_redirect, Err(OidcError::Config(m)) if m.contains("redirect")));
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let text = format!(
            "{:?}",
            settings("https://id.example", "https://a.example/cb")
        );
        assert!(!text.contains("very-secret"), "{text}");
        let pending = PendingLogin {
            state: "s3cr3t-state".into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
        };
        assert!(!format!("{pending:?}").contains("s3cr3t"));
    }

    #[tokio::test]
    async fn an_unreachable_provider_is_unavailable() {
        // A port nothing listens on (bound, then closed).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client = OidcClient::new(settings(
            &format!("http://127.0.0.1:{port}"),
            "https://a.example/cb",
        ))
        .unwrap();
        assert!(matches!(
            client.begin().await,
            Err(OidcError::Unavailable(_))
        ));
    }
}
