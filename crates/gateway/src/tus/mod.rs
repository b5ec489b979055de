//! Resumable uploads: a tus 1.0.0 server under `/api/v1/uploads` with the `creation`,
//! `creation-with-upload`, `expiration`, `checksum` (sha256) and `termination` extensions.
//!
//! The database row of an upload ([`mp3converter_db::Upload`]) holds its length, offset, expiry
//! and metadata; its bytes are segments in blob storage ([`segments`]). So an upload survives a
//! gateway restart, and any gateway can take the next PATCH. When the last byte is stored the
//! segments are streamed into the job's video blob and the job is created with its `video`
//! message in the same transaction that marks the upload complete, exactly as a form upload
//! would be (same sniffing, size limit, options and job); the final PATCH answers `X-Job-Id`.

pub(crate) mod cover;
mod metadata;
pub(crate) mod segments;

use std::time::{Duration, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures_util::StreamExt;
use mp3converter_core::{JobId, now_millis};
use mp3converter_db::Upload;
use mp3converter_sniff::SNIFF_LEN;
use ring::digest::{self, Algorithm};

use crate::GatewayState;
use crate::error::{ApiError, ErrorBody, too_large};
use crate::extract::{ApiUser, Caller};
use crate::filename::sanitize;
use crate::upload::{StoredBlob, Video, create_job, refuse_non_media};

use segments::Spool;

/// The protocol version spoken.
pub(crate) const TUS_VERSION: &str = "1.0.0";
/// The extensions supported, as `OPTIONS` advertises them.
pub(crate) const TUS_EXTENSIONS: &str =
    "creation,creation-with-upload,expiration,checksum,termination";
/// The checksum algorithms `Upload-Checksum` may name.
pub(crate) const TUS_CHECKSUM_ALGORITHMS: &str = "sha1,sha256,sha512";
/// The body type of a PATCH (and of a creation with upload).
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

const TUS_RESUMABLE: HeaderName = HeaderName::from_static("tus-resumable");
const TUS_VERSION_H: HeaderName = HeaderName::from_static("tus-version");
const UPLOAD_OFFSET: HeaderName = HeaderName::from_static("upload-offset");
const UPLOAD_LENGTH: HeaderName = HeaderName::from_static("upload-length");
const UPLOAD_METADATA: HeaderName = HeaderName::from_static("upload-metadata");
const UPLOAD_EXPIRES: HeaderName = HeaderName::from_static("upload-expires");
const UPLOAD_CHECKSUM: HeaderName = HeaderName::from_static("upload-checksum");
const UPLOAD_DEFER_LENGTH: HeaderName = HeaderName::from_static("upload-defer-length");
/// The job a completed upload became.
pub(crate) const X_JOB_ID: HeaderName = HeaderName::from_static("x-job-id");

/// Middleware of the tus routes: every answer carries `Tus-Resumable`, and a request other than
/// `OPTIONS` without `Tus-Resumable: 1.0.0` is answered 412 with the versions spoken.
pub(crate) async fn protocol(request: Request, next: Next) -> Response {
    let version = request.headers().get(&TUS_RESUMABLE);
    let mut response = if request.method() != axum::http::Method::OPTIONS
        && version.is_none_or(|v| v != TUS_VERSION)
    {
        ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "tus-version",
            format!("this server speaks tus {TUS_VERSION}: send Tus-Resumable: {TUS_VERSION}"),
        )
        .with_header(TUS_VERSION_H, HeaderValue::from_static(TUS_VERSION))
        .into_response()
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(TUS_RESUMABLE, HeaderValue::from_static(TUS_VERSION));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// What this server supports of tus: version, extensions, size limit, checksum algorithms.
#[utoipa::path(options, path = "/api/v1/uploads", tag = "uploads", operation_id = "upload_options",
    responses((status = 204, description = "The tus capabilities", headers(
        ("Tus-Version" = String, description = "`1.0.0`"),
        ("Tus-Extension" = String, description = "`creation,creation-with-upload,expiration,checksum,termination`"),
        ("Tus-Max-Size" = u64, description = "max_upload_bytes"),
        ("Tus-Checksum-Algorithm" = String, description = "`sha1,sha256,sha512`"),
    ))))]
