//! The upload pipeline of `POST /upload` and `POST /api/v1/jobs`: stream the one file part into
//! storage (sniffed, size-limited, hashed, never buffered whole), then create the job and its
//! `video` message in ONE transaction. A failure after the blob is stored deletes it again.
//!
//! The body is bounded before the multipart parser sees it ([`crate::multipart`]: part headers,
//! total size with or without `Content-Length`), and here: at most [`MAX_PARTS`] parts,
//! [`MAX_FIELD_BYTES`] per text field and [`MAX_TEXT_BYTES`] of text fields in all.

use std::io;
use std::sync::Arc;

use axum::extract::multipart::{Field, MultipartError};
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{StatusCode, header};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use mp3converter_core::{Job, JobEvent, JobId, NewJob, cover_key, now_millis};
use mp3converter_sniff::{SNIFF_LEN, Sniffed, sniff};
use mp3converter_storage::{BlobStore, BodyStream, StorageError};

use crate::GatewayState;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::filename::sanitize;
use crate::form::FormOptions;
use crate::multipart::{GuardedBody, Refusal};
use crate::quota;

/// Allowance over `max_upload_bytes` for the multipart framing, part headers and text fields:
/// the most a whole request body may exceed the limit by, with or without `Content-Length`.
const FORM_OVERHEAD: u64 = 512 * 1024;
/// Largest accepted text field.
const MAX_FIELD_BYTES: usize = 16 * 1024;
/// Most bytes of all text fields together.
const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Most parts in one form.
const MAX_PARTS: usize = 32;

/// The answer when there is no file part, or more than one (the seed's wording).
pub(crate) fn exactly_one_file() -> ApiError {
    ApiError::bad_request("exactly-one-file", "exactly 1 file required")
}

/// Runs the whole pipeline for `caller` on the upload `request`; returns the new queued job.
pub(crate) async fn accept_upload(
    state: &GatewayState,
    caller: &Caller,
    request: Request,
) -> Result<Job, ApiError> {
    // Quotas at the door, before a byte of the body is read; `limit` is this user's.
    let limit = quota::admit_job(state, &caller.id, Some(0))
        .await?
        .max_upload_bytes;
    let too_large = |limit| quota::too_large_for(state, limit);
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit.saturating_add(FORM_OVERHEAD)) {
        return Err(too_large(limit));
    }
    let boundary = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| multer::parse_boundary(v).ok())
        .ok_or_else(exactly_one_file)?;
    let refusal = Refusal::default();
    let body = GuardedBody::wrap(
        body,
        &boundary,
        limit.saturating_add(FORM_OVERHEAD),
        limit,
        refusal.clone(),
    );
    let mut multipart = Multipart::from_request(Request::from_parts(parts, body), &())
        .await
        .map_err(|_| exactly_one_file())?;

    let job_id = JobId::generate();
    let mut blob = StoredBlob::new(state.storage.clone(), format!("video/{job_id}"));
    match receive(state, caller, &mut multipart, job_id, &mut blob, limit).await {
        Ok(job) => {
            blob.keep();
            Ok(job)
        }
        Err(e) => {
            blob.delete().await;
            // A tripped limit is the real reason, whatever the parser made of the cut body.
            let e = refusal.error().unwrap_or(e);
            Err(if e.code == "too-large" {
                too_large(limit)
            } else {
                e
            })
        }
    }
}

/// A stored video: its sanitized file name, size and SHA-256.
pub(crate) struct Video {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) sha256: String,
}

async fn receive(
    state: &GatewayState,
    caller: &Caller,
    multipart: &mut Multipart,
    job_id: JobId,
    blob: &mut StoredBlob,
    limit: u64,
) -> Result<Job, ApiError> {
    let mut cover = StoredBlob::new(state.storage.clone(), cover_key(&blob.key));
    let result = receive_parts(state, caller, multipart, job_id, blob, &mut cover, limit).await;
    match &result {
        Ok(_) => cover.keep(),
        Err(_) => cover.delete().await,
    }
    result
}

