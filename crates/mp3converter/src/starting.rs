//! Starting up while a backend is not there yet. A process whose database is unreachable at
//! start does not crash (an orchestrator would restart it in a loop): it waits and retries with
//! backoff, and meanwhile answers on its port — `/healthz` 200 (alive), `/readyz` 503 with what
//! it waits for, everything else 503 — so liveness probes pass and readiness probes keep
//! traffic away.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::backends::{Backends, is_unreachable};
use crate::config::Config;

/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Connects the backends, waiting for unreachable ones (serving the "starting" answers on
/// `listener` meanwhile). Configuration errors and refusals fail at once.
pub async fn connect_backends(
    config: &Config,
    listener: TcpListener,
) -> anyhow::Result<(TcpListener, Backends)> {
    let needs = crate::roles::backend_needs(config);
    let first = match Backends::connect(config, &needs).await {
        Ok(backends) => return Ok((listener, backends)),
        Err(e) if is_unreachable(&e) => e,
        Err(e) => return Err(e),
    };
    // Serve the "starting" answers on a second handle of the same socket until connected.
    let std_listener = listener.into_std().context("cannot reuse the listener")?;
    let starting_listener = TcpListener::from_std(std_listener.try_clone()?)?;
    let listener = TcpListener::from_std(std_listener)?;
    let waiting_for = Arc::new(Mutex::new(format!("{first:#}")));
    let stop = CancellationToken::new();
    let server = tokio::spawn({
        let stop = stop.clone();
        let router = starting_router(waiting_for.clone());
        // The same server loop as later, so slow clients are cut off while we wait too.
        let header_timeout = Duration::from_secs(config.gateway.request_timeout_secs);
        let drain = Duration::from_secs(config.server.shutdown_grace_secs);
        async move {
            let shutdown = async move { stop.cancelled().await };
            let _ = crate::http::serve(starting_listener, router, header_timeout, shutdown, drain)
                .await;
        }
    });

    let mut backoff = Duration::from_millis(500);
    let connected = loop {
        tracing::warn!(
            retry_in = ?backoff,
            "waiting for a backend: {}",
            waiting_for.lock().unwrap_or_else(|e| e.into_inner())
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        match Backends::connect(config, &needs).await {
            Ok(backends) => break Ok(backends),
            Err(e) if is_unreachable(&e) => {
                *waiting_for.lock().unwrap_or_else(|e| e.into_inner()) = format!("{e:#}");
            }
            Err(e) => break Err(e),
        }
    };
    stop.cancel();
    let _ = server.await;
    if connected.is_ok() {
        tracing::info!("backends reachable; starting");
    }
    Ok((listener, connected?))
}

fn starting_router(waiting_for: Arc<Mutex<String>>) -> Router {
    let unready = move || {
        let waiting_for = waiting_for.clone();
        async move {
            let why = waiting_for
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({
                    "code": "starting",
                    "message": format!("starting: waiting for a backend ({why})"),
                })),
            )
                .into_response()
        }
    };
    Router::new()
        .route("/healthz", get(|| async { "ok (starting)" }))
        .fallback(unready)
}
