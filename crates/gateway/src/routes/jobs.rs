//! `/api/v1/jobs`: create (multipart upload, or import from a URL with a JSON body), list, get,
//! delete, and download the audio.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mp3converter_core::ConvertOptions;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::GatewayState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiUser, AudioAccess};
use crate::import::accept_import;
use crate::routes::visible_job;
use crate::signed::AudioUrl;
use crate::upload::accept_upload;
use crate::views::{JobView, OptionsSchema};

/// The multipart form of `POST /api/v1/jobs` (documentation only). Options come as separate
/// fields or as one `options` JSON field; separate fields win. An empty field counts as absent;
/// an unknown field is refused. At most 32 parts, 16 KiB per text field and 64 KiB of text
/// fields in all; each part's headers at most 8 KiB.
#[derive(ToSchema, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(crate) struct UploadForm {
    /// The video (exactly one file part).
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// All options as JSON, e.g. `{"bitrate": 128, "mono": true}` (same fields and limits).
    #[schema(max_length = 16384)]
    options: Option<String>,
    /// A bundle of options (`speech`, `podcast`, `music`, `audiobook`; see docs/formats.md)
    /// under the ones given: every option given explicitly wins.
    #[schema(pattern = "^(speech|podcast|music|audiobook)$")]
    preset: Option<String>,
    /// Output format: `mp3` (default), `opus`, `flac`, `wav` or `m4a`.
    #[schema(pattern = "^(mp3|opus|flac|wav|m4a)$")]
    format: Option<String>,
    /// Constant bitrate in kbps: MP3 and M4A 32–320, Opus 6–510; not for FLAC or WAV.
    /// Exclusive with `vbr`.
    #[schema(minimum = 6, maximum = 510)]
    bitrate: Option<u16>,
    /// MP3 VBR quality 0–9. Exclusive with `bitrate`.
    #[schema(minimum = 0, maximum = 9)]
    vbr: Option<u8>,
    /// Output sample rate in Hz, one the format can carry (see `ConvertOptions`).
    #[schema(minimum = 8000, maximum = 192000)]
    sample_rate: Option<u32>,
    /// `true` to mix down to mono.
    mono: Option<bool>,
    /// Start of the kept range, seconds (0–1000000).
    #[schema(minimum = 0, maximum = 1_000_000)]
    start: Option<f64>,
    /// End of the kept range, seconds (0–1000000), after `start`.
    #[schema(minimum = 0, maximum = 1_000_000)]
    end: Option<f64>,
    /// Normalise to this integrated loudness, LUFS (−70 to −5; EBU R128, two passes, true peak
    /// under −1 dBTP): −16 for podcasts, −23 for broadcast, −14 for streaming.
    #[schema(minimum = -70, maximum = -5)]
    loudness: Option<f64>,
    /// Audio track index (0–255).
    #[schema(minimum = 0, maximum = 255)]
    track: Option<u16>,
    /// Title tag: at most 200 characters, no control characters.
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    title: Option<String>,
    /// Artist tag (default: the source's): at most 200 characters, no control characters.
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    artist: Option<String>,
    /// Album tag (default: the source's): at most 200 characters, no control characters.
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    album: Option<String>,
    /// Date tag (default: the source's): `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
    #[schema(pattern = r"^[0-9]{4}(-[0-9]{2}(-[0-9]{2})?)?$")]
    date: Option<String>,
    /// Genre tag (default: the source's): at most 200 characters, no control characters.
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    genre: Option<String>,
    /// Track-number tag, 1–9999 (default: the source's; `track` chooses the audio track).
    #[schema(minimum = 1, maximum = 9999)]
    track_number: Option<u32>,
    /// Comment tag (default: the source's): at most 200 characters, no control characters.
    #[schema(max_length = 200, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")]
    comment: Option<String>,
    /// `true` to leave out the source's tags and cover (the job's own are still written).
    no_tags: Option<bool>,
    /// Take the cover from the video's picture at this many seconds (0–1000000); not with a
    /// `cover` picture.
    #[schema(minimum = 0, maximum = 1_000_000)]
    cover_from_video: Option<f64>,
    /// One file per `chapters` or per part between `silence`s, delivered as one ZIP with an
    /// M3U playlist.
    #[schema(pattern = "^(chapters|silence)$")]
    split: Option<String>,
    /// `split=silence` only: the level under which audio counts as silence, dBFS (−90 to −10,
    /// default −45).
    #[schema(minimum = -90, maximum = -10)]
    split_threshold: Option<f64>,
    /// `split=silence` only: the shortest silence between two parts, seconds (0.3–60, default 2).
    #[schema(minimum = 0.3, maximum = 60)]
    split_min_gap: Option<f64>,
    /// A cover picture (JPEG, PNG or WebP, at most 16 MiB; decoded and re-encoded, at most
    /// 1200 px a side). A part that is no such picture is refused with `bad-cover`.
    #[schema(value_type = Option<String>, format = Binary)]
    cover: Option<Vec<u8>>,
    /// `true` to exempt the job from retention (see `PUT /api/v1/jobs/{id}/keep`).
    keep: Option<bool>,
    /// Sent by a client that extracted the audio track on the user's device and uploads only
    /// that: the size in bytes of the file the user chose (shown as the job's `source_size`;
    /// ignored unless larger than the upload).
    #[schema(minimum = 1, maximum = 9007199254740991_u64)]
    source_size: Option<u64>,
}

