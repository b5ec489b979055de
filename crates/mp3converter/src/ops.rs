//! The operational endpoints every role serves: `/healthz` (alive), `/readyz` (backends
//! reachable) and `/metrics` (Prometheus text).

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

    /// Adds a readiness check.
    pub fn check<F, Fut>(mut self, name: &'static str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks.push((name, Arc::new(move || Box::pin(f()))));
        self
    }

    /// Runs `f` before rendering `/metrics` (to refresh gauges from the database).
    pub fn before_scrape<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.before_scrape = Some(Arc::new(move || Box::pin(f())));
        self
    }

    /// Runs every check; `(name, error)` for each failing one.
    pub async fn failing(&self) -> Vec<(&'static str, String)> {
        let mut failing = Vec::new();
        for (name, check) in &self.checks {
            match tokio::time::timeout(std::time::Duration::from_secs(5), check()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failing.push((*name, e)),
                Err(_) => failing.push((*name, "timed out".to_string())),
            }
        }
        failing
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
