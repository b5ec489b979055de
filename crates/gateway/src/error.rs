//! `ApiError`: every failure of a gateway handler, answered as JSON (`/api/v1`) or as the course's
//! plain text (`/login`, `/upload`, `/download`). 5xx answers are opaque; their cause is logged.

use std::error::Error as StdError;

use axum::Json;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mp3converter_db::DbError;
use mp3converter_storage::StorageError;
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthFailure;

/// The JSON body of every `/api/v1` error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Stable kebab-case code (`not-found`, `exactly-one-file`, ...).
    pub code: String,
    /// What went wrong, in words.
    pub message: String,
}

/// A failed request: status, stable code, safe message and extra headers.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable kebab-case code.
    pub code: &'static str,
    /// Safe to show (5xx answers say only "internal server error").
    pub message: String,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    /// A 4xx answer with a safe message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    /// Adds a response header (`Retry-After`, `Content-Range`, ...).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// 500: logs `cause` with its source chain and answers opaquely.
    pub fn internal(cause: &(dyn StdError + 'static)) -> Self {
        tracing::error!(error = %Chain(cause), "request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal server error",
        )
    }

    /// 503: a backend is unreachable; logs `cause` and answers opaquely.
    pub fn unavailable(cause: &(dyn StdError + 'static)) -> Self {
        tracing::warn!(error = %Chain(cause), "backend unavailable");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "service temporarily unavailable, try again later",
        )
    }

    /// 404 `not-found`; also the answer for someone else's job, so ids cannot be probed.
    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "not found")
    }

    /// 401 `missing-credentials`: no usable `Authorization` header.
    pub fn missing_credentials() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "missing-credentials",
            "missing credentials",
        )
    }

    /// 403 `forbidden`: authenticated but not allowed (admin-only call).
    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "not authorized")
    }

    /// 400 with a safe reason.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// The JSON answer `{"code", "message"}`.
    pub fn into_json(self) -> Response {
        let body = ErrorBody {
            code: self.code.to_owned(),
            message: self.message,
        };
        finish((self.status, Json(body)).into_response(), self.headers)
    }

    /// The course's plain-text answer: the message alone.
    pub fn into_text(self) -> Response {
        let mut response = (self.status, self.message).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        finish(response, self.headers)
    }
}

fn finish(mut response: Response, headers: Vec<(HeaderName, HeaderValue)>) -> Response {
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_json()
    }
}

/// An [`ApiError`] answered in the course's plain-text style.
#[derive(Debug)]
pub struct CourseError(pub ApiError);

macro_rules! course_error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for CourseError {
            fn from(e: $t) -> Self {
                CourseError(e.into())
            }
        }
    )*};
}
course_error_from!(ApiError, DbError, StorageError, AuthFailure);

impl IntoResponse for CourseError {
    fn into_response(self) -> Response {
        self.0.into_text()
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        if e.is_retryable() {
            ApiError::unavailable(&e)
        } else {
            ApiError::internal(&e)
        }
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound { .. } => ApiError::not_found(),
            StorageError::TooLarge { limit } => too_large(limit),
            StorageError::RangeNotSatisfiable { size } => ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range-not-satisfiable",
                "the requested range is outside the file",
            )
            .with_header(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}"))
                    .unwrap_or(HeaderValue::from_static("bytes */0")),
            ),
            e if e.is_retryable() => ApiError::unavailable(&e),
            e => ApiError::internal(&e),
        }
    }
}

/// 413 `too-large`: the limit in binary units for people, and exactly, in bytes, for scripts
/// ("… the limit of 95.4 MiB (100000000 bytes)").
pub(crate) fn too_large(limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!(
            "the file is larger than the limit of {} ({limit} bytes)",
            human_size(limit)
        ),
    )
}

/// `100000000` → `95.4 MiB`, as the command-line client writes sizes.
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

impl From<AuthFailure> for ApiError {
    fn from(f: AuthFailure) -> Self {
        if f.status.is_server_error() {
            tracing::error!(code = f.code, error = %f.message, "auth backend failed");
            return ApiError::new(f.status, "internal", "internal server error");
        }
        let mut e = ApiError::new(f.status, f.code, f.message);
        if let Some(after) = f.retry_after {
            // Round up: "Retry-After: 0" would invite an immediate retry.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            e = e.with_header(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        e
    }
}

/// Displays an error with its sources: `outer: inner: root`.
pub(crate) use mp3converter_core::ErrorChain as Chain;

#[cfg(test)]
mod size_tests {
    use super::*;

    #[test]
    fn the_upload_limit_reads_in_binary_units_and_exact_bytes() {
        assert_eq!(
            too_large(100_000_000).message,
            "the file is larger than the limit of 95.4 MiB (100000000 bytes)"
        );
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