/// The JSON body of `POST /api/v1/jobs` that imports a file from a URL (documentation only):
/// `url`, `keep`, and the conversion options as top-level fields (the upload form's names, as
/// JSON values) or all in `options` (separate fields win). An unknown field is refused; at most
/// 64 KiB.
#[derive(ToSchema, Deserialize)]
#[allow(dead_code)]
pub(crate) struct ImportRequest {
    /// The file to fetch: an http or https URL (at most 8 KiB). Its host must be (and resolve
    /// to) a public address unless the server's `import.allow_cidrs` opens its range;
    /// redirects are followed (at most 5 by default), each checked the same way.
    #[schema(max_length = 8192, example = "https://example.com/talk.mp4")]
    url: String,
    /// All options as one object, e.g. `{"bitrate": 128, "mono": true}`.
    #[schema(value_type = Option<OptionsSchema>)]
    options: Option<ConvertOptions>,
    /// `true` to exempt the job from retention (see `PUT /api/v1/jobs/{id}/keep`).
    keep: Option<bool>,
    /// A bundle of options (`speech`, `podcast`, `music`, `audiobook`) under the ones given.
    #[schema(pattern = "^(speech|podcast|music|audiobook)$")]
    preset: Option<String>,
    /// The options as separate fields.
    #[serde(flatten)]
    fields: OptionsSchema,
}

