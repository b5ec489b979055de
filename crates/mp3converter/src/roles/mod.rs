//! The four roles as units. Each role's file says everything the role adds to a process — its
//! HTTP routes, its background workers and the readiness checks of exactly the backends it
//! uses — given the connected [`Backends`]. [`assemble`] puts together the roles of one process;
//! [`backend_needs`] is what the roles ask of the backends before they are connected.
//!
//! | role | routes | workers | `/readyz` checks |
//! |---|---|---|---|
//! | auth | `/login`, `/validate`, JWKS, users | — | database |
//! | gateway | course routes, `/api/v1`, web UI | outbox relay, job event poller, janitor | database, storage, auth (remote); queue informs only |
//! | converter | — | converter, outbox relay | database, queue, storage, ffmpeg (when needed) |
//! | notifier | — | notifier | database, queue, mail |
//!
//! The gateway's queue check informs without gating (see [`crate::ops`]): while the broker is
//! down, uploads go to the outbox and are published when it is back, so the gateway stays ready.

mod auth;
mod converter;
mod gateway;
mod notifier;

pub use crate::config::{Role, Roles};

use std::sync::Arc;

use axum::Router;
use mp3converter_auth::AuthService;
use tokio_util::sync::CancellationToken;

use crate::backends::{BackendNeeds, Backends};
use crate::config::Config;
use crate::ops::Ops;

/// A background loop of a role (converter, notifier, outbox relay, job event poller, janitor),
/// run by `Application::run_until_stopped` with [`mp3converter_queue::run_worker`].
pub type Worker = Box<dyn mp3converter_queue::Worker>;

/// What the roles of one process add up to.
#[derive(Debug)]
pub struct Parts {
    /// Every HTTP route of the process's roles, with `/healthz`, `/readyz` and `/metrics`.
    pub router: Router,
    /// The background loops.
    pub workers: Vec<Worker>,
    /// The names of the `/readyz` checks, in order (for logs and tests).
    pub checks: Vec<&'static str>,
    /// The auth service, when the process runs the auth role.
    pub auth: Option<AuthService>,
    /// The first admin's generated `(email, password)`, when the auth role created one.
    pub generated_admin: Option<(String, String)>,
}

/// What every role's builder gets.
pub(crate) struct Context<'a> {
    pub(crate) config: &'a Config,
    pub(crate) backends: &'a Backends,
    /// Where users reach the gateway (links in emails).
    pub(crate) public_url: String,
    /// Cancelled at shutdown to end the gateway's event streams.
    pub(crate) streams: CancellationToken,
}

/// Builds the routes, workers and readiness checks of every configured role.
pub(crate) async fn assemble(cx: &Context<'_>, metrics: Ops) -> anyhow::Result<Parts> {
    let roles = cx.config.roles();
    let mut parts = Builder {
        router: Router::new(),
        workers: Vec::new(),
        ops: metrics,
    };
    let auth = match roles.contains(Role::Auth) {
        true => Some(auth::add(cx, &mut parts).await?),
        false => None,
    };
    if roles.contains(Role::Gateway) {
        gateway::add(cx, auth.as_ref().map(|a| &a.service), &mut parts).await?;
    }
    if roles.contains(Role::Converter) {
        converter::add(cx, &mut parts);
    }
    if roles.contains(Role::Notifier) {
        notifier::add(cx, &mut parts);
    }
    // The gateway and the converter write messages to the outbox (RabbitMQ): one relay per
    // process publishes them, whichever of the two runs here.
    let writes_outbox = roles.contains(Role::Gateway) || roles.contains(Role::Converter);
    if let Some(relay) = cx.backends.relay.clone().filter(|_| writes_outbox) {
        parts.worker(relay.into_worker());
    }
    parts.refresh_gauges_before_scrape(cx);

    let checks = parts.ops.check_names();
    let mut router = parts.router;
    if let Some(auth) = &auth {
        // With the gateway in the same process, the gateway answers `/login` itself and the
        // auth router serves what remains (`/validate`, the JWKS).
        router = match roles.contains(Role::Gateway) {
            true => router.fallback_service(auth.router.clone()),
            false => router.merge(auth.router.clone()),
        };
    }
    Ok(Parts {
        router: router.merge(parts.ops.router()),
        workers: parts.workers,
        checks,
        generated_admin: auth.as_ref().and_then(|a| a.generated_admin.clone()),
        auth: auth.map(|a| a.service),
    })
}

