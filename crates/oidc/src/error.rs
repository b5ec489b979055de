//! `OidcError`: why a single sign-on step failed, with its stable code and HTTP status.

/// Why a single sign-on step failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The settings cannot work (a malformed URL).
    #[error("invalid single sign-on settings: {0}")]
    Config(String),
    /// The provider could not be reached or answered nonsense (discovery, token or userinfo
    /// endpoint).
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The token endpoint refused the code (expired, used, wrong PKCE verifier, ...).
    #[error("the identity provider refused the login: {0}")]
    ExchangeRefused(String),
    /// The token answer had no ID token (the provider is not an OpenID provider).
    #[error("the identity provider returned no ID token")]
    NoIdToken,
    /// The ID token's nonce is not the one of this login (a replayed or injected token).
    #[error("the ID token was not issued for this login (nonce mismatch)")]
    NonceMismatch,
    /// The ID token (or userinfo answer) failed verification: signature, issuer, audience,
    /// expiry or subject.
    #[error("the ID token is not acceptable: {0}")]
    InvalidIdToken(String),
}

impl OidcError {
    /// The stable kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            OidcError::Config(_) => "oidc-misconfigured",
            OidcError::Unavailable(_) => "oidc-unavailable",
            OidcError::ExchangeRefused(_) => "oidc-exchange-refused",
            OidcError::NoIdToken | OidcError::InvalidIdToken(_) => "oidc-invalid-id-token",
            OidcError::NonceMismatch => "oidc-nonce-mismatch",
        }
    }

    /// The HTTP status to answer with: 502/503 when the provider is at fault or away, 400 when
    /// this login cannot succeed.
    pub fn status(&self) -> u16 {
        match self {
            OidcError::Config(_) => 500,
            OidcError::Unavailable(_) => 503,
            OidcError::NoIdToken => 502,
            OidcError::ExchangeRefused(_)
            | OidcError::NonceMismatch
            | OidcError::InvalidIdToken(_) => 400,
        }
    }

    /// True when trying again later may work (the provider was away).
    pub fn is_retryable(&self) -> bool {
        matches!(self, OidcError::Unavailable(_))
    }
}
