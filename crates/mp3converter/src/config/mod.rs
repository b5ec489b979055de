//! Configuration: built-in defaults → optional TOML file (`--config`) → `MP3C_*` environment
//! variables (`__` separates sections: `MP3C_QUEUE__BACKEND`) → `*_FILE` variants for secrets.
//!
//! Every key, its environment name and its default is listed in `mp3converter.example.toml` at
//! the repository root (a test loads it). The configuration is validated once, at start, into a
//! [`Config`] whose backends are known to be consistent.

mod load;
mod roles;

use std::net::SocketAddr;
use std::path::PathBuf;

use mp3converter_auth::{AuthConfig, OidcConfig};
use mp3converter_converter::ConverterConfig;
use mp3converter_gateway::{GatewayConfig, ImportConfig, QuotaConfig};
use mp3converter_janitor::RetentionConfig;
use mp3converter_mail::MailConfig;
use mp3converter_notifier::NotifierConfig;
use mp3converter_storage::StorageConfig;
use secrecy::SecretString;
use serde::Deserialize;

pub use load::{ConfigError, KNOWN_KEYS, Overrides, env_key, is_known_env_var, load, load_from};

pub use roles::{Role, Roles};

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the embedded backends keep their files (database, blobs, outbox, keys).
    pub data_dir: PathBuf,
    /// The URL users reach the gateway at (links in emails). Default: `http://<listen>`.
    pub public_url: Option<String>,
    /// Email of the admin created on first start.
    pub admin_email: Option<String>,
    /// Password of that admin; when unset a random one is generated and written to
    /// `<data_dir>/initial-admin-password` (mode 0600), never printed.
    pub admin_password: Option<SecretString>,
    /// HTTP listener and roles.
    pub server: ServerConfig,
    /// Users, jobs and (with the database queue) the queue itself.
    pub database: DatabaseConfig,
    /// The `video` and `mp3` queues.
    pub queue: QueueConfig,
    /// Where uploads and converted audio are stored.
    pub storage: StorageConfig,
    /// How emails are sent.
    pub mail: MailConfig,
    /// Users, tokens, login limits.
    pub auth: AuthConfig,
    /// Single sign-on with an OpenID Connect provider (off without an issuer).
    pub oidc: OidcConfig,
    /// The HTTP API: upload limit, timeouts.
    pub gateway: GatewayConfig,
    /// Import from a URL: on or off, reachable networks, time and redirect limits.
    pub import: ImportConfig,
    /// Every user's limits (storage, jobs per day, jobs at once, upload size).
    pub quotas: QuotaConfig,
    /// Conversion workers and the engine.
    pub converter: ConverterConfig,
    /// Email workers.
    pub notifier: NotifierConfig,
    /// Removal of old videos, audio and unreferenced blobs (with the gateway role).
    pub retention: RetentionConfig,
}

impl Config {
    /// The database URL: the configured one, or a SQLite file in the data dir.
    pub fn database_url(&self) -> SecretString {
        self.database.url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("mp3converter.db").display()
            )
            .into()
        })
    }

    /// This configuration with `data_dir` set and every path derived from it (storage root,
    /// outbox, signing key) moved under it.
    pub fn with_data_dir(mut self, dir: &std::path::Path) -> Self {
        self.data_dir = dir.to_path_buf();
        self.storage.path = dir.join("blobs");
        self.mail.outbox_dir = dir.join("outbox");
        self.auth.key_path = Some(dir.join("jwt-ed25519.pem"));
        self
    }

    /// The roles to run.
    pub fn roles(&self) -> Roles {
        self.server.roles
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("data"),
            public_url: None,
            admin_email: None,
            admin_password: None,
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            queue: QueueConfig::default(),
            storage: StorageConfig::default(),
            mail: MailConfig::default(),
            auth: AuthConfig::default(),
            oidc: OidcConfig::default(),
            gateway: GatewayConfig::default(),
            import: ImportConfig::default(),
            quotas: QuotaConfig::default(),
            converter: ConverterConfig::default(),
            notifier: NotifierConfig::default(),
            retention: RetentionConfig::default(),
        }
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Roles this process runs: `all` or a comma-separated list (an unknown name is an error).
    pub roles: Roles,
    /// Seconds to wait for in-flight requests and jobs on SIGTERM before exiting.
    pub shutdown_grace_secs: u64,
    /// Reverse proxies (CIDRs) whose `X-Forwarded-For` is believed; empty: none. A list in
    /// TOML, comma-separated in `MP3C_SERVER__TRUSTED_PROXIES`.
    pub trusted_proxies: mp3converter_core::TrustedProxies,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            roles: Roles::ALL,
            shutdown_grace_secs: 30,
            trusted_proxies: mp3converter_core::TrustedProxies::default(),
        }
    }
}

/// `[database]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://…`, `mysql://…` or `postgres://…`. Default: a SQLite file in the data dir.
    pub url: Option<SecretString>,
    /// Run migrations at start.
    pub migrate: bool,
    /// Connection pool size (default: 4 for SQLite, 10 otherwise).
    pub max_connections: Option<u32>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            migrate: true,
            max_connections: None,
        }
    }
}

/// Which queue adapter carries the `video` and `mp3` messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackend {
    /// A table in the database (embedded default).
    #[default]
    Database,
    /// RabbitMQ.
    Rabbitmq,
}

/// `[queue]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// `database` or `rabbitmq`.
    pub backend: QueueBackend,
    /// `amqp://user:pass@host:5672/vhost` for RabbitMQ.
    pub url: Option<SecretString>,
    /// RabbitMQ: `quorum` or `classic` queues.
    pub queue_type: mp3converter_queue_rabbitmq::QueueType,
    /// RabbitMQ: the fanout exchange of job events.
    pub events_exchange: String,
    /// Name of the queue of uploaded videos.
    pub video_queue: String,
    /// Name of the queue of finished conversions.
    pub mp3_queue: String,
    /// Deliveries of one message before it is dead-lettered.
    pub max_attempts: u32,
    /// Seconds a worker holds a message before it is handed to another (renewed while working).
    pub lease_secs: u64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            backend: QueueBackend::Database,
            url: None,
            queue_type: mp3converter_queue_rabbitmq::QueueType::Quorum,
            events_exchange: mp3converter_queue_rabbitmq::DEFAULT_EVENTS_EXCHANGE.into(),
            video_queue: "video".into(),
            mp3_queue: "mp3".into(),
            max_attempts: 5,
            lease_secs: 60,
        }
    }
}

#[cfg(test)]
mod tests;
