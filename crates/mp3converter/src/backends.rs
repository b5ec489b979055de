//! Builds the adapters the configuration asks for. The one place that matches over backends.
//! What depends on the roles a process runs comes in as [`BackendNeeds`]
//! (computed by `roles::backend_needs`).

use std::sync::Arc;

use anyhow::Context;
use mp3converter_db::{Database, MessageRoute, PoolSettings};
use mp3converter_mail::Mailer;
use mp3converter_queue::{
    DatabaseEvents, DatabaseQueue, EventBus, InProcessEvents, JobQueue, OutboxRelay, wake_on_commit,
};
use mp3converter_storage::BlobStore;
use secrecy::ExposeSecret;

use crate::config::{Config, QueueBackend};

/// How often a gateway reads job changes made by other processes when there is no broker.
const EVENT_POLL: std::time::Duration = std::time::Duration::from_millis(500);

/// What the roles of a process ask of the backends before they are connected (computed by
/// `roles::backend_needs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendNeeds {
    /// Messages the process works on at once (the RabbitMQ prefetch).
    pub prefetch: u16,
    /// Job events must reach other processes (some role runs elsewhere).
    pub events_cross_processes: bool,
    /// How the process names itself to the broker (`mp3converter gateway,auth`).
    pub connection_name: String,
}

/// Every port, connected.
#[derive(Debug, Clone)]
pub struct Backends {
    /// Users, jobs, and the database queue.
    pub db: Database,
    /// The `video` and `mp3` queues.
    pub queue: Arc<dyn JobQueue>,
    /// Uploaded videos and converted audio.
    pub storage: Arc<dyn BlobStore>,
    /// Outgoing email.
    pub mailer: Arc<dyn Mailer>,
    /// Live job events.
    pub events: Arc<dyn EventBus>,
    /// Publishes the outbox to the broker (when messages go through the outbox).
    pub relay: Option<OutboxRelay>,
    /// Reads job changes of other processes (queue in the database, roles split).
    pub event_poller: Option<DatabaseEvents>,
}

/// Connects to the database (running migrations when configured).
pub async fn database(config: &Config) -> anyhow::Result<Database> {
    if config.database.url.is_none() {
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!(
                "cannot create the data directory {}",
                config.data_dir.display()
            )
        })?;
    }
    let settings = PoolSettings {
        max_connections: config.database.max_connections,
        ..PoolSettings::default()
    };
    let db = Database::connect_with(config.database_url().expose_secret(), &settings)
        .await
        .context("cannot connect to the database")?;
    if config.database.migrate {
        db.migrate().await.context("cannot migrate the database")?;
    }
    Ok(db)
}

impl Backends {
    /// Connects every backend, as the process's roles need them.
    pub async fn connect(config: &Config, needs: &BackendNeeds) -> anyhow::Result<Self> {
        let db = database(config).await?;
        let (queue, route): (Arc<dyn JobQueue>, MessageRoute) = match config.queue.backend {
            QueueBackend::Database => (
                Arc::new(
                    DatabaseQueue::new(db.clone()).with_max_attempts(config.queue.max_attempts),
                ),
                MessageRoute::QueueTable {
                    max_attempts: config.queue.max_attempts,
                },
            ),
            QueueBackend::Rabbitmq => (
                Arc::new(rabbit::queue(config, needs).await?),
                MessageRoute::Outbox,
            ),
        };
        let storage =
            mp3converter_storage::build(&config.storage).context("cannot set up storage")?;
        let mailer = mp3converter_mail::build(&config.mail).context("cannot set up mail")?;
        let (events, event_poller): (Arc<dyn EventBus>, _) = match config.queue.backend {
            QueueBackend::Rabbitmq => (Arc::new(rabbit::events(config, needs).await?), None),
            // Every role in this process: events never leave it.
            QueueBackend::Database if !needs.events_cross_processes => {
                (Arc::new(InProcessEvents::default()), None)
            }
            QueueBackend::Database => {
                let poller = DatabaseEvents::new(db.clone(), EVENT_POLL);
                (Arc::new(poller.clone()), Some(poller))
            }
        };
        let (queue, relay) = match route {
            MessageRoute::Outbox => {
                // Fair share: the broker holds at most one `video` message waiting; the relay
                // publishes the next one, fairest first, when a converter has taken it.
                let relay = OutboxRelay::new(db.clone(), queue.clone())
                    .with_fair_share(&config.queue.video_queue, 1);
                (relay.waking(queue), Some(relay))
            }
            MessageRoute::QueueTable { .. } => (queue, None),
        };
        // A job's next message is written in the job's own transaction, where `route` says,
        // and this process's relay or consumers are woken when it commits.
        let db = db.with_message_route(route, wake_on_commit(queue.clone()));
        Ok(Backends {
            db,
            queue,
            storage,
            mailer,
            events,
            relay,
            event_poller,
        })
    }
}

/// The RabbitMQ adapters. They do not fail when the broker is down at start: they keep
/// reconnecting in the background and report it through `health_check` (`/readyz`).
mod rabbit {
    use anyhow::Context;
    use mp3converter_queue_rabbitmq::{RabbitEvents, RabbitQueue, RabbitSettings};

    use super::BackendNeeds;
    use crate::config::Config;

    fn settings(config: &Config, needs: &BackendNeeds) -> anyhow::Result<RabbitSettings> {
        let url =
            config.queue.url.clone().context(
                "queue.url (MP3C_QUEUE__URL) is required with queue.backend = \"rabbitmq\"",
            )?;
        Ok(RabbitSettings {
            url,
            queue_type: config.queue.queue_type,
            // Prefetch = how many messages this process works on at once.
            prefetch: needs.prefetch,
            max_attempts: config.queue.max_attempts,
            events_exchange: config.queue.events_exchange.clone(),
            connection_name: needs.connection_name.clone(),
            ..RabbitSettings::default()
        })
    }

    pub(super) async fn queue(
        config: &Config,
        needs: &BackendNeeds,
    ) -> anyhow::Result<RabbitQueue> {
        RabbitQueue::connect(settings(config, needs)?)
            .await
            .context("cannot set up the RabbitMQ queue")
    }

    pub(super) async fn events(
        config: &Config,
        needs: &BackendNeeds,
    ) -> anyhow::Result<RabbitEvents> {
        RabbitEvents::connect(&settings(config, needs)?)
            .await
            .context("cannot set up the RabbitMQ events exchange")
    }
}

/// True when `e` says a backend could not be reached (worth waiting for), rather than that
/// the configuration or the data is wrong.
pub fn is_unreachable(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<mp3converter_db::DbError>()
            .is_some_and(mp3converter_db::DbError::is_retryable)
    })
}
