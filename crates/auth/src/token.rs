//! Access tokens: [`TokenIssuer`] signs [`Claims`] (EdDSA with a `kid`, or HS256) and
//! [`TokenVerifier`] checks them with the algorithm pinned, plus the JWKS that publishes the
//! public key and the verifier a remote gateway builds from it.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use mp3converter_core::{Claims, Role};
use mp3converter_db::User;
use serde_json::json;

use crate::keys::{SigningKey, fingerprint};
use crate::{Algorithm, AuthError};

/// Clock skew tolerated on `exp`, in seconds.
pub const LEEWAY_SECS: u64 = 30;
/// Longer strings are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Signs tokens. Cheap to clone.
#[derive(Clone)]
pub struct TokenIssuer {
    key: Arc<EncodingKey>,
    header: Header,
    ttl: Duration,
    issuer: String,
    audience: String,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("alg", &self.header.alg)
            .field("kid", &self.header.kid)
            .field("ttl", &self.ttl)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// EdDSA tokens signed with `key`, whose `kid` goes into every header.
    pub fn eddsa(key: &SigningKey, ttl: Duration, issuer: &str, audience: &str) -> TokenIssuer {
        let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(key.kid().to_owned());
        TokenIssuer {
            key: Arc::new(EncodingKey::from_ed_der(key.pkcs8_der())),
            header,
            ttl,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// HS256 tokens signed with a shared `secret`.
    pub fn hs256(secret: &[u8], ttl: Duration, issuer: &str, audience: &str) -> TokenIssuer {
        TokenIssuer {
            key: Arc::new(EncodingKey::from_secret(secret)),
            header: Header::new(jsonwebtoken::Algorithm::HS256),
            ttl,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        }
    }

    /// The claims of a token for `user` issued at `now` (unix seconds).
    pub fn claims_for(&self, user: &User, now: i64) -> Claims {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        Claims {
            sub: user.id.to_string(),
            username: user.email.clone(),
            admin: user.role == Role::Admin,
            iat: now,
            exp: now.saturating_add(ttl),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            generation: user.token_generation,
        }
    }

    /// A fresh token for `user`, valid from now for the configured lifetime.
    pub fn issue(&self, user: &User) -> Result<String, AuthError> {
        self.sign(&self.claims_for(user, unix_now()))
    }

    /// Signs arbitrary claims (tests, tools).
    pub fn sign(&self, claims: &Claims) -> Result<String, AuthError> {
        jsonwebtoken::encode(&self.header, claims, &self.key)
            .map_err(|e| AuthError::Internal(format!("signing a token: {e}")))
    }
}

/// Seconds since the unix epoch.
pub(crate) fn unix_now() -> i64 {
    mp3converter_core::now_millis().div_euclid(1000)
}

enum Keys {
    /// Public keys by `kid`.
    Ed25519(Vec<(String, [u8; 32], DecodingKey)>),
    Hs256(DecodingKey),
}

/// Checks tokens: signature with the pinned algorithm, `exp` (±30 s), `iss`, `aud`. Cheap to
/// clone; a gateway keeps one.
#[derive(Clone)]
pub struct TokenVerifier {
    keys: Arc<Keys>,
    validation: Arc<Validation>,
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = match &*self.keys {
            Keys::Ed25519(keys) => keys.iter().map(|(kid, _, _)| kid.as_str()).collect(),
            Keys::Hs256(_) => Vec::new(),
        };
        f.debug_struct("TokenVerifier")
            .field("algorithm", &self.algorithm())
            .field("kids", &kids)
            .field("issuer", &self.validation.iss)
            .field("audience", &self.validation.aud)
            .finish()
    }
}

fn validation(alg: jsonwebtoken::Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = LEEWAY_SECS;
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v
}

impl TokenVerifier {
    /// Accepts EdDSA tokens signed by `key` only.
    pub fn for_key(key: &SigningKey, issuer: &str, audience: &str) -> TokenVerifier {
        TokenVerifier::ed25519(
            vec![(key.kid().to_owned(), *key.public_key())],
            issuer,
            audience,
        )
    }

    /// Accepts EdDSA tokens signed by any of these `(kid, public key)`s.
    pub fn ed25519(keys: Vec<(String, [u8; 32])>, issuer: &str, audience: &str) -> TokenVerifier {
        let keys = keys
            .into_iter()
            .map(|(kid, public)| {
                let decoding = DecodingKey::from_ed_der(&public);
                (kid, public, decoding)
            })
            .collect();
        TokenVerifier {
            keys: Arc::new(Keys::Ed25519(keys)),
            validation: Arc::new(validation(jsonwebtoken::Algorithm::EdDSA, issuer, audience)),
        }
    }

