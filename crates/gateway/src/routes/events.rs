//! Live job events as server-sent events: one job (`/api/v1/jobs/{id}/events`) or all of the
//! caller's jobs (`/api/v1/events`; admins: every job).
//!
//! Each event is an unnamed SSE message (so `EventSource.onmessage` sees it) whose data is a
//! `JobEvent` as JSON. The per-job stream starts with the job's current state (read after
//! subscribing, so nothing falls in between) and ends after a terminal state. A subscriber that
//! falls behind re-reads the job (per job) or gets a `resync` event (all jobs: reload the list).
//! Keep-alive comments are sent every `sse_keepalive_secs`.
//!
//! The token comes in the `Authorization` header only (the web UI reads the stream with
//! `fetch`). Every stream ends with the session: a final `session-ended` event when the token
//! expires or is revoked (see `session.rs`).
//!
//! When the process shuts down, every open stream gets a last `shutdown` event (with a `retry`
//! hint of a few seconds) and ends: the client then reconnects, to this
//! instance once it is back or to another one, and the HTTP server can drain within its grace
//! period instead of waiting for clients that never leave.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream;
use futures_util::{Stream, StreamExt};
use mp3converter_core::{JobEvent, JobId};
use mp3converter_db::Database;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::GatewayState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiUser, Caller};
use crate::routes::visible_job;
use crate::session::until_session_ends;

fn message(event: &JobEvent) -> Event {
    Event::default()
        .json_data(event)
        .unwrap_or_else(|_| Event::default().comment("unserialisable event"))
}

/// How long a client waits before reconnecting after a `shutdown` event.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// The last event of a stream ended by shutdown: reconnect after [`RECONNECT_AFTER`].
fn shutdown_event() -> Event {
    Event::default()
        .event("shutdown")
        .data("the server is shutting down; reconnect")
        .retry(RECONNECT_AFTER)
}

/// `events` until `shutdown` is cancelled; then one `shutdown` event and the end of the stream.
/// A stream that ends by itself first (a per-job stream after a final state) just ends.
fn until_shutdown<S>(
    events: S,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    stream::unfold(
        (Box::pin(events), Some(shutdown)),
        |(mut events, shutdown)| async move {
            let token = shutdown?;
            tokio::select! {
                biased;
                () = token.cancelled() => Some((Ok(shutdown_event()), (events, None))),
                next = events.next() => next.map(|event| (event, (events, Some(token)))),
            }
        },
    )
}

/// `X-Accel-Buffering: no`: tells nginx-style proxies to pass events through at once.
const NO_PROXY_BUFFERING: [(HeaderName, HeaderValue); 1] = [(
    HeaderName::from_static("x-accel-buffering"),
    HeaderValue::from_static("no"),
)];

fn keep_alive(state: &GatewayState) -> KeepAlive {
    KeepAlive::new().interval(Duration::from_secs(state.config.sse_keepalive_secs))
}

/// Where a per-job stream is.
enum Phase {
    /// The current state is still to be sent.
    Start(JobEvent, Receiver<JobEvent>),
    /// Forwarding this job's events.
    Follow(JobId, Receiver<JobEvent>),
    /// A terminal state was sent.
    Finished,
}

/// The phase after sending `event`.
fn after(event: &JobEvent, rx: Receiver<JobEvent>) -> Phase {
    if event.state.is_terminal() {
        Phase::Finished
    } else {
        Phase::Follow(event.job_id.clone(), rx)
    }
}

fn job_stream(
    db: Database,
    first: JobEvent,
    rx: Receiver<JobEvent>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(Phase::Start(first, rx), move |phase| {
        let db = db.clone();
        async move {
            match phase {
                Phase::Start(event, rx) => Some((Ok(message(&event)), after(&event, rx))),
                Phase::Follow(id, mut rx) => loop {
                    let event = match rx.recv().await {
                        Ok(event) if event.job_id == id => event,
                        Ok(_) => continue,
                        Err(RecvError::Lagged(_)) => match db.get_job(&id).await {
                            Ok(Some(job)) => JobEvent::of(&job),
                            Ok(None) => return None,
                            Err(error) => {
                                tracing::warn!(job_id = %id, %error, "could not re-read a job for its event stream");
                                continue;
                            }
                        },
                        Err(RecvError::Closed) => return None,
                    };
                    return Some((Ok(message(&event)), after(&event, rx)));
                },
                Phase::Finished => None,
            }
        }
    })
}

/// Live events of one job: its current state first, then every change; ends after done,
/// failed or expired, or with a `session-ended` event (`{"reason": "expired" | "revoked"}`) when
/// the token expires or is revoked.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "events", operation_id = "job_events",
    params(
        ("id" = String, Path, description = "The job id"),
    ),
    responses(
        (status = 200, description = "Server-sent events; each data is a JobEvent", content_type = "text/event-stream", body = crate::views::EventSchema),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
        (status = 404, description = "No such job, or not yours", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn job(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    // Subscribe before reading the row: a change in between is then seen twice, never missed.
    let rx = state.events.subscribe();
    let job = visible_job(&state, &caller, &id).await?;
    let stream = job_stream(state.db.clone(), JobEvent::of(&job), rx);
    let key = caller.key.map(|k| k.id);
    let stream = until_session_ends(state.clone(), caller.claims, key, stream);
    let stream = until_shutdown(stream, state.shutdown.clone());
    Ok((
        NO_PROXY_BUFFERING,
        Sse::new(stream).keep_alive(keep_alive(&state)),
    ))
}

fn visible_to(caller: &Caller, event: &JobEvent) -> bool {
    caller.admin || event.owner_id == caller.id
}

/// Live events of all the caller's jobs (an admin's: every job), from now on. A `resync` event
/// means events were missed: reload the job list. A `session-ended` event
/// (`{"reason": "expired" | "revoked"}`) is the last one when the token expires or is revoked;
/// a `shutdown` event ends the stream when the server stops (reconnect).
#[utoipa::path(get, path = "/api/v1/events", tag = "events", operation_id = "all_events",
    responses(
        (status = 200, description = "Server-sent events; each data is a JobEvent", content_type = "text/event-stream", body = crate::views::EventSchema),
        (status = 401, description = "Missing or invalid token", body = ErrorBody),
    ),
    security(("bearer" = [])))]
pub(crate) async fn all(
    State(state): State<GatewayState>,
    ApiUser(caller): ApiUser,
) -> impl IntoResponse {
    let rx = state.events.subscribe();
    let claims = caller.claims.clone();
    let key = caller.key.as_ref().map(|k| k.id.clone());
    let stream = stream::unfold(rx, move |mut rx| {
        let caller = caller.clone();
        async move {
            loop {
                match rx.recv().await {
                    Ok(event) if visible_to(&caller, &event) => {
                        return Some((Ok::<_, Infallible>(message(&event)), rx));
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        let resync = Event::default().event("resync").data(missed.to_string());
                        return Some((Ok(resync), rx));
                    }
                    Err(RecvError::Closed) => return None,
                }
            }
        }
    });
    let stream = until_session_ends(state.clone(), claims, key, stream);
    let stream = until_shutdown(stream, state.shutdown.clone());
    (
        NO_PROXY_BUFFERING,
        Sse::new(stream).keep_alive(keep_alive(&state)),
    )
}
