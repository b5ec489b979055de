//! `WebhookSettings`: how webhooks are delivered (retry schedule, timeouts, limits). The
//! deliveries go out through the [`super::Importer`]'s client and address policy.

use std::time::Duration;

/// How webhooks are delivered. The defaults follow the Standard Webhooks recommendations; tests
/// shorten the times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    /// The wait after each failed attempt: one more attempt per entry, then the delivery is
    /// `failed`. Default 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about 27 h in all).
    pub retry_schedule: Vec<Duration>,
    /// Most time one attempt may take (connect, send, answer). Default 15 s.
    pub timeout: Duration,
    /// How often a gateway looks for due deliveries. Default 1 s.
    pub poll_interval: Duration,
    /// How long a claimed delivery is reserved for the gateway that claimed it; longer than
    /// `timeout`. Default 60 s.
    pub lease: Duration,
    /// Attempts a gateway runs at once. Default 8.
    pub concurrency: usize,
    /// Most endpoints one user may have. Default 20.
    pub max_endpoints_per_user: u64,
    /// How long the old secret keeps signing after a rotation. Default 24 h.
    pub rotation_grace: Duration,
    /// Most bytes of an answer read (then the connection is dropped). Default 4 KiB.
    pub max_response_bytes: usize,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        let (s, m, h) = (1, 60, 3600);
        WebhookSettings {
            retry_schedule: [5 * s, 5 * m, 30 * m, 2 * h, 5 * h, 10 * h, 10 * h]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            timeout: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
            lease: Duration::from_secs(60),
            concurrency: 8,
            max_endpoints_per_user: 20,
            rotation_grace: Duration::from_secs(24 * h),
            max_response_bytes: 4096,
        }
    }
}
