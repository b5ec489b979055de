//! The operational endpoints every role serves: `/healthz` (alive), `/readyz` (the backends this
//! process's roles use are reachable) and `/metrics` (Prometheus text).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;

/// One named readiness check.
pub type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// How long one readiness check may take. The checks run concurrently, so `/readyz` answers
/// within this, below a typical probe timeout (Kubernetes' default is 1 s, ours 3 s).
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Work done before each scrape.
type Refresh = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What `/readyz` checks and `/metrics` renders.
#[derive(Clone)]
pub struct Ops {
    checks: Vec<(&'static str, Check)>,
    metrics: PrometheusHandle,
    /// Gauges refreshed right before each scrape (queue depth, jobs by state).
    before_scrape: Option<Refresh>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops")
            .field(
                "checks",
                &self.checks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Ops {
    /// No checks yet; metrics from `handle`.
    pub fn new(metrics: PrometheusHandle) -> Self {
        Ops {
            checks: Vec::new(),
            metrics,
            before_scrape: None,
        }
    }

    /// Adds a readiness check. Several roles in one process share backends: a name that is
    /// already checked is not added twice.
    pub fn check<F, Fut>(&mut self, name: &'static str, f: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        if !self.checks.iter().any(|(n, _)| *n == name) {
            self.checks.push((name, Arc::new(move || Box::pin(f()))));
        }
        self
    }

    /// The names of the readiness checks, in the order they were added.
    pub fn check_names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|(n, _)| *n).collect()
    }

    /// Runs `f` before rendering `/metrics` (to refresh gauges from the database).
    pub fn before_scrape<F, Fut>(&mut self, f: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.before_scrape = Some(Arc::new(move || Box::pin(f())));
        self
    }

    /// Runs every check at once; `(name, error)` for each failing one.
    pub async fn failing(&self) -> Vec<(&'static str, String)> {
        let runs = self.checks.iter().map(|(name, check)| async move {
            match tokio::time::timeout(CHECK_TIMEOUT, check()).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some((*name, e)),
                Err(_) => Some((*name, format!("no answer within {CHECK_TIMEOUT:?}"))),
            }
        });
        futures_util::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect()
    }

    /// The router with the three endpoints.
    pub fn router(self) -> Router {
        Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(self)
    }
}

async fn readyz(State(ops): State<Ops>) -> Response {
    let failing = ops.failing().await;
    let checks: serde_json::Map<String, serde_json::Value> = ops
        .checks
        .iter()
        .map(|(name, _)| {
            let status = failing
                .iter()
                .find(|(n, _)| n == name)
                .map_or("ok".to_string(), |(_, e)| e.clone());
            (name.to_string(), serde_json::Value::from(status))
        })
        .collect();
    let ready = failing.is_empty();
    let body = serde_json::json!({ "status": if ready { "ready" } else { "not ready" }, "checks": checks });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics(State(ops): State<Ops>) -> Response {
    if let Some(refresh) = &ops.before_scrape {
        refresh().await;
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ops.metrics.render(),
    )
        .into_response()
}
