//! The auth role: users in the database, login (HTTP Basic → JWT), `/validate`, the JWKS and
//! user management; on the first start, the first admin. Readiness: the database.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use mp3converter_auth::{AuthService, SingleSignOn};

use crate::config::Role;

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
    let mut router = mp3converter_auth::router(Arc::new(service.clone()));
    // A gateway in another process starts and finishes single sign-on logins through these
    // routes (one in this process calls the service directly). The redirect URI is the
    // gateway's: this process must be given the same `public_url`.
    if !cx.config.roles().contains(Role::Gateway) {
        let redirect = format!("{}/api/v1/auth/sso/callback", cx.public_url);
        let sso = SingleSignOn::new(
            &cx.config.oidc,
            redirect,
            cx.backends.db.clone(),
            service.clone(),
        )
        .context("cannot start single sign-on")?;
        if let Some(sso) = sso {
            router = router.merge(mp3converter_auth::sso_router(sso));
        }
    }
    Ok(Auth {
        router,
        service,
        generated_admin,
    })
}
