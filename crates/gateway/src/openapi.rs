//! The OpenAPI document of `/api/v1`, generated from the handlers and types with `utoipa`.

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{events, jobs, keep, users};

/// The `/api/v1` spec; `docs/openapi.json` is this, pretty-printed (a test keeps it current).
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "mp3converter API", description = "Convert videos to MP3: upload, follow, download. \
        Errors are {\"code\", \"message\"} with a stable kebab-case code. Timestamps are unix milliseconds."),
    paths(
        jobs::create, jobs::list, jobs::get, jobs::delete, jobs::audio, keep::set, keep::clear,
        events::job, events::all,
        users::list, users::create, users::disable, users::enable, users::me, users::change_password,
    ),
    components(schemas(crate::error::ErrorBody, crate::views::JobView, crate::UserView)),
    modifiers(&BearerAuth),
    tags(
        (name = "jobs", description = "Conversion jobs and their audio"),
        (name = "events", description = "Live job events (server-sent events)"),
        (name = "users", description = "Accounts"),
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
                    .bearer_format("JWT")
                    .description(Some("The token from POST /login (HTTP Basic)."))
                    .build(),
            ),
        );
    }
}

/// The spec as pretty JSON, exactly as committed in `docs/openapi.json`.
pub fn openapi_json() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    json.push('\n');
    json
}

/// `GET /api/v1/openapi.json`.
pub(crate) async fn spec() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
