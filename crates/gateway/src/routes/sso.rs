//! Single sign-on in the browser (OpenID Connect, Authorization Code + PKCE):
//!
//! * `GET /api/v1/auth/providers` tells the page whether to show the button, and its label;
//! * `GET /api/v1/auth/sso/login` sends the browser to the provider. The login's secrets (state,
//!   nonce, PKCE verifier) stay on the server, in a single-use database ticket found by a random
//!   key that only this browser holds (an HttpOnly, SameSite=Lax cookie scoped to these routes):
//!   any gateway replica can finish the login;
//! * `GET /api/v1/auth/sso/callback` (the redirect URI) takes that ticket, checks the `state`
//!   (constant time) and has the auth service exchange the code and verify the ID token. The
//!   token it gets back is never put in a URL: it waits in another single-use ticket (one
//!   minute, HttpOnly SameSite=Strict cookie) while the browser is sent to the page;
//! * `POST /api/v1/auth/sso/token` hands that token to the page once.
//!
//! A failed login answers a small HTML page to a browser and `{code, message}` to anything
//! else, with a stable code: `oidc-state-mismatch`, `oidc-login-expired`,
//! `oidc-provider-error`, `oidc-nonce-mismatch`, `oidc-email-unverified`, `oidc-no-account`...

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mp3converter_core::now_millis;
use mp3converter_db::SsoTicketPurpose;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::GatewayState;
use crate::auth::AuthFailure;
use crate::error::{ApiError, ErrorBody};
use crate::links::{escape_html, new_token, token_hash, well_formed};

/// The cookie holding the key of a login in progress.
const LOGIN_COOKIE: &str = "mp3c_sso_login";
/// The cookie holding the key of a token waiting for the page.
const HANDOFF_COOKIE: &str = "mp3c_sso_handoff";
/// Both cookies are sent to these routes only.
const COOKIE_PATH: &str = "/api/v1/auth/sso";
/// How long a login may stay at the provider (typing a password, a second factor).
const LOGIN_TTL_SECS: i64 = 600;
/// How long the token waits for the page to fetch it.
const HANDOFF_TTL_SECS: i64 = 60;
/// The most logins in progress at once: anyone can start one, and each is a database row for
/// [`LOGIN_TTL_SECS`]; past this many, new ones are refused with 503 until some end or expire.
const MAX_LOGINS_IN_PROGRESS: u64 = 10_000;
/// The longest provider error description shown (it comes from the callback's URL: anyone can
/// write it).
const MAX_DESCRIPTION_CHARS: usize = 200;

/// The login methods the page can offer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProvidersView {
    /// Email and password (`POST /login`): always available.
    pub password: bool,
    /// Single sign-on, when configured.
    pub sso: Option<SsoProviderView>,
}

/// The single sign-on button.
#[derive(Debug, Serialize, ToSchema)]
pub struct SsoProviderView {
    /// The provider's name: the button says "Sign in with <name>".
    pub name: String,
    /// Where the button goes (a browser navigation, not an API call).
    pub login_url: String,
}

/// The token of a finished single sign-on login.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SsoToken {
    /// The JWT, to send as `Authorization: Bearer …`.
    pub token: String,
}

/// What the login ticket holds.
#[derive(Serialize, Deserialize)]
struct LoginTicket {
    state: String,
    pending: String,
}

/// How the user can log in: password always, single sign-on when configured (with the label of
/// its button).
#[utoipa::path(get, path = "/api/v1/auth/providers", tag = "public", operation_id = "auth_providers",
    responses((status = 200, description = "The login methods", body = ProvidersView)))]
pub(crate) async fn providers(State(state): State<GatewayState>) -> Json<ProvidersView> {
    Json(ProvidersView {
        password: true,
        sso: state.auth.sso_name().map(|name| SsoProviderView {
            name,
            login_url: format!("{COOKIE_PATH}/login"),
        }),
    })
}

/// Start a single sign-on login: a redirect to the identity provider (a browser navigation).
#[utoipa::path(get, path = "/api/v1/auth/sso/login", tag = "public", operation_id = "sso_login",
    responses(
        (status = 302, description = "To the provider's authorization endpoint; sets the login's HttpOnly cookie"),
        (status = 404, description = "Single sign-on is not configured (`oidc-disabled`)", body = ErrorBody),
    ))]
pub(crate) async fn login(State(state): State<GatewayState>, headers: HeaderMap) -> Response {
    match start(&state).await {
        Ok(response) => response,
        Err(e) => failure_page(&headers, e),
    }
}

