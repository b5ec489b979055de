//! A resumable upload's own cover picture. tus carries one file per upload, so the picture a
//! form upload sends as its `cover` part comes separately: `PUT /api/v1/uploads/{id}/cover`,
//! before the last byte of the file. It is stored at `uploads/<id>/cover`, under the upload's
//! prefix, so whatever removes the upload's segments (termination, a refused file, the removal
//! after the job is made, the janitor's expiry) removes it too. When the upload becomes a job the
//! picture is copied beside the job's video ([`mp3converter_core::cover_key`]) and the job's
//! `options.cover` is set, exactly as for a form upload's `cover` part.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use mp3converter_core::cover_key;
use mp3converter_db::Upload;
use mp3converter_storage::StorageError;

use super::{metadata, owned_upload, segments};
use crate::GatewayState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiUser;
use crate::upload::{MAX_COVER_BYTES, StoredBlob, store_picture};

/// The last path segment of the picture's key: not an offset, so [`segments::chain`] skips it.
pub(crate) const COVER_NAME: &str = "cover";

/// Where upload `id`'s picture is stored.
pub(crate) fn key(id: &str) -> String {
    format!("{}/{COVER_NAME}", segments::prefix(id))
}

/// Give a resumable upload its own cover picture (what a form upload sends as its `cover` part):
/// JPEG, PNG or WebP, at most 16 MiB. Send it after creating the upload and before its last
/// byte; a second PUT replaces the picture. The job the upload becomes embeds it
/// (`options.cover` is true). Refused with `cover_from_video` in the upload's metadata: a cover
/// comes from a picture or from the video, not both.
#[utoipa::path(put, path = "/api/v1/uploads/{id}/cover", tag = "uploads", operation_id = "put_upload_cover",
    params(("id" = String, Path, description = "The upload's id")),
    request_body(content((Vec<u8> = "image/jpeg"), (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "application/octet-stream")),
        description = "The picture's bytes: JPEG, PNG or WebP (recognised by their first bytes, whatever the Content-Type), at most 16 MiB"),
    responses(
        (status = 204, description = "Stored; the job the upload becomes will have this cover"),
        (status = 400, description = "Empty, not a JPEG, PNG or WebP picture, or over 16 MiB (`bad-cover`; nothing stored, an earlier picture stays); the upload's options take the cover from the video (`invalid-options`); the body broke off (`invalid-body`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such upload of the caller's", body = ErrorBody),
        (status = 409, description = "The upload is complete: it is a job already (`upload-complete`)", body = ErrorBody),
        (status = 410, description = "The upload expired (`upload-expired`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn put(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let upload = owned_upload(&state, &caller, &id).await?;
    refuse_complete(&upload)?;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_COVER_BYTES) {
        return Err(ApiError::bad_request(
            "bad-cover",
            "the cover picture is larger than 16 MiB",
        ));
    }
    // The upload's options must allow a picture (no `cover_from_video`): refuse now, not when
    // the last byte arrives.
    let mut form = metadata::parse(&upload.metadata)?.form;
    form.cover_part = true;
    form.finish()?;

    let storage = state.storage.as_ref();
    let key = key(&upload.id);
    let body = body
        .into_data_stream()
        .map_err(std::io::Error::other)
        .boxed();
    store_picture(storage, &key, body).await?;

    // The upload may have become a job (or been removed) while the picture streamed in: then
    // this picture is nobody's.
    let now = state
        .db
        .get_upload_for_owner(&upload.id, &caller.id)
        .await?;
    if now.as_ref().is_none_or(|u| u.job_id.is_some()) {
        if let Err(error) = storage.delete(&key).await {
            tracing::warn!(upload = %upload.id, %error, "could not remove a late cover picture");
        }
        return Err(match now {
            Some(_) => complete(),
            None => ApiError::not_found(),
        });
    }
    tracing::info!(upload = %upload.id, "resumable upload's cover picture stored");
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// 409 once the upload became a job: its cover can no longer change.
fn refuse_complete(upload: &Upload) -> Result<(), ApiError> {
    match upload.job_id {
        Some(_) => Err(complete()),
        None => Ok(()),
    }
}

fn complete() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "upload-complete",
        "this upload is complete and already a job: send the cover before its last byte",
    )
}

/// Copies upload `id`'s picture, if it has one, beside the job's video at `video_key`. The
/// returned blob is the copy, to keep once the job is made or delete if that fails.
pub(super) async fn take(
    state: &GatewayState,
    id: &str,
    video_key: &str,
) -> Result<Option<StoredBlob>, ApiError> {
    let picture = match state.storage.get(&key(id)).await {
        Ok(picture) => picture,
        Err(StorageError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut copy = StoredBlob::new(state.storage.clone(), cover_key(video_key));
    copy.stored = true;
    let body = picture.body.map_err(std::io::Error::other).boxed();
    if let Err(e) = state
        .storage
        .put_stream(&copy.key, body, Some(MAX_COVER_BYTES))
        .await
    {
        copy.delete().await;
        return Err(e.into());
    }
    Ok(Some(copy))
}
