//! Builds the adapters the configuration asks for. The one place that matches over backends.

use std::sync::Arc;

use anyhow::Context;
use mp3converter_db::{Database, PoolSettings, Route};
use mp3converter_mail::Mailer;
use mp3converter_queue::{DatabaseQueue, EventBus, InProcessEvents, JobQueue};
use mp3converter_storage::BlobStore;
use secrecy::ExposeSecret;

use crate::config::{Config, QueueBackend};

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
    /// Where a job's next message is written in the job's own transaction.
    pub route: Route,
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
    /// Connects every backend.
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        let db = database(config).await?;
        let (queue, route): (Arc<dyn JobQueue>, Route) = match config.queue.backend {
            QueueBackend::Database => (
                Arc::new(
                    DatabaseQueue::new(db.clone()).with_max_attempts(config.queue.max_attempts),
                ),
                Route::QueueTable {
                    max_attempts: config.queue.max_attempts,
                },
            ),
            QueueBackend::Rabbitmq => anyhow::bail!(
                "queue.backend = \"rabbitmq\" is not available in this version yet; use \"database\""
            ),
        };
        let storage =
            mp3converter_storage::build(&config.storage).context("cannot set up storage")?;
        let mailer = mp3converter_mail::build(&config.mail).context("cannot set up mail")?;
        let events: Arc<dyn EventBus> = Arc::new(InProcessEvents::default());
        Ok(Backends {
            db,
            queue,
            storage,
            mailer,
            events,
            route,
        })
    }
}