async fn receive_parts(
    state: &GatewayState,
    caller: &Caller,
    multipart: &mut Multipart,
    job_id: JobId,
    blob: &mut StoredBlob,
    cover: &mut StoredBlob,
    limit: u64,
) -> Result<Job, ApiError> {
    let mut form = FormOptions::default();
    let mut video: Option<Video> = None;
    let mut parts = 0;
    let mut text_bytes = 0;
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        parts += 1;
        if parts > MAX_PARTS {
            return Err(ApiError::bad_request(
                "too-many-fields",
                "too many form fields",
            ));
        }
        if field.name() == Some("cover") && field.file_name().is_some() {
            if cover.stored {
                return Err(ApiError::bad_request(
                    "bad-cover",
                    "send at most one cover image",
                ));
            }
            store_cover(state, &cover.key, field).await?;
            cover.stored = true;
            form.cover_part = true;
        } else if field.file_name().is_some() {
            if video.is_some() {
                return Err(exactly_one_file());
            }
            video = Some(store_file(state, &blob.key, field, limit).await?);
            blob.stored = true;
        } else {
            let name = field.name().unwrap_or_default().to_owned();
            let value = read_text(field).await?;
            text_bytes += name.len() + value.len();
            if text_bytes > MAX_TEXT_BYTES {
                return Err(ApiError::bad_request(
                    "fields-too-large",
                    format!("the form's text fields are larger than {MAX_TEXT_BYTES} bytes in all"),
                ));
            }
            form.add(&name, value)?;
        }
    }
    let video = video.ok_or_else(exactly_one_file)?;
    create_job(state, caller, job_id, blob.key.clone(), video, form, None).await
}

/// Creates the queued job for a video already stored under `video_key` and commits it with its
/// `video` message in one transaction: the end of every way in (form upload, resumable upload,
/// URL import). With `upload`, the resumable upload of that id is marked complete in the same
/// transaction (409 if it already was). The caller still owns the blob, and deletes it if this
/// fails.
pub(crate) async fn create_job(
    state: &GatewayState,
    caller: &Caller,
    job_id: JobId,
    video_key: String,
    video: Video,
    form: FormOptions,
    upload: Option<&str>,
) -> Result<Job, ApiError> {
    let keep = form.keep;
    // Only a client that left something out says so; a "source" no bigger than what was sent
    // is a client's mistake, not worth refusing the upload for, and not shown.
    let source_size = form.source_size.filter(|&s| s > video.size);
    let cover = form.cover_part;
    let options = form.finish()?;

    let mut job = Job::queued(
        NewJob {
            owner_id: caller.id.clone(),
            owner_email: caller.email.clone(),
            original_name: video.name,
            video_key,
            video_size: video.size,
            video_sha256: video.sha256,
            options,
        },
        now_millis(),
    );
    job.id = job_id;
    job.keep = keep;
    job.source_size = source_size;
    // The same content, name and options as an earlier job of this user: done at once.
    let earlier = if cover {
        None
    } else {
        state.db.reusable_job(&job).await?
    };
    quota::admit_job(
        state,
        &caller.id,
        earlier.is_none().then_some(job.video_size),
    )
    .await?;
    if let Some(earlier) = earlier {
        return reuse(state, job, &earlier, upload).await;
    }
    match upload {
        None => {
            state
                .db
                .create_job_and_enqueue_video(&job, &state.video_queue)
                .await?;
        }
        Some(upload) => {
            let created = state
                .db
                .complete_upload_and_enqueue_video(upload, &job, &state.video_queue)
                .await?;
            if !created {
                return Err(upload_finished());
            }
        }
    }
    state.events.publish(JobEvent::of(&job));
    metrics::counter!("jobs_created_total").increment(1);
    metrics::counter!("upload_bytes_total").increment(job.video_size);
    tracing::info!(job_id = %job.id, owner = %job.owner_id, size = job.video_size,
        name = ?job.original_name, "upload accepted");
    Ok(job)
}

