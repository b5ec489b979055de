//! The application: binds the listener, connects the backends and starts the configured roles.
//! `serve` and the test harness both go through [`Application::build`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use mp3converter_auth::AuthService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backends::Backends;
use crate::config::{Config, Role};
use mp3converter_converter::{Converter, ConverterDeps};
use mp3converter_notifier::{Notifier, NotifierDeps};

use crate::glue::{LocalAuth, RemoteAuth};
use crate::ops::Ops;
use mp3converter_gateway::{Authenticator, GatewayState, UrlSigner};

/// A built application, listening but not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    router: Router,
    workers: Vec<Worker>,
    grace: Duration,
    header_read_timeout: Duration,
    /// Cancelled at shutdown to end the gateway's event streams (see `run_until_stopped`).
    streams: CancellationToken,
    /// The connected backends (tests inspect them).
    pub backends: Backends,
    /// The auth service, when this process runs the auth or gateway role.
    pub auth: Option<AuthService>,
    /// The admin password generated on first start, if one was (also in the data dir's
    /// `initial-admin-password` file; never printed).
    pub generated_admin: Option<(String, String)>,
}

/// A background worker (converter, notifier, relay, poller, janitor) started by
/// [`Application::run_until_stopped`] with [`mp3converter_queue::run_worker`].
pub type Worker = Box<dyn mp3converter_queue::Worker>;

impl Application {
    /// Connects everything the configured roles need and binds `server.listen` (port 0 picks a
    /// free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let roles = config.roles();
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let (listener, backends) = crate::starting::connect_backends(&config, listener).await?;
        let metrics = crate::telemetry::metrics();
        let mut router = Router::new();

        let (auth, generated_admin) = if roles.contains(&Role::Auth) {
            let auth = AuthService::new(backends.db.clone(), config.auth.clone())
                .context("cannot start auth")?;
            let generated = crate::first_admin::ensure(&auth, &config).await?;
            (Some(auth), generated)
        } else {
            (None, None)
        };
        let auth_router = auth
            .as_ref()
            .map(|a| mp3converter_auth::router(Arc::new(a.clone())));
        let mut remote_auth = None;
        let streams = CancellationToken::new();
        if roles.contains(&Role::Gateway) {
            let authenticator: Arc<dyn Authenticator> = match &auth {
                Some(a) => Arc::new(LocalAuth::new(a.clone())),
                None => {
                    let remote = RemoteAuth::new(&config.auth, backends.db.clone())?;
                    if let Err(e) = remote.refresh_keys().await {
                        tracing::warn!("auth service not reachable yet: {e}");
                    }
                    remote_auth = Some(remote.clone());
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
                signer: UrlSigner::new(backends.db.clone()),
                shutdown: streams.clone(),
            };
            router = router.merge(mp3converter_gateway::router(state));
            // Both roles in one process: the gateway answers /login itself; /validate and the
            // JWKS come from the auth router.
            if let Some(auth_router) = auth_router {
                router = router.fallback_service(auth_router);
            }
        } else if let Some(auth_router) = auth_router {
            router = router.merge(auth_router);
        }

        let db = backends.db.clone();
        let storage = backends.storage.clone();
        let ops = Ops::new(metrics)
            .check("database", move || {
                let db = db.clone();
                async move { db.health_check().await.map_err(|e| e.to_string()) }
            })
            .check("storage", move || {
                let storage = storage.clone();
                async move { storage.health_check().await.map_err(|e| e.to_string()) }
            });
        let (db, queue) = (backends.db.clone(), backends.queue.clone());
        let queues = [
            config.queue.video_queue.clone(),
            config.queue.mp3_queue.clone(),
        ];
        let ops = ops
            .check("queue", {
                let queue = backends.queue.clone();
                move || {
                    let queue = queue.clone();
                    async move { queue.health_check().await.map_err(|e| e.to_string()) }
                }
            })
            .before_scrape(move || refresh_gauges(db.clone(), queue.clone(), queues.clone()));
        let ops = match remote_auth {
            Some(remote) => ops.check("auth", move || {
                let remote = remote.clone();
                async move { remote.health_check().await }
            }),
            None => ops,
        };
        router = router.merge(ops.router());
        let router = crate::http::with_client_addr(router, config.server.trusted_proxies.clone());

        let public_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!(
                "http://{}",
                listener.local_addr().context("no local address")?
            ),
        };
        let mut workers = Vec::new();
        let lease = Duration::from_secs(config.queue.lease_secs);
        // Workers stop a little before the HTTP server's grace period ends.
        let worker_grace =
            Duration::from_secs(config.server.shutdown_grace_secs.saturating_sub(2).max(1));
        if roles.contains(&Role::Converter) {
            let converter = Converter::new(
                ConverterDeps {
                    db: backends.db.clone(),
                    queue: backends.queue.clone(),
                    storage: backends.storage.clone(),
                    events: backends.events.clone(),
                    video_queue: config.queue.video_queue.clone(),
                    mp3_queue: config.queue.mp3_queue.clone(),
                    lease,
                },
                config.converter.clone(),
            )
            .with_shutdown_grace(worker_grace);
            workers.push(converter.into_worker());
        }
        if roles.contains(&Role::Notifier) {
            let notifier = Notifier::new(
                NotifierDeps {
                    db: backends.db.clone(),
                    queue: backends.queue.clone(),
                    mailer: backends.mailer.clone(),
                    mp3_queue: config.queue.mp3_queue.clone(),
                    public_url,
                },
                config.notifier.clone(),
            )
            .with_lease(lease)
            .with_shutdown_grace(worker_grace);
            workers.push(notifier.into_worker());
        }

