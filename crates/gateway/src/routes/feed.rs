//! The private podcast feed: `GET /api/v1/me/feed` (the caller's feed URL, made on first call),
//! `POST /api/v1/me/feed/rotate` (a new URL; the old one and every enclosure URL under it stop
//! at once), and the public side, authenticated by the secret in the path because podcast apps
//! cannot send headers: `GET /feeds/{secret}.xml` (RSS 2.0), `GET /feeds/{secret}/{job}.{ext}`
//! (an episode's audio, with `Range`) and `GET /feeds/{secret}/{job}/cover` (its cover).
//!
//! The secret is `base64url(HMAC-SHA256(server key, "feed\n<user>\n<nonce>"))`: it can be shown
//! again from the stored nonce, while the database indexes only its SHA-256. Rotation replaces
//! the nonce. Every public request looks the secret up, so a disabled account's feed stops too.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mp3converter_core::{Job, JobId, UserId, cover_key, now_millis};
use mp3converter_storage::ByteRange;
use ring::hmac;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::GatewayState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiUser;
use crate::links::{new_token, token_hash, well_formed};

/// Most episodes in a feed (the most recently finished).
pub(crate) const MAX_ITEMS: u32 = 500;

/// The caller's feed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FeedUrl {
    /// The feed's secret URL (absolute): add it to a podcast app. Anyone with it can read the
    /// feed and play its episodes until it is rotated.
    #[schema(example = "https://mp3.example.com/feeds/q3Xv….xml")]
    pub url: String,
}

fn secret(key: &hmac::Key, user: &UserId, nonce: &str) -> String {
    let tag = hmac::sign(key, format!("feed\n{user}\n{nonce}").as_bytes());
    URL_SAFE_NO_PAD.encode(tag.as_ref())
}

fn feed_url(state: &GatewayState, secret: &str) -> Json<FeedUrl> {
    Json(FeedUrl {
        url: format!("{}/feeds/{secret}.xml", state.public_url),
    })
}

fn no_store(body: Json<FeedUrl>) -> Response {
    (
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        body,
    )
        .into_response()
}

/// The caller's private podcast feed URL (RSS 2.0 with the iTunes and Podcasting 2.0 tags,
/// listing the caller's finished jobs); made on the first call, then the same until rotated.
#[utoipa::path(get, path = "/api/v1/me/feed", tag = "feed", operation_id = "get_feed",
    responses(
        (status = 200, description = "The feed's URL", body = FeedUrl),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
) -> Result<Response, ApiError> {
    let key = state.signer.hmac_key().await?;
    let nonce = state
        .db
        .feed_nonce(
            &caller.id,
            || {
                let nonce = new_token();
                let hash = token_hash(&secret(&key, &caller.id, &nonce));
                (nonce, hash)
            },
            now_millis(),
        )
        .await?;
    Ok(no_store(feed_url(
        &state,
        &secret(&key, &caller.id, &nonce),
    )))
}

/// A new feed URL: the old one, and every episode URL in it, stop working at once.
#[utoipa::path(post, path = "/api/v1/me/feed/rotate", tag = "feed", operation_id = "rotate_feed",
    responses(
        (status = 200, description = "The feed's new URL", body = FeedUrl),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn rotate(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
) -> Result<Response, ApiError> {
    let key = state.signer.hmac_key().await?;
    let nonce = new_token();
    let secret = secret(&key, &caller.id, &nonce);
    state
        .db
        .rotate_feed(&caller.id, &nonce, &token_hash(&secret), now_millis())
        .await?;
    tracing::info!(user_id = %caller.id, "podcast feed rotated");
    Ok(no_store(feed_url(&state, &secret)))
}

/// The owner of a feed secret, if it is live.
async fn owner(state: &GatewayState, secret: &str) -> Result<UserId, ApiError> {
    if !well_formed(secret) {
        return Err(ApiError::not_found());
    }
    state
        .db
        .feed_owner(&token_hash(secret))
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Whether a job can be an episode: a single audio file (a split job delivers a ZIP).
pub(crate) fn is_episode(job: &Job) -> bool {
    job.options.split.is_none()
}

/// The feed: RSS 2.0 (`application/rss+xml`) with the iTunes and Podcasting 2.0 namespaces, one
/// item per finished job (newest first, at most 500). No account needed: the secret is the key.
#[utoipa::path(get, path = "/feeds/{secret}", tag = "public", operation_id = "feed_xml",
    params(("secret" = String, Path, description = "The feed's secret followed by `.xml`")),
    responses(
        (status = 200, description = "The feed", content_type = "application/rss+xml"),
        (status = 404, description = "Unknown or rotated feed", body = ErrorBody),
    ))]
