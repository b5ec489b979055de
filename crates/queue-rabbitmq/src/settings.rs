//! `RabbitSettings`: how to reach the broker, how to declare its queues and how hard to push.

use std::time::Duration;

use mp3converter_queue::{Backoff, DEFAULT_MAX_ATTEMPTS};
use secrecy::SecretString;
use serde::Deserialize;

/// The broker of a development machine: `guest` on the default vhost (`%2f` is `/`).
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";
/// The fanout exchange job events go through.
pub const DEFAULT_EVENTS_EXCHANGE: &str = "mp3converter.events";

/// How the adapter declares its queues (`x-queue-type`).
///
/// The type of a queue is fixed when it is created: declaring an existing queue with another
/// type fails with `PRECONDITION_FAILED` (reported as [`crate::RabbitError::QueueMismatch`]).
/// Pick `classic` when the broker already has classic durable queues of these names (the
/// course's setup), `quorum` otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// Replicated Raft queues: the default, and what RabbitMQ recommends for durable work.
    #[default]
    Quorum,
    /// Classic durable queues, declared without an `x-queue-type` argument.
    Classic,
}

impl QueueType {
    /// The `x-queue-type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Quorum => "quorum",
            QueueType::Classic => "classic",
        }
    }
}

impl std::fmt::Display for QueueType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the RabbitMQ adapters are configured with. `Debug` redacts the URL.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RabbitSettings {
    /// `amqp://user:password@host:5672/vhost` (or `amqps://`); the vhost is URL-encoded, so
    /// `/` is `%2f`. Query parameters `heartbeat` (seconds) and `connection_timeout` (ms) are
    /// passed to the client.
    pub url: SecretString,
    /// `quorum` (default) or `classic`; must match queues that already exist.
    pub queue_type: QueueType,
    /// Unacknowledged messages the broker pushes to one consumer (`basic.qos`): set it to the
    /// worker concurrency.
    pub prefetch: u16,
    /// Deliveries a message gets before it is dead-lettered (stamped on each message).
    pub max_attempts: u32,
    /// The fanout exchange of [`crate::RabbitEvents`].
    pub events_exchange: String,
    /// How long one broker call (connect, declare, publish and its confirm, get) may take
    /// before it fails with a retryable error, in milliseconds.
    pub timeout_ms: u64,
    /// Shown for the connections in the broker's management tools.
    pub connection_name: String,
}

impl Default for RabbitSettings {
    fn default() -> Self {
        RabbitSettings {
            url: SecretString::from(DEFAULT_URL),
            queue_type: QueueType::Quorum,
            prefetch: 4,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            events_exchange: DEFAULT_EVENTS_EXCHANGE.to_owned(),
            timeout_ms: 10_000,
            connection_name: "mp3converter".to_owned(),
        }
    }
}

impl RabbitSettings {
    /// Settings for the broker at `url`, everything else default.
    pub fn new(url: impl Into<String>) -> Self {
        RabbitSettings {
            url: SecretString::from(url.into()),
            ..RabbitSettings::default()
        }
    }

    /// [`timeout_ms`](Self::timeout_ms) as a duration (at least 1 ms).
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }
}

/// How long to wait before reconnection attempt `n` (1-based): 100 ms doubling up to 5 s, so a
/// restarted broker is found again within seconds.
pub fn default_reconnect_backoff() -> Backoff {
    std::sync::Arc::new(|attempt: u32| {
        let exp = attempt.saturating_sub(1).min(6);
        Duration::from_millis(100 << exp).min(Duration::from_secs(5))
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn settings_deserialize_with_lowercase_queue_types_and_defaults() {
        let s: RabbitSettings = serde_json::from_str(
            r#"{"url": "amqp://u:p@rabbit:5672/%2f", "queue_type": "classic", "prefetch": 8}"#,
        )
        .unwrap();
        assert_eq!(s.url.expose_secret(), "amqp://u:p@rabbit:5672/%2f");
        assert_eq!((s.queue_type, s.prefetch), (QueueType::Classic, 8));
        assert_eq!(s.events_exchange, DEFAULT_EVENTS_EXCHANGE);
        assert_eq!(s.max_attempts, DEFAULT_MAX_ATTEMPTS);
        assert!(
            !format!("{s:?}").contains("u:p@"),
            "Debug must not show the password"
        );
        let bad = serde_json::from_str::<RabbitSettings>(r#"{"queue_type": "stream"}"#);
        assert!(bad.is_err());
    }

    #[test]
    fn reconnect_backoff_grows_then_stays_at_five_seconds() {
        let b = default_reconnect_backoff();
        let ms: Vec<u128> = [1, 2, 3, 7, 8, 100].map(|n| b(n).as_millis()).into();
        assert_eq!(ms, [100, 200, 400, 5000, 5000, 5000]);
    }
}
