//! `/api/v1/keys`: the caller's API keys — create (the secret is in that answer only), list
//! (recognisable by prefix and last four characters, never the secret or its hash), revoke.
//! Only a login session may manage keys: a request authenticated by a key is refused (403
//! `login-required`, decided in `extract.rs`).

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mp3converter_core::now_millis;
use mp3converter_db::ApiKey;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::users::json_body;
use crate::GatewayState;
use crate::apikeys::{Scope, secret};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiUser, Caller};

/// The longest key name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// How many keys one user may have (expired ones count until revoked).
pub const MAX_KEYS_PER_USER: u64 = 50;
/// The longest lifetime a key can be given, in days.
pub const MAX_EXPIRY_DAYS: u32 = 3650;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// Body of `POST /api/v1/keys`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewKeyRequest {
    /// A name to recognise the key by (1–100 characters, no control characters).
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// What the key may do: `jobs:read`, `jobs:write`, `admin` (administrators only).
    #[schema(min_items = 1, max_items = 3)]
    pub scopes: Vec<String>,
    /// When the key stops working, unix milliseconds (in the future, at most 10 years ahead).
    /// At most one of `expires_at` and `expires_in_days`; neither: the key does not expire.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// The key stops working this many days from now (1–3650).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

/// An API key as listed: never the secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct KeyView {
    /// The key's id (to revoke it).
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it may do.
    pub scopes: Vec<String>,
    /// The secret's first characters (`mp3c_` and four more), to recognise it.
    pub prefix: String,
    /// The secret's last four characters, to recognise it.
    pub last4: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Unix milliseconds after which it no longer works; null: never.
    pub expires_at: Option<i64>,
    /// Unix milliseconds of its last use (recorded at most once a minute); null: never used.
    pub last_used_at: Option<i64>,
}

/// A key just created: the only answer that contains its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedKey {
    /// The secret (`mp3c_…`), shown only now: send it as `Authorization: Bearer <key>`.
    pub key: String,
    /// The key as it is listed.
    #[serde(flatten)]
    pub view: KeyView,
}

fn view(k: ApiKey) -> KeyView {
    KeyView {
        id: k.id,
        name: k.name,
        scopes: k.scopes,
        prefix: k.prefix,
        last4: k.last4,
        created_at: k.created_at,
        expires_at: k.expires_at,
        last_used_at: k.last_used_at,
    }
}

/// Refuses a caller that authenticated with a key (the extractor already did; this keeps the
/// rule next to the handlers).
fn require_login(caller: &Caller) -> Result<(), ApiError> {
    match caller.key {
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "login-required",
            "an API key cannot manage API keys; log in instead",
        )),
        None => Ok(()),
    }
}

/// The request's scopes, checked: known, not repeated, `admin` only for an administrator.
fn scopes(caller: &Caller, names: &[String]) -> Result<Vec<Scope>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request(
            "invalid-scopes",
            "give at least one scope (jobs:read, jobs:write, admin)",
        ));
    }
    let mut out = Vec::new();
    for name in names {
        let scope = Scope::parse(name).ok_or_else(|| {
            ApiError::bad_request(
                "unknown-scope",
                "unknown scope; the scopes are jobs:read, jobs:write and admin",
            )
        })?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    if out.contains(&Scope::Admin) && !caller.admin {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin-scope-forbidden",
            "only administrators can create keys with the admin scope",
        ));
    }
    Ok(out)
}

/// The expiry the request asks for, checked against `now`.
fn expiry(req: &NewKeyRequest, now: i64) -> Result<Option<i64>, ApiError> {
    let bad = |m: &str| ApiError::bad_request("invalid-expiry", m);
    let max = now + i64::from(MAX_EXPIRY_DAYS) * DAY_MS;
    match (req.expires_at, req.expires_in_days) {
        (Some(_), Some(_)) => Err(bad("give expires_at or expires_in_days, not both")),
        (Some(at), None) if at <= now || at > max => Err(bad(
            "expires_at must be in the future and at most 3650 days ahead (unix milliseconds)",
        )),
        (Some(at), None) => Ok(Some(at)),
        (None, Some(days)) if days == 0 || days > MAX_EXPIRY_DAYS => {
            Err(bad("expires_in_days must be between 1 and 3650"))
        }
        (None, Some(days)) => Ok(Some(now + i64::from(days) * DAY_MS)),
        (None, None) => Ok(None),
    }
}

