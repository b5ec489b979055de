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
use mp3converter_core::{ClientAddr, error_chain};

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

/// The client's address: the one the server decided for this request (a [`ClientAddr`]
/// extension; `X-Forwarded-For` is believed there only from a peer in `server.trusted_proxies`,
/// such as the gateway forwarding a login), else the connection's peer (127.0.0.1 when the
/// server was started without connect info, e.g. `oneshot` tests). The header itself is never
/// read here: anyone can send it.
fn client_ip(
    client: Option<Extension<ClientAddr>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
) -> IpAddr {
    match (client, connect) {
        (Some(Extension(ClientAddr(ip))), _) => ip,
        (None, Some(Extension(ConnectInfo(addr)))) => addr.ip(),
        (None, None) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

async fn login(
    State(service): State<Arc<AuthService>>,
    client: Option<Extension<ClientAddr>>,
    connect: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Result<Response, AuthError> {
    let (email, password) = basic_credentials(&headers)?;
    let token = service
        .login(&email, &password, client_ip(client, connect))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_client_is_the_servers_decision_else_the_peer() {
        let peer = |ip: [u8; 4]| Some(Extension(ConnectInfo(SocketAddr::from((ip, 9)))));
        let decided = IpAddr::from([198, 51, 100, 7]);
        assert_eq!(
            client_ip(Some(Extension(ClientAddr(decided))), peer([10, 0, 0, 5])),
            decided
        );
        assert_eq!(
            client_ip(None, peer([10, 0, 0, 5])),
            IpAddr::from([10, 0, 0, 5]),
            "without a decision the peer is the client, whatever it forwards"
        );
        assert_eq!(client_ip(None, None), IpAddr::from([127, 0, 0, 1]));
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
