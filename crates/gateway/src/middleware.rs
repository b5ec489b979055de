//! Request middleware: the `http_requests_total{route,status}` counter and the request timeout
//! of the short routes (uploads, downloads and event streams are not timed).

use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use crate::GatewayState;
use crate::error::ApiError;

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
