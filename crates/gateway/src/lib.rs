//! The HTTP gateway of mp3converter: the course's routes (`POST /login`, `POST /upload`,
//! `GET /download?fid=`), the `/api/v1` JSON API with live job events (SSE) and its OpenAPI spec,
//! and the web UI (`GET /`, `GET /assets/{file}`; the files of `web/`, embedded).
//!
//! [`router`] builds the whole HTTP surface from a [`GatewayState`] (the ports: database,
//! storage, queue, events and the [`Authenticator`]). `/healthz`, `/readyz` and `/metrics` are
//! served by the composition root for every role, which also decides what `/readyz` checks.

#![forbid(unsafe_code)]

mod apikeys;
mod audio;
mod auth;
mod backpressure;
mod config;
pub mod egress;
mod error;
mod extract;
mod feed_xml;
mod filename;
mod form;
mod import;
mod links;
mod middleware;
mod multipart;
mod openapi;
mod quota;
mod routes;
mod session;
mod share_page;
mod signed;
mod state;
mod tus;
mod upload;
mod views;
mod web;
pub mod webhooks;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{any, delete, get, post, put};

pub use apikeys::{ApiKeys, KEY_CACHE_TTL, KEY_PREFIX, KeyAccess, LAST_USED_INTERVAL, Scope};
pub use auth::{AuthFailure, Authenticator, SsoStart, UserView};
pub use config::{GatewayConfig, QUOTAS_REFERENCE_TOML, QuotaConfig, REFERENCE_TOML};
pub use egress::{IMPORT_REFERENCE_TOML, ImportConfig, Importer};
pub use error::{ApiError, ErrorBody};
pub use extract::{ApiUser, Caller, ClientIp, CourseUser};
pub use filename::{content_disposition, sanitize as sanitize_file_name};
pub use import::StaleImports;
pub use openapi::{ApiDoc, openapi_json};
pub use quota::{Limits, QuotaOverridesView, Usage};
pub use routes::feed::FeedUrl;
pub use routes::shares::{CreatedShare, ShareView};
pub use routes::sso::{ProvidersView, SsoProviderView, SsoToken};
pub use session::SESSION_ENDED_EVENT;
pub use signed::{AUDIO_URL_TTL, AudioUrl, UrlSigner};
pub use state::GatewayState;
pub use views::{JobErrorView, JobLinks, JobView, MeView};
pub use web::CONTENT_SECURITY_POLICY;
pub use webhooks::{Deliverer, WebhookSettings};

use routes::{
    course, estimate, events, feed, jobs, keep, keys, quotas, shares, sso, users, webhooks as hooks,
};

async fn api_not_found() -> ApiError {
    ApiError::not_found()
}

/// Every gateway route, the web UI's included. Short requests are answered 503 after `request_timeout_secs`; uploads
/// (no body limit besides `max_upload_bytes`), downloads and event streams are not timed.
/// Serve it with `into_make_service_with_connect_info::<SocketAddr>()` so that login rate
/// limiting sees client addresses.
pub fn router(state: GatewayState) -> Router {
    let timed = Router::new()
        .route("/", get(web::index))
        .route("/assets/{file}", get(web::asset))
        .route("/login", post(course::login))
        .route("/api/v1/jobs", get(jobs::list))
        .route("/api/v1/jobs/{id}", get(jobs::get).delete(jobs::delete))
        .route("/api/v1/jobs/{id}/keep", put(keep::set).delete(keep::clear))
        .route("/api/v1/jobs/{id}/audio-url", post(jobs::audio_url))
        .route("/api/v1/users", get(users::list).post(users::create))
        .route("/api/v1/users/{id}/disable", post(users::disable))
        .route("/api/v1/users/{id}/enable", post(users::enable))
        .route(
            "/api/v1/users/{id}/quotas",
            get(quotas::get).put(quotas::set),
        )
        .route("/api/v1/me", get(users::me))
        .route("/api/v1/me/password", put(users::change_password))
        .route("/api/v1/openapi.json", get(openapi::spec))
        .route("/api/v1/estimate", post(estimate::estimate))
        .route("/api/v1/keys", get(keys::list).post(keys::create))
        .route("/api/v1/keys/{id}", axum::routing::delete(keys::revoke))
        .route("/api/v1/webhooks", get(hooks::list).post(hooks::create))
        .route(
            "/api/v1/webhooks/{id}",
            get(hooks::get).patch(hooks::update).delete(hooks::delete),
        )
        .route("/api/v1/webhooks/{id}/rotate", post(hooks::rotate))
        .route("/api/v1/webhooks/{id}/deliveries", get(hooks::deliveries))
        .route(
            "/api/v1/webhooks/{id}/deliveries/{did}",
            get(hooks::delivery),
        )
        .route(
            "/api/v1/webhooks/{id}/deliveries/{did}/replay",
            post(hooks::replay),
        )
        .route(
            "/api/v1/jobs/{id}/shares",
            get(shares::list).post(shares::create),
        )
        .route("/api/v1/shares/{id}", delete(shares::revoke))
        .route("/api/v1/auth/providers", get(sso::providers))
        .route("/api/v1/auth/sso/login", get(sso::login))
        .route("/api/v1/auth/sso/callback", get(sso::callback))
        .route("/api/v1/auth/sso/token", post(sso::token))
        .route("/api/v1/me/feed", get(feed::get))
        .route("/api/v1/me/feed/rotate", post(feed::rotate))
        .route("/s/{token}", get(shares::page))
        .route("/feeds/{secret}", get(feed::xml))
        // Anything else under /api/v1 is a JSON 404, like an unknown job.
        .route("/api/v1/{*rest}", any(api_not_found))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::timeout,
        ));
    let untimed = Router::new()
        .route("/upload", post(course::upload))
        .route("/api/v1/jobs", post(jobs::create))
        // The upload pipeline enforces `max_upload_bytes` itself, while streaming.
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn(backpressure::pace_body))
        .layer(axum::middleware::from_fn(
            middleware::close_after_refused_upload,
        ))
        .route("/download", get(course::download))
        .merge(
            Router::new()
                .route("/api/v1/uploads", post(tus::create).options(tus::options))
                .route(
                    "/api/v1/uploads/{id}",
                    axum::routing::head(tus::head)
                        .patch(tus::patch)
                        .delete(tus::delete),
                )
                // A PATCH is bounded by the upload's Upload-Length, checked while streaming.
                .route_layer(DefaultBodyLimit::disable())
                .route_layer(axum::middleware::from_fn(tus::protocol)),
        )
        // Not a tus request (no Tus-Resumable needed); the picture's size is checked while
        // streaming.
        .route(
            "/api/v1/uploads/{id}/cover",
            put(tus::cover::put).layer(DefaultBodyLimit::disable()),
        )
        .route("/api/v1/jobs/{id}/audio", get(jobs::audio))
        .route("/api/v1/jobs/{id}/events", get(events::job))
        .route("/api/v1/events", get(events::all))
        .route("/s/{token}/audio", get(shares::audio))
        .route("/feeds/{secret}/{item}", get(feed::episode))
        .route("/feeds/{secret}/{item}/cover", get(feed::cover));
    timed
        .merge(untimed)
        .layer(axum::middleware::from_fn(middleware::count_requests))
        .with_state(state)
}
