//! Authentication for mp3converter: users with argon2id passwords, JWT access tokens (EdDSA by
//! default, HS256 as the seed's alternative), login rate limiting, and the seed's auth routes.
//!
//! [`AuthService`] is the entry point: it logs users in, verifies tokens and manages accounts.
//! A gateway that runs without the auth role builds a [`TokenVerifier`] from the auth service's
//! JWKS ([`TokenVerifier::from_jwks`]) or the shared HS256 secret, and never calls auth per
//! request. [`router`] serves `POST /login`, `POST /validate` and `GET /.well-known/jwks.json`.

#![forbid(unsafe_code)]

mod clock;
mod config;
mod directory;
mod email;
mod error;
mod keys;
mod password;
mod rate_limit;
mod revocation;
mod router;
mod service;
mod sso;
mod sso_config;
mod sso_router;
mod token;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{Algorithm, AuthConfig, MIN_HS256_SECRET_BYTES, REFERENCE_TOML};
pub use directory::{DEFAULT_ADMIN_EMAIL, UserDirectory};
pub use email::{canonical_email, normalize_email, validate_email};
pub use error::AuthError;
pub use keys::{SigningKey, fingerprint};
pub use mp3converter_oidc::{AuthorizationRequest, PendingLogin};
pub use password::{
    MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS, check_policy, hash_password, random_password,
    verify_password,
};
pub use revocation::{MAX_REVOCATION_CHECK, Revocations};
pub use router::{basic_credentials, bearer_token, router};
pub use service::AuthService;
pub use sso::SingleSignOn;
pub use sso_config::{OIDC_REFERENCE_TOML, OidcConfig};
pub use sso_router::{SsoAnswer, SsoBegun, SsoFinish, sso_router};
pub use token::{LEEWAY_SECS, TokenIssuer, TokenVerifier};