/// Create an API key. Its secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/keys", tag = "keys", operation_id = "create_key", request_body = NewKeyRequest,
    responses(
        (status = 201, description = "Created; `key` is the secret, shown only now", body = CreatedKey,
            headers(("Location" = String, description = "Where the key is listed"))),
        (status = 400, description = "Invalid body, name (`invalid-name`), scope (`unknown-scope`, `invalid-scopes`) or expiry (`invalid-expiry`)", body = ErrorBody),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The `admin` scope for a non-administrator (`admin-scope-forbidden`), or the request was made with an API key (`login-required`)", body = ErrorBody),
        (status = 409, description = "The user already has the most keys allowed (`too-many-keys`)", body = ErrorBody),
        (status = 415, description = "The body is not JSON", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn create(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    body: Result<Json<NewKeyRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    require_login(&caller)?;
    let req = json_body(body)?;
    let name = req.name.trim();
    if name.is_empty()
        || name.chars().count() > MAX_NAME_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(
            "invalid-name",
            "the name must be 1-100 characters without control characters",
        ));
    }
    let scopes = scopes(&caller, &req.scopes)?;
    let now = now_millis();
    let expires_at = expiry(&req, now)?;
    if state.db.count_api_keys(&caller.id).await? >= MAX_KEYS_PER_USER {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too-many-keys",
            format!("a user can have at most {MAX_KEYS_PER_USER} API keys; revoke one first"),
        ));
    }
    let secret = secret::generate().map_err(|_| {
        ApiError::internal(&std::io::Error::other("the system random generator failed"))
    })?;
    let key = ApiKey {
        id: mp3converter_core::UserId::generate().to_string(),
        user_id: caller.id.clone(),
        name: name.to_owned(),
        scopes: scopes.iter().map(|s| s.as_str().to_owned()).collect(),
        prefix: secret.prefix,
        last4: secret.last4,
        secret_hash: secret.hash,
        created_at: now,
        expires_at,
        last_used_at: None,
    };
    state.db.create_api_key(&key).await?;
    tracing::info!(key_id = %key.id, user_id = %caller.id, scopes = ?key.scopes, "API key created");
    let created = CreatedKey {
        key: secret.key,
        view: view(key),
    };
    Ok((
        StatusCode::CREATED,
        [
            (header::LOCATION, HeaderValue::from_static("/api/v1/keys")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        Json(created),
    )
        .into_response())
}

/// List the caller's API keys, oldest first (never their secrets).
#[utoipa::path(get, path = "/api/v1/keys", tag = "keys", operation_id = "list_keys",
    responses(
        (status = 200, description = "The caller's keys, oldest first", body = Vec<KeyView>),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The request was made with an API key (`login-required`)", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn list(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
) -> Result<Json<Vec<KeyView>>, ApiError> {
    require_login(&caller)?;
    let keys = state.db.list_api_keys(&caller.id).await?;
    Ok(Json(keys.into_iter().map(view).collect()))
}

/// Revoke one of the caller's API keys: it stops working at once on this server, within 30
/// seconds on every other.
#[utoipa::path(delete, path = "/api/v1/keys/{id}", tag = "keys", operation_id = "revoke_key",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 403, description = "The request was made with an API key (`login-required`)", body = ErrorBody),
        (status = 404, description = "No such key of the caller's", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn revoke(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_login(&caller)?;
    if id.len() > 64 || !state.db.delete_api_key(&id, &caller.id).await? {
        return Err(ApiError::not_found());
    }
    state.keys.forget_key(&id);
    tracing::info!(key_id = %id, user_id = %caller.id, "API key revoked");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(expires_at: Option<i64>, expires_in_days: Option<u32>) -> NewKeyRequest {
        NewKeyRequest {
            name: "n".into(),
            scopes: vec![],
            expires_at,
            expires_in_days,
        }
    }

    #[test]
    fn expiry_is_in_the_future_and_bounded() {
        let now = 1_000_000;
        assert_eq!(expiry(&req(None, None), now).unwrap(), None);
        assert_eq!(
            expiry(&req(None, Some(1)), now).unwrap(),
            Some(now + DAY_MS)
        );
        assert_eq!(
            expiry(&req(Some(now + 5), None), now).unwrap(),
            Some(now + 5)
        );
        for bad in [
            req(Some(now), None),
            req(Some(now + 3651 * DAY_MS), None),
            req(None, Some(0)),
            req(None, Some(3651)),
            req(Some(now + 5), Some(1)),
        ] {
            assert_eq!(expiry(&bad, now).unwrap_err().code, "invalid-expiry");
        }
    }
}
