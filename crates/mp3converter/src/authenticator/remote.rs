//! `RemoteAuth`: the gateway's `Authenticator` when the auth role runs in another process.
//!
//! * `login` is forwarded to the auth service's `POST /login` (with the client's address in
//!   `X-Forwarded-For`, so its rate limits apply per client, not per gateway).
//! * Tokens are verified here, never by a call per request: with EdDSA against the public keys
//!   of the auth service's JWKS, fetched at start and again when a token fails with the keys we
//!   have (a rotated or new key; at most once per [`REFRESH_MIN_INTERVAL`]); with HS256 against
//!   the shared secret from the configuration.
//! * Revocation: every verified token's account is checked against the shared database (token
//!   generation, disabled flag), cached per user for `auth.revocation_check_secs`.
//! * Accounts are managed through the shared database, like the auth service does.
//! * Single sign-on (when `[oidc]` is configured): the gateway keeps the browser's side, the
//!   auth service's `POST /sso/begin` and `POST /sso/finish` do the rest.

use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::StatusCode;
use mp3converter_auth::{
    Algorithm, AuthConfig, Revocations, SsoAnswer, SsoBegun, SsoFinish, SystemClock, TokenVerifier,
    UserDirectory,
};
use mp3converter_core::{Claims, UserId};
use mp3converter_db::Database;
use mp3converter_gateway::{AuthFailure, Authenticator, SsoStart, UserView};
use secrecy::ExposeSecret;

use super::{TokenCache, accounts, failure, recheck};

/// Fewest seconds between two JWKS fetches triggered by unverifiable tokens.
pub const REFRESH_MIN_INTERVAL: Duration = Duration::from_secs(10);
/// How long a call to the auth service may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The auth service in another process. Cheap to clone.
#[derive(Debug, Clone)]
pub struct RemoteAuth {
    base: String,
    http: reqwest::Client,
    users: UserDirectory,
    keys: Arc<Keys>,
    verified: TokenCache,
    sso_name: Option<String>,
}

#[derive(Debug)]
struct Keys {
    /// `None` until the JWKS has been fetched once (EdDSA).
    verifier: RwLock<Option<TokenVerifier>>,
    /// The claims required of a token.
    issuer: String,
    audience: String,
    /// True when the keys come from the JWKS (EdDSA); false with a shared HS256 secret.
    jwks: bool,
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
}

fn unavailable(why: impl std::fmt::Display) -> AuthFailure {
    tracing::warn!("auth service unreachable: {why}");
    AuthFailure::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "auth-unavailable",
        "the login service is unavailable, try again later",
    )
}

