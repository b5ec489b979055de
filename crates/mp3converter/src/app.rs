//! The application: binds the listener, connects the backends and starts the configured roles.
//! `serve` and the test harness both go through [`Application::build`].

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use mp3converter_auth::AuthService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backends::Backends;
use crate::config::Config;
use crate::ops::Ops;
use crate::roles::Worker;

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
    /// The auth service, when this process runs the auth role.
    pub auth: Option<AuthService>,
    /// The admin password generated on first start, if one was (also in the data dir's
    /// `initial-admin-password` file; never printed).
    pub generated_admin: Option<(String, String)>,
    /// The names of this process's `/readyz` checks.
    pub readiness_checks: Vec<&'static str>,
}

impl Application {
    /// Connects everything the configured roles need and binds `server.listen` (port 0 picks a
    /// free port).
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.server.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.server.listen))?;
        let (listener, backends) = crate::starting::connect_backends(&config, listener).await?;
        let public_url = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!(
                "http://{}",
                listener.local_addr().context("no local address")?
            ),
        };
        let streams = CancellationToken::new();
        let cx = crate::roles::Context {
            config: &config,
            backends: &backends,
            public_url,
            streams: streams.clone(),
        };
        let parts = crate::roles::assemble(&cx, Ops::new(crate::telemetry::metrics())).await?;
        tracing::debug!(roles = %config.roles(), checks = ?parts.checks, "roles assembled");
        let router =
            crate::http::with_client_addr(parts.router, config.server.trusted_proxies.clone());

        Ok(Application {
            listener,
            router,
            workers: parts.workers,
            grace: Duration::from_secs(config.server.shutdown_grace_secs),
            header_read_timeout: Duration::from_secs(config.gateway.request_timeout_secs),
            streams,
            backends,
            auth: parts.auth,
            generated_admin: parts.generated_admin,
            readiness_checks: parts.checks,
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