async fn start(state: &GatewayState) -> Result<Response, ApiError> {
    if state.auth.sso_name().is_none() {
        return Err(AuthFailure::sso_disabled().into());
    }
    let now = now_millis();
    if state
        .db
        .count_sso_tickets(SsoTicketPurpose::Login, now)
        .await?
        >= MAX_LOGINS_IN_PROGRESS
    {
        tracing::warn!("single sign-on: too many logins in progress, refusing new ones");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "oidc-busy",
            "too many sign-ins are in progress, please try again in a few minutes",
        ));
    }
    let started = state.auth.sso_begin().await?;
    let key = new_token();
    let ticket = serde_json::to_string(&LoginTicket {
        state: started.state,
        pending: started.pending,
    })
    .map_err(|e| ApiError::internal(&e))?;
    state
        .db
        .put_sso_ticket(
            &token_hash(&key),
            SsoTicketPurpose::Login,
            &ticket,
            now + LOGIN_TTL_SECS * 1000,
            now,
        )
        .await?;
    let cookie = set_cookie(state, LOGIN_COOKIE, &key, "Lax", LOGIN_TTL_SECS);
    redirect(&started.authorize_url, &[cookie])
}

/// The provider's redirect back (the redirect URI to register): finishes the login and sends
/// the browser to the page, which fetches its token with `POST /api/v1/auth/sso/token`.
#[utoipa::path(get, path = "/api/v1/auth/sso/callback", tag = "public", operation_id = "sso_callback",
    params(
        ("code" = Option<String>, Query, description = "The authorization code"),
        ("state" = Option<String>, Query, description = "The login's state"),
        ("error" = Option<String>, Query, description = "The provider's error code (e.g. `access_denied`)"),
        ("error_description" = Option<String>, Query, description = "The provider's explanation"),
    ),
    responses(
        (status = 302, description = "To the web UI; sets the one-time HttpOnly handoff cookie"),
        (status = 400, description = "No login in progress in this browser or it expired (`oidc-login-expired`), wrong state (`oidc-state-mismatch`), the provider refused (`oidc-provider-error`, `oidc-exchange-refused`), the ID token failed verification (`oidc-nonce-mismatch`, `oidc-invalid-id-token`)", body = ErrorBody),
        (status = 403, description = "No verified email (`oidc-email-unverified`), no account and none created (`oidc-no-account`), account disabled (`oidc-account-disabled`)", body = ErrorBody),
        (status = 404, description = "Single sign-on is not configured (`oidc-disabled`)", body = ErrorBody),
        (status = 409, description = "An account has this email but matching by email is off (`oidc-email-taken`)", body = ErrorBody),
    ))]
pub(crate) async fn callback(
    State(state): State<GatewayState>,
    headers: HeaderMap,
    query: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = query.map(|Query(q)| q).unwrap_or_default();
    // The login cookie has served its purpose whatever happens.
    let clear = clear_cookie(&state, LOGIN_COOKIE);
    let mut response = match finish(&state, &headers, &params).await {
        Ok(response) => response,
        Err(e) => failure_page(&headers, e),
    };
    if let Ok(value) = HeaderValue::from_str(&clear) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

async fn finish(
    state: &GatewayState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> Result<Response, ApiError> {
    if state.auth.sso_name().is_none() {
        return Err(AuthFailure::sso_disabled().into());
    }
    let expired = || {
        ApiError::bad_request(
            "oidc-login-expired",
            "this sign-in was not started in this browser or took too long; please start again",
        )
    };
    let key = cookie(headers, LOGIN_COOKIE).ok_or_else(expired)?;
    let now = now_millis();
    let ticket = state
        .db
        .take_sso_ticket(&token_hash(key), SsoTicketPurpose::Login, now)
        .await?
        .ok_or_else(expired)?;
    let ticket: LoginTicket = serde_json::from_str(&ticket).map_err(|e| ApiError::internal(&e))?;
    let given = params.get("state").map_or("", String::as_str);
    if !same_secret(given.as_bytes(), ticket.state.as_bytes()) {
        tracing::warn!("single sign-on callback with a wrong state refused");
        return Err(ApiError::bad_request(
            "oidc-state-mismatch",
            "the sign-in answer does not belong to the sign-in started in this browser; please start again",
        ));
    }
    if let Some(error) = params.get("error") {
        return Err(provider_error(error, params.get("error_description")));
    }
    let code = params
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(
                "oidc-provider-error",
                "the identity provider sent no authorization code",
            )
        })?;
    let token = state.auth.sso_finish(code, &ticket.pending).await?;
    let key = new_token();
    state
        .db
        .put_sso_ticket(
            &token_hash(&key),
            SsoTicketPurpose::Handoff,
            &token,
            now + HANDOFF_TTL_SECS * 1000,
            now,
        )
        .await?;
    let cookie = set_cookie(state, HANDOFF_COOKIE, &key, "Strict", HANDOFF_TTL_SECS);
    redirect("/#sso", &[cookie])
}

/// Whether two secrets are equal, in a time that depends on their length only (every byte is
/// compared), so the answer's timing tells nothing about how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    a.len() == b.len() && std::hint::black_box(diff) == 0
}

/// The provider's `error` (and description) as a 400 `oidc-provider-error`. Both come from a
/// URL anyone can write: the code is shown only if it is a plain token, the description cut.
fn provider_error(error: &str, description: Option<&String>) -> ApiError {
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
    };
    let mut message = match error {
        "access_denied" => {
            "the sign-in was cancelled or refused at the identity provider".to_string()
        }
        e if plain(e) => format!("the identity provider refused the sign-in ({e})"),
        _ => "the identity provider refused the sign-in".to_string(),
    };
    if let Some(d) = description.filter(|d| !d.trim().is_empty()) {
        let cut: String = d
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_DESCRIPTION_CHARS)
            .collect();
        message.push_str(": ");
        message.push_str(&cut);
    }
    ApiError::bad_request("oidc-provider-error", message)
}

