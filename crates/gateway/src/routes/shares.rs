//! Share links: `POST`/`GET /api/v1/jobs/{id}/shares` (make and list the links of a done job),
//! `DELETE /api/v1/shares/{id}` (revoke), and the public side that needs no account:
//! `GET /s/{token}` (a small page with a player) and `GET /s/{token}/audio` (the audio, with
//! `Range`). The token is 256 random bits shown once and stored hashed; every public request
//! looks the share up in the database, so revoking, expiry, deleting the job, retention and
//! disabling the owner end it at once. Unknown, expired and revoked links all answer the same 404.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mp3converter_core::now_millis;
use mp3converter_db::Share;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::GatewayState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiUser;
use crate::links::{new_token, token_hash, well_formed};
use crate::routes::visible_job;

/// The default lifetime of a share link: 7 days.
pub(crate) const DEFAULT_EXPIRES_IN_SECS: u64 = 7 * 24 * 60 * 60;
/// The longest lifetime of a share link: 90 days.
pub(crate) const MAX_EXPIRES_IN_SECS: u64 = 90 * 24 * 60 * 60;
/// Largest body of `POST /api/v1/jobs/{id}/shares`.
const MAX_BODY: usize = 4096;
/// Most live share links per job.
const MAX_SHARES_PER_JOB: usize = 100;

/// The body of `POST /api/v1/jobs/{id}/shares` (optional: an empty body or `null` takes the
/// default).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateShare {
    /// Seconds the link works, 1–7776000 (90 days); default 604800 (7 days).
    #[schema(minimum = 1, maximum = 7776000)]
    expires_in_secs: Option<u64>,
}

/// A share link as listed (its URL was shown once, at creation).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShareView {
    /// The share's id (to revoke it).
    pub id: String,
    /// The shared job.
    #[schema(format = Uuid)]
    pub job_id: String,
    /// When it was made, unix milliseconds.
    pub created_at: i64,
    /// When it stops working, unix milliseconds.
    pub expires_at: i64,
}

/// A new share link: the only time its URL is shown.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedShare {
    /// The share's id (to revoke it).
    pub id: String,
    /// The public page of the shared audio (absolute; anyone with it can listen and download
    /// until it expires or is revoked). The audio itself is at this URL + `/audio`.
    pub url: String,
    /// When it stops working, unix milliseconds.
    pub expires_at: i64,
}

impl From<&Share> for ShareView {
    fn from(share: &Share) -> Self {
        ShareView {
            id: share.id.clone(),
            job_id: share.job_id.to_string(),
            created_at: share.created_at,
            expires_at: share.expires_at,
        }
    }
}

fn no_store() -> [(header::HeaderName, HeaderValue); 1] {
    [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]
}

/// Make a public link to a done job's audio (owner or admin). The answer holds the link's URL,
/// which is not shown again.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/shares", tag = "shares", operation_id = "create_share",
    params(("id" = String, Path, description = "The job id")),
    request_body(content = Option<CreateShare>, content_type = "application/json"),
    responses(
        (status = 201, description = "The link", body = CreatedShare),
        (status = 400, description = "Not a JSON object of the documented fields (`invalid-json`), or `expires_in_secs` out of range (`invalid-expiry`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such job, not yours, or expired", body = ErrorBody),
        (status = 413, description = "A body over 4 KiB (`too-large`)", body = ErrorBody),
        (status = 409, description = "Not converted yet, or the conversion failed (`not-ready`, `job-failed`), or the job has 100 live links (`too-many-shares`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    let body = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| crate::error::too_large(MAX_BODY as u64))?;
    let request: CreateShare = if body.iter().all(u8::is_ascii_whitespace) {
        CreateShare::default()
    } else {
        serde_json::from_slice::<Option<CreateShare>>(&body)
            .map_err(|e| ApiError::bad_request("invalid-json", format!("invalid body: {e}")))?
            .unwrap_or_default()
    };
    let secs = request.expires_in_secs.unwrap_or(DEFAULT_EXPIRES_IN_SECS);
    if !(1..=MAX_EXPIRES_IN_SECS).contains(&secs) {
        return Err(ApiError::bad_request(
            "invalid-expiry",
            format!("expires_in_secs must be between 1 and {MAX_EXPIRES_IN_SECS} (90 days)"),
        ));
    }
    let job = visible_job(&state, &caller, &id).await?;
    if let Some(refusal) = crate::audio::not_downloadable(&job) {
        return Err(refusal);
    }
    let now = now_millis();
    if state.db.list_shares(&job.id, now).await?.len() >= MAX_SHARES_PER_JOB {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too-many-shares",
            format!("a job can have at most {MAX_SHARES_PER_JOB} live share links; revoke one"),
        ));
    }
    let token = new_token();
    let share = Share {
        id: uuid_like(),
        job_id: job.id.clone(),
        owner_id: job.owner_id.clone(),
        created_at: now,
        expires_at: now.saturating_add(i64::try_from(secs * 1000).unwrap_or(i64::MAX)),
    };
    state.db.create_share(&share, &token_hash(&token)).await?;
    tracing::info!(job_id = %job.id, share_id = %share.id, by = %caller.id, "share link created");
    let created = CreatedShare {
        id: share.id,
        url: format!("{}/s/{token}", state.public_url),
        expires_at: share.expires_at,
    };
    Ok((StatusCode::CREATED, no_store(), Json(created)).into_response())
}

