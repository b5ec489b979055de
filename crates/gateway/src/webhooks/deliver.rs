//! The deliverer: a background [`Worker`] of the gateway that claims due webhook deliveries,
//! POSTs them (signed, through the egress client that connects only to allowed addresses and
//! follows no redirect) and records each attempt and what comes next.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::header;
use futures_util::StreamExt;
use mp3converter_core::{JobId, now_millis};
use mp3converter_db::{ClaimedDelivery, DeliveryNext, WebhookAttempt};
use mp3converter_queue::{BoxError, WorkState, Worker};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::sign::signature_header;
use super::{WebhookSettings, rfc3339};
use crate::GatewayState;
use crate::egress::ssrf::UrlRefusal;
use crate::views::JobView;

/// The User-Agent of deliveries.
const USER_AGENT: &str = concat!("mp3converter/", env!("CARGO_PKG_VERSION"), " (webhooks)");

/// Sends due deliveries; see the module header. Run it with `run_worker`, or call
/// [`Deliverer::run_once`] (tests).
#[derive(Debug)]
pub struct Deliverer {
    state: GatewayState,
}

impl Deliverer {
    /// The deliverer of `state`'s webhooks.
    pub fn new(state: GatewayState) -> Deliverer {
        Deliverer { state }
    }

    /// The deliverer as a background [`Worker`].
    pub fn worker(state: GatewayState) -> Box<dyn Worker> {
        Box::new(Deliverer::new(state))
    }

    fn settings(&self) -> &WebhookSettings {
        &self.state.webhooks
    }

    /// Claims up to `concurrency` due deliveries and attempts them at once; returns how many.
    pub async fn run_once(&self) -> Result<usize, BoxError> {
        let mut claimed = Vec::new();
        while claimed.len() < self.settings().concurrency.max(1) {
            match self
                .state
                .db
                .claim_webhook_delivery(self.settings().lease)
                .await?
            {
                Some(c) => claimed.push(c),
                None => break,
            }
        }
        let n = claimed.len();
        let results =
            futures_util::future::join_all(claimed.into_iter().map(|c| self.deliver(c))).await;
        for result in results {
            result?;
        }
        Ok(n)
    }