fn upload_finished() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "upload-finished",
        "this upload was already completed by another request",
    )
}

/// Stores `job` done at once with the audio of `earlier`, announces it, and removes its own
/// video, which no one will convert.
async fn reuse(
    state: &GatewayState,
    job: Job,
    earlier: &Job,
    upload: Option<&str>,
) -> Result<Job, ApiError> {
    let job = state
        .db
        .create_reused_job_and_enqueue_mp3(&job, earlier, &state.mp3_queue, upload)
        .await?
        .ok_or_else(upload_finished)?;
    if let Err(e) = state.storage.delete(&job.video_key).await {
        // The row says the video is gone, so the janitor's sweep removes the blob later.
        tracing::warn!(job_id = %job.id, error = %e, "could not remove a reused job's video");
    }
    state.events.publish(JobEvent::of(&job));
    metrics::counter!("jobs_created_total").increment(1);
    metrics::counter!("jobs_reused_total").increment(1);
    tracing::info!(job_id = %job.id, owner = %job.owner_id, reused_from = ?job.reused_from,
        "upload accepted: the audio of an earlier job is reused");
    Ok(job)
}

/// Sniffs the first bytes (held alone in memory), then streams the whole part into storage.
async fn store_file(
    state: &GatewayState,
    key: &str,
    mut field: Field<'_>,
    limit: u64,
) -> Result<Video, ApiError> {
    let name = sanitize(field.file_name());
    let mut head: Vec<Bytes> = Vec::new();
    let mut head_len = 0;
    while head_len < SNIFF_LEN {
        match field.chunk().await.map_err(multipart_error)? {
            Some(chunk) => {
                head_len += chunk.len();
                head.push(chunk);
            }
            None => break,
        }
    }
    if head_len == 0 {
        return Err(ApiError::bad_request("empty-file", "the file is empty"));
    }
    let mut start = Vec::with_capacity(head_len.min(SNIFF_LEN));
    for chunk in &head {
        let room = SNIFF_LEN - start.len();
        start.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    refuse_non_media(&start)?;
    drop(start);

    let body = stream::iter(head.into_iter().map(Ok))
        .chain(field.map_err(io::Error::other))
        .boxed();
    let put = state
        .storage
        .put_stream(key, body, Some(limit))
        .await
        .map_err(|e| match e {
            StorageError::Body(io) => body_error(&io),
            e => e.into(),
        })?;
    Ok(Video {
        name,
        size: put.size,
        sha256: put.sha256_hex,
    })
}

/// Largest accepted cover image part.
pub(crate) const MAX_COVER_BYTES: u64 = 16 << 20;

/// Streams a `cover` image part into storage beside the video (see [`store_picture`]).
async fn store_cover(state: &GatewayState, key: &str, field: Field<'_>) -> Result<(), ApiError> {
    let body = field.map_err(io::Error::other).boxed();
    store_picture(state.storage.as_ref(), key, body).await
}

/// Stores a cover picture under `key` after a look at its first bytes: JPEG, PNG or WebP, not
/// empty, at most [`MAX_COVER_BYTES`] (checked while streaming; the whole picture is never held
/// in memory). Anything else is 400 `bad-cover` and nothing is stored (a picture already under
/// `key` stays). The form's `cover` part and a resumable upload's `PUT …/cover` both come here.
/// (The converter decodes and re-encodes the picture; this only refuses what is plainly no
/// picture before it is stored.)
pub(crate) async fn store_picture(
    storage: &dyn BlobStore,
    key: &str,
    mut body: BodyStream<'_>,
) -> Result<(), ApiError> {
    let bad = |message: &str| ApiError::bad_request("bad-cover", message);
    let mut head: Vec<Bytes> = Vec::new();
    let mut head_len = 0;
    while head_len < PICTURE_MAGIC_LEN {
        match body.next().await {
            Some(Ok(chunk)) => {
                head_len += chunk.len();
                head.push(chunk);
            }
            Some(Err(e)) => return Err(body_error(&e)),
            None => break,
        }
    }
    if head_len == 0 {
        return Err(bad("the cover picture is empty"));
    }
    let start: Vec<u8> = head
        .iter()
        .flat_map(|c| c.iter().copied())
        .take(PICTURE_MAGIC_LEN)
        .collect();
    if !is_picture(&start) {
        return Err(bad("the cover is not a JPEG, PNG or WebP picture"));
    }
    let body = stream::iter(head.into_iter().map(Ok)).chain(body).boxed();
    storage
        .put_stream(key, body, Some(MAX_COVER_BYTES))
        .await
        .map_err(|e| match e {
            StorageError::TooLarge { .. } => bad("the cover picture is larger than 16 MiB"),
            StorageError::Body(io) => body_error(&io),
            e => e.into(),
        })?;
    Ok(())
}

/// Bytes [`is_picture`] looks at.
const PICTURE_MAGIC_LEN: usize = 12;

/// JPEG, PNG or WebP, by their first bytes.
fn is_picture(start: &[u8]) -> bool {
    start.starts_with(&[0xFF, 0xD8, 0xFF])
        || start.starts_with(b"\x89PNG\r\n\x1a\n")
        || (start.starts_with(b"RIFF") && start.get(8..12) == Some(b"WEBP"))
}

/// Refuses a file whose first bytes (up to [`SNIFF_LEN`]) show it is not media (415).
pub(crate) fn refuse_non_media(head: &[u8]) -> Result<(), ApiError> {
    match sniff(head) {
        Sniffed::NotMedia(kind) => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            format!("the file looks like {kind}, not a video or audio file"),
        )),
        _ => Ok(()),
    }
}

