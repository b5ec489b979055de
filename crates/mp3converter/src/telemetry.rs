//! Logging (tracing to stderr, filter from `MP3C_LOG`) and the Prometheus metrics recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Installs the tracing subscriber once; later calls do nothing (tests start many apps).
pub fn init_logging() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_env("MP3C_LOG")
            // Our own crates at info; dependencies only when something is wrong (symphonia warns
            // about recoverable junk in perfectly good files).
            .unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,mp3converter=info,symphonia_core=error")
            });
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init();
    });
}

/// The process-wide Prometheus recorder (installed on first use) and its text renderer.
pub fn metrics() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("seconds".into()),
                    &[
                        0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
                    ],
                )
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Another recorder may already be installed (several apps in one test process).
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}
