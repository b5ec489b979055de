//! Short-lived signed URLs for one job's audio, so that `<audio src>` and a download link work
//! without putting the access token in a URL (where it would land in the browser's history).
//!
//! `POST /api/v1/jobs/{id}/audio-url` (authenticated by header) answers
//! `/api/v1/jobs/{id}/audio?u=<user>&g=<generation>&exp=<unix s>&sig=<HMAC>`: an HMAC-SHA256
//! over the job id, the user id, the user's token generation and the expiry, with a key every
//! gateway shares through the database (`server_secrets`, created by the first gateway that
//! needs it). The URL opens that one job's audio (ranges included) for
//! [`AUDIO_URL_TTL`] and nothing else; it also stops working when the user's tokens are revoked
//! (the generation is checked like a token's).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mp3converter_core::{Claims, JobId, UserId, now_millis};
use mp3converter_db::Database;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;
use utoipa::ToSchema;

use crate::error::ApiError;

/// How long a signed audio URL works.
pub const AUDIO_URL_TTL: Duration = Duration::from_secs(300);
/// The name of the key in `server_secrets`.
const KEY_NAME: &str = "audio-url-hmac-sha256";

/// Signs and checks audio URLs. Cheap to clone; the key is read from the database once.
#[derive(Debug, Clone)]
pub struct UrlSigner {
    db: Database,
    key: Arc<OnceCell<hmac::Key>>,
}

/// The answer of `POST /api/v1/jobs/{id}/audio-url`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AudioUrl {
    /// A relative URL of the job's audio that needs no `Authorization` header.
    pub url: String,
    /// When it stops working, unix milliseconds.
    pub expires_at: i64,
}

/// The signature parameters of an audio URL.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SignedQuery {
    u: String,
    g: i64,
    exp: i64,
    sig: String,
}

impl SignedQuery {
    /// The parameters of a query string that has `sig` (`None`: not a signed URL).
    pub(crate) fn parse(query: Option<&str>) -> Option<Result<SignedQuery, ApiError>> {
        let query = query?;
        if !query.split('&').any(|p| p.starts_with("sig=")) {
            return None;
        }
        Some(parse_query(query).map_err(|_| refused()))
    }
}

fn parse_query(query: &str) -> Result<SignedQuery, ()> {
    axum::extract::Query::<SignedQuery>::try_from_uri(
        &format!("/?{query}").parse().map_err(|_| ())?,
    )
    .map(|q| q.0)
    .map_err(|_| ())
}

/// 401 `invalid-signature`: forged, tampered, for another job, or expired.
fn refused() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::UNAUTHORIZED,
        "invalid-signature",
        "the link is invalid or has expired; ask for a new one",
    )
}

fn message(job: &str, user: &str, generation: i64, exp: i64) -> String {
    format!("audio\n{job}\n{user}\n{generation}\n{exp}")
}

impl UrlSigner {
    /// A signer whose key lives in `db` (created on first use).
    pub fn new(db: Database) -> UrlSigner {
        UrlSigner {
            db,
            key: Arc::default(),
        }
    }

    async fn key(&self) -> Result<&hmac::Key, ApiError> {
        self.key
            .get_or_try_init(|| async {
                let stored = self
                    .db
                    .server_secret(KEY_NAME, || {
                        let mut bytes = [0u8; 32];
                        // The system RNG failing is not something to recover from.
                        SystemRandom::new()
                            .fill(&mut bytes)
                            .expect("the system random number generator works");
                        URL_SAFE_NO_PAD.encode(bytes)
                    })
                    .await?;
                let bytes = URL_SAFE_NO_PAD
                    .decode(stored)
                    .map_err(|e| ApiError::internal(&e))?;
                Ok::<_, ApiError>(hmac::Key::new(hmac::HMAC_SHA256, &bytes))
            })
            .await
    }

    /// The shared HMAC key, for the other secrets derived from it (the podcast feeds').
    pub(crate) async fn hmac_key(&self) -> Result<hmac::Key, ApiError> {
        Ok(self.key().await?.clone())
    }

    /// A URL of `job`'s audio for the holder of `claims`, valid for [`AUDIO_URL_TTL`].
    pub async fn audio_url(&self, job: &JobId, claims: &Claims) -> Result<AudioUrl, ApiError> {
        let exp = now_millis().div_euclid(1000) + AUDIO_URL_TTL.as_secs() as i64;
        let url = self
            .sign(job.as_str(), &claims.sub, claims.generation, exp)
            .await?;
        Ok(AudioUrl {
            url,
            expires_at: exp * 1000,
        })
    }

    /// The signed URL with these fields (tests sign expired ones with it).
    pub async fn sign(
        &self,
        job: &str,
        user: &str,
        generation: i64,
        exp: i64,
    ) -> Result<String, ApiError> {
        let tag = hmac::sign(
            self.key().await?,
            message(job, user, generation, exp).as_bytes(),
        );
        let user = percent_encoding::utf8_percent_encode(user, percent_encoding::NON_ALPHANUMERIC);
        Ok(format!(
            "/api/v1/jobs/{job}/audio?u={user}&g={generation}&exp={exp}&sig={}",
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        ))
    }

    /// The claims to re-check (user, generation, expiry) when `query` is a valid, unexpired
    /// signature for job `job`; otherwise 401 `invalid-signature`.
    pub(crate) async fn check(&self, job: &str, query: &SignedQuery) -> Result<Claims, ApiError> {
        if query.exp <= now_millis().div_euclid(1000) {
            return Err(refused());
        }
        let tag = URL_SAFE_NO_PAD.decode(&query.sig).map_err(|_| refused())?;
        let signed = message(job, &query.u, query.g, query.exp);
        hmac::verify(self.key().await?, signed.as_bytes(), &tag).map_err(|_| refused())?;
        let user: UserId = query.u.parse().map_err(|_| refused())?;
        Ok(Claims {
            sub: user.to_string(),
            username: String::new(),
            admin: false,
            iat: 0,
            exp: query.exp,
            iss: String::new(),
            aud: String::new(),
            generation: query.g,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_query_strings_with_a_signature_are_signed_urls() {
        assert!(SignedQuery::parse(None).is_none());
        assert!(SignedQuery::parse(Some("access_token=abc")).is_none());
        assert!(
            SignedQuery::parse(Some("u=x&g=1&exp=2&sig=abc"))
                .unwrap()
                .is_ok()
        );
        assert!(
            SignedQuery::parse(Some("u=x&g=nan&exp=2&sig=abc"))
                .unwrap()
                .is_err()
        );
    }
}
