//! The operational endpoints every role serves: `/healthz` (alive), `/readyz` (the backends this
//! process's roles use are reachable) and `/metrics` (Prometheus text).
//!
//! A readiness check either gates (`/readyz` answers 503 while it fails, so the pod leaves the
//! Service) or informs (its error is reported and the body says `"degraded"`, but the status stays
//! 200): a backend the role can do without for a while — the gateway's queue, which the outbox
//! stands in for — must not take every replica out of the Service at once.

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

/// Whether a failing check makes the process not ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    /// `/readyz` answers 503 while the check fails.
    Gating,
    /// The failure is reported, `/readyz` stays 200 with `"status": "degraded"`.
    Informational,
}

/// Work done before each scrape.
type Refresh = Arc<dyn Fn() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// What `/readyz` checks and `/metrics` renders.
#[derive(Clone)]
pub struct Ops {
    checks: Vec<(&'static str, Gate, Check)>,
    metrics: PrometheusHandle,
    /// Gauges refreshed right before each scrape (queue depth, jobs by state).
    before_scrape: Option<Refresh>,
}

impl std::fmt::Debug for Ops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ops")
            .field(
                "checks",
                &self.checks.iter().map(|(n, _, _)| n).collect::<Vec<_>>(),
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

    /// Adds a gating readiness check: `/readyz` answers 503 while it fails. Several roles in one
    /// process share backends: a name that is already checked is not added twice, and a check
    /// one role needs (gating) stays gating when another only informs about it.
    pub fn check<F, Fut>(&mut self, name: &'static str, f: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.add(name, Gate::Gating, Arc::new(move || Box::pin(f())))
    }

    /// Adds an informational readiness check: its failure is reported in `/readyz`'s body, whose
    /// status becomes `"degraded"`, but the answer stays 200 and the pod stays in the Service.
    pub fn inform<F, Fut>(&mut self, name: &'static str, f: F) -> &mut Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.add(name, Gate::Informational, Arc::new(move || Box::pin(f())))
    }

    fn add(&mut self, name: &'static str, gate: Gate, check: Check) -> &mut Self {
        match self.checks.iter_mut().find(|(n, _, _)| *n == name) {
            Some(existing) if gate == Gate::Gating => existing.1 = Gate::Gating,
            Some(_) => {}
            None => self.checks.push((name, gate, check)),
        }
        self
    }

    /// The names of the readiness checks, in the order they were added.
    pub fn check_names(&self) -> Vec<&'static str> {
        self.checks.iter().map(|(n, _, _)| *n).collect()
    }

    /// The names of the informational (non-gating) checks.
    pub fn informational_names(&self) -> Vec<&'static str> {
        self.checks
            .iter()
            .filter(|(_, gate, _)| *gate == Gate::Informational)
            .map(|(n, _, _)| *n)
            .collect()
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

    /// Runs every check at once; `(name, error)` for each failing one, gating or not.
    pub async fn failing(&self) -> Vec<(&'static str, String)> {
        let runs = self.checks.iter().map(|(name, _, check)| async move {
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
        .map(|(name, _, _)| {
            let status = failing
                .iter()
                .find(|(n, _)| n == name)
                .map_or("ok".to_string(), |(_, e)| e.clone());
            (name.to_string(), serde_json::Value::from(status))
        })
        .collect();
    let gates = |name: &str| {
        ops.checks
            .iter()
            .any(|(n, gate, _)| *n == name && *gate == Gate::Gating)
    };
    let ready = !failing.iter().any(|(name, _)| gates(name));
    let word = match (ready, failing.is_empty()) {
        (false, _) => "not ready",
        (true, true) => "ready",
        (true, false) => "degraded",
    };
    // Which checks do not gate, so a reader of a "degraded" answer knows why it is still 200.
    let informational = ops.informational_names();
    let body =
        serde_json::json!({ "status": word, "checks": checks, "informational": informational });
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

#[cfg(test)]
mod tests {
    use super::*;

    async fn ready(ops: Ops) -> (StatusCode, serde_json::Value) {
        let res = readyz(State(ops)).await;
        let status = res.status();
        let bytes = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    fn ops() -> Ops {
        Ops::new(crate::telemetry::metrics())
    }

    async fn down() -> Result<(), String> {
        Err("broker down".into())
    }

    async fn up() -> Result<(), String> {
        Ok(())
    }

    #[tokio::test]
    async fn a_failing_informational_check_degrades_without_dropping_out() {
        let mut ops = ops();
        ops.check("database", up).inform("queue", down);
        let (status, body) = ready(ops).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "degraded");
        assert_eq!(body["checks"]["queue"], "broker down");
        assert_eq!(body["checks"]["database"], "ok");
        assert_eq!(body["informational"], serde_json::json!(["queue"]));
    }

    #[tokio::test]
    async fn a_failing_gating_check_is_not_ready() {
        let mut ops = ops();
        ops.check("database", down).inform("queue", up);
        let (status, body) = ready(ops).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["status"], "not ready");
    }

    #[tokio::test]
    async fn a_check_one_role_needs_gates_even_when_another_only_informs() {
        let mut ops = ops();
        // The gateway informs about the queue, the converter in the same process needs it.
        ops.inform("queue", down).check("queue", down);
        assert!(ops.informational_names().is_empty());
        let (status, _) = ready(ops).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);

        let mut ops = self::ops();
        ops.check("queue", down).inform("queue", down);
        let (status, _) = ready(ops).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
}
