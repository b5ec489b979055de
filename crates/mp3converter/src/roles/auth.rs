//! The auth role: users in the database, login (HTTP Basic → JWT), `/validate`, the JWKS and
//! user management; on the first start, the first admin. Readiness: the database.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use mp3converter_auth::AuthService;

use super::{Builder, Context};

/// The auth role's service and router (the gateway role, in the same process, uses both).
pub(super) struct Auth {
    pub(super) service: AuthService,
    pub(super) router: Router,
    pub(super) generated_admin: Option<(String, String)>,
}

/// Starts the auth service and adds its readiness check. The router is returned rather than
/// added: how it is mounted depends on whether the gateway runs here too.
pub(super) async fn add(cx: &Context<'_>, parts: &mut Builder) -> anyhow::Result<Auth> {
    let service = AuthService::new(cx.backends.db.clone(), cx.config.auth.clone())
        .context("cannot start auth")?;
    let generated_admin = crate::first_admin::ensure(&service, cx.config).await?;
    parts.check_database(cx.backends);
    Ok(Auth {
        router: mp3converter_auth::router(Arc::new(service.clone())),
        service,
        generated_admin,
    })
}
