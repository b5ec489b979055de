//! What the gateway sends to addresses its users choose (URL imports and webhooks): the
//! `[import]` section, the webhooks' delivery settings, the [`ssrf`] address policy, and the
//! [`Importer`] that holds an HTTP client which connects only to addresses that policy allows. Nothing here knows about
//! requests, callers or jobs, so any module may use it.

mod config;
pub mod ssrf;
mod webhook_settings;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::task::TaskTracker;

pub use config::{IMPORT_REFERENCE_TOML, ImportConfig, MAX_REDIRECTS_LIMIT};
use ssrf::{AddressPolicy, PolicyResolver};
pub use webhook_settings::WebhookSettings;

/// Most seconds to connect to one origin (within the total timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// The import's settings, address policy and HTTP client, shared by every request. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct Importer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ImportConfig,
    policy: AddressPolicy,
    client: reqwest::Client,
    /// The running downloads: at shutdown they fail their jobs (`import-interrupted`) and the
    /// `StaleImports` worker's drain waits for that, within the grace period.
    tasks: TaskTracker,
}

impl Importer {
    /// The importer of this `[import]` section: its HTTP client follows no redirect by itself,
    /// uses no proxy from the environment and resolves names through the address policy.
    pub fn new(config: ImportConfig) -> Result<Importer, reqwest::Error> {
        let policy = AddressPolicy::new(config.allow_cidrs.clone());
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(PolicyResolver(policy.clone())))
            .connect_timeout(CONNECT_TIMEOUT.min(Duration::from_secs(config.timeout_secs)))
            .user_agent(concat!(
                "mp3converter/",
                env!("CARGO_PKG_VERSION"),
                " (URL import)"
            ))
            .build()?;
        Ok(Importer {
            inner: Arc::new(Inner {
                config,
                policy,
                client,
                tasks: TaskTracker::new(),
            }),
        })
    }

    /// The `[import]` section.
    pub fn config(&self) -> &ImportConfig {
        &self.inner.config
    }

    /// Which addresses imports may reach.
    pub fn policy(&self) -> &AddressPolicy {
        &self.inner.policy
    }

    /// The total time one import may take.
    pub(crate) fn timeout(&self) -> Duration {
        Duration::from_secs(self.inner.config.timeout_secs)
    }

    /// The HTTP client: no redirects followed, no proxy, names resolved through the policy.
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.inner.client
    }

    /// Runs `download` as a tracked task (see [`Importer::drain`]).
    pub(crate) fn spawn<F>(&self, download: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.inner.tasks.spawn(download);
    }

    /// Waits until no download runs any more and no new one can start (at shutdown, after the
    /// state's `shutdown` token was cancelled: each download then fails its job).
    pub async fn drain(&self) {
        self.inner.tasks.close();
        self.inner.tasks.wait().await;
    }
}