pub(crate) async fn options(State(state): State<GatewayState>) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(TUS_VERSION_H, HeaderValue::from_static(TUS_VERSION));
    headers.insert(
        HeaderName::from_static("tus-extension"),
        HeaderValue::from_static(TUS_EXTENSIONS),
    );
    headers.insert(
        HeaderName::from_static("tus-max-size"),
        HeaderValue::from(state.config.max_upload_bytes),
    );
    headers.insert(
        HeaderName::from_static("tus-checksum-algorithm"),
        HeaderValue::from_static(TUS_CHECKSUM_ALGORITHMS),
    );
    (StatusCode::NO_CONTENT, headers).into_response()
}

/// Create a resumable upload (tus `creation`; with an `application/offset+octet-stream` body,
/// `creation-with-upload`). `Upload-Metadata` carries `filename` and the upload form's option
/// fields (`bitrate`, `vbr`, `sample_rate`, `mono`, `start`, `end`, `track`, `title`, `options`,
/// `keep`), base64-encoded; they are checked now. When the last byte is stored the job is created
/// as a form upload would create it, and the answer carries `X-Job-Id`.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "uploads", operation_id = "create_upload",
    params(
        ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
        ("Upload-Length" = u64, Header, description = "The file's size in bytes (at most max_upload_bytes)"),
        ("Upload-Metadata" = Option<String>, Header, description = "`key base64value` pairs, comma-separated"),
    ),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream",
        description = "Optional: the first bytes of the file"),
    responses(
        (status = 201, description = "Created", headers(
            ("Location" = String, description = "The upload's URL"),
            ("Upload-Offset" = u64, description = "Bytes stored"),
            ("Upload-Expires" = String, description = "When an unfinished upload is removed (HTTP date)"),
            ("X-Job-Id" = String, description = "The job, once every byte is in"))),
        (status = 400, description = "No Upload-Length (`length-required`), an empty file, bad metadata (`invalid-metadata`, `unknown-field`) or options (`invalid-options`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 412, description = "Tus-Resumable missing or not 1.0.0 (`tus-version`)", body = ErrorBody),
        (status = 413, description = "Upload-Length over max_upload_bytes (`too-large`), the caller's upload quota (`quota-upload-size`) or what is left of the caller's storage quota (`quota-storage`)", body = ErrorBody),
        (status = 415, description = "The first bytes are not a video or audio file", body = ErrorBody),
        (status = 429, description = "Too many unfinished uploads (`too-many-uploads`), or the caller's quota of jobs per day (`quota-jobs-per-day`) or jobs in progress (`quota-concurrent-jobs`) is used up", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if headers.contains_key(&UPLOAD_DEFER_LENGTH) {
        return Err(ApiError::bad_request(
            "length-required",
            "Upload-Length is required: uploads of unknown length are not supported",
        ));
    }
    let total = number_header(&headers, &UPLOAD_LENGTH)?
        .ok_or_else(|| ApiError::bad_request("length-required", "Upload-Length is required"))?;
    if total == 0 {
        return Err(ApiError::bad_request("empty-file", "the file is empty"));
    }
    if total > state.config.max_upload_bytes {
        return Err(too_large(state.config.max_upload_bytes));
    }
    // Quotas before a byte is sent (checked again when the job is created).
    crate::quota::admit_job(&state, &caller.id, Some(total)).await?;
    let metadata = text_header(&headers, &UPLOAD_METADATA)?.unwrap_or_default();
    // Refuse bad options now, before a byte is sent.
    metadata::parse(&metadata)?.form.finish()?;
    let now = now_millis();
    let open = state.db.count_open_uploads(&caller.id, now).await?;
    if open >= u64::from(state.config.max_open_uploads) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-uploads",
            format!(
                "you have {open} unfinished uploads, the most allowed at once: finish or \
                 delete one first"
            ),
        ));
    }
    let upload = Upload {
        id: new_upload_id()?,
        owner_id: caller.id.clone(),
        total_bytes: total,
        received_bytes: 0,
        metadata,
        created_at: now,
        expires_at: expiry(&state, now),
        job_id: None,
    };
    state.db.create_upload(&upload).await?;
    tracing::info!(upload = %upload.id, owner = %caller.id, total, "resumable upload created");
    let location = format!("/api/v1/uploads/{}", upload.id);
    let mut response = if is_offset_stream(&headers) {
        patch_body(&state, &caller, upload, 0, &headers, body).await?
    } else {
        progress_response(&upload, StatusCode::CREATED)
    };
    *response.status_mut() = StatusCode::CREATED;
    response.headers_mut().insert(
        header::LOCATION,
        HeaderValue::from_str(&location).map_err(|e| ApiError::internal(&e))?,
    );
    Ok(response)
}

