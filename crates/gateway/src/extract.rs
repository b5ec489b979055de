//! Who is calling: extractors that read the bearer token, verify it locally and yield the caller.
//!
//! * [`ApiUser`] (`/api/v1`): no usable `Authorization: Bearer` header → 401
//!   `missing-credentials`; a token that fails verification → 401 `invalid-token` (JSON).
//! * [`CourseUser`] (`/upload`, `/download`): the course's answers, plain text: 401
//!   `missing credentials`, 403 `not authorized`.
//! * [`AudioAccess`] (`GET /api/v1/jobs/{id}/audio` only): an [`ApiUser`], or, without an
//!   `Authorization` header, a short-lived signed URL (`?u=&g=&exp=&sig=`, see `signed.rs`) for
//!   `<audio src>` and download links, which cannot send headers.
//!
//! The token is either a JWT (a login session, every permission of its user) or an API key
//! (`mp3c_…`, see `apikeys`): the key acts as its user, limited to its scopes, which are checked
//! here for every route from its method and path (403 `insufficient-scope`; managing keys and the
//! password need a login: 403 `login-required`).
//!
//! The token is only ever read from the header: a token in a URL (`?access_token=`) is ignored
//! on every route, because URLs end up in browser history and logs.
//!
//! A missing, empty, non-UTF-8 or non-Bearer header is "missing"; it never causes a 500.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use mp3converter_core::{Claims, ClientAddr, UserId};

use crate::apikeys::{self, Grant, KEY_PREFIX, KeyAccess, Need, Scope};
use crate::error::{ApiError, CourseError};
use crate::signed::SignedQuery;
use crate::{AuthFailure, GatewayState};

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user's id (the token's `sub`).
    pub id: UserId,
    /// The user's email (the token's `username`).
    pub email: String,
    /// True for administrators: they see and manage every job.
    pub admin: bool,
    /// The whole verified claims (for an API key: made up from the key and its user, with `exp`
    /// the key's expiry, at most a year ahead).
    pub claims: Claims,
    /// The API key the caller authenticated with; `None` for a login session (JWT).
    pub key: Option<KeyAccess>,
}

/// The caller of a `/api/v1` route.
#[derive(Debug, Clone)]
pub struct ApiUser(pub Caller);

/// The caller of a course route (`/upload`, `/download`).
#[derive(Debug, Clone)]
pub struct CourseUser(pub Caller);

/// Who may read a job's audio: a caller with a token in the header, or the holder of a signed
/// URL (checked by the handler, which knows the job id).
#[derive(Debug, Clone)]
pub(crate) enum AudioAccess {
    /// `Authorization: Bearer`.
    Caller(Caller),
    /// No header, and a query string with a signature.
    Signed(SignedQuery),
}

/// The client's address: the server's decision for this request (a [`ClientAddr`] extension,
/// where `X-Forwarded-For` counts only from a peer in `server.trusted_proxies`), else the
/// connection's peer (`ConnectInfo<SocketAddr>`, present when the server is run with
/// `into_make_service_with_connect_info::<SocketAddr>()`), else the unspecified address. The
/// header itself is never read here: anyone can send it, and this address keys the login rate
/// limit.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(ClientAddr(ip)) = parts.extensions.get::<ClientAddr>() {
            return Ok(ClientIp(*ip));
        }
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |c| c.0.ip()),
        ))
    }
}

enum Refused {
    Missing,
    Invalid(AuthFailure),
    /// An API key without the scope the route needs.
    Scope(ApiError),
}

/// The token of an `Authorization: Bearer <token>` header (scheme in any letter case).
fn header_token(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then(|| token.to_owned())
}

async fn authenticate(parts: &Parts, state: &GatewayState) -> Result<Caller, Refused> {
    let token = header_token(parts).ok_or(Refused::Missing)?;
    if token.starts_with(KEY_PREFIX) {
        let grant = state
            .keys
            .authenticate(&token)
            .await
            .map_err(Refused::Invalid)?;
        permit(&grant, apikeys::required(&parts.method, parts.uri.path()))?;
        return Ok(key_caller(grant));
    }
    let claims = state.auth.verify(&token).await.map_err(Refused::Invalid)?;
    let id = claims
        .sub
        .parse()
        .map_err(|_| Refused::Invalid(AuthFailure::invalid_token()))?;
    Ok(Caller {
        id,
        email: claims.username.clone(),
        admin: claims.admin,
        claims,
        key: None,
    })
}

