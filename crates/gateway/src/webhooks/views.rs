//! The JSON shapes of `/api/v1/webhooks`: requests, endpoints (the secret only when it is new),
//! deliveries and their attempts.

use mp3converter_core::now_millis;
use mp3converter_db::{WebhookAttempt, WebhookDelivery, WebhookEndpoint};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A new endpoint.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewWebhook {
    /// Where deliveries are POSTed: http or https, at most 2048 bytes, a public address (or
    /// one in the server's `import.allow_cidrs`).
    #[schema(max_length = 2048, example = "https://example.com/hooks/mp3converter")]
    pub url: String,
    /// The events to send: `job.done`, `job.failed` (at least one).
    #[schema(value_type = Vec<EventSchema>, min_items = 1, example = json!(["job.done", "job.failed"]))]
    pub events: Vec<String>,
    /// A note for yourself (at most 500 characters).
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// A change to an endpoint; what is left out stays as it is.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookChange {
    /// A new URL (checked like a new endpoint's).
    #[schema(max_length = 2048)]
    pub url: Option<String>,
    /// New events (at least one).
    #[schema(value_type = Option<Vec<EventSchema>>, min_items = 1)]
    pub events: Option<Vec<String>>,
    /// A new note.
    #[schema(max_length = 500)]
    pub description: Option<String>,
    /// `false` stops deliveries (pending ones fail); `true` resumes them for new events.
    pub enabled: Option<bool>,
}

/// A webhook event type (documentation of the strings `events` holds).
#[derive(ToSchema, Deserialize)]
#[schema(as = WebhookEvent)]
#[allow(dead_code)]
pub(crate) enum EventSchema {
    /// A job's audio is ready.
    #[serde(rename = "job.done")]
    JobDone,
    /// A job failed.
    #[serde(rename = "job.failed")]
    JobFailed,
}

/// A webhook endpoint (without its secret).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct WebhookView {
    /// Its id.
    #[schema(format = Uuid)]
    pub id: String,
    /// Where deliveries go.
    pub url: String,
    /// The events it receives.
    #[schema(value_type = Vec<EventSchema>)]
    pub events: Vec<String>,
    /// The owner's note.
    pub description: String,
    /// Whether deliveries are sent.
    pub enabled: bool,
    /// Until when (unix ms) the secret before the last rotation also signs; null when it no
    /// longer does.
    pub previous_secret_until: Option<i64>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl From<&WebhookEndpoint> for WebhookView {
    fn from(e: &WebhookEndpoint) -> Self {
        WebhookView {
            id: e.id.clone(),
            url: e.url.clone(),
            events: e.events.clone(),
            description: e.description.clone(),
            enabled: e.enabled,
            previous_secret_until: e.previous_secret_until.filter(|&t| t > now_millis()),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret: shown once, when created or rotated.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct WebhookWithSecret {
    /// The endpoint.
    #[serde(flatten)]
    pub webhook: WebhookView,
    /// The signing secret, `whsec_<base64>`: verify deliveries with it (Standard Webhooks).
    /// It is not shown again.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
}

/// One delivery of an event to an endpoint.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct DeliveryView {
    /// `msg_…`: the `webhook-id` header of every attempt (replays included).
    pub id: String,
    /// `job.done` or `job.failed`.
    pub event: String,
    /// The job it is about.
    pub job_id: String,
    /// `pending`, `delivered` or `failed` (no more retries).
    pub status: String,
    /// Attempts so far.
    pub attempts: u32,
    /// The HTTP status of the last attempt, when there was an answer.
    pub response_code: Option<u16>,
    /// How long the last attempt took, ms.
    pub latency_ms: Option<i64>,
    /// When it is attempted next (unix ms), while pending.
    pub next_attempt_at: Option<i64>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

impl From<&WebhookDelivery> for DeliveryView {
    fn from(d: &WebhookDelivery) -> Self {
        DeliveryView {
            id: d.id.clone(),
            event: d.event.clone(),
            job_id: d.job_id.clone(),
            status: d.status.clone(),
            attempts: d.attempts,
            response_code: d.last_status_code,
            latency_ms: d.last_latency_ms,
            next_attempt_at: d.next_attempt_at.filter(|_| d.status == "pending"),
            last_error: d.last_error.clone(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct AttemptView {
    /// When it started (unix ms).
    pub attempted_at: i64,
    /// The HTTP status, when the endpoint answered.
    pub response_code: Option<u16>,
    /// How long it took, ms.
    pub latency_ms: i64,
    /// Why it failed; null when it succeeded.
    pub error: Option<String>,
}

impl From<&WebhookAttempt> for AttemptView {
    fn from(a: &WebhookAttempt) -> Self {
        AttemptView {
            attempted_at: a.attempted_at,
            response_code: a.status_code,
            latency_ms: a.latency_ms,
            error: a.error.clone(),
        }
    }
}

/// A delivery with every attempt.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct DeliveryDetail {
    /// The delivery.
    #[serde(flatten)]
    pub delivery: DeliveryView,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<AttemptView>,
}