/// Where an upload stands: its offset (where to resume), length and metadata; `X-Job-Id` once
/// it became a job.
#[utoipa::path(head, path = "/api/v1/uploads/{id}", tag = "uploads", operation_id = "upload_offset",
    params(("id" = String, Path, description = "The upload's id"),
        ("Tus-Resumable" = String, Header, description = "`1.0.0`")),
    responses(
        (status = 200, description = "The upload", headers(
            ("Upload-Offset" = u64, description = "Bytes stored"),
            ("Upload-Length" = u64, description = "The file's size"),
            ("Upload-Metadata" = String, description = "As sent at creation"),
            ("Upload-Expires" = String, description = "When it is removed unless continued"),
            ("X-Job-Id" = String, description = "The job, once complete"))),
        (status = 401, description = "Missing or invalid token"),
        (status = 404, description = "No such upload of the caller's"),
        (status = 410, description = "The upload expired"),
        (status = 412, description = "Tus-Resumable missing or not 1.0.0"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn head(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut upload = owned_upload(&state, &caller, &id).await?;
    if upload.job_id.is_none() && upload.received_bytes == upload.total_bytes {
        // Every byte is in but the job was not made (the gateway stopped in between): make it
        // now, since a client that sees the full offset will not send another PATCH.
        upload.job_id = Some(finish(&state, &caller, &upload).await?);
    }
    let mut response = progress_response(&upload, StatusCode::OK);
    if !upload.metadata.is_empty()
        && let Ok(value) = HeaderValue::from_str(&upload.metadata)
    {
        response.headers_mut().insert(UPLOAD_METADATA, value);
    }
    Ok(response)
}

/// Append bytes at `Upload-Offset`. Bytes that arrived before a connection broke are kept
/// (resume at the offset `HEAD` reports), unless the PATCH carried an `Upload-Checksum`.
#[utoipa::path(patch, path = "/api/v1/uploads/{id}", tag = "uploads", operation_id = "append_upload",
    params(("id" = String, Path, description = "The upload's id"),
        ("Tus-Resumable" = String, Header, description = "`1.0.0`"),
        ("Upload-Offset" = u64, Header, description = "Where these bytes go: the upload's current offset"),
        ("Upload-Checksum" = Option<String>, Header, description = "`sha1|sha256|sha512 <base64 digest>` of this body")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses(
        (status = 204, description = "Stored", headers(
            ("Upload-Offset" = u64, description = "Bytes stored now"),
            ("Upload-Expires" = String, description = "When it is removed unless continued"),
            ("X-Job-Id" = String, description = "The job, when this completed the upload"))),
        (status = 400, description = "No or bad Upload-Offset, bad Upload-Checksum, a body that broke off", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such upload of the caller's", body = ErrorBody),
        (status = 409, description = "Upload-Offset is not the upload's offset (`offset-mismatch`)", body = ErrorBody),
        (status = 410, description = "The upload expired (`upload-expired`)", body = ErrorBody),
        (status = 412, description = "Tus-Resumable missing or not 1.0.0", body = ErrorBody),
        (status = 413, description = "The body goes past Upload-Length (`beyond-upload-length`); completing it would pass the caller's storage quota (`quota-storage`: the bytes stay, the upload can be completed once there is room)", body = ErrorBody),
        (status = 415, description = "Not application/offset+octet-stream, or not a video or audio file", body = ErrorBody),
        (status = 429, description = "Completing it would pass the caller's quota of jobs per day (`quota-jobs-per-day`) or jobs in progress (`quota-concurrent-jobs`): the bytes stay, and an empty PATCH at the final offset completes it later", body = ErrorBody),
        (status = 460, description = "The body does not match Upload-Checksum (`checksum-mismatch`); nothing stored", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn patch(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if !is_offset_stream(&headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "wrong-content-type",
            format!("a PATCH body must be sent as Content-Type: {OFFSET_OCTET_STREAM}"),
        ));
    }
    let offset = number_header(&headers, &UPLOAD_OFFSET)?
        .ok_or_else(|| ApiError::bad_request("offset-required", "Upload-Offset is required"))?;
    let upload = owned_upload(&state, &caller, &id).await?;
    patch_body(&state, &caller, upload, offset, &headers, body).await
}

/// Abandon an upload and remove its bytes (tus `termination`; a job it already became is not
/// touched).
#[utoipa::path(delete, path = "/api/v1/uploads/{id}", tag = "uploads", operation_id = "delete_upload",
    params(("id" = String, Path, description = "The upload's id"),
        ("Tus-Resumable" = String, Header, description = "`1.0.0`")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such upload of the caller's", body = ErrorBody),
        (status = 410, description = "The upload expired", body = ErrorBody),
        (status = 412, description = "Tus-Resumable missing or not 1.0.0", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let upload = owned_upload(&state, &caller, &id).await?;
    state.db.delete_upload(&upload.id).await?;
    segments::remove(state.storage.as_ref(), &upload.id).await?;
    tracing::info!(upload = %upload.id, "resumable upload terminated");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The caller's upload `id`, not expired; someone else's answers 404 like a missing one.
async fn owned_upload(state: &GatewayState, caller: &Caller, id: &str) -> Result<Upload, ApiError> {
    let valid = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let upload = match valid {
        true => state.db.get_upload_for_owner(id, &caller.id).await?,
        false => None,
    };
    let upload = upload.ok_or_else(ApiError::not_found)?;
    if upload.job_id.is_none() && upload.expires_at <= now_millis() {
        return Err(ApiError::new(
            StatusCode::GONE,
            "upload-expired",
            "this upload expired: start it again",
        ));
    }
    Ok(upload)
}

/// Stores `body` at `offset`, which must be the upload's, and makes the job when the upload is
/// complete.
async fn patch_body(
    state: &GatewayState,
    caller: &Caller,
    mut upload: Upload,
    offset: u64,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    if offset != upload.received_bytes {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "offset-mismatch",
            format!(
                "Upload-Offset is {offset} but the upload is at {}: ask with HEAD and resume there",
                upload.received_bytes
            ),
        )
        .with_header(UPLOAD_OFFSET, HeaderValue::from(upload.received_bytes)));
    }
    let checksum = checksum_header(headers)?;
    if upload.job_id.is_none() {
        upload.received_bytes = receive(state, &upload, body, checksum).await?;
        if upload.received_bytes == upload.total_bytes {
            upload.job_id = Some(finish(state, caller, &upload).await?);
        }
        upload.expires_at = expiry(state, now_millis());
    }
    Ok(progress_response(&upload, StatusCode::NO_CONTENT))
}

/// Writes the body into segments; returns the upload's new offset. Bytes that arrived before
/// the body broke off are kept (the client resumes after them) unless a checksum was sent, in
/// which case the PATCH's bytes are stored only when the whole body matches it.
async fn receive(
    state: &GatewayState,
    upload: &Upload,
    body: Body,
    checksum: Option<Checksum>,
) -> Result<u64, ApiError> {
    let room = upload.total_bytes - upload.received_bytes;
    let mut spool = Spool::new().map_err(|e| ApiError::internal(&e))?;
    let mut hasher = checksum.as_ref().map(|c| digest::Context::new(c.algorithm));
    let mut at = upload.received_bytes;
    let mut received = 0u64;
    let mut stream = body.into_data_stream();
    let mut broken = None;
    while let Some(chunk) = stream.next().await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(e) => {
                broken = Some(e);
                break;
            }
        };
        received += chunk.len() as u64;
        if received > room {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "beyond-upload-length",
                format!(
                    "the body goes past Upload-Length ({} bytes)",
                    upload.total_bytes
                ),
            ));
        }
        if let Some(h) = hasher.as_mut() {
            h.update(&chunk);
        }
        spool
            .write(&chunk)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        if hasher.is_none() && spool.len() >= segments::SEGMENT_BYTES {
            at = store(state, upload, &mut spool, at).await?;
        }
    }
    if let (Some(expected), Some(h)) = (checksum, hasher) {
        if broken.is_some() {
            return Err(ApiError::bad_request(
                "invalid-body",
                "the body broke off; with Upload-Checksum nothing of it is kept",
            ));
        }
        if h.finish().as_ref() != expected.digest.as_slice() {
            return Err(ApiError::new(
                StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
                "checksum-mismatch",
                "the body does not match Upload-Checksum: nothing of it was stored, send it again",
            ));
        }
    }
    if spool.len() > 0 {
        at = store(state, upload, &mut spool, at).await?;
    }
    match broken {
        Some(e) => {
            tracing::info!(upload = %upload.id, offset = at, error = %e, "upload body broke off");
            Err(ApiError::bad_request(
                "invalid-body",
                "the body broke off: resume from the offset HEAD reports",
            ))
        }
        None => Ok(at),
    }
}

