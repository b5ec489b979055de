//! The auth HTTP routes, as in the seed: `POST /login` (HTTP Basic → the JWT as text),
//! `POST /validate` (Bearer → the claims as JSON), plus `GET /.well-known/jwks.json`.
//!
//! Error bodies are the seed's plain-text ones (`missing credentials`, `invalid credentials`,
//! `not authorized`); 5xx bodies are opaque and the cause is logged.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::error::retry_after_secs;
use crate::{AuthError, AuthService};

/// The routes, with `service` as their state; the caller merges them into its app.
pub fn router(service: Arc<AuthService>) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/validate", post(validate))
        .route("/.well-known/jwks.json", get(jwks))
        .with_state(service)
}

/// Base64 that accepts the credentials with or without `=` padding.
const BASIC_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The value of `Authorization` after `scheme` (case-insensitive) and spaces, if it has one.
fn authorization<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// `(email, password)` from an HTTP Basic `Authorization` header. Absent, not Basic, not
/// base64, not UTF-8, no colon, or an empty half: [`AuthError::MissingCredentials`].
pub fn basic_credentials(headers: &HeaderMap) -> Result<(String, String), AuthError> {
    let encoded = authorization(headers, "Basic").ok_or(AuthError::MissingCredentials)?;
    let decoded = BASIC_B64
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or(AuthError::MissingCredentials)?;
    match decoded.split_once(':') {
        Some((email, password)) if !email.trim().is_empty() && !password.is_empty() => {
            Ok((email.to_owned(), password.to_owned()))
        }
        _ => Err(AuthError::MissingCredentials),
    }
}

/// The token of an `Authorization: Bearer <jwt>` header; anything else is
/// [`AuthError::MissingCredentials`].
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, AuthError> {
    authorization(headers, "Bearer")
        .filter(|t| !t.is_empty() && !t.contains(' '))
        .ok_or(AuthError::MissingCredentials)
}

/// The client's address: the peer of the connection (127.0.0.1 when the server was started
/// without connect info, e.g. `oneshot` tests). When the peer is on a loopback or private
/// network — the gateway forwarding a login, or an ingress — the last `X-Forwarded-For` entry
/// (the address that peer saw) is used instead, so rate limits apply to the real client. A
/// public peer's `X-Forwarded-For` is never trusted.
fn client_ip(connect: Option<Extension<ConnectInfo<SocketAddr>>>, headers: &HeaderMap) -> IpAddr {
    let peer = connect.map_or(
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        |Extension(ConnectInfo(addr))| addr.ip(),
    );
    if !is_internal(peer) {
        return peer;
    }
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse::<IpAddr>().ok())
        .next_back()
        .unwrap_or(peer)
}

/// Loopback, RFC 1918, link-local, or IPv6 unique-local: where our own proxies live.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

async fn login(
    State(service): State<Arc<AuthService>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Response, AuthError> {
    let (email, password) = basic_credentials(&headers)?;
    let token = service
        .login(&email, &password, client_ip(connect, &headers))
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        token,
    )
        .into_response())
}

async fn validate(
    State(service): State<Arc<AuthService>>,
    headers: HeaderMap,
) -> Result<Response, AuthError> {
    let claims = service.verify_current(bearer_token(&headers)?).await?;
    Ok(Json(claims).into_response())
}

async fn jwks(State(service): State<Arc<AuthService>>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        service.jwks_json(),
    )
        .into_response()
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            AuthError::InvalidToken(why) => {
                tracing::debug!(reason = %why, "token refused");
                "not authorized".to_owned()
            }
            AuthError::RateLimited { .. } => "too many login attempts".to_owned(),
            AuthError::Unavailable(_) => {
                tracing::warn!(error = %error_chain(&self), "auth request failed");
                "service unavailable".to_owned()
            }
            _ if status.is_server_error() => {
                tracing::error!(error = %error_chain(&self), "auth request failed");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let mut response = (status, body).into_response();
        if let AuthError::RateLimited { retry_after } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after_secs(retry_after).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// `error: cause: cause…` for logs.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn forwarded_for_is_trusted_from_internal_peers_only() {
        let peer = |ip: [u8; 4]| Some(Extension(ConnectInfo(SocketAddr::from((ip, 9)))));
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9, 198.51.100.7".parse().unwrap(),
        );
        let forwarded: IpAddr = [198, 51, 100, 7].into();
        assert_eq!(client_ip(peer([10, 0, 0, 5]), &headers), forwarded);
        assert_eq!(client_ip(peer([127, 0, 0, 1]), &headers), forwarded);
        assert_eq!(
            client_ip(peer([203, 0, 113, 50]), &headers),
            IpAddr::from([203, 0, 113, 50]),
            "a public peer cannot choose its address"
        );
        assert_eq!(
            client_ip(peer([10, 0, 0, 5]), &HeaderMap::new()),
            IpAddr::from([10, 0, 0, 5])
        );
    }

    #[test]
    fn basic_credentials_split_at_the_first_colon() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("a@x.org:pa:ss");
        let (email, password) = basic_credentials(&with_auth(&format!("basic  {b64}"))).unwrap();
        assert_eq!((email.as_str(), password.as_str()), ("a@x.org", "pa:ss"));
        let unpadded = b64.trim_end_matches('=');
        basic_credentials(&with_auth(&format!("Basic {unpadded}"))).unwrap();
    }

    #[test]
    fn unreadable_basic_headers_are_missing_credentials() {
        let enc = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        for value in [
            String::new(),
            "Basic".into(),
            "Basic ".into(),
            "Basic !!!notbase64".into(),
            format!("Basic {}", enc("nocolon")),
            format!("Basic {}", enc(":")),
            format!("Basic {}", enc("a@x.org:")),
            format!("Basic {}", enc(":password")),
            format!("Bearer {}", enc("a@x.org:pw")),
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode([0xff, b':', 0xfe])
            ),
        ] {
            let headers = if value.is_empty() {
                HeaderMap::new()
            } else {
                with_auth(&value)
            };
            assert!(
                matches!(
                    basic_credentials(&headers),
                    Err(AuthError::MissingCredentials)
                ),
                "{value:?}"
            );
        }
    }

    #[test]
    fn bearer_tokens_need_the_scheme_and_one_token() {
        assert_eq!(
            bearer_token(&with_auth("Bearer abc.def.ghi")).unwrap(),
            "abc.def.ghi"
        );
        assert_eq!(bearer_token(&with_auth("bearer   abc")).unwrap(), "abc");
        for bad in [
            "Bearer",
            "Bearer ",
            "abc.def.ghi",
            "Basic abc",
            "Bearer a b",
        ] {
            assert!(bearer_token(&with_auth(bad)).is_err(), "{bad:?}");
        }
        assert!(bearer_token(&HeaderMap::new()).is_err());
    }
}
