//! Sending a finished job's audio: `Range` (one range), `ETag`/`If-None-Match`, `If-Range` and a
//! safe `Content-Disposition`. Shared by `GET /download` and `GET /api/v1/jobs/{id}/audio`.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use futures_util::TryStreamExt;
use mp3converter_core::{Job, JobState};
use mp3converter_storage::{ByteRange, StorageError};

use crate::GatewayState;
use crate::error::ApiError;
use crate::filename::{audio_name, content_disposition};

/// Why a job has no audio to send: 409 while it is downloading, queued, converting or failed, 404 once expired.
pub(crate) fn not_downloadable(job: &Job) -> Option<ApiError> {
    match job.state {
        JobState::Done if job.audio_key.is_some() => None,
        JobState::Downloading | JobState::Queued | JobState::Converting => Some(ApiError::new(
            StatusCode::CONFLICT,
            "not-ready",
            format!("the audio is not ready yet (the job is {})", job.state),
        )),
        JobState::Failed => Some(ApiError::new(
            StatusCode::CONFLICT,
            "job-failed",
            format!(
                "the conversion failed: {}",
                job.error_message.as_deref().unwrap_or("unknown reason")
            ),
        )),
        JobState::Expired | JobState::Done => Some(ApiError::new(
            StatusCode::NOT_FOUND,
            "expired",
            "the audio is no longer available",
        )),
    }
}

/// The strong entity tag of a job's audio: it never changes once the job is done.
fn etag(job: &Job, size: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{}-{size}\"", job.id))
        .unwrap_or(HeaderValue::from_static("\"audio\""))
}

/// True when an `If-None-Match` list names `tag` (weak comparison, as RFC 9110 asks) or is `*`.
fn none_match(headers: &HeaderMap, tag: &HeaderValue) -> bool {
    let tag = tag.to_str().unwrap_or_default();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

/// The one byte range asked for, or `None` to send everything: no `Range`, a syntactically
/// invalid one, several ranges, or an `If-Range` that does not match (RFC 9110 §14.2).
fn requested_range(headers: &HeaderMap, tag: &HeaderValue) -> Option<ByteRange> {
    if let Some(if_range) = headers.get(header::IF_RANGE)
        && if_range != tag
    {
        return None;
    }
    parse_range(headers.get(header::RANGE)?.to_str().ok()?)
}

fn parse_range(value: &str) -> Option<ByteRange> {
    let (unit, spec) = value.trim().split_once('=')?;
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return None;
    }
    let (first, last) = spec.trim().split_once('-')?;
    let (first, last) = (first.trim(), last.trim());
    match (first.is_empty(), last.is_empty()) {
        (true, false) => Some(ByteRange::Last(last.parse().ok()?)),
        (false, true) => Some(ByteRange::From(first.parse().ok()?)),
        (false, false) => {
            let (start, end): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
            (end >= start).then(|| ByteRange::Bounded(start..end.saturating_add(1)))
        }
        (true, true) => None,
    }
}

/// The audio of `job` (which the caller may see) as a 200, 206 or 304 answer.
pub(crate) async fn send_audio(
    state: &GatewayState,
    job: &Job,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(refusal) = not_downloadable(job) {
        return Err(refusal);
    }
    let key = job.audio_key.as_deref().unwrap_or_default();
    let options = &job.options;
    let size = match job.audio_size {
        Some(size) => size,
        None => {
            state
                .storage
                .head(key)
                .await?
                .ok_or_else(ApiError::not_found)?
                .size
        }
    };
    let tag = etag(job, size);
    let mut response = Response::builder()
        .header(header::ETAG, tag.clone())
        .header(header::CACHE_CONTROL, "private")
        .header(header::ACCEPT_RANGES, "bytes");
    if none_match(headers, &tag) {
        return Ok(response
            .status(StatusCode::NOT_MODIFIED)
            .body(Body::empty())
            .unwrap_or_default());
    }

    let range = requested_range(headers, &tag);
    let partial = range.is_some();
    let blob = match range {
        Some(range) => state.storage.get_range(key, range).await,
        None => state.storage.get(key).await,
    }
    .map_err(|e| match e {
        StorageError::NotFound { .. } => {
            tracing::error!(job_id = %job.id, key, "the audio of a done job is missing");
            ApiError::not_found()
        }
        e => e.into(),
    })?;

    let (start, end, total) = (blob.range.start, blob.range.end, blob.meta.size);
    response = response
        .header(header::CONTENT_TYPE, options.output_content_type())
        .header(header::CONTENT_LENGTH, end - start)
        .header(
            header::CONTENT_DISPOSITION,
            content_disposition(&audio_name(&job.original_name, options.output_extension())),
        );
    if partial {
        response = response.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {start}-{}/{total}", end.saturating_sub(1)),
        );
    }
    let counter = metrics::counter!("download_bytes_total");
    let body = blob
        .body
        .inspect_ok(move |chunk| counter.increment(chunk.len() as u64));
    response
        .body(Body::from_stream(body))
        .map_err(|e| ApiError::internal(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges_parse_and_everything_else_means_whole_file() {
        assert_eq!(parse_range("bytes=0-9"), Some(ByteRange::Bounded(0..10)));
        assert_eq!(parse_range("bytes=5-"), Some(ByteRange::From(5)));
        assert_eq!(parse_range("bytes=-3"), Some(ByteRange::Last(3)));
        assert_eq!(parse_range("Bytes = 1-1"), Some(ByteRange::Bounded(1..2)));
        for ignored in [
            "bytes=0-1,4-5",
            "bytes=9-2",
            "items=0-1",
            "bytes=-",
            "bytes=a-b",
            "0-1",
        ] {
            assert_eq!(parse_range(ignored), None, "{ignored}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_star() {
        let tag = HeaderValue::from_static("\"x-1\"");
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"x-1\""),
        );
        assert!(none_match(&h, &tag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(none_match(&h, &tag));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x-2\""));
        assert!(!none_match(&h, &tag));
    }
}