/// Stores the spool as the segment at `at` and moves the upload's offset past it.
async fn store(
    state: &GatewayState,
    upload: &Upload,
    spool: &mut Spool,
    at: u64,
) -> Result<u64, ApiError> {
    if at == 0 {
        // The first bytes decide whether this is media at all, as for a form upload.
        let head = spool_head(spool).await?;
        if head.len() as u64 >= upload.total_bytes.min(SNIFF_LEN as u64)
            && let Err(e) = refuse_non_media(&head)
        {
            abandon(state, upload).await;
            return Err(e);
        }
    }
    let len = spool.store(state.storage.as_ref(), &upload.id, at).await?;
    let moved = state
        .db
        .advance_upload(&upload.id, at, at + len, expiry(state, now_millis()))
        .await?;
    if !moved {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "offset-mismatch",
            "another request moved this upload meanwhile: ask with HEAD and resume there",
        ));
    }
    metrics::counter!("upload_bytes_total").increment(len);
    Ok(at + len)
}

async fn spool_head(spool: &mut Spool) -> Result<Vec<u8>, ApiError> {
    spool
        .head(SNIFF_LEN)
        .await
        .map_err(|e| ApiError::internal(&e))
}

/// Makes the job of a complete upload: its segments become the video blob, then the job and its
/// message are committed with the upload's completion; a cover picture sent for it
/// ([`cover`]) goes beside the video, as a form upload's `cover` part would. Returns the job's id
/// (also when another request completed it first).
async fn finish(state: &GatewayState, caller: &Caller, upload: &Upload) -> Result<JobId, ApiError> {
    let mut meta = metadata::parse(&upload.metadata)?;
    let storage = state.storage.as_ref();
    let chain = segments::chain(storage, &upload.id, upload.total_bytes).await?;
    let head = segments::head(storage, &chain, SNIFF_LEN as u64).await?;
    if let Err(e) = refuse_non_media(&head) {
        abandon(state, upload).await;
        return Err(e);
    }
    let job_id = JobId::generate();
    let mut blob = StoredBlob::new(state.storage.clone(), format!("video/{job_id}"));
    blob.stored = true;
    let put = segments::assemble(
        &state.storage,
        chain,
        &blob.key,
        state.config.max_upload_bytes,
    )
    .await;
    let put = match put {
        Ok(put) => put,
        Err(e) => {
            blob.delete().await;
            return Err(e.into());
        }
    };
    let mut picture = match cover::take(state, &upload.id, &blob.key).await {
        Ok(picture) => picture,
        Err(e) => {
            blob.delete().await;
            return Err(e);
        }
    };
    meta.form.cover_part = picture.is_some();
    let video = Video {
        name: sanitize(meta.filename.as_deref()),
        size: put.size,
        sha256: put.sha256_hex,
    };
    let key = blob.key.clone();
    match create_job(
        state,
        caller,
        job_id,
        key,
        video,
        meta.form,
        Some(&upload.id),
    )
    .await
    {
        Ok(job) => {
            blob.keep();
            if let Some(picture) = picture.as_mut() {
                picture.keep();
            }
            let (storage, id) = (state.storage.clone(), upload.id.clone());
            tokio::spawn(async move {
                if let Err(error) = segments::remove(storage.as_ref(), &id).await {
                    tracing::warn!(upload = %id, %error, "could not remove a finished upload's segments");
                }
            });
            Ok(job.id)
        }
        Err(e) => {
            blob.delete().await;
            if let Some(picture) = picture.as_mut() {
                picture.delete().await;
            }
            // Another request may have completed it first: then that job is the answer.
            match state
                .db
                .get_upload_for_owner(&upload.id, &caller.id)
                .await?
            {
                Some(Upload {
                    job_id: Some(id), ..
                }) => Ok(id),
                _ => Err(e),
            }
        }
    }
}

