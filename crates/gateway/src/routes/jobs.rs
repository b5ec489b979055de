//! `/api/v1/jobs`: create (multipart upload), list, get, delete, and download the audio.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::GatewayState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiUser, StreamUser};
use crate::routes::visible_job;
use crate::upload::accept_upload;
use crate::views::JobView;

/// The multipart form of `POST /api/v1/jobs` (documentation only). Options come as separate
/// fields or as one `options` JSON field; separate fields win.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct UploadForm {
    /// The video (exactly one file part).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// All options as JSON, e.g. `{"bitrate": 128, "mono": true}`.
    options: Option<String>,
    /// Constant bitrate in kbps (32–320).
    bitrate: Option<u16>,
    /// VBR quality 0–9.
    vbr: Option<u8>,
    /// Output sample rate in Hz.
    sample_rate: Option<u32>,
    /// `true` to mix down to mono.
    mono: Option<bool>,
    /// Start of the kept range, seconds.
    start: Option<f64>,
    /// End of the kept range, seconds.
    end: Option<f64>,
    /// Audio track index.
    track: Option<usize>,
    /// ID3v2 title.
    title: Option<String>,
    /// `true` to exempt the job from retention (see `PUT /api/v1/jobs/{id}/keep`).
    keep: Option<bool>,
}

/// Create a job: upload a video with conversion options.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", operation_id = "create_job",
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Job created and queued", body = JobView,
            headers(("Location" = String, description = "The job's URL"))),
        (status = 400, description = "Not exactly one file, empty file or invalid options", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 413, description = "Larger than max_upload_bytes", body = ErrorBody),
        (status = 415, description = "Not a video or audio file", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let job = accept_upload(&state, &caller, &headers, multipart.ok()).await?;
    let view = JobView::from(&job);
    let location = HeaderValue::from_str(&view.links.self_).map_err(|e| ApiError::internal(&e))?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// Whose jobs `GET /api/v1/jobs` lists.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Owner {
    /// The caller's own jobs (admins included).
    #[default]
    Me,
    /// Every user's jobs (admins only).
    All,
}

/// Query of `GET /api/v1/jobs`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Most jobs to return (capped by the server's `max_jobs_listed`).
    limit: Option<u32>,
    /// `me` (the default): the caller's own jobs; `all`: every user's jobs (admins only, 403
    /// for others). Each job has its `owner_id`.
    #[param(inline)]
    owner: Option<Owner>,
}

/// List jobs, newest first: the caller's own, or with `owner=all` every user's (admins only).
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs", operation_id = "list_jobs", params(ListQuery),
    responses(
        (status = 200, description = "Jobs, newest first", body = Vec<JobView>),
        (status = 400, description = "Invalid query", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "`owner=all` from a user who is not an admin", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Vec<JobView>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid-query", e.body_text()))?;
    let max = state.config.max_jobs_listed;
    let limit = query.limit.unwrap_or(max).clamp(1, max);
    let jobs = match query.owner.unwrap_or_default() {
        Owner::All if caller.admin => state.db.list_jobs(limit).await?,
        Owner::All => return Err(ApiError::forbidden()),
        Owner::Me => state.db.list_jobs_for_owner(&caller.id, limit).await?,
    };
    Ok(Json(jobs.iter().map(JobView::from).collect()))
}

/// Get one job.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs", operation_id = "get_job",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such job, or not yours", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = visible_job(&state, &caller, &id).await?;
    Ok(Json(JobView::from(&job)))
}

/// Delete a job with its video and audio.
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", tag = "jobs", operation_id = "delete_job",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such job, or not yours", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let job = visible_job(&state, &caller, &id).await?;
    // Blobs first: if storage fails the row stays and the delete can be repeated.
    for key in std::iter::once(&job.video_key).chain(job.audio_key.as_ref()) {
        state.storage.delete(key).await?;
    }
    state.db.delete_job(&job.id).await?;
    tracing::info!(job_id = %job.id, by = %caller.id, "job deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Download the audio of a done job. Supports one `Range`, `If-None-Match` and `If-Range`.
/// The token may also be given as `?access_token=` (for `<audio src>`).
#[utoipa::path(get, path = "/api/v1/jobs/{id}/audio", tag = "jobs", operation_id = "get_job_audio",
    params(
        ("id" = String, Path, description = "The job id"),
        ("access_token" = Option<String>, Query, description = "The token, when no Authorization header can be sent"),
    ),
    responses(
        (status = 200, description = "The MP3", content_type = "audio/mpeg", body = Vec<u8>),
        (status = 206, description = "The requested range", content_type = "audio/mpeg", body = Vec<u8>),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such job, not yours, or expired", body = ErrorBody),
        (status = 409, description = "Not converted yet, or the conversion failed", body = ErrorBody),
        (status = 416, description = "Range outside the file", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn audio(
    State(state): State<GatewayState>,
    StreamUser(caller): StreamUser,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let job = visible_job(&state, &caller, &id).await?;
    crate::audio::send_audio(&state, &job, &headers).await
}
