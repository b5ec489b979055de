//! `Link`: one AMQP connection that heals itself. A background task connects, watches the
//! connection and, when it fails, reconnects with a backoff; callers ask for the current
//! [`Session`] and get a retryable error at once while there is none.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::ConfirmSelectOptions;
use lapin::{Channel, Connection, ConnectionProperties, Event};
use mp3converter_queue::Backoff;
use secrecy::ExposeSecret;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::{RabbitError, RabbitSettings};

/// How often a live connection's status is looked at besides its error events.
const STATUS_CHECK: Duration = Duration::from_secs(1);

/// Where the link stands.
#[derive(Debug, Clone)]
pub(crate) enum State {
    /// The first connection attempt has not finished yet.
    Starting,
    /// Connected.
    Up(Arc<Session>),
    /// Not connected; retrying. The last error, for health checks.
    Down(String),
}

/// One live connection and the channels shared by every caller.
pub(crate) struct Session {
    /// Counts connections: a channel of an older session belongs to a dead connection.
    pub generation: u64,
    conn: Connection,
    timeout: Duration,
    publisher: tokio::sync::Mutex<Option<Channel>>,
    control: tokio::sync::Mutex<Option<Channel>>,
    /// Why the broker blocks this connection, while it does.
    blocked: std::sync::Mutex<Option<String>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("generation", &self.generation)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn is_connected(&self) -> bool {
        self.conn.status().connected()
    }

    /// Runs one broker call with the configured timeout.
    pub async fn timed<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, lapin::Error>>,
    ) -> Result<T, RabbitError> {
        timed(self.timeout, op, call).await
    }

    /// A new channel.
    pub async fn open_channel(&self) -> Result<Channel, RabbitError> {
        self.timed("channel.open", self.conn.create_channel()).await
    }

    /// The channel for publishing, in confirm mode (reopened if the broker closed it).
    pub async fn publisher(&self) -> Result<Channel, RabbitError> {
        let mut slot = self.publisher.lock().await;
        if let Some(ch) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(ch.clone());
        }
        let ch = self.open_channel().await?;
        self.timed(
            "confirm.select",
            ch.confirm_select(ConfirmSelectOptions::default()),
        )
        .await?;
        *slot = Some(ch.clone());
        Ok(ch)
    }

    /// The channel for declarations, which a refused declaration may close (reopened then).
    pub async fn control(&self) -> Result<Channel, RabbitError> {
        let mut slot = self.control.lock().await;
        if let Some(ch) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(ch.clone());
        }
        let ch = self.open_channel().await?;
        *slot = Some(ch.clone());
        Ok(ch)
    }
}

/// Runs `call`, failing with [`RabbitError::Timeout`] after `limit`.
pub(crate) async fn timed<T>(
    limit: Duration,
    op: &'static str,
    call: impl Future<Output = Result<T, lapin::Error>>,
) -> Result<T, RabbitError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(RabbitError::amqp(op)),
        Err(_) => Err(RabbitError::Timeout { op, after: limit }),
    }
}

/// A self-healing connection; clones share it. The background task stops when `stop` is
/// cancelled (the adapter's drop guard does that).
#[derive(Debug, Clone)]
pub(crate) struct Link {
    state: watch::Receiver<State>,
}

impl Link {
    /// Starts connecting in the background and waits for the first attempt to finish (at most
    /// the configured timeout): the link comes back up or down, never an error.
    pub async fn start(
        settings: &RabbitSettings,
        backoff: Backoff,
        role: &str,
        stop: CancellationToken,
    ) -> Result<Link, RabbitError> {
        let url = settings.url.expose_secret().to_owned();
        url.parse::<lapin::uri::AMQPUri>()
            .map_err(|e| RabbitError::Invalid(format!("broker URL: {e}")))?;
        let (tx, mut rx) = watch::channel(State::Starting);
        let link = Link { state: rx.clone() };
        let name = format!("{} ({role})", settings.connection_name);
        let props = ConnectionProperties::default().with_connection_name(name.into());
        tokio::spawn(run(url, props, settings.timeout(), backoff, tx, stop));
        // The task answers within the timeout; the outer limit only guards against a bug.
        let _ = tokio::time::timeout(
            settings.timeout() + Duration::from_secs(1),
            rx.wait_for(|s| !matches!(s, State::Starting)),
        )
        .await;
        Ok(link)
    }