/// Removes an upload that can never become a job (not media).
async fn abandon(state: &GatewayState, upload: &Upload) {
    let removed = async {
        state.db.delete_upload(&upload.id).await?;
        segments::remove(state.storage.as_ref(), &upload.id).await?;
        Ok::<_, ApiError>(())
    };
    if let Err(e) = removed.await {
        tracing::warn!(upload = %upload.id, error = %e.message, "could not remove a refused upload");
    }
}

/// The headers every answer about an upload carries.
fn progress_response(upload: &Upload, status: StatusCode) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(UPLOAD_OFFSET, HeaderValue::from(upload.received_bytes));
    headers.insert(UPLOAD_LENGTH, HeaderValue::from(upload.total_bytes));
    match &upload.job_id {
        Some(job) => {
            if let Ok(v) = HeaderValue::from_str(job.as_str()) {
                headers.insert(X_JOB_ID, v);
            }
        }
        None => {
            let at =
                UNIX_EPOCH + Duration::from_millis(u64::try_from(upload.expires_at).unwrap_or(0));
            if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(at)) {
                headers.insert(UPLOAD_EXPIRES, v);
            }
        }
    }
    (status, headers).into_response()
}

fn expiry(state: &GatewayState, now: i64) -> i64 {
    let secs = i64::try_from(state.config.upload_expiry_secs).unwrap_or(i64::MAX / 2000);
    now.saturating_add(secs.saturating_mul(1000))
}

