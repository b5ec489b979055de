//! The OpenAPI document of `/api/v1`, generated from the handlers and types with `utoipa`, then
//! completed with what the derive cannot say: the sample rates as an `enum`, and the 500 and 503
//! answers every operation can give. The server keeps to this document exactly (checked by
//! schemathesis in CI, see `.ci/run`).

use axum::Json;
use serde_json::{Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    estimate, events, feed, jobs, keep, keys, quotas, shares, sso, users, webhooks,
};
use crate::tus;

/// The `/api/v1` spec; `docs/openapi.json` is this, pretty-printed (a test keeps it current).
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "mp3converter API", description = "Convert videos to MP3: upload (or import from a URL), follow, download. \
        Errors are {\"code\", \"message\"} with a stable kebab-case code. Timestamps are unix milliseconds."),
    paths(
        jobs::create, jobs::list, jobs::get, jobs::delete, jobs::audio, jobs::audio_url,
        keep::set, keep::clear,
        estimate::estimate,
        events::job, events::all,
        users::list, users::create, users::disable, users::enable, users::me, users::change_password,
        quotas::get, quotas::set,
        keys::create, keys::list, keys::revoke,
        tus::options, tus::create, tus::head, tus::patch, tus::delete, tus::cover::put,
        webhooks::create, webhooks::list, webhooks::get, webhooks::update, webhooks::delete,
        webhooks::rotate, webhooks::deliveries, webhooks::delivery, webhooks::replay,
        shares::create, shares::list, shares::revoke, shares::page, shares::audio,
        feed::get, feed::rotate, feed::xml, feed::episode, feed::cover,
        sso::providers, sso::login, sso::callback, sso::token,
    ),
    components(schemas(crate::error::ErrorBody, crate::views::JobView, crate::UserView, crate::AudioUrl, jobs::UploadForm, jobs::ImportRequest, estimate::EstimateRequest, estimate::EstimateView, keys::NewKeyRequest, keys::KeyView, keys::CreatedKey, shares::CreateShare, crate::ShareView, crate::CreatedShare, crate::FeedUrl, crate::ProvidersView, crate::SsoProviderView, crate::SsoToken)),
    modifiers(&BearerAuth),
    tags(
        (name = "jobs", description = "Conversion jobs and their audio"),
        (name = "events", description = "Live job events (server-sent events)"),
        (name = "users", description = "Accounts"),
        (name = "keys", description = "API keys for scripts (managed with a login session only)"),
        (name = "uploads", description = "Resumable uploads (tus 1.0.0)"),
        (name = "webhooks", description = "Signed webhooks (Standard Webhooks) for job events"),
        (name = "shares", description = "Public, expiring, revocable links to one job's audio"),
        (name = "feed", description = "The caller's private podcast feed"),
        (name = "public", description = "Unauthenticated routes: share links and podcast feeds, whose URL holds the secret; the login methods and single sign-on (OpenID Connect)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or API key")
                    .description(Some(
                        "JWT or API key: the token from POST /login (HTTP Basic), or an API key \
                         (`mp3c_…`, from POST /api/v1/keys) limited to its scopes: `jobs:read` \
                         (reads), `jobs:write` (uploads, imports, deletes, keep, estimates), \
                         `admin` (user management). A key cannot manage keys or change the \
                         password (403 `login-required`); a missing scope is 403 \
                         `insufficient-scope`; an expired key 401 `key-expired`.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The complete document.
fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    // Any operation can fail on the server's side.
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for operation in paths.values_mut().filter_map(Value::as_object_mut) {
            for op in operation.values_mut() {
                if let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) {
                    for (status, description) in SERVER_ERRORS {
                        responses.insert(
                            status.to_owned(),
                            json!({
                                "description": description,
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
                            }),
                        );
                    }
                }
            }
        }
    }
    // Keys in one order whatever serde_json's `preserve_order` (enabled by other crates in the
    // build) says, so the committed file does not churn.
    doc.sort_all_objects();
    doc
}

/// The 5xx answers of every operation.
const SERVER_ERRORS: [(&str, &str); 2] = [
    ("500", "Internal error (opaque; the cause is logged)"),
    (
        "503",
        "A backend (database, storage, queue, auth service) is unavailable, or the request timed out",
    ),
];

/// The spec as pretty JSON, exactly as committed in `docs/openapi.json`.
pub fn openapi_json() -> String {
    let mut json = serde_json::to_string_pretty(&document())
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}

/// `GET /api/v1/openapi.json`.
pub(crate) async fn spec() -> Json<Value> {
    Json(document())
}