    /// The live session, or `NotConnected` at once.
    pub fn session(&self) -> Result<Arc<Session>, RabbitError> {
        match &*self.state.borrow() {
            State::Up(s) if s.is_connected() => Ok(s.clone()),
            State::Up(_) => Err(RabbitError::NotConnected("connection lost".into())),
            State::Starting => Err(RabbitError::NotConnected("still connecting".into())),
            State::Down(e) => Err(RabbitError::NotConnected(e.clone())),
        }
    }

    /// Healthy when connected and the broker accepts publishes.
    pub fn health(&self) -> Result<(), RabbitError> {
        let session = self.session()?;
        match session.blocked.lock().unwrap().as_ref() {
            Some(reason) => Err(RabbitError::Blocked(reason.clone())),
            None => Ok(()),
        }
    }

    /// Waits until a session is up (or the sender is gone).
    pub async fn wait_for_session(&self) -> Option<Arc<Session>> {
        let mut rx = self.state.clone();
        loop {
            if let Ok(s) = self.session() {
                return Some(s);
            }
            rx.changed().await.ok()?;
        }
    }
}

async fn run(
    url: String,
    props: ConnectionProperties,
    timeout: Duration,
    backoff: Backoff,
    state: watch::Sender<State>,
    stop: CancellationToken,
) {
    let mut failures = 0u32;
    let mut generation = 0u64;
    loop {
        let attempt = tokio::select! {
            () = stop.cancelled() => return,
            r = timed(timeout, "connect", Connection::connect(&url, props.clone())) => r,
        };
        match attempt {
            Ok(conn) => {
                failures = 0;
                generation += 1;
                let mut events = conn.events_listener();
                let session = Arc::new(Session {
                    generation,
                    conn,
                    timeout,
                    publisher: tokio::sync::Mutex::new(None),
                    control: tokio::sync::Mutex::new(None),
                    blocked: std::sync::Mutex::new(None),
                });
                tracing::info!(generation, "connected to RabbitMQ");
                state.send_replace(State::Up(session.clone()));
                let lost = watch_connection(&session, &mut events, &stop).await;
                let Some(reason) = lost else {
                    let _ = session.conn.close(200, "shutting down".into()).await;
                    return;
                };
                tracing::warn!(error = %reason, "RabbitMQ connection lost; reconnecting");
                state.send_replace(State::Down(reason));
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                let level_warn = failures == 1 || failures.is_power_of_two();
                if level_warn {
                    tracing::warn!(error = %e, failures, "cannot connect to RabbitMQ; retrying");
                } else {
                    tracing::debug!(error = %e, failures, "cannot connect to RabbitMQ; retrying");
                }
                state.send_replace(State::Down(e.to_string()));
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(backoff(failures.max(1))) => {}
        }
    }
}

/// Returns why the connection ended, or `None` when asked to stop.
async fn watch_connection(
    session: &Session,
    events: &mut (impl futures_util::Stream<Item = Event> + Unpin),
    stop: &CancellationToken,
) -> Option<String> {
    let mut tick = tokio::time::interval(STATUS_CHECK);
    loop {
        tokio::select! {
            () = stop.cancelled() => return None,
            event = events.next() => match event {
                // Channel errors are reported here too; only a dead connection matters.
                Some(Event::Error(e)) if !session.is_connected() => return Some(e.to_string()),
                Some(Event::ConnectionBlocked(why)) => {
                    tracing::warn!(reason = %why, "RabbitMQ blocked this connection (resource alarm)");
                    *session.blocked.lock().unwrap() = Some(why);
                }
                Some(Event::ConnectionUnblocked) => {
                    tracing::info!("RabbitMQ unblocked this connection");
                    *session.blocked.lock().unwrap() = None;
                }
                Some(_) => {}
                None => return Some("connection closed".into()),
            },
            _ = tick.tick() => {
                if !session.is_connected() {
                    return Some("connection closed or failed".into());
                }
            }
        }
    }
}