/// What `config`'s roles ask of the backends.
pub fn backend_needs(config: &Config) -> BackendNeeds {
    let roles = config.roles();
    let mut prefetch = 1;
    if roles.contains(Role::Converter) {
        prefetch = prefetch.max(config.converter.effective_concurrency());
    }
    if roles.contains(Role::Notifier) {
        prefetch = prefetch.max(config.notifier.concurrency);
    }
    BackendNeeds {
        prefetch: u16::try_from(prefetch).unwrap_or(u16::MAX),
        events_cross_processes: !roles.is_all(),
        connection_name: format!(
            "mp3converter {}",
            roles.iter().map(Role::as_str).collect::<Vec<_>>().join(",")
        ),
    }
}

/// A readiness check that calls `health_check()` on (a clone of) a port.
macro_rules! health {
    ($port:expr) => {{
        let port = $port.clone();
        move || {
            let port = port.clone();
            async move { port.health_check().await.map_err(|e| e.to_string()) }
        }
    }};
}

/// Collects the parts while the roles add theirs.
struct Builder {
    router: Router,
    workers: Vec<Worker>,
    ops: Ops,
}

impl Builder {
    fn route(&mut self, router: Router) {
        self.router = std::mem::take(&mut self.router).merge(router);
    }

    fn worker(&mut self, worker: Worker) {
        self.workers.push(worker);
    }

    fn check<F, Fut>(&mut self, name: &'static str, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        self.ops.check(name, check);
    }

    fn check_database(&mut self, backends: &Backends) {
        self.check("database", health!(backends.db));
    }

    fn check_storage(&mut self, backends: &Backends) {
        self.check("storage", health!(backends.storage));
    }

    fn check_queue(&mut self, backends: &Backends) {
        self.check("queue", health!(backends.queue));
    }

    /// The queue, reported in `/readyz` without making the process unready.
    fn inform_queue(&mut self, backends: &Backends) {
        self.ops.inform("queue", health!(backends.queue));
    }

    fn check_mail(&mut self, backends: &Backends) {
        self.check("mail", health!(backends.mailer));
    }

    /// `/metrics` shows jobs by state and queue depths, read from the backends at scrape time.
    fn refresh_gauges_before_scrape(&mut self, cx: &Context<'_>) {
        let (db, queue) = (cx.backends.db.clone(), cx.backends.queue.clone());
        let queues = [
            cx.config.queue.video_queue.clone(),
            cx.config.queue.mp3_queue.clone(),
        ];
        self.ops
            .before_scrape(move || refresh_gauges(db.clone(), queue.clone(), queues.clone()));
    }
}

/// Sets the gauges read from the backends at scrape time: jobs by state and queue depths.
async fn refresh_gauges(
    db: mp3converter_db::Database,
    queue: Arc<dyn mp3converter_queue::JobQueue>,
    queues: [String; 2],
) {
    use mp3converter_core::JobState;
    if let Ok(counts) = db.count_jobs_by_state().await {
        for state in JobState::ALL {
            let n = counts
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            metrics::gauge!("jobs", "state" => state.as_str()).set(n as f64);
        }
    }
    for name in queues {
        if let Ok(depth) = queue.depth(&name).await {
            metrics::gauge!("queue_depth", "queue" => name).set(depth as f64);
        }
    }
}

/// How long a worker's in-flight jobs may run on after shutdown: a little less than the HTTP
/// server's grace period, so the workers stop first.
fn worker_grace(config: &Config) -> std::time::Duration {
    std::time::Duration::from_secs(config.server.shutdown_grace_secs.saturating_sub(2).max(1))
}
