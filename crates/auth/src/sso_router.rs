//! The auth service's single sign-on routes, for a gateway that runs in another process (with
//! the gateway in the same process they are function calls and these routes are not mounted):
//!
//! * `POST /sso/begin` → `{"authorize_url", "state", "pending"}`: a login to start (the gateway
//!   keeps `state` and `pending` in its browser-bound ticket);
//! * `POST /sso/finish` with `{"code", "pending"}` → `{"token"}`: the code exchanged, the ID
//!   token verified, the account found or created, our token issued.
//!
//! Errors are `{"code", "message"}` with the status of the [`AuthError`], so the gateway can
//! pass the stable code on (5xx bodies are opaque; the cause is logged here).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use mp3converter_core::error_chain;
use serde::{Deserialize, Serialize};

use crate::{AuthError, PendingLogin, SingleSignOn};

/// A login started by `POST /sso/begin`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SsoBegun {
    /// Where to send the browser.
    pub authorize_url: String,
    /// The state the callback must bring back.
    pub state: String,
    /// The login's secrets (JSON), given back to `POST /sso/finish`.
    pub pending: String,
}

/// The body of `POST /sso/finish`.
#[derive(Debug, Serialize, Deserialize)]
pub struct SsoFinish {
    /// The authorization code of the callback.
    pub code: String,
    /// [`SsoBegun::pending`] of the same login.
    pub pending: String,
}

/// The answer of `POST /sso/finish`, and the body of its errors.
#[derive(Debug, Serialize, Deserialize)]
pub struct SsoAnswer {
    /// The token (success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The stable code (failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// What went wrong (failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The routes, with `sso` as their state.
pub fn sso_router(sso: SingleSignOn) -> Router {
    Router::new()
        .route("/sso/begin", post(begin))
        .route("/sso/finish", post(finish))
        .with_state(sso)
}

async fn begin(State(sso): State<SingleSignOn>) -> Response {
    match sso.begin().await {
        Ok(request) => match serde_json::to_string(&request.pending) {
            Ok(pending) => Json(SsoBegun {
                authorize_url: request.url,
                state: request.pending.state.clone(),
                pending,
            })
            .into_response(),
            Err(e) => refusal(AuthError::Internal(e.to_string())),
        },
        Err(e) => refusal(e),
    }
}

async fn finish(State(sso): State<SingleSignOn>, Json(body): Json<SsoFinish>) -> Response {
    let pending: PendingLogin = match serde_json::from_str(&body.pending) {
        Ok(p) => p,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                Json(SsoAnswer {
                    token: None,
                    code: Some("invalid-json".into()),
                    message: Some("pending is not a login of ours".into()),
                }),
            )
                .into_response();
        }
    };
    match sso.finish(&body.code, &pending).await {
        Ok(token) => Json(SsoAnswer {
            token: Some(token),
            code: None,
            message: None,
        })
        .into_response(),
        Err(e) => refusal(e),
    }
}

fn refusal(e: AuthError) -> Response {
    let status = e.status();
    let message = if status.is_server_error() {
        tracing::warn!(error = %error_chain(&e), "single sign-on failed");
        "the sign-in service is unavailable, please try again later".to_string()
    } else {
        e.to_string()
    };
    (
        status,
        Json(SsoAnswer {
            token: None,
            code: Some(e.code().to_string()),
            message: Some(message),
        }),
    )
        .into_response()
}
