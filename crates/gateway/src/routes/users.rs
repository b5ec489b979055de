//! `/api/v1/users` (admins: list, create, disable, enable) and `/api/v1/me` (the caller, own password).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mp3converter_core::UserId;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiUser, Caller};
use crate::views::{MeView, NewUserRequest, PasswordChange};
use crate::{GatewayState, UserView};

fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.admin {
        Ok(())
    } else {
        Err(ApiError::forbidden())
    }
}

/// The JSON body, or 415 when it is not `application/json` and 400 for anything else wrong
/// with it (bad syntax, wrong shape or types, unknown fields).
pub(crate) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b).map_err(|e| match e {
        JsonRejection::MissingJsonContentType(_) => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "the body must be JSON (Content-Type: application/json)",
        ),
        e => ApiError::bad_request("invalid-body", e.body_text()),
    })
}

/// List every user (admins only).
#[utoipa::path(get, path = "/api/v1/users", tag = "users", operation_id = "list_users",
    responses(
        (status = 200, description = "Every user, oldest first", body = Vec<UserView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
) -> Result<Json<Vec<UserView>>, ApiError> {
    require_admin(&caller)?;
    Ok(Json(state.auth.list_users().await?))
}

/// Create a user (admins only).
#[utoipa::path(post, path = "/api/v1/users", tag = "users", operation_id = "create_user", request_body = NewUserRequest,
    responses(
        (status = 201, description = "Created", body = UserView,
            headers(("Location" = String, description = "Where the user is listed"))),
        (status = 400, description = "Invalid body, email or password", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 409, description = "The email is taken", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    body: Result<Json<NewUserRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    require_admin(&caller)?;
    let req = json_body(body)?;
    let user = state
        .auth
        .create_user(req.email.trim(), &req.password, req.admin)
        .await?;
    tracing::info!(user_id = %user.id, by = %caller.id, admin = user.admin, "user created");
    let location = HeaderValue::from_static("/api/v1/users");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(user),
    )
        .into_response())
}

/// Disable a user (admins only): they can no longer log in.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users", operation_id = "disable_user",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 204, description = "Disabled"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn disable(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_disabled(&state, &caller, &id, true).await
}

/// Enable a disabled user again (admins only): they can log in again.
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "users", operation_id = "enable_user",
    params(("id" = String, Path, description = "The user id")),
    responses(
        (status = 204, description = "Enabled (also when it was not disabled)"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "Not an admin", body = ErrorBody),
        (status = 404, description = "No such user", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn enable(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    set_disabled(&state, &caller, &id, false).await
}

/// Disables or enables the account `id` for an admin `caller`; an unknown or malformed id is 404.
async fn set_disabled(
    state: &GatewayState,
    caller: &Caller,
    id: &str,
    disabled: bool,
) -> Result<StatusCode, ApiError> {
    require_admin(caller)?;
    let id: UserId = id.parse().map_err(|_| ApiError::not_found())?;
    if disabled {
        state.auth.disable_user(&id).await?;
        tracing::info!(user_id = %id, by = %caller.id, "user disabled");
    } else {
        state.auth.enable_user(&id).await?;
        tracing::info!(user_id = %id, by = %caller.id, "user enabled");
    }
    Ok(StatusCode::NO_CONTENT)
}

/// The caller, from the token.
#[utoipa::path(get, path = "/api/v1/me", tag = "users", operation_id = "get_me",
    responses(
        (status = 200, description = "The caller", body = MeView),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn me(ApiUser(caller): ApiUser) -> Json<MeView> {
    Json(MeView {
        id: caller.id.to_string(),
        email: caller.email,
        admin: caller.admin,
    })
}

/// Change the caller's password.
#[utoipa::path(put, path = "/api/v1/me/password", tag = "users", operation_id = "change_password", request_body = PasswordChange,
    responses(
        (status = 204, description = "Changed"),
        (status = 400, description = "Invalid body, or the new password is not acceptable", body = ErrorBody),
        (status = 401, description = "Missing or invalid token, or wrong old password", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn change_password(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let req = json_body(body)?;
    state
        .auth
        .change_password(&caller.id, &req.old_password, &req.new_password)
        .await?;
    tracing::info!(user_id = %caller.id, "password changed");
    Ok(StatusCode::NO_CONTENT)
}