pub(crate) async fn xml(
    State(state): State<GatewayState>,
    Path(file): Path<String>,
) -> Result<Response, ApiError> {
    let secret = file.strip_suffix(".xml").ok_or_else(ApiError::not_found)?;
    let user = owner(&state, secret).await?;
    let jobs = state.db.feed_jobs(&user, MAX_ITEMS).await?;
    let episodes: Vec<&Job> = jobs.iter().filter(|j| is_episode(j)).collect();
    let base = format!("{}/feeds/{secret}", state.public_url);
    let xml = crate::feed_xml::render(&state.public_url, &base, &episodes)
        .map_err(|e| ApiError::internal(&e))?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/rss+xml; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            ),
            (
                header::HeaderName::from_static("x-robots-tag"),
                HeaderValue::from_static("noindex"),
            ),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            ),
        ],
        xml,
    )
        .into_response())
}

/// An episode's audio, with one `Range`, `ETag`/`If-None-Match` and `If-Range`.
#[utoipa::path(get, path = "/feeds/{secret}/{item}", tag = "public", operation_id = "feed_episode",
    params(
        ("secret" = String, Path, description = "The feed's secret"),
        ("item" = String, Path, description = "`<job id>.<the job's extension>`"),
    ),
    responses(
        (status = 200, description = "The audio", content((Vec<u8> = "audio/mpeg"), (Vec<u8> = "audio/ogg"), (Vec<u8> = "audio/flac"), (Vec<u8> = "audio/wav"), (Vec<u8> = "audio/mp4"))),
        (status = 206, description = "The requested range", content((Vec<u8> = "audio/mpeg"), (Vec<u8> = "audio/ogg"), (Vec<u8> = "audio/flac"), (Vec<u8> = "audio/wav"), (Vec<u8> = "audio/mp4"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "Unknown or rotated feed, or no such episode", body = ErrorBody),
    ))]
pub(crate) async fn episode(
    State(state): State<GatewayState>,
    Path((secret, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let (id, ext) = file.rsplit_once('.').ok_or_else(ApiError::not_found)?;
    let job = feed_job(&state, &secret, id).await?;
    if ext != job.options.output_extension() || !is_episode(&job) {
        return Err(ApiError::not_found());
    }
    crate::audio::send_audio(&state, &job, &headers).await
}

async fn feed_job(state: &GatewayState, secret: &str, id: &str) -> Result<Job, ApiError> {
    let user = owner(state, secret).await?;
    let id: JobId = id.parse().map_err(|_| ApiError::not_found())?;
    state
        .db
        .feed_job(&user, &id)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// The image type of a picture's first bytes (JPEG, PNG or WebP), else `None`.
fn image_type(head: &[u8]) -> Option<&'static str> {
    if head.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if head.len() >= 12 && &head[..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

/// An episode's cover picture (the one uploaded with the job).
#[utoipa::path(get, path = "/feeds/{secret}/{item}/cover", tag = "public", operation_id = "feed_cover",
    params(
        ("secret" = String, Path, description = "The feed's secret"),
        ("item" = String, Path, description = "The job id"),
    ),
    responses(
        (status = 200, description = "The picture", content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"))),
        (status = 404, description = "Unknown or rotated feed, no such episode, or no cover", body = ErrorBody),
    ))]
pub(crate) async fn cover(
    State(state): State<GatewayState>,
    Path((secret, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let job = feed_job(&state, &secret, &id).await?;
    if !job.options.cover {
        return Err(ApiError::not_found());
    }
    let key = cover_key(&job.video_key);
    let head = match state
        .storage
        .get_range(&key, ByteRange::Bounded(0..12))
        .await
    {
        Ok(blob) => {
            use futures_util::TryStreamExt;
            let chunks: Vec<bytes::Bytes> = blob.body.try_collect().await?;
            chunks.concat()
        }
        Err(mp3converter_storage::StorageError::NotFound { .. }) => {
            return Err(ApiError::not_found());
        }
        Err(e) => return Err(e.into()),
    };
    let content_type = image_type(&head).ok_or_else(ApiError::not_found)?;
    let blob = state.storage.get(&key).await?;
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, blob.meta.size)
        .header(header::CACHE_CONTROL, "private, max-age=86400")
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .body(Body::from_stream(blob.body))
        .map_err(|e| ApiError::internal(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_recognised_by_their_first_bytes() {
        assert_eq!(image_type(&[0xff, 0xd8, 0xff, 0xe0]), Some("image/jpeg"));
        assert_eq!(image_type(b"\x89PNG\r\n\x1a\n\0\0\0\r"), Some("image/png"));
        assert_eq!(image_type(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(image_type(b"<svg xmlns="), None);
    }

    #[test]
    fn feed_secrets_depend_on_user_and_nonce() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
        let (a, b) = (UserId::generate(), UserId::generate());
        let s = secret(&key, &a, "n1");
        assert!(well_formed(&s), "{s}");
        assert_eq!(s, secret(&key, &a, "n1"));
        assert_ne!(s, secret(&key, &a, "n2"));
        assert_ne!(s, secret(&key, &b, "n1"));
    }
}