fn new_upload_id() -> Result<String, ApiError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| ApiError::internal(&std::io::Error::other("no randomness")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn is_offset_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
}

fn text_header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<String>, ApiError> {
    headers
        .get(name)
        .map(|v| {
            v.to_str().map(str::to_owned).map_err(|_| {
                ApiError::bad_request("invalid-header", format!("{name} is not plain text"))
            })
        })
        .transpose()
}

fn number_header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<u64>, ApiError> {
    text_header(headers, name)?
        .map(|v| {
            v.trim()
                .parse::<u64>()
                .ok()
                .filter(|_| v.trim().bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid-header",
                        format!("{name} must be a non-negative whole number, got {v:?}"),
                    )
                })
        })
        .transpose()
}

/// An `Upload-Checksum`: the algorithm and the digest the body must have.
struct Checksum {
    algorithm: &'static Algorithm,
    digest: Vec<u8>,
}

/// `Upload-Checksum: <algorithm> <base64 digest>`, decoded.
fn checksum_header(headers: &HeaderMap) -> Result<Option<Checksum>, ApiError> {
    let Some(value) = text_header(headers, &UPLOAD_CHECKSUM)? else {
        return Ok(None);
    };
    let (name, encoded) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    let algorithm = match name.to_ascii_lowercase().as_str() {
        "sha1" => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => &digest::SHA256,
        "sha512" => &digest::SHA512,
        _ => {
            return Err(ApiError::bad_request(
                "checksum-algorithm",
                format!(
                    "Upload-Checksum algorithm {name:?} is not supported; use one of: \
                     {TUS_CHECKSUM_ALGORITHMS}"
                ),
            ));
        }
    };
    STANDARD
        .decode(encoded.trim())
        .ok()
        .filter(|d| d.len() == algorithm.output_len())
        .map(|digest| Some(Checksum { algorithm, digest }))
        .ok_or_else(|| {
            ApiError::bad_request(
                "invalid-header",
                format!("Upload-Checksum must be `{name} <base64 of its digest>`"),
            )
        })
}
