//! `GatewayState`: the ports and settings every gateway handler shares.

use std::sync::Arc;

use mp3converter_db::Database;
use mp3converter_queue::{EventBus, JobQueue};
use mp3converter_storage::BlobStore;
use tokio_util::sync::CancellationToken;

use crate::egress::WebhookSettings;
use crate::{ApiKeys, Authenticator, GatewayConfig, Importer, QuotaConfig, UrlSigner};

/// What the gateway's handlers work with. Cheap to clone (everything is shared).
#[derive(Debug, Clone)]
pub struct GatewayState {
    /// Users, jobs and the job + message transaction.
    pub db: Database,
    /// Videos and audio.
    pub storage: Arc<dyn BlobStore>,
    /// Woken after a job's `video` message is committed; asked for depths.
    pub queue: Arc<dyn JobQueue>,
    /// Live job events for the SSE routes.
    pub events: Arc<dyn EventBus>,
    /// Login, token verification and user management.
    pub auth: Arc<dyn Authenticator>,
    /// The `[gateway]` section.
    pub config: GatewayConfig,
    /// Name of the queue new videos go to (the seed's `VIDEO_QUEUE`, default `video`).
    pub video_queue: String,
    /// Name of the queue finished jobs go to (the seed's `MP3_QUEUE`, default `mp3`): a job
    /// done at once by reusing earlier audio is announced there, as a converted one is.
    pub mp3_queue: String,
    /// The `[quotas]` section: every user's limits unless an admin set others.
    pub quotas: QuotaConfig,
    /// Signs and checks the short-lived audio URLs (`UrlSigner::new(db.clone())`).
    pub signer: UrlSigner,
    /// Cancelled when the process shuts down: open event streams then send a final `shutdown`
    /// event and end, so the HTTP server can drain within the grace period; imports still
    /// downloading fail with `import-interrupted`.
    pub shutdown: CancellationToken,
    /// API keys (`Authorization: Bearer mp3c_…`) and their cache (`ApiKeys::new(db.clone())`).
    pub keys: ApiKeys,
    /// URL import: the `[import]` section, its address policy and HTTP client.
    pub import: Importer,
    /// How webhooks are delivered (retry schedule, timeout, limits).
    pub webhooks: WebhookSettings,
    /// Where users reach the gateway (`public_url`, no trailing slash): the base of the absolute
    /// URLs of share links and podcast feeds. Never taken from a request's `Host` header.
    pub public_url: String,
}