        // Roles that write outbox rows relay them; gateways follow other processes' jobs.
        let writes_outbox = roles.contains(&Role::Gateway) || roles.contains(&Role::Converter);
        if let Some(relay) = backends.relay.clone().filter(|_| writes_outbox) {
            workers.push(relay.into_worker());
        }
        let follows_events = roles.contains(&Role::Gateway);
        if let Some(poller) = backends.event_poller.clone().filter(|_| follows_events) {
            workers.push(poller.into_worker());
        }
        if roles.contains(&Role::Gateway) && config.retention.enabled {
            let janitor = mp3converter_janitor::Janitor::new(
                mp3converter_janitor::JanitorDeps {
                    db: backends.db.clone(),
                    storage: backends.storage.clone(),
                    events: backends.events.clone(),
                },
                config.retention.clone(),
            );
            workers.push(janitor.into_worker());
        }

        Ok(Application {
            listener,
            router,
            workers,
            grace: Duration::from_secs(config.server.shutdown_grace_secs),
            header_read_timeout: Duration::from_secs(config.gateway.request_timeout_secs),
            streams,
            backends,
            auth,
            generated_admin,
        })
    }

    /// The address the server is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Serves HTTP and runs the workers until `shutdown` is cancelled, then drains: HTTP stops
    /// accepting, event streams end (with a `shutdown` event telling the page to reconnect),
    /// in-flight requests finish, workers finish or hand back their jobs — all within the grace
    /// period, counted from the signal, after which the process exits whatever is still open.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let mut tasks = JoinSet::new();
        for worker in self.workers {
            let name = worker.name();
            let handle = tokio::spawn(mp3converter_queue::run_worker(worker, shutdown.clone()));
            tasks.spawn(async move {
                if let Err(e) = handle.await {
                    tracing::error!(worker = name, "worker stopped abnormally: {e}");
                }
            });
        }
        let (stop, streams) = (shutdown.clone(), self.streams);
        let stopped = async move {
            stop.cancelled().await;
            // Event streams never end by themselves: end them, or the drain would wait for
            // every open browser tab.
            streams.cancel();
        };
        let grace = self.grace;
        let stop_workers = shutdown.clone();
        let server = async move {
            let served = crate::http::serve(
                self.listener,
                self.router,
                self.header_read_timeout,
                stopped,
                grace,
            )
            .await;
            stop_workers.cancel(); // (already cancelled, unless the server failed)
            served
        };
        // The workers stop at the same time as the HTTP server, not after it.
        let workers = async move {
            shutdown.cancelled().await;
            let all = async { while tasks.join_next().await.is_some() {} };
            if tokio::time::timeout(grace, all).await.is_err() {
                tracing::warn!(
                    "workers did not stop within {grace:?}; their jobs will be redelivered"
                );
            }
        };
        let (served, ()) = tokio::join!(server, workers);
        served.context("the HTTP server failed")
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
        for state in [
            JobState::Queued,
            JobState::Converting,
            JobState::Done,
            JobState::Failed,
            JobState::Expired,
        ] {
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