impl RemoteAuth {
    /// The auth service at `config.url`; accounts in `db`. Fetches nothing yet (see
    /// [`RemoteAuth::refresh_keys`]).
    pub fn new(config: &AuthConfig, db: Database) -> anyhow::Result<Self> {
        let base = config
            .url
            .as_deref()
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "auth.url (MP3C_AUTH__URL) is required when the gateway runs without the auth role"
                )
            })?
            .trim_end_matches('/')
            .to_string();
        let (verifier, jwks) = match (config.algorithm, &config.jwt_secret) {
            (Algorithm::Hs256, Some(secret)) => (
                Some(TokenVerifier::hs256(
                    secret.expose_secret().as_bytes(),
                    &config.issuer,
                    &config.audience,
                )),
                false,
            ),
            (Algorithm::Hs256, None) => {
                anyhow::bail!("auth.jwt_secret is required with auth.algorithm = \"hs256\"")
            }
            (Algorithm::EdDsa, _) => (None, true),
        };
        Ok(RemoteAuth {
            base,
            http: reqwest::Client::builder().timeout(TIMEOUT).build()?,
            users: UserDirectory::new(db.clone()).with_revocations(Revocations::new(
                db,
                config.revocation_check(),
                Arc::new(SystemClock),
            )),
            keys: Arc::new(Keys {
                verifier: RwLock::new(verifier),
                issuer: config.issuer.clone(),
                audience: config.audience.clone(),
                jwks,
                last_fetch: tokio::sync::Mutex::new(None),
            }),
            verified: TokenCache::default(),
            sso_name: None,
        })
    }

    /// With single sign-on, whose button names `name` (`None`: off).
    pub fn with_sso_name(mut self, name: Option<String>) -> Self {
        self.sso_name = name;
        self
    }

    /// `POST {base}/sso/{step}` with `body`; the JSON answer, or the auth service's refusal.
    async fn sso_call<T: serde::de::DeserializeOwned>(
        &self,
        step: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, AuthFailure> {
        if self.sso_name.is_none() {
            return Err(AuthFailure::sso_disabled());
        }
        let response = self
            .http
            .post(format!("{}/sso/{step}", self.base))
            .json(body)
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        if status.is_success() {
            return response.json().await.map_err(unavailable);
        }
        let refusal: SsoAnswer = response.json().await.map_err(unavailable)?;
        match (status.is_client_error(), refusal.code) {
            (true, Some(code)) => Err(AuthFailure::new(
                status,
                stable_code(&code),
                refusal.message.unwrap_or_default(),
            )),
            _ => Err(unavailable(format!("POST /sso/{step} answered {status}"))),
        }
    }

    /// Fetches the JWKS now (EdDSA; nothing to do with HS256).
    pub async fn refresh_keys(&self) -> Result<(), String> {
        if !self.keys.jwks {
            return Ok(());
        }
        let mut last = self.keys.last_fetch.lock().await;
        self.fetch_keys().await?;
        *last = Some(Instant::now());
        Ok(())
    }

    /// Fetches the JWKS unless that was done less than [`REFRESH_MIN_INTERVAL`] ago.
    /// Concurrent callers wait for one fetch.
    async fn refresh_keys_if_due(&self) {
        if !self.keys.jwks {
            return;
        }
        let mut last = self.keys.last_fetch.lock().await;
        if last.is_some_and(|t| t.elapsed() < REFRESH_MIN_INTERVAL) {
            return;
        }
        *last = Some(Instant::now());
        if let Err(e) = self.fetch_keys().await {
            tracing::warn!("cannot refresh the auth service's keys: {e}");
        }
    }

    async fn fetch_keys(&self) -> Result<(), String> {
        let url = format!("{}/.well-known/jwks.json", self.base);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("GET {url}: {e}"))?;
        let body = response
            .text()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        let verifier = TokenVerifier::from_jwks(&body, &self.keys.issuer, &self.keys.audience)
            .map_err(|e| format!("GET {url}: {e}"))?;
        *self
            .keys
            .verifier
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(verifier);
        tracing::info!("loaded the auth service's signing keys");
        Ok(())
    }

    /// Ready when the keys are loaded and the auth service answers.
    pub async fn health_check(&self) -> Result<(), String> {
        if self.current().is_none() {
            self.refresh_keys().await?;
        }
        let url = format!("{}/healthz", self.base);
        self.http
            .get(&url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map(drop)
            .map_err(|e| format!("GET {url}: {e}"))
    }

    fn current(&self) -> Option<TokenVerifier> {
        self.keys
            .verifier
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The claims of a validly signed, unexpired token (revocation is checked by the caller).
    async fn verify_signature(&self, token: &str) -> Result<Claims, AuthFailure> {
        match self.verify_with_current(token) {
            Some(Ok(claims)) => return Ok(claims),
            Some(Err(refused)) if !self.keys.jwks => return Err(refused),
            _ => {}
        }
        // No keys yet, or a key we may not know yet: fetch the JWKS (rate-limited) and retry.
        self.refresh_keys_if_due().await;
        match self.verify_with_current(token) {
            Some(result) => result,
            None => Err(unavailable("the auth service's keys are not loaded yet")),
        }
    }

    fn verify_with_current(&self, token: &str) -> Option<Result<Claims, AuthFailure>> {
        let verifier = self.current()?;
        Some(
            self.verified
                .get_or_verify(token, |t| verifier.verify(t).map_err(failure)),
        )
    }
}

#[async_trait]
impl Authenticator for RemoteAuth {
    async fn login(
        &self,
        email: &str,
        password: &str,
        client_ip: IpAddr,
    ) -> Result<String, AuthFailure> {
        let response = self
            .http
            .post(format!("{}/login", self.base))
            .basic_auth(email, Some(password))
            .header("x-forwarded-for", client_ip.to_string())
            .send()
            .await
            .map_err(unavailable)?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .map(Duration::from_secs);
        match status {
            StatusCode::OK => response.text().await.map_err(unavailable),
            StatusCode::UNAUTHORIZED => Err(AuthFailure::invalid_credentials()),
            StatusCode::TOO_MANY_REQUESTS => Err(AuthFailure::rate_limited(
                retry_after.unwrap_or(Duration::from_secs(60)),
            )),
            other => Err(unavailable(format!("POST /login answered {other}"))),
        }
    }

    async fn verify(&self, token: &str) -> Result<Claims, AuthFailure> {
        let claims = self.verify_signature(token).await?;
        self.recheck(&claims).await?;
        Ok(claims)
    }

    async fn recheck(&self, claims: &Claims) -> Result<(), AuthFailure> {
        recheck(&self.users, claims).await
    }

    fn recheck_interval(&self) -> Duration {
        self.users.revocations().check_every()
    }

    async fn create_user(
        &self,
        email: &str,
        password: &str,
        admin: bool,
    ) -> Result<UserView, AuthFailure> {
        accounts::create(&self.users, email, password, admin).await
    }

    async fn list_users(&self) -> Result<Vec<UserView>, AuthFailure> {
        accounts::list(&self.users).await
    }

    async fn disable_user(&self, user_id: &UserId) -> Result<(), AuthFailure> {
        accounts::disable(&self.users, user_id).await
    }

    async fn enable_user(&self, user_id: &UserId) -> Result<(), AuthFailure> {
        accounts::enable(&self.users, user_id).await
    }

    async fn change_password(
        &self,
        user_id: &UserId,
        old: &str,
        new: &str,
    ) -> Result<(), AuthFailure> {
        accounts::change_password(&self.users, user_id, old, new).await
    }

    fn sso_name(&self) -> Option<String> {
        self.sso_name.clone()
    }

    async fn sso_begin(&self) -> Result<SsoStart, AuthFailure> {
        let begun: SsoBegun = self.sso_call("begin", &serde_json::json!({})).await?;
        Ok(SsoStart {
            authorize_url: begun.authorize_url,
            state: begun.state,
            pending: begun.pending,
        })
    }

    async fn sso_finish(&self, code: &str, pending: &str) -> Result<String, AuthFailure> {
        let body = SsoFinish {
            code: code.to_string(),
            pending: pending.to_string(),
        };
        let answer: SsoAnswer = self.sso_call("finish", &body).await?;
        answer
            .token
            .ok_or_else(|| unavailable("POST /sso/finish answered no token"))
    }
}

/// The auth service's single sign-on codes, as the `'static` strings an [`AuthFailure`] carries
/// (an unknown one becomes `oidc-refused`).
fn stable_code(code: &str) -> &'static str {
    const CODES: &[&str] = &[
        "oidc-disabled",
        "oidc-exchange-refused",
        "oidc-invalid-id-token",
        "oidc-nonce-mismatch",
        "oidc-email-unverified",
        "oidc-no-account",
        "oidc-email-taken",
        "oidc-account-disabled",
        "invalid-json",
    ];
    CODES
        .iter()
        .find(|c| **c == code)
        .copied()
        .unwrap_or("oidc-refused")
}
