//! Logging (tracing to stderr, filter from `MP3C_LOG`) and the Prometheus metrics recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// How much a process logs when `MP3C_LOG` does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// Warnings and errors only: the default of one-shot commands (`user add`, `upload`, ...),
    /// whose output is what they print themselves.
    Quiet,
    /// Our own crates at info: the default of `serve`, and of any command given `-v`.
    Info,
    /// Our own crates at debug (`-vv`).
    Debug,
}

impl Verbosity {
    fn filter(self) -> &'static str {
        // Dependencies only when something is wrong (symphonia warns about recoverable junk in
        // perfectly good files).
        match self {
            Verbosity::Quiet => "warn,symphonia_core=error",
            Verbosity::Info => "warn,mp3converter=info,symphonia_core=error",
            Verbosity::Debug => "warn,mp3converter=debug,symphonia_core=error",
        }
    }
}

/// Installs the tracing subscriber once; later calls do nothing (tests start many apps).
/// `MP3C_LOG` (an `EnvFilter`), when set, wins over `verbosity`.
pub fn init_logging(verbosity: Verbosity) {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_env("MP3C_LOG")
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(verbosity.filter()));
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
