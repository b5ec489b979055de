//! Import from a URL: `POST /api/v1/jobs` with a JSON body `{"url": "https://…", …options}`.
//!
//! The request is checked at once (import turned on, the body, the options, the URL's scheme
//! and host against the [`ssrf`] address policy: a refusal is a synchronous 400), then the job
//! row is created in `downloading` and answered 202. A task owned by the gateway ([`fetch`])
//! downloads the file into storage at `video/<job id>` (streaming, with the upload size limit,
//! the same sniffing as an upload, redirects followed by hand and each one checked again, a
//! total timeout), publishing progress; then in ONE transaction the job becomes `queued` with
//! its `video` message, and converts like an upload. A failure makes the job `failed` with an
//! `import-*` code and deletes the partial video. A job left `downloading` by a gateway that
//! died is failed by the [`reaper`].

mod fetch;
mod reaper;

use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use mp3converter_core::{Job, JobEvent, JobId, JobState, NewJob, now_millis};
use percent_encoding::percent_decode_str;
use serde_json::Value;
use url::Url;

pub use reaper::StaleImports;

use crate::GatewayState;
use crate::egress::ssrf::UrlRefusal;
use crate::error::ApiError;
use crate::extract::Caller;
use crate::filename::sanitize;
use crate::form::FormOptions;

/// Largest accepted JSON body of an import request.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// Longest accepted URL.
const MAX_URL_BYTES: usize = 8 * 1024;
/// Most seconds the request may spend resolving the URL's host before it is answered.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most imports of one user downloading at once; more are refused with 429.
pub const MAX_IMPORTS_PER_USER: u64 = 10;

/// Checks an import request of `caller`, creates its job in `downloading` and starts the
/// download in the background; returns the job as created.
pub(crate) async fn accept_import(
    state: &GatewayState,
    caller: &Caller,
    request: Request,
) -> Result<Job, ApiError> {
    if !state.import.config().enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "import-disabled",
            "importing from a URL is turned off on this server",
        ));
    }
    let body = axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                format!("the JSON body is larger than {} KiB", MAX_BODY_BYTES / 1024),
            )
        })?;
    let (url, form) = parse_body(&body)?;
    let keep = form.keep;
    let options = form.finish()?;
    let host = url.host_str().unwrap_or_default().to_owned();
    tokio::time::timeout(
        RESOLVE_TIMEOUT,
        state.import.policy().check_url_resolved(&url),
    )
    .await
    .unwrap_or(Err(UrlRefusal::Unresolvable(host)))
    .map_err(|refusal| ApiError::bad_request(refusal.code(), refusal.to_string()))?;
    if state.db.count_downloading_jobs(&caller.id).await? >= MAX_IMPORTS_PER_USER {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-imports",
            format!(
                "you already have {MAX_IMPORTS_PER_USER} imports downloading; wait for one to finish"
            ),
        ));
    }
    crate::quota::admit_job(state, &caller.id, Some(0)).await?;

    let job_id = JobId::generate();
    let mut job = Job::queued(
        NewJob {
            owner_id: caller.id.clone(),
            owner_email: caller.email.clone(),
            original_name: file_name(&url).unwrap_or_else(|| sanitize(url.host_str())),
            video_key: format!("video/{job_id}"),
            video_size: 0,
            video_sha256: String::new(),
            options,
        },
        now_millis(),
    );
    job.id = job_id;
    job.keep = keep;
    job.state = JobState::Downloading;
    state.db.create_downloading_job(&job).await?;
    state.events.publish(JobEvent::of(&job));
    metrics::counter!("imports_started_total").increment(1);
    tracing::info!(job_id = %job.id, owner = %job.owner_id, host = ?url.host_str(),
        "import accepted");
    state
        .import
        .spawn(fetch::run(state.clone(), job.clone(), url));
    Ok(job)
}

