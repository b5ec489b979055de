//! `/api/v1/webhooks`: the caller's webhook endpoints (create with a secret shown once, list,
//! get, change, delete, rotate the secret) and their deliveries (list, one with its attempts,
//! replay). Endpoints are personal: another user's (an admin's too) is 404.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mp3converter_core::now_millis;
use mp3converter_db::{EndpointChanges, WEBHOOK_EVENTS, WebhookEndpoint};
use url::Url;

use crate::GatewayState;
use crate::egress::ssrf::UrlRefusal;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiUser, Caller};
use crate::routes::users::json_body;
use crate::webhooks::sign::new_secret;
use crate::webhooks::views::{
    AttemptView, DeliveryDetail, DeliveryView, NewWebhook, WebhookChange, WebhookView,
    WebhookWithSecret,
};
use crate::webhooks::{MAX_DESCRIPTION_CHARS, check_endpoint_url};

/// Deliveries listed, newest first.
const DELIVERIES_LISTED: u32 = 50;
/// Most time a request spends resolving an endpoint's host.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The URL checked like an import's: syntax, scheme, and every address of its host.
async fn checked_url(state: &GatewayState, text: &str) -> Result<Url, ApiError> {
    let refused = |r: UrlRefusal| ApiError::bad_request(r.code(), r.to_string());
    let url = check_endpoint_url(state.import.policy(), text).map_err(refused)?;
    let host = url.host_str().unwrap_or_default().to_owned();
    tokio::time::timeout(
        RESOLVE_TIMEOUT,
        state.import.policy().check_url_resolved(&url),
    )
    .await
    .unwrap_or(Err(UrlRefusal::Unresolvable(host)))
    .map_err(refused)?;
    Ok(url)
}

fn checked_events(events: &[String]) -> Result<Vec<String>, ApiError> {
    let mut out: Vec<String> = Vec::new();
    for e in events {
        if !WEBHOOK_EVENTS.contains(&e.as_str()) {
            return Err(ApiError::bad_request(
                "invalid-events",
                format!(
                    "unknown event; the events are {}",
                    WEBHOOK_EVENTS.join(", ")
                ),
            ));
        }
        if !out.contains(e) {
            out.push(e.clone());
        }
    }
    if out.is_empty() {
        return Err(ApiError::bad_request(
            "invalid-events",
            "subscribe to at least one event",
        ));
    }
    Ok(out)
}

fn checked_description(text: &str) -> Result<String, ApiError> {
    if text.chars().count() > MAX_DESCRIPTION_CHARS || text.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid-description",
            format!(
                "the description is at most {MAX_DESCRIPTION_CHARS} characters, no control characters"
            ),
        ));
    }
    Ok(text.trim().to_owned())
}

async fn own_endpoint(
    state: &GatewayState,
    caller: &Caller,
    id: &str,
) -> Result<WebhookEndpoint, ApiError> {
    state
        .db
        .get_webhook_endpoint(id, &caller.id)
        .await?
        .ok_or_else(ApiError::not_found)
}