    /// One attempt of a claimed delivery, recorded with what comes next.
    async fn deliver(&self, claimed: ClaimedDelivery) -> Result<(), BoxError> {
        let ClaimedDelivery {
            delivery,
            endpoint,
            lease_token,
        } = claimed;
        let body = match delivery.payload {
            Some(body) => body,
            None => {
                let body = self.payload(&delivery.job_id, &delivery.event, delivery.created_at);
                self.state
                    .db
                    .fix_webhook_payload(&delivery.id, &body.await?)
                    .await?
            }
        };
        let started_at = now_millis();
        let started = Instant::now();
        let outcome = if endpoint.enabled {
            let secrets = endpoint.signing_secrets(started_at);
            self.post(&endpoint.url, &delivery.id, &secrets, &body)
                .await
        } else {
            Err((None, "the endpoint is disabled".to_owned()))
        };
        let latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (status_code, error) = match outcome {
            Ok(code) => (Some(code), None),
            Err((code, why)) => (code, Some(why)),
        };
        let next = if error.is_none() {
            DeliveryNext::Delivered
        } else if !endpoint.enabled {
            DeliveryNext::GiveUp
        } else {
            let retry = usize::try_from(delivery.retries).unwrap_or(usize::MAX);
            match self.settings().retry_schedule.get(retry) {
                Some(wait) => DeliveryNext::RetryAt(
                    now_millis().saturating_add(i64::try_from(wait.as_millis()).unwrap_or(0)),
                ),
                None => DeliveryNext::GiveUp,
            }
        };
        let attempt = WebhookAttempt {
            attempted_at: started_at,
            status_code,
            latency_ms,
            error,
        };
        let host = Url::parse(&endpoint.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        let recorded = self
            .state
            .db
            .record_webhook_attempt(&delivery.id, &lease_token, &attempt, next)
            .await?;
        let outcome = if attempt.error.is_none() {
            "delivered"
        } else {
            "failed"
        };
        metrics::counter!("webhook_attempts_total", "outcome" => outcome).increment(1);
        tracing::info!(delivery = %delivery.id, endpoint = %endpoint.id, host = ?host,
            event = %delivery.event, status = ?attempt.status_code, latency_ms,
            error = ?attempt.error, next = ?next, recorded, "webhook attempt");
        Ok(())
    }

    /// The body of an event about `job_id`: `{"type", "timestamp", "data": the job}` (the job as
    /// the API shows it; only its id if it was deleted before the first attempt).
    async fn payload(
        &self,
        job_id: &str,
        event: &str,
        created_at: i64,
    ) -> Result<String, BoxError> {
        let job = match job_id.parse::<JobId>() {
            Ok(id) => self.state.db.get_job(&id).await?,
            Err(_) => None,
        };
        let data = match job {
            Some(job) => serde_json::to_value(JobView::from(&job))?,
            None => json!({ "id": job_id }),
        };
        let body = json!({ "type": event, "timestamp": rfc3339(created_at), "data": data });
        Ok(serde_json::to_string(&body)?)
    }

    /// POSTs `body` to `url`; the answer's status when it is 2xx, else the status (if any) and
    /// the reason in words.
    async fn post(
        &self,
        url: &str,
        id: &str,
        secrets: &[&str],
        body: &str,
    ) -> Result<u16, (Option<u16>, String)> {
        let url = Url::parse(url).map_err(|e| (None, format!("the URL is not valid: {e}")))?;
        // An IP literal never reaches the resolver, so it is checked here; a name is checked by
        // the client's resolver at connect time.
        self.state
            .import
            .policy()
            .check_url(&url)
            .map_err(|r| (None, r.to_string()))?;
        let timestamp = now_millis().div_euclid(1000);
        let timeout = self.settings().timeout;
        let send = self
            .state
            .import
            .client()
            .post(url)
            .timeout(timeout)
            .header(header::USER_AGENT, USER_AGENT)
            .header(header::CONTENT_TYPE, "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                signature_header(secrets, id, timestamp, body),
            )
            .body(body.to_owned())
            .send();
        let response = send.await.map_err(|e| (None, describe(&e, timeout)))?;
        let status = response.status();
        // Read (and drop) a little of the answer, so a keep-alive connection stays usable.
        let mut stream = response.bytes_stream();
        let mut read = 0;
        let limit = self.settings().max_response_bytes;
        let drain = async {
            while read < limit {
                match stream.next().await {
                    Some(Ok(chunk)) => read += chunk.len(),
                    _ => break,
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(1), drain).await;
        if status.is_success() {
            Ok(status.as_u16())
        } else if status.is_redirection() {
            Err((
                Some(status.as_u16()),
                format!("the endpoint answered {status}; redirects are not followed"),
            ))
        } else {
            Err((
                Some(status.as_u16()),
                format!("the endpoint answered {status}"),
            ))
        }
    }
}

/// A failed request in words, without the URL (it may hold a token).
fn describe(e: &reqwest::Error, timeout: Duration) -> String {
    if let Some(refusal) = UrlRefusal::find_in(e) {
        return refusal.to_string();
    }
    if e.is_timeout() {
        return format!("no answer within {} s", timeout.as_secs_f64());
    }
    if e.is_connect() {
        return "could not connect to the endpoint".into();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = s.to_string();
        source = s.source();
    }
    format!("the request failed: {text}")
}

#[async_trait]
impl Worker for Deliverer {
    fn name(&self) -> &'static str {
        "webhook deliverer"
    }

    async fn work(&mut self, stop: &CancellationToken) -> Result<WorkState, BoxError> {
        let sent = tokio::select! {
            sent = self.run_once() => sent?,
            () = stop.cancelled() => return Ok(WorkState::Idle),
        };
        Ok(if sent > 0 {
            WorkState::Busy
        } else {
            WorkState::Idle
        })
    }

    async fn wait_for_work(&mut self) {
        tokio::time::sleep(self.settings().poll_interval).await;
    }
}
