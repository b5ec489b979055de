//! Request middleware: the `http_requests_total{route,status}` counter, the request timeout of
//! the short routes (uploads, downloads and event streams are not timed), and `Connection: close`
//! on refused uploads.

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::GatewayState;
use crate::error::ApiError;

/// An upload refused before its body was read (no or bad token, too large, not media) leaves the
/// rest of the body on the connection, so the server closes it after the answer. Without a
/// `Connection: close` header a keep-alive client would send its next request on that
/// connection and see it fail; with it, the client opens a new one.
pub(crate) async fn close_after_refused_upload(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if !response.status().is_success() {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Counts every answer by route template (`/api/v1/jobs/{id}`, never the raw path, so the label
/// set stays small) and status. Requests that match no route count as `unmatched`.
pub(crate) async fn count_requests(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    metrics::counter!(
        "http_requests_total",
        "route" => route,
        "status" => response.status().as_u16().to_string()
    )
    .increment(1);
    response
}

/// Answers 503 `timeout` when the handler takes longer than `request_timeout_secs`.
pub(crate) async fn timeout(
    State(state): State<GatewayState>,
    request: Request,
    next: Next,
) -> Response {
    let limit = Duration::from_secs(state.config.request_timeout_secs);
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(?path, secs = limit.as_secs(), "request timed out");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                "the request took too long, try again later",
            )
            .into_json()
        }
    }
}