    /// Accepts HS256 tokens made with the shared `secret` only.
    pub fn hs256(secret: &[u8], issuer: &str, audience: &str) -> TokenVerifier {
        TokenVerifier {
            keys: Arc::new(Keys::Hs256(DecodingKey::from_secret(secret))),
            validation: Arc::new(validation(jsonwebtoken::Algorithm::HS256, issuer, audience)),
        }
    }

    /// A verifier for the Ed25519 keys of a JWKS document (what `/.well-known/jwks.json` serves).
    /// Keys of other types are skipped; a document without any Ed25519 key is refused.
    pub fn from_jwks(json: &str, issuer: &str, audience: &str) -> Result<TokenVerifier, AuthError> {
        let doc: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| AuthError::Config(format!("JWKS is not JSON: {e}")))?;
        let list = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| AuthError::Config("JWKS has no \"keys\" array".into()))?;
        let mut keys = Vec::new();
        for jwk in list {
            let field = |name: &str| jwk.get(name).and_then(|v| v.as_str());
            let usable = field("kty") == Some("OKP")
                && field("crv") == Some("Ed25519")
                && field("alg").is_none_or(|a| a == "EdDSA")
                && field("use").is_none_or(|u| u == "sig");
            if !usable {
                continue;
            }
            let Some(public) = field("x")
                .and_then(|x| URL_SAFE_NO_PAD.decode(x).ok())
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            else {
                return Err(AuthError::Config(
                    "JWKS has an Ed25519 key with a bad \"x\"".into(),
                ));
            };
            let kid = field("kid").map_or_else(|| fingerprint(&public), str::to_owned);
            keys.push((kid, public));
        }
        if keys.is_empty() {
            return Err(AuthError::Config("JWKS has no Ed25519 signing key".into()));
        }
        Ok(TokenVerifier::ed25519(keys, issuer, audience))
    }

    /// Which algorithm tokens must use.
    pub fn algorithm(&self) -> Algorithm {
        match &*self.keys {
            Keys::Ed25519(_) => Algorithm::EdDsa,
            Keys::Hs256(_) => Algorithm::Hs256,
        }
    }

    /// The JWKS document of the public keys (`{"keys":[]}` for HS256: the secret is never
    /// published).
    pub fn jwks_json(&self) -> String {
        let keys: Vec<serde_json::Value> = match &*self.keys {
            Keys::Ed25519(keys) => keys
                .iter()
                .map(|(kid, public, _)| {
                    json!({
                        "kty": "OKP",
                        "crv": "Ed25519",
                        "alg": "EdDSA",
                        "use": "sig",
                        "kid": kid,
                        "x": URL_SAFE_NO_PAD.encode(public),
                    })
                })
                .collect(),
            Keys::Hs256(_) => Vec::new(),
        };
        json!({ "keys": keys }).to_string()
    }

    /// The claims of a valid token; anything else is [`AuthError::InvalidToken`] with a reason.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let invalid = |why: &str| AuthError::InvalidToken(why.to_owned());
        if token.len() > MAX_TOKEN_BYTES {
            return Err(invalid("too long"));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed"))?;
        let pinned = match &*self.keys {
            Keys::Ed25519(_) => jsonwebtoken::Algorithm::EdDSA,
            Keys::Hs256(_) => jsonwebtoken::Algorithm::HS256,
        };
        if header.alg != pinned {
            return Err(invalid("wrong algorithm"));
        }
        let key = match &*self.keys {
            Keys::Hs256(key) => key,
            Keys::Ed25519(keys) => match (&header.kid, keys.as_slice()) {
                (Some(kid), _) => keys
                    .iter()
                    .find(|(k, _, _)| k == kid)
                    .map(|(_, _, key)| key)
                    .ok_or_else(|| invalid("unknown key id"))?,
                (None, [(_, _, only)]) => only,
                (None, _) => return Err(invalid("no key id")),
            },
        };
        jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| {
                invalid(match e.kind() {
                    ErrorKind::ExpiredSignature => "expired",
                    ErrorKind::InvalidSignature => "bad signature",
                    ErrorKind::InvalidIssuer => "wrong issuer",
                    ErrorKind::InvalidAudience => "wrong audience",
                    ErrorKind::InvalidAlgorithm => "wrong algorithm",
                    ErrorKind::MissingRequiredClaim(_) => "missing claim",
                    _ => "malformed",
                })
            })
    }
}