/// Create a job: upload a video (multipart form), or have the server import one from a URL
/// (JSON body `{"url": …}`). An import is answered 202 at once with the job in `downloading`
/// (its progress is the download's); it then becomes `queued` and converts like an upload, or
/// `failed` with `import-not-found`, `import-not-media`, `import-too-large`, `import-timeout`,
/// `import-too-many-redirects`, `url-not-allowed` (a redirect to a refused address),
/// `import-interrupted` or `import-failed`.
#[utoipa::path(post, path = "/api/v1/jobs", tag = "jobs", operation_id = "create_job",
    request_body(content(
        (UploadForm = "multipart/form-data"),
        (ImportRequest = "application/json"),
    )),
    responses(
        (status = 201, description = "Upload: job created and queued", body = JobView,
            headers(("Location" = String, description = "The job's URL"))),
        (status = 202, description = "Import: job created, the server is downloading the file (`downloading`)", body = JobView,
            headers(("Location" = String, description = "The job's URL"))),
        (status = 400, description = "Not a multipart form, not exactly one file, an empty file, an unknown field, invalid options (`invalid-options`, naming the field), or a form over its limits (`multipart-headers-too-large`, `too-many-fields`, `field-too-large`, `fields-too-large`). Import: not a JSON object (`invalid-json`), no or a malformed URL (`invalid-url`), a host that cannot be found (`url-unresolvable`), or a URL that is not http(s) or whose host is or resolves to an address the server may not reach — loopback, private, link-local, … (`url-not-allowed`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Import is turned off on this server (`import-disabled`)", body = ErrorBody),
        (status = 413, description = "Larger than max_upload_bytes (`too-large`) or the caller's upload quota (`quota-upload-size`), with or without Content-Length; over the caller's storage quota (`quota-storage`); an import body over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not a video or audio file", body = ErrorBody),
        (status = 429, description = "The caller's quota of jobs per day (`quota-jobs-per-day`) or jobs in progress (`quota-concurrent-jobs`) is used up, with Retry-After; import: the caller already has 10 imports downloading (`too-many-imports`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    request: Request,
) -> Result<Response, ApiError> {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    let (job, status) = if is_json {
        (
            accept_import(&state, &caller, request).await?,
            StatusCode::ACCEPTED,
        )
    } else {
        (
            accept_upload(&state, &caller, request).await?,
            StatusCode::CREATED,
        )
    };
    let view = JobView::from(&job);
    let location = HeaderValue::from_str(&view.links.self_).map_err(|e| ApiError::internal(&e))?;
    Ok((status, [(header::LOCATION, location)], Json(view)).into_response())
}

/// Largest `limit` of `GET /api/v1/jobs`.
const MAX_LIMIT: u32 = 1000;

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
    /// Most jobs to return, 1–1000 (and at most the server's `max_jobs_listed`, default 100).
    #[param(minimum = 1, maximum = 1000)]
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
        (status = 400, description = "Invalid query: `limit` not an integer in 1–1000", body = ErrorBody),
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
    if query.limit.is_some_and(|l| !(1..=MAX_LIMIT).contains(&l)) {
        return Err(ApiError::bad_request(
            "invalid-query",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
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
    let cover = job
        .options
        .cover
        .then(|| mp3converter_core::cover_key(&job.video_key));
    let keys: Vec<String> = std::iter::once(&job.video_key)
        .chain(cover.as_ref())
        .chain(job.audio_key.as_ref())
        .cloned()
        .collect();
    // Audio reused by another job (dedup) stays until the last job that uses it goes.
    let shared = state.db.blob_keys_shared(&keys, &job.id).await?;
    for key in keys.iter().filter(|k| !shared.contains(*k)) {
        state.storage.delete(key).await?;
    }
    state.db.delete_job(&job.id).await?;
    tracing::info!(job_id = %job.id, by = %caller.id, "job deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Download the audio of a done job. Supports one `Range`, `If-None-Match` and `If-Range`.
/// Authenticated by the `Authorization` header, or (without one) by the signature of a URL from
/// `POST /api/v1/jobs/{id}/audio-url` (for `<audio src>` and download links). A token in the
/// query string is not accepted.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/audio", tag = "jobs", operation_id = "get_job_audio",
    params(
        ("id" = String, Path, description = "The job id"),
        ("u" = Option<String>, Query, description = "Signed URL: the user it was issued to"),
        ("g" = Option<i64>, Query, description = "Signed URL: the user's token generation"),
        ("exp" = Option<i64>, Query, description = "Signed URL: expiry, unix seconds"),
        ("sig" = Option<String>, Query, description = "Signed URL: the signature"),
    ),
    responses(
        (status = 200, description = "The audio, in the job's format (`audio/mpeg` for MP3, `audio/ogg`, `audio/flac`, `audio/wav`, `audio/mp4`)", content((Vec<u8> = "audio/mpeg"), (Vec<u8> = "audio/ogg"), (Vec<u8> = "audio/flac"), (Vec<u8> = "audio/wav"), (Vec<u8> = "audio/mp4"))),
        (status = 206, description = "The requested range", content((Vec<u8> = "audio/mpeg"), (Vec<u8> = "audio/ogg"), (Vec<u8> = "audio/flac"), (Vec<u8> = "audio/wav"), (Vec<u8> = "audio/mp4"))),
        (status = 304, description = "Not modified (If-None-Match)"),
        (status = 401, description = "Missing or invalid token, or an invalid, tampered or expired signed URL", body = ErrorBody),
        (status = 404, description = "No such job, not yours, or expired", body = ErrorBody),
        (status = 409, description = "Not converted yet, or the conversion failed", body = ErrorBody),
        (status = 416, description = "Range outside the file", body = ErrorBody),
    ),
    security(("bearer" = []), ()))]
pub(crate) async fn audio(
    State(state): State<GatewayState>,
    access: AudioAccess,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let job = match access {
        AudioAccess::Caller(caller) => visible_job(&state, &caller, &id).await?,
        AudioAccess::Signed(query) => {
            // The signature covers the job id: it was checked to be visible when signed.
            let claims = state.signer.check(&id, &query).await?;
            state.auth.recheck(&claims).await.map_err(|refused| {
                if refused.status.is_server_error() {
                    ApiError::from(refused)
                } else {
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "invalid-signature",
                        "the link is invalid or has expired; ask for a new one",
                    )
                }
            })?;
            let id = id.parse().map_err(|_| ApiError::not_found())?;
            state
                .db
                .get_job(&id)
                .await?
                .ok_or_else(ApiError::not_found)?
        }
    };
    crate::audio::send_audio(&state, &job, &headers).await
}

/// A short-lived URL of a done job's audio that needs no `Authorization` header, for
/// `<audio src>` and download links (the access token never goes into a URL). It works for
/// five minutes, for this job only, with `Range`, and stops working when the caller's tokens
/// are revoked.
#[utoipa::path(post, path = "/api/v1/jobs/{id}/audio-url", tag = "jobs", operation_id = "create_job_audio_url",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, description = "The signed URL", body = AudioUrl),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such job, not yours, or expired", body = ErrorBody),
        (status = 409, description = "Not converted yet, or the conversion failed", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn audio_url(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let job = visible_job(&state, &caller, &id).await?;
    if let Some(refusal) = crate::audio::not_downloadable(&job) {
        return Err(refusal);
    }
    let url = state.signer.audio_url(&job.id, &caller.claims).await?;
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(url),
    )
        .into_response())
}