/// Whether `grant`'s key may do what a route needs.
fn permit(grant: &Grant, need: Need) -> Result<(), Refused> {
    match need {
        Need::Login => Err(Refused::Scope(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "login-required",
            "an API key cannot manage API keys or change the password; log in instead",
        ))),
        Need::Scope(scope) if grant.access.scopes.contains(&scope) => Ok(()),
        Need::Scope(scope) => Err(Refused::Scope(ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "insufficient-scope",
            format!("this API key lacks the {} scope", scope.as_str()),
        ))),
    }
}

/// The caller a key acts as: its user, an administrator only with the `admin` scope.
fn key_caller(grant: Grant) -> Caller {
    let admin = grant.user_admin && grant.access.scopes.contains(&Scope::Admin);
    let now = mp3converter_core::now_millis().div_euclid(1000);
    let year = 365 * 24 * 3600;
    let exp = grant
        .expires_at
        .map_or(now + year, |ms| ms.div_euclid(1000).min(now + year));
    let claims = Claims {
        sub: grant.user.to_string(),
        username: grant.email.clone(),
        admin,
        iat: now,
        exp,
        iss: String::new(),
        aud: String::new(),
        generation: grant.generation,
    };
    Caller {
        id: grant.user,
        email: grant.email,
        admin,
        claims,
        key: Some(grant.access),
    }
}

fn api_refusal(r: Refused) -> ApiError {
    match r {
        Refused::Missing => ApiError::missing_credentials(),
        Refused::Scope(e) => e,
        Refused::Invalid(f) if f.status.is_server_error() || f.code == "key-expired" => f.into(),
        Refused::Invalid(_) => ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "invalid-token",
            "the token is invalid or expired",
        ),
    }
}

impl FromRequestParts<GatewayState> for ApiUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &GatewayState) -> Result<Self, ApiError> {
        authenticate(parts, state)
            .await
            .map(ApiUser)
            .map_err(api_refusal)
    }
}

impl FromRequestParts<GatewayState> for AudioAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &GatewayState) -> Result<Self, ApiError> {
        if parts.headers.contains_key(AUTHORIZATION) {
            return authenticate(parts, state)
                .await
                .map(AudioAccess::Caller)
                .map_err(api_refusal);
        }
        match SignedQuery::parse(parts.uri.query()) {
            Some(signed) => signed.map(AudioAccess::Signed),
            None => Err(ApiError::missing_credentials()),
        }
    }
}

impl FromRequestParts<GatewayState> for CourseUser {
    type Rejection = CourseError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &GatewayState,
    ) -> Result<Self, CourseError> {
        authenticate(parts, state)
            .await
            .map(CourseUser)
            .map_err(|r| match r {
                Refused::Missing => CourseError(ApiError::missing_credentials()),
                Refused::Scope(_) => CourseError(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "not-authorized",
                    "not authorized",
                )),
                Refused::Invalid(f) if f.status.is_server_error() => f.into(),
                Refused::Invalid(_) => CourseError(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "not-authorized",
                    "not authorized",
                )),
            })
    }
}

#[cfg(test)]
mod tests {
    use axum::http::Request;

    use super::*;

    fn parts(auth: Option<&[u8]>, uri: &str) -> Parts {
        let mut b = Request::builder().uri(uri);
        if let Some(v) = auth {
            b = b.header(
                AUTHORIZATION,
                axum::http::HeaderValue::from_bytes(v).unwrap(),
            );
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn only_a_well_formed_bearer_header_yields_a_token() {
        assert_eq!(
            header_token(&parts(Some(b"Bearer abc"), "/")).as_deref(),
            Some("abc")
        );
        assert_eq!(
            header_token(&parts(Some(b"bearer  abc "), "/")).as_deref(),
            Some("abc")
        );
        for bad in [
            &b"Bearer"[..],
            b"Bearer ",
            b"Basic YTpi",
            b"abc",
            b"Bearer a b",
            b"\xff\xfe",
        ] {
            assert_eq!(header_token(&parts(Some(bad), "/")), None, "{bad:?}");
        }
        assert_eq!(header_token(&parts(None, "/")), None);
    }
}
