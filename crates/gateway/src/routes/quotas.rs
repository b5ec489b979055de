//! `/api/v1/users/{id}/quotas` (admins): one user's limits in force, what they use, and the
//! admin's overrides of the `[quotas]` defaults.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use mp3converter_core::UserId;
use serde::Serialize;
use utoipa::ToSchema;

use crate::GatewayState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiUser, Caller};
use crate::quota::{Limits, QuotaOverridesView, Usage, quota_of};
use crate::routes::users::{json_body, require_admin};

/// One user's quotas.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserQuotaView {
    /// The admin's overrides (null: the server's default; 0: no limit).
    pub overrides: QuotaOverridesView,
    /// The limits in force (null: no limit).
    pub limits: Limits,
    /// What the user uses now.
    pub usage: Usage,
}

/// The user `id` for an admin `caller`; an unknown or malformed id is 404.
async fn user_for_admin(
    state: &GatewayState,
    caller: &Caller,
    id: &str,
) -> Result<UserId, ApiError> {
    require_admin(caller)?;
    let id: UserId = id.parse().map_err(|_| ApiError::not_found())?;
    state
        .db
        .user_by_id(&id)
        .await?
        .ok_or_else(ApiError::not_found)?;
    Ok(id)
}

async fn view(state: &GatewayState, id: &UserId) -> Result<UserQuotaView, ApiError> {
    let overrides = state.db.quota_overrides(id).await?.into();
    let (limits, usage) = quota_of(state, id).await?;
    Ok(UserQuotaView {
        overrides,
        limits,
        usage,
    })
}

/// A user's quotas: overrides, limits in force and usage (admins only).
#[utoipa::path(get, path = "/api/v1/users/{id}/quotas", tag = "users", operation_id = "get_user_quotas",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 200, description = "The user's quotas", body = UserQuotaView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn get(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<Json<UserQuotaView>, ApiError> {
    let id = user_for_admin(&state, &caller, &id).await?;
    Ok(Json(view(&state, &id).await?))
}

/// Set a user's overrides of the server's quotas (admins only). The body replaces every
/// override: a missing or null field goes back to the server's default; 0 is no limit.
#[utoipa::path(put, path = "/api/v1/users/{id}/quotas", tag = "users", operation_id = "set_user_quotas",
    params(("id" = String, Path, description = "The user id")),
    request_body = QuotaOverridesView,
    responses(
        (status = 200, description = "The user's quotas after the change", body = UserQuotaView),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn set(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
    body: Result<Json<QuotaOverridesView>, JsonRejection>,
) -> Result<Json<UserQuotaView>, ApiError> {
    let id = user_for_admin(&state, &caller, &id).await?;
    let overrides = json_body(body)?;
    let too_big = [
        overrides.storage_bytes,
        overrides.jobs_per_day,
        overrides.concurrent_jobs,
        overrides.max_upload_bytes,
    ]
    .into_iter()
    .flatten()
    .any(|v| i64::try_from(v).is_err());
    if too_big {
        return Err(ApiError::bad_request(
            "invalid-quota",
            "a quota must be at most 9223372036854775807",
        ));
    }
    state.db.set_quota_overrides(&id, &overrides.into()).await?;
    tracing::info!(user_id = %id, by = %caller.id, ?overrides, "quotas set");
    Ok(Json(view(&state, &id).await?))
}
