//! The gateway role: the course's routes, the `/api/v1` JSON API with live events and the web
//! UI; in the background, the job event poller (split roles without a broker), the reaper of
//! interrupted URL imports, the webhook deliverer and the janitor.
//! Readiness: the database, storage, and the auth service when it runs elsewhere; the queue is
//! reported but does not gate (uploads wait in the outbox while the broker is down).

use std::sync::Arc;

use mp3converter_auth::{AuthService, SingleSignOn};
use mp3converter_gateway::{
    ApiKeys, Authenticator, Deliverer, GatewayState, Importer, StaleImports, UrlSigner,
    WebhookSettings,
};

use super::{Builder, Context};
use crate::authenticator::{LocalAuth, RemoteAuth};

/// Adds the gateway's routes, workers and checks. `local_auth` is the auth service when the
/// auth role runs in this process; otherwise tokens are checked against the remote one.
pub(super) async fn add(
    cx: &Context<'_>,
    local_auth: Option<&AuthService>,
    parts: &mut Builder,
) -> anyhow::Result<()> {
    let (config, backends) = (cx.config, cx.backends);
    let authenticator: Arc<dyn Authenticator> = match local_auth {
        Some(service) => {
            // The provider sends browsers back to the gateway's public URL.
            let redirect = format!("{}/api/v1/auth/sso/callback", cx.public_url);
            let sso =
                SingleSignOn::new(&config.oidc, redirect, backends.db.clone(), service.clone())?;
            Arc::new(LocalAuth::new(service.clone()).with_sso(sso))
        }
        None => {
            let sso_name = config
                .oidc
                .enabled()
                .then(|| config.oidc.display_name.trim().to_string());
            let remote =
                RemoteAuth::new(&config.auth, backends.db.clone())?.with_sso_name(sso_name);
            if let Err(e) = remote.refresh_keys().await {
                tracing::warn!("auth service not reachable yet: {e}");
            }
            let check = remote.clone();
            parts.check("auth", move || {
                let remote = check.clone();
                async move { remote.health_check().await }
            });
            Arc::new(remote)
        }
    };
    let state = GatewayState {
        db: backends.db.clone(),
        storage: backends.storage.clone(),
        queue: backends.queue.clone(),
        events: backends.events.clone(),
        auth: authenticator,
        config: config.gateway.clone(),
        video_queue: config.queue.video_queue.clone(),
        mp3_queue: config.queue.mp3_queue.clone(),
        quotas: config.quotas,
        signer: UrlSigner::new(backends.db.clone()),
        keys: ApiKeys::new(backends.db.clone()),
        shutdown: cx.streams.clone(),
        import: Importer::new(config.import.clone())?,
        webhooks: WebhookSettings::default(),
        public_url: cx.public_url.clone(),
    };
    // Imports left `downloading` by a gateway that died are failed (at start, then every
    // minute), also when imports are turned off now.
    parts.worker(StaleImports::worker(state.clone()));
    // Webhook deliveries are claimed from the database by every gateway (leases keep them
    // apart) and sent through the import's egress client.
    parts.worker(Deliverer::worker(state.clone()));
    parts.route(mp3converter_gateway::router(state));
    parts.check_database(backends);
    parts.check_storage(backends);
    parts.inform_queue(backends);

    // Without a broker, job changes made by other processes are read from the database.
    if let Some(poller) = backends.event_poller.clone() {
        parts.worker(poller.into_worker());
    }
    if config.retention.enabled {
        let janitor = mp3converter_janitor::Janitor::new(
            mp3converter_janitor::JanitorDeps {
                db: backends.db.clone(),
                storage: backends.storage.clone(),
                events: backends.events.clone(),
            },
            config.retention.clone(),
        );
        parts.worker(janitor.into_worker());
    }
    Ok(())
}
