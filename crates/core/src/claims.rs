//! The claims of an mp3converter access token (a JWT), shared by the issuer and every verifier.

use serde::{Deserialize, Serialize};

/// What a verified token says about its bearer. Field names are the seed's (`username`, `admin`)
/// plus the registered JWT claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// The user's email (the seed calls it `username`).
    pub username: String,
    /// True for administrators (from the user's role, never assumed).
    pub admin: bool,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds.
    pub exp: i64,
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The user's token generation when the token was issued (`gen`). A token whose generation
    /// is older than the account's current one is revoked: disabling or re-enabling the account
    /// and changing its password bump it. Absent in tokens issued before it existed (read as 0).
    #[serde(rename = "gen", default)]
    pub generation: i64,
}