/// Register an endpoint for job events; the answer holds its signing secret, shown only now.
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", operation_id = "create_webhook",
    request_body = NewWebhook,
    responses(
        (status = 201, description = "Created; `secret` is not shown again", body = WebhookWithSecret,
            headers(("Location" = String, description = "The endpoint"))),
        (status = 400, description = "Invalid body, URL (`invalid-url`, `url-not-allowed`, `url-unresolvable`), events or description", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 409, description = "`too-many-webhooks`: the per-user limit is reached", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    body: Result<Json<NewWebhook>, JsonRejection>,
) -> Result<Response, ApiError> {
    let req = json_body(body)?;
    let events = checked_events(&req.events)?;
    let description = checked_description(req.description.as_deref().unwrap_or_default())?;
    let url = checked_url(&state, &req.url).await?;
    let max = state.webhooks.max_endpoints_per_user;
    if state.db.count_webhook_endpoints(&caller.id).await? >= max {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too-many-webhooks",
            format!("you already have {max} webhook endpoints; delete one first"),
        ));
    }
    let now = now_millis();
    let endpoint = WebhookEndpoint {
        id: uuid_v7(),
        owner_id: caller.id.clone(),
        url: url.to_string(),
        description,
        events,
        secret: new_secret(),
        previous_secret: None,
        previous_secret_until: None,
        enabled: true,
        created_at: now,
        updated_at: now,
    };
    state.db.create_webhook_endpoint(&endpoint).await?;
    tracing::info!(webhook = %endpoint.id, owner = %caller.id, host = ?url.host_str(),
        "webhook endpoint created");
    let location = HeaderValue::from_str(&format!("/api/v1/webhooks/{}", endpoint.id))
        .map_err(|e| ApiError::internal(&e))?;
    let body = WebhookWithSecret {
        webhook: WebhookView::from(&endpoint),
        secret: endpoint.secret,
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

fn uuid_v7() -> String {
    mp3converter_core::JobId::generate().to_string()
}

/// The caller's endpoints, oldest first (without secrets).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", operation_id = "list_webhooks",
    responses(
        (status = 200, description = "The caller's endpoints", body = Vec<WebhookView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
) -> Result<Json<Vec<WebhookView>>, ApiError> {
    let endpoints = state.db.list_webhook_endpoints(&caller.id).await?;
    Ok(Json(endpoints.iter().map(WebhookView::from).collect()))
}

/// One of the caller's endpoints (without its secret).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "get_webhook",
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 200, description = "The endpoint", body = WebhookView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such endpoint, or not yours", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<WebhookView>, ApiError> {
    Ok(Json(WebhookView::from(
        &own_endpoint(&state, &caller, &id).await?,
    )))
}

/// Change an endpoint's URL, events, description or whether it is enabled.
#[utoipa::path(patch, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "update_webhook",
    params(("id" = String, Path, description = "The endpoint id")),
    request_body = WebhookChange,
    responses(
        (status = 200, description = "The endpoint as it is now", body = WebhookView),
        (status = 400, description = "Invalid body, URL, events or description", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such endpoint, or not yours", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn update(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
    body: Result<Json<WebhookChange>, JsonRejection>,
) -> Result<Json<WebhookView>, ApiError> {
    let req = json_body(body)?;
    own_endpoint(&state, &caller, &id).await?;
    let events = req.events.as_deref().map(checked_events).transpose()?;
    let description = req
        .description
        .as_deref()
        .map(checked_description)
        .transpose()?;
    let url = match &req.url {
        Some(text) => Some(checked_url(&state, text).await?.to_string()),
        None => None,
    };
    let changes = EndpointChanges {
        url,
        description,
        events,
        enabled: req.enabled,
    };
    let endpoint = state
        .db
        .update_webhook_endpoint(&id, &caller.id, &changes, now_millis())
        .await?
        .ok_or_else(ApiError::not_found)?;
    tracing::info!(webhook = %endpoint.id, owner = %caller.id, "webhook endpoint changed");
    Ok(Json(WebhookView::from(&endpoint)))
}

/// Delete an endpoint with its deliveries.
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", operation_id = "delete_webhook",
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such endpoint, or not yours", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn delete(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !state.db.delete_webhook_endpoint(&id, &caller.id).await? {
        return Err(ApiError::not_found());
    }
    tracing::info!(webhook = %id, owner = %caller.id, "webhook endpoint deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Replace the signing secret. For 24 hours deliveries are signed with the new and the old one
/// (two `v1,` signatures), so receivers can switch without missing one.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/rotate", tag = "webhooks", operation_id = "rotate_webhook_secret",
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 200, description = "The endpoint with its new secret, shown only now", body = WebhookWithSecret),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such endpoint, or not yours", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn rotate(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<WebhookWithSecret>, ApiError> {
    let now = now_millis();
    let until = now.saturating_add(millis(state.webhooks.rotation_grace));
    let endpoint = state
        .db
        .rotate_webhook_secret(&id, &caller.id, &new_secret(), until, now)
        .await?
        .ok_or_else(ApiError::not_found)?;
    tracing::info!(webhook = %endpoint.id, owner = %caller.id, "webhook secret rotated");
    Ok(Json(WebhookWithSecret {
        webhook: WebhookView::from(&endpoint),
        secret: endpoint.secret,
    }))
}

/// The endpoint's 50 most recent deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks", operation_id = "list_webhook_deliveries",
    params(("id" = String, Path, description = "The endpoint id")),
    responses(
        (status = 200, description = "Recent deliveries", body = Vec<DeliveryView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such endpoint, or not yours", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn deliveries(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<Vec<DeliveryView>>, ApiError> {
    let endpoint = own_endpoint(&state, &caller, &id).await?;
    let list = state
        .db
        .list_webhook_deliveries(&endpoint.id, DELIVERIES_LISTED)
        .await?;
    Ok(Json(list.iter().map(DeliveryView::from).collect()))
}

/// One delivery with every attempt.
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries/{did}", tag = "webhooks", operation_id = "get_webhook_delivery",
    params(("id" = String, Path, description = "The endpoint id"),
        ("did" = String, Path, description = "The delivery id (`msg_…`)")),
    responses(
        (status = 200, description = "The delivery and its attempts", body = DeliveryDetail),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such endpoint or delivery, or not yours", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn delivery(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path((id, did)): Path<(String, String)>,
) -> Result<Json<DeliveryDetail>, ApiError> {
    let endpoint = own_endpoint(&state, &caller, &id).await?;
    let delivery = state
        .db
        .webhook_delivery(&did)
        .await?
        .filter(|d| d.endpoint_id == endpoint.id)
        .ok_or_else(ApiError::not_found)?;
    let attempts = state.db.list_webhook_attempts(&delivery.id).await?;
    Ok(Json(DeliveryDetail {
        delivery: DeliveryView::from(&delivery),
        attempt_log: attempts.iter().map(AttemptView::from).collect(),
    }))
}

/// Send a delivery again now, with the same `webhook-id` and body (and a fresh retry schedule).
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/deliveries/{did}/replay", tag = "webhooks", operation_id = "replay_webhook_delivery",
    params(("id" = String, Path, description = "The endpoint id"),
        ("did" = String, Path, description = "The delivery id (`msg_…`)")),
    responses(
        (status = 202, description = "Due now; the delivery as it is", body = DeliveryView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such endpoint or delivery, or not yours", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn replay(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path((id, did)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let endpoint = own_endpoint(&state, &caller, &id).await?;
    if !state.db.replay_webhook_delivery(&endpoint.id, &did).await? {
        return Err(ApiError::not_found());
    }
    let delivery = state
        .db
        .webhook_delivery(&did)
        .await?
        .ok_or_else(ApiError::not_found)?;
    tracing::info!(webhook = %endpoint.id, delivery = %did, owner = %caller.id,
        "webhook delivery replayed");
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::from(&delivery))).into_response())
}
