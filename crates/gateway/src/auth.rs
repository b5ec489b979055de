//! The auth port of the gateway: what it needs from the auth service (login, token
//! verification, user management), implemented by the composition root over the auth crate.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use mp3converter_core::{Claims, UserId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A user account as the API shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// The account's id.
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    /// The login email.
    pub email: String,
    /// True for administrators.
    pub admin: bool,
    /// A disabled account cannot log in.
    pub disabled: bool,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Why an auth call was refused, ready to become an HTTP answer.
///
/// `status` is the HTTP status to answer with, `code` a stable kebab-case code for the JSON API,
/// `message` is shown to the client for 4xx (so it must be safe) and only logged for 5xx.
/// `retry_after` becomes a `Retry-After` header (login rate limiting, 429).
///
/// Expected statuses: 401 wrong credentials or bad token, 403 not allowed, 404 no such user,
/// 409 email taken, 400 unacceptable input (weak password, bad email), 429 rate limited,
/// 5xx backend trouble.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure {
    /// HTTP status to answer with.
    pub status: StatusCode,
    /// Stable kebab-case code.
    pub code: &'static str,
    /// Safe message for 4xx; the logged cause for 5xx.
    pub message: String,
    /// Seconds to wait before trying again.
    pub retry_after: Option<Duration>,
}

impl AuthFailure {
    /// A failure with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        AuthFailure {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 401 `invalid-credentials`: unknown email, wrong password or disabled account.
    pub fn invalid_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "invalid credentials",
        )
    }

    /// 401 `invalid-token`: the token is expired, forged or otherwise unacceptable.
    pub fn invalid_token() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid-token", "not authorized")
    }

    /// 429 `too-many-attempts` with `Retry-After`.
    pub fn rate_limited(retry_after: Duration) -> Self {
        AuthFailure {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-attempts",
                "too many login attempts, try again later",
            )
        }
    }

    /// 404 `oidc-disabled`: single sign-on is not configured.
    pub fn sso_disabled() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "oidc-disabled",
            "single sign-on is not configured on this server",
        )
    }

    /// 500 `internal`: the cause is logged, never shown.
    pub fn internal(cause: impl fmt::Display) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            cause.to_string(),
        )
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for AuthFailure {}

/// A single sign-on login just started ([`Authenticator::sso_begin`]).
#[derive(Clone)]
pub struct SsoStart {
    /// Where to send the browser: the provider's authorization URL.
    pub authorize_url: String,
    /// The `state` the provider's callback must bring back (compared in constant time).
    pub state: String,
    /// What [`Authenticator::sso_finish`] needs again (nonce, PKCE verifier): opaque to the
    /// gateway, secret, kept on the server side only.
    pub pending: String,
}

impl fmt::Debug for SsoStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SsoStart")
            .field("authorize_url", &self.authorize_url)
            .finish_non_exhaustive()
    }
}

/// The auth service as the gateway uses it.
///
/// Contract: `verify` is local and cheap (it runs on every request; at most a rare key refresh
/// goes over the network, and the revocation check reads an account once per
/// [`Authenticator::recheck_interval`], not per call); it fails with a 401
/// [`AuthFailure`] for any unacceptable token, a revoked one included. `login` applies rate limiting per client address
/// and per account. Permission checks (admin-only calls) are the gateway's job; the
/// implementation only stores and reads.
#[async_trait]
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// Checks an email and password and issues a token (a JWT), or refuses.
    async fn login(
        &self,
        email: &str,
        password: &str,
        client_ip: IpAddr,
    ) -> Result<String, AuthFailure>;

    /// The claims of a valid, unrevoked token. Local and cheap in the common case; may fetch
    /// the auth service's keys when the token names one it has not seen yet.
    async fn verify(&self, token: &str) -> Result<Claims, AuthFailure>;

    /// Whether claims verified earlier still stand: not expired, account not disabled, token
    /// generation current. Long-lived streams call it every
    /// [`Authenticator::recheck_interval`]; cheap (the same per-user cache as `verify`).
    async fn recheck(&self, claims: &Claims) -> Result<(), AuthFailure>;

    /// How long an account's state may be cached; revocation takes effect within this time.
    fn recheck_interval(&self) -> Duration;

    /// Creates an account.
    async fn create_user(
        &self,
        email: &str,
        password: &str,
        admin: bool,
    ) -> Result<UserView, AuthFailure>;

    /// Every account, oldest first.
    async fn list_users(&self) -> Result<Vec<UserView>, AuthFailure>;

    /// Disables an account (it can no longer log in); 404 if there is none.
    async fn disable_user(&self, user_id: &UserId) -> Result<(), AuthFailure>;

    /// Enables a disabled account again (it can log in); 404 if there is none.
    async fn enable_user(&self, user_id: &UserId) -> Result<(), AuthFailure>;

    /// Changes a password after checking the old one (401 if it is wrong).
    async fn change_password(
        &self,
        user_id: &UserId,
        old_password: &str,
        new_password: &str,
    ) -> Result<(), AuthFailure>;

    /// The name on the single sign-on button ("Sign in with <name>"); `None` when single
    /// sign-on is not configured (then the other `sso_` calls answer 404 `oidc-disabled`).
    fn sso_name(&self) -> Option<String> {
        None
    }

    /// Starts a single sign-on login (Authorization Code with PKCE, state and nonce).
    async fn sso_begin(&self) -> Result<SsoStart, AuthFailure> {
        Err(AuthFailure::sso_disabled())
    }

    /// Ends a single sign-on login whose callback brought `code` (its state already checked):
    /// exchanges the code, verifies the ID token, finds or creates the account and issues a
    /// token for it. `pending` is [`SsoStart::pending`] of the same login.
    async fn sso_finish(&self, code: &str, pending: &str) -> Result<String, AuthFailure> {
        let _ = (code, pending);
        Err(AuthFailure::sso_disabled())
    }
}