/// Hand the token of a finished single sign-on login to the page, once (the cookie set by the
/// callback is then cleared; a second call is refused).
#[utoipa::path(post, path = "/api/v1/auth/sso/token", tag = "public", operation_id = "sso_token",
    responses(
        (status = 200, description = "The token", body = SsoToken),
        (status = 401, description = "No token waiting for this browser: none, used, or expired (`oidc-handoff-invalid`)", body = ErrorBody),
        (status = 404, description = "Single sign-on is not configured (`oidc-disabled`)", body = ErrorBody),
    ))]
pub(crate) async fn token(
    State(state): State<GatewayState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if state.auth.sso_name().is_none() {
        return Err(AuthFailure::sso_disabled().into());
    }
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "oidc-handoff-invalid",
            "no sign-in is waiting for this browser (already used or expired)",
        )
    };
    let key = cookie(&headers, HANDOFF_COOKIE).ok_or_else(refused)?;
    let token = state
        .db
        .take_sso_ticket(&token_hash(key), SsoTicketPurpose::Handoff, now_millis())
        .await?
        .ok_or_else(refused)?;
    let mut response = Json(SsoToken { token }).into_response();
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&clear_cookie(&state, HANDOFF_COOKIE)) {
        h.append(header::SET_COOKIE, v);
    }
    Ok(response)
}

/// The value of cookie `name` if it has the shape of one of our keys.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, v)| *n == name && well_formed(v))
        .map(|(_, v)| v)
}

/// `Set-Cookie` for one of our keys: HttpOnly, scoped to the single sign-on routes, `Secure`
/// when the gateway is reached over HTTPS.
fn set_cookie(
    state: &GatewayState,
    name: &str,
    value: &str,
    same_site: &str,
    max_age: i64,
) -> String {
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{name}={value}; Path={COOKIE_PATH}; Max-Age={max_age}; HttpOnly; SameSite={same_site}{secure}"
    )
}

fn clear_cookie(state: &GatewayState, name: &str) -> String {
    set_cookie(state, name, "", "Lax", 0)
}

/// 302 to `location` with the given `Set-Cookie` values; never cached.
fn redirect(location: &str, cookies: &[String]) -> Result<Response, ApiError> {
    let mut response = StatusCode::FOUND.into_response();
    let h = response.headers_mut();
    let location = HeaderValue::from_str(location).map_err(|e| ApiError::internal(&e))?;
    h.insert(header::LOCATION, location);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    for c in cookies {
        h.append(
            header::SET_COOKIE,
            HeaderValue::from_str(c).map_err(|e| ApiError::internal(&e))?,
        );
    }
    Ok(response)
}

/// A failed step: a page for a browser (it navigated here), `{code, message}` for anything else.
fn failure_page(headers: &HeaderMap, e: ApiError) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if !wants_html {
        return e.into_json();
    }
    let (status, code) = (e.status, e.code);
    let message = if status.is_server_error() {
        "the sign-in service is unavailable, please try again later".to_string()
    } else {
        e.message.clone()
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>Sign-in failed</title>\n<link rel=\"stylesheet\" href=\"/assets/share.css\">\n\
         </head>\n<body>\n<main>\n<h1>Sign-in failed</h1>\n<p>{}</p>\n\
         <p><small>Error code: <code>{code}</code></small></p>\n\
         <p><a href=\"/\">Back to the sign-in page</a></p>\n</main>\n</body>\n</html>\n",
        escape_html(&message)
    );
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        page,
    )
        .into_response();
    let h = response.headers_mut();
    crate::web::secure(h);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_by_name_and_shape_only() {
        let key = new_token();
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("a=b; {LOGIN_COOKIE}=short; x=y")).unwrap(),
        );
        assert_eq!(cookie(&headers, LOGIN_COOKIE), None, "not one of our keys");
        headers.append(
            header::COOKIE,
            HeaderValue::from_str(&format!("{LOGIN_COOKIE}={key}")).unwrap(),
        );
        assert_eq!(cookie(&headers, LOGIN_COOKIE), Some(key.as_str()));
        assert_eq!(cookie(&headers, HANDOFF_COOKIE), None);
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"abcd"));
        assert!(!same_secret(b"", b"a"));
    }

    #[test]
    fn provider_errors_show_plain_codes_and_cut_descriptions() {
        let denied = provider_error("access_denied", None);
        assert_eq!(denied.code, "oidc-provider-error");
        assert!(denied.message.contains("cancelled or refused"));
        let odd = provider_error("<script>", Some(&"x".repeat(1000)));
        assert!(!odd.message.contains("<script>"));
        assert!(odd.message.len() < 300, "{}", odd.message.len());
    }
}
