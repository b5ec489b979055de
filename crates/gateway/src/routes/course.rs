//! The course's routes, with its plain-text answers: `POST /login` (HTTP Basic → JWT),
//! `POST /upload` (multipart, one file) and `GET /download?fid=` (the MP3).

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mp3converter_core::AudioFormat;

use crate::GatewayState;
use crate::error::{ApiError, CourseError};
use crate::extract::{ClientIp, CourseUser};
use crate::routes::visible_job;
use crate::upload::accept_upload;

/// `email` and `password` of an `Authorization: Basic` header.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (email, password) = decoded.split_once(':')?;
    (!email.is_empty() && !password.is_empty()).then(|| (email.to_owned(), password.to_owned()))
}

/// `POST /login`: 200 with the JWT as plain text; 401 `missing credentials` or
/// `invalid credentials`; 429 with `Retry-After`.
pub(crate) async fn login(
    State(state): State<GatewayState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
) -> Result<Response, CourseError> {
    let (email, password) =
        basic_credentials(&headers).ok_or_else(|| CourseError(ApiError::missing_credentials()))?;
    match state.auth.login(&email, &password, ip).await {
        Ok(token) => Ok(token.into_response()),
        Err(f) if f.status == StatusCode::UNAUTHORIZED => Err(CourseError(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid-credentials",
            "invalid credentials",
        ))),
        Err(f) => Err(f.into()),
    }
}

/// `POST /upload`: 200 `success!` with `Location: /api/v1/jobs/<id>` and `X-Job-Id`.
pub(crate) async fn upload(
    State(state): State<GatewayState>,
    CourseUser(caller): CourseUser,
    request: Request,
) -> Result<Response, CourseError> {
    let job = accept_upload(&state, &caller, request).await?;
    let mut response = "success!".into_response();
    let h = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/v1/jobs/{}", job.id)) {
        h.insert(header::LOCATION, location);
    }
    if let Ok(id) = HeaderValue::from_str(job.id.as_str()) {
        h.insert("x-job-id", id);
    }
    Ok(response)
}

/// The job id a `fid` names: the job id itself, or the audio key `audio/<job_id>.<ext>` (the
/// `mp3_fid` of the notification; `.mp3` for MP3 jobs, the format's extension for others).
fn job_id_of_fid(fid: &str) -> &str {
    fid.strip_prefix("audio/")
        .and_then(|rest| {
            AudioFormat::ALL
                .into_iter()
                .map(AudioFormat::extension)
                .chain(["zip"])
                .find_map(|ext| rest.strip_suffix(ext)?.strip_suffix('.'))
        })
        .unwrap_or(fid)
}

/// A GridFS ObjectId (24 hex digits), as the course's clients send it: its file's key is the
/// fid, when the storage backend has such ids.
async fn key_of_object_id(state: &GatewayState, fid: &str) -> Result<Option<String>, CourseError> {
    if fid.len() != 24 || !fid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    Ok(state.storage.key_of_id(fid).await?)
}

/// `GET /download?fid=<id>`: the MP3 as an attachment; 400 `fid is required`; 404 for an
/// unknown id and for someone else's (the same answer); 409 while the job is not done. The fid
/// is the job id, the audio key, or (on GridFS) the audio file's ObjectId.
pub(crate) async fn download(
    State(state): State<GatewayState>,
    CourseUser(caller): CourseUser,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, CourseError> {
    let fid = query
        .ok()
        .and_then(|Query(mut q)| q.remove("fid"))
        .map(|f| f.trim().to_owned())
        .filter(|f| !f.is_empty())
        .ok_or_else(|| CourseError(ApiError::bad_request("fid-required", "fid is required")))?;
    let fid = key_of_object_id(&state, &fid).await?.unwrap_or(fid);
    let job = visible_job(&state, &caller, job_id_of_fid(&fid)).await?;
    Ok(crate::audio::send_audio(&state, &job, &headers).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_need_both_parts() {
        let mut h = HeaderMap::new();
        let header =
            |s: &str| HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(s))).unwrap();
        h.insert(header::AUTHORIZATION, header("a@b.c:pa:ss"));
        assert_eq!(
            basic_credentials(&h),
            Some(("a@b.c".into(), "pa:ss".into()))
        );
        for bad in ["a@b.c", ":pw", "a@b.c:"] {
            h.insert(header::AUTHORIZATION, header(bad));
            assert_eq!(basic_credentials(&h), None, "{bad}");
        }
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic !!!"));
        assert_eq!(basic_credentials(&h), None);
    }

    #[test]
    fn fid_is_the_job_id_or_the_audio_key() {
        let id = "0190f5b2-7c4a-7d3e-8b1a-1234567890ab";
        assert_eq!(job_id_of_fid(id), id);
        assert_eq!(job_id_of_fid(&format!("audio/{id}.mp3")), id);
        assert_eq!(job_id_of_fid(&format!("audio/{id}.flac")), id);
        assert_eq!(
            job_id_of_fid(&format!("audio/{id}flac")),
            format!("audio/{id}flac")
        );
        assert_eq!(job_id_of_fid("video/x"), "video/x");
    }
}
