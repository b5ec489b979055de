//! `AuthError`: what a login, a token check or a user change can fail with, with its HTTP status
//! and stable kebab-case code.

use std::time::Duration;

use axum::http::StatusCode;
use mp3converter_db::DbError;

/// A failed auth operation. The messages of 4xx variants are safe to show to the caller.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No credentials, or a header that cannot be read as credentials.
    #[error("missing credentials")]
    MissingCredentials,
    /// Unknown email, wrong password or disabled account (deliberately indistinguishable).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The token is malformed, forged, expired or for another issuer/audience.
    #[error("invalid token: {0}")]
    InvalidToken(String),
    /// Too many login attempts; try again after `retry_after`.
    #[error("too many login attempts, retry in {} s", retry_after_secs(*retry_after))]
    RateLimited {
        /// How long until an attempt may succeed.
        retry_after: Duration,
    },
    /// Another account uses this email.
    #[error("a user with this email exists")]
    EmailTaken,
    /// The password does not meet the policy (the reason says which rule).
    #[error("weak password: {0}")]
    WeakPassword(String),
    /// Not a syntactically valid email address.
    #[error("invalid email address")]
    InvalidEmail,
    /// No such user.
    #[error("user not found")]
    NotFound,
    /// The user database cannot be reached or is busy; repeat later.
    #[error("user database unavailable: {0}")]
    Unavailable(#[source] DbError),
    /// The `[auth]` configuration or the key file is unusable.
    #[error("auth configuration: {0}")]
    Config(String),
    /// A bug or an unexpected failure (a database query error, a hashing failure).
    #[error("internal auth error: {0}")]
    Internal(String),
    /// A single sign-on step failed at the provider or its ID token was refused.
    #[error(transparent)]
    Oidc(#[from] mp3converter_oidc::OidcError),
    /// The provider did not vouch for the email (`email_verified` is not true, or no email).
    #[error("the identity provider has not verified your email address")]
    SsoEmailUnverified,
    /// No account for this person and `oidc.create_users` is off.
    #[error("there is no account for you here; ask an administrator for one")]
    SsoNoAccount,
    /// An account has the email but `oidc.match_email` is off.
    #[error("an account with your email exists; sign in with its password")]
    SsoEmailTaken,
    /// The account is disabled.
    #[error("this account is disabled")]
    SsoAccountDisabled,
}

/// Whole seconds for a `Retry-After` header, never 0.
pub(crate) fn retry_after_secs(d: Duration) -> u64 {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).max(1)
}

impl AuthError {
    /// The HTTP status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            AuthError::MissingCredentials | AuthError::InvalidCredentials => {
                StatusCode::UNAUTHORIZED
            }
            AuthError::InvalidToken(_) => StatusCode::FORBIDDEN,
            AuthError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AuthError::EmailTaken => StatusCode::CONFLICT,
            AuthError::WeakPassword(_) | AuthError::InvalidEmail => StatusCode::BAD_REQUEST,
            AuthError::NotFound => StatusCode::NOT_FOUND,
            AuthError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AuthError::Config(_) | AuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AuthError::Oidc(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            AuthError::SsoEmailUnverified
            | AuthError::SsoNoAccount
            | AuthError::SsoAccountDisabled => StatusCode::FORBIDDEN,
            AuthError::SsoEmailTaken => StatusCode::CONFLICT,
        }
    }

    /// A stable kebab-case code for JSON error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "missing-credentials",
            AuthError::InvalidCredentials => "invalid-credentials",
            AuthError::InvalidToken(_) => "invalid-token",
            AuthError::RateLimited { .. } => "rate-limited",
            AuthError::EmailTaken => "email-taken",
            AuthError::WeakPassword(_) => "weak-password",
            AuthError::InvalidEmail => "invalid-email",
            AuthError::NotFound => "not-found",
            AuthError::Unavailable(_) => "unavailable",
            AuthError::Config(_) => "config",
            AuthError::Internal(_) => "internal",
            AuthError::Oidc(e) => e.code(),
            AuthError::SsoEmailUnverified => "oidc-email-unverified",
            AuthError::SsoNoAccount => "oidc-no-account",
            AuthError::SsoEmailTaken => "oidc-email-taken",
            AuthError::SsoAccountDisabled => "oidc-account-disabled",
        }
    }

    /// True when the same call may succeed later (database down or busy, rate limited).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            AuthError::Unavailable(_) | AuthError::RateLimited { .. }
        ) || matches!(self, AuthError::Oidc(e) if e.is_retryable())
    }
}

impl From<DbError> for AuthError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::NotFound => AuthError::NotFound,
            DbError::Conflict(_) => AuthError::EmailTaken,
            e if e.is_retryable() => AuthError::Unavailable(e),
            e => AuthError::Internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after_secs(Duration::from_secs(5)), 5);
        assert_eq!(retry_after_secs(Duration::from_millis(4_100)), 5);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(10)), 1);
    }

    #[test]
    fn statuses_and_codes_follow_the_contract() {
        assert_eq!(AuthError::MissingCredentials.status(), 401);
        assert_eq!(AuthError::InvalidCredentials.status(), 401);
        assert_eq!(AuthError::InvalidToken("x".into()).status(), 403);
        let limited = AuthError::RateLimited {
            retry_after: Duration::from_secs(3),
        };
        assert_eq!(limited.status(), 429);
        assert_eq!(limited.code(), "rate-limited");
        assert_eq!(AuthError::from(DbError::Corrupt("x".into())).status(), 500);
        assert!(matches!(
            AuthError::from(DbError::Conflict("dup".into())),
            AuthError::EmailTaken
        ));
    }
}