/// A new share id (a random UUID-shaped string, like job ids).
fn uuid_like() -> String {
    mp3converter_core::JobId::generate().to_string()
}

/// The live (unexpired) share links of a job, newest first (owner or admin).
#[utoipa::path(get, path = "/api/v1/jobs/{id}/shares", tag = "shares", operation_id = "list_shares",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job's live links", body = Vec<ShareView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such job, or not yours", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<ShareView>>, ApiError> {
    let job = visible_job(&state, &caller, &id).await?;
    let shares = state.db.list_shares(&job.id, now_millis()).await?;
    Ok(Json(shares.iter().map(ShareView::from).collect()))
}

/// Revoke a share link (its job's owner, or an admin): it stops working at once.
#[utoipa::path(delete, path = "/api/v1/shares/{id}", tag = "shares", operation_id = "revoke_share",
    params(("id" = String, Path, description = "The share id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such share, or not yours", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let share = state.db.get_share(&id).await?;
    let Some(share) = share.filter(|s| caller.admin || s.owner_id == caller.id) else {
        return Err(ApiError::not_found());
    };
    if !state.db.delete_share(&share.id).await? {
        return Err(ApiError::not_found());
    }
    tracing::info!(share_id = %share.id, job_id = %share.job_id, by = %caller.id, "share link revoked");
    Ok(StatusCode::NO_CONTENT)
}

/// The job behind a public token, if the link is live.
async fn shared_job(
    state: &GatewayState,
    token: &str,
) -> Result<Option<mp3converter_core::Job>, ApiError> {
    if !well_formed(token) {
        return Ok(None);
    }
    Ok(state
        .db
        .shared_job(&token_hash(token), now_millis())
        .await?)
}

/// The public page of a share link: the title, the duration, a player and a download link (no
/// script). An unknown, expired or revoked link gets a small HTML 404 page.
#[utoipa::path(get, path = "/s/{token}", tag = "public", operation_id = "share_page",
    params(("token" = String, Path, description = "The link's secret")),
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 404, description = "Unknown, expired or revoked link", content_type = "text/html"),
    ))]
pub(crate) async fn page(State(state): State<GatewayState>, Path(token): Path<String>) -> Response {
    match shared_job(&state, &token).await {
        Ok(Some(job)) => crate::share_page::page(&job, &token),
        Ok(None) => crate::share_page::not_found(),
        Err(e) => e.into_json(),
    }
}

/// The audio of a share link, with one `Range`, `ETag`/`If-None-Match` and `If-Range`; its
/// `Content-Disposition` names the original file. Unknown, expired or revoked: 404.
#[utoipa::path(get, path = "/s/{token}/audio", tag = "public", operation_id = "share_audio",
    params(("token" = String, Path, description = "The link's secret")),
    responses(
        (status = 200, description = "The audio, in the job's format", content((Vec<u8> = "audio/mpeg"), (Vec<u8> = "audio/ogg"), (Vec<u8> = "audio/flac"), (Vec<u8> = "audio/wav"), (Vec<u8> = "audio/mp4"))),
        (status = 206, description = "The requested range", content((Vec<u8> = "audio/mpeg"), (Vec<u8> = "audio/ogg"), (Vec<u8> = "audio/flac"), (Vec<u8> = "audio/wav"), (Vec<u8> = "audio/mp4"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 404, description = "Unknown, expired or revoked link", body = ErrorBody),
    ))]
pub(crate) async fn audio(
    State(state): State<GatewayState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let job = shared_job(&state, &token)
        .await?
        .ok_or_else(ApiError::not_found)?;
    let mut response = crate::audio::send_audio(&state, &job, &headers).await?;
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response.headers_mut().insert(
        header::HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex"),
    );
    Ok(response)
}