/// The URL and the options of an import body: a JSON object with `url` and the upload form's
/// fields (`bitrate`, `vbr`, `sample_rate`, `mono`, `start`, `end`, `track`, `title`, `keep`,
/// or `options` as an object), as JSON numbers, booleans or strings.
fn parse_body(body: &[u8]) -> Result<(Url, FormOptions), ApiError> {
    let invalid_json = |why: String| ApiError::bad_request("invalid-json", why);
    let fields: serde_json::Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| invalid_json(format!("the body is not a JSON object: {e}")))?;
    let mut url = None;
    let mut form = FormOptions::default();
    for (name, value) in fields {
        if name == "url" {
            let Value::String(text) = value else {
                return Err(ApiError::bad_request("invalid-url", "url must be a string"));
            };
            url = Some(text);
            continue;
        }
        form.add_json(&name, value)?;
    }
    if form.source_size.is_some() {
        return Err(ApiError::bad_request(
            "unknown-field",
            "source_size is for uploads whose audio track was extracted on the client; an import \
             has no such file",
        ));
    }
    let url = url.ok_or_else(|| {
        ApiError::bad_request("invalid-url", "the body needs a url (http or https)")
    })?;
    Ok((parse_url(&url)?, form))
}

fn parse_url(text: &str) -> Result<Url, ApiError> {
    if text.len() > MAX_URL_BYTES {
        return Err(ApiError::bad_request(
            "invalid-url",
            format!("the URL is longer than {} KiB", MAX_URL_BYTES / 1024),
        ));
    }
    let url = Url::parse(text.trim())
        .map_err(|e| ApiError::bad_request("invalid-url", format!("the URL is not valid: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        let refusal = UrlRefusal::NotAllowed(format!(
            "only http and https URLs can be imported, not {}:",
            url.scheme()
        ));
        return Err(ApiError::bad_request(refusal.code(), refusal.to_string()));
    }
    Ok(url)
}

/// The file name the URL's path ends with, if it has one.
fn file_name(url: &Url) -> Option<String> {
    let last = url.path_segments()?.rev().find(|s| !s.is_empty())?;
    let decoded = percent_decode_str(last).decode_utf8_lossy();
    Some(sanitize(Some(&decoded)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> &'static str {
        parse_body(body.as_bytes()).expect_err("refused").code
    }

    #[test]
    fn the_body_carries_the_url_and_the_upload_forms_options() {
        let (url, form) = parse_body(
            br#"{"url": "https://example.com/talks/My%20Talk.mp4", "bitrate": 128,
                "mono": true, "title": "A talk", "keep": true, "start": 1.5, "vbr": null}"#,
        )
        .unwrap();
        assert_eq!(url.host_str(), Some("example.com"));
        assert_eq!(file_name(&url).as_deref(), Some("My Talk.mp4"));
        assert!(form.keep);
        let options = form.finish().unwrap();
        assert_eq!(options.bitrate, Some(128));
        assert!(options.mono);
        assert_eq!(options.start, Some(1.5));
        assert_eq!(options.title.as_deref(), Some("A talk"));
        let (_, form) =
            parse_body(br#"{"url": "http://example.com/", "options": {"vbr": 2}}"#).unwrap();
        assert_eq!(form.finish().unwrap().vbr, Some(2));
    }

    #[test]
    fn bad_bodies_are_refused_with_their_code() {
        assert_eq!(code("[1]"), "invalid-json");
        assert_eq!(code("{"), "invalid-json");
        assert_eq!(code(r#"{"bitrate": 128}"#), "invalid-url");
        assert_eq!(code(r#"{"url": 5}"#), "invalid-url");
        assert_eq!(code(r#"{"url": "not a url"}"#), "invalid-url");
        assert_eq!(
            code(r#"{"url": "ftp://example.com/a.mp4"}"#),
            "url-not-allowed"
        );
        assert_eq!(code(r#"{"url": "file:///etc/passwd"}"#), "url-not-allowed");
        assert_eq!(
            code(r#"{"url": "https://example.com/", "colour": "red"}"#),
            "unknown-field"
        );
        assert_eq!(
            code(r#"{"url": "https://example.com/", "source_size": 1000}"#),
            "unknown-field",
            "an import has no file whose audio a client extracted"
        );
        assert_eq!(
            code(r#"{"url": "https://example.com/", "bitrate": [1]}"#),
            "invalid-options"
        );
        let long = format!(r#"{{"url": "https://example.com/{}"}}"#, "a".repeat(9000));
        assert_eq!(code(&long), "invalid-url");
        let e = parse_body(br#"{"url": "https://example.com/", "bitrate": "fast"}"#)
            .unwrap()
            .1
            .finish()
            .unwrap_err();
        assert_eq!(e.code, "invalid-options");
    }
}