async fn read_text(mut field: Field<'_>) -> Result<String, ApiError> {
    let mut buf = Vec::new();
    while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
        if buf.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(ApiError::bad_request(
                "field-too-large",
                "a form field is too large",
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    String::from_utf8(buf)
        .map_err(|_| ApiError::bad_request("invalid-form", "a form field is not UTF-8"))
}

fn multipart_error(e: MultipartError) -> ApiError {
    let status = e.status();
    let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
        "too-large"
    } else {
        "invalid-form"
    };
    ApiError::new(status, code, e.body_text())
}

/// The client's body failed while it was being stored (a broken form, a dropped connection).
fn body_error(e: &io::Error) -> ApiError {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<MultipartError>())
    {
        Some(m) => ApiError::new(m.status(), "invalid-form", m.body_text()),
        // A plain request body (a resumable upload's cover) that broke off.
        None if e.get_ref().is_some_and(|inner| inner.is::<axum::Error>()) => {
            ApiError::bad_request("invalid-body", "the body broke off: send it again")
        }
        None => ApiError::bad_request("invalid-form", "the upload could not be read"),
    }
}

/// The video blob of an upload in progress: deleted again unless the job was created. An
/// explicit [`StoredBlob::delete`] on error paths; `Drop` covers a cancelled request.
pub(crate) struct StoredBlob {
    storage: Arc<dyn BlobStore>,
    pub(crate) key: String,
    pub(crate) stored: bool,
}

impl StoredBlob {
    pub(crate) fn new(storage: Arc<dyn BlobStore>, key: String) -> Self {
        StoredBlob {
            storage,
            key,
            stored: false,
        }
    }

    /// The job owns the blob now.
    pub(crate) fn keep(&mut self) {
        self.stored = false;
    }

    pub(crate) async fn delete(&mut self) {
        if std::mem::take(&mut self.stored)
            && let Err(error) = self.storage.delete(&self.key).await
        {
            tracing::error!(key = %self.key, %error, "could not delete the video of a refused upload");
        }
    }
}

impl Drop for StoredBlob {
    fn drop(&mut self) {
        if self.stored
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (storage, key) = (self.storage.clone(), std::mem::take(&mut self.key));
            runtime.spawn(async move {
                if let Err(error) = storage.delete(&key).await {
                    tracing::error!(%key, %error, "could not delete the video of a cancelled upload");
                }
            });
        }
    }
}
