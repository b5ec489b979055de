//! Event streams end with the session that opened them: when the token expires, and within the
//! revocation interval after the account is disabled or its password changes (the stream
//! re-checks its claims every [`Authenticator::recheck_interval`](crate::Authenticator)).
//!
//! The last message is then `event: session-ended` with `{"reason": "expired" | "revoked"}` as
//! data, so a page can say why and log in again instead of reconnecting with a dead token. When
//! the re-check itself fails (the database is unreachable) the stream just ends; a client
//! reconnects and is answered by the normal authentication.

use std::convert::Infallible;
use std::pin::Pin;
use std::time::Duration;

use axum::response::sse::Event;
use futures_util::{Stream, StreamExt, stream};
use mp3converter_core::{Claims, now_millis};

use crate::{AuthFailure, GatewayState};

/// The name of the final event of a stream whose session ended.
pub const SESSION_ENDED_EVENT: &str = "session-ended";

type Events = Pin<Box<dyn Stream<Item = Result<Event, Infallible>> + Send>>;

fn ended(reason: &str) -> Event {
    Event::default()
        .event(SESSION_ENDED_EVENT)
        .data(format!("{{\"reason\":\"{reason}\"}}"))
}

struct Guarded {
    inner: Events,
    state: GatewayState,
    claims: Claims,
    /// The API key the stream was opened with: its revocation ends the stream too.
    key: Option<String>,
    expires: tokio::time::Instant,
    recheck: tokio::time::Interval,
    over: bool,
}

/// `inner`, ended by an [`SESSION_ENDED_EVENT`] when the session of `claims` ends.
pub(crate) fn until_session_ends(
    state: GatewayState,
    claims: Claims,
    key: Option<String>,
    inner: impl Stream<Item = Result<Event, Infallible>> + Send + 'static,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let left = claims
        .exp
        .saturating_sub(now_millis().div_euclid(1000))
        .max(0);
    let expires = tokio::time::Instant::now() + Duration::from_secs(left.unsigned_abs());
    let every = state
        .auth
        .recheck_interval()
        .max(Duration::from_millis(100));
    let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let guarded = Guarded {
        inner: Box::pin(inner),
        state,
        claims,
        key,
        expires,
        recheck,
        over: false,
    };
    stream::unfold(guarded, |mut g| async move {
        if g.over {
            return None;
        }
        loop {
            tokio::select! {
                item = g.inner.next() => return item.map(|item| (item, g)),
                () = tokio::time::sleep_until(g.expires) => {
                    g.over = true;
                    return Some((Ok(ended("expired")), g));
                }
                _ = g.recheck.tick() => match still_valid(&g.state, &g.claims, g.key.as_deref()).await {
                    Ok(()) => continue,
                    Err(refused) if refused.status.is_server_error() => {
                        tracing::warn!(%refused, "cannot re-check an event stream's session; ending it");
                        return None;
                    }
                    Err(_) => {
                        g.over = true;
                        let reason = if g.claims.exp <= now_millis().div_euclid(1000) {
                            "expired"
                        } else {
                            "revoked"
                        };
                        return Some((Ok(ended(reason)), g));
                    }
                },
            }
        }
    })
}

/// The session is still valid: its user's tokens are not revoked and, for a stream opened with
/// an API key, the key still exists.
async fn still_valid(
    state: &GatewayState,
    claims: &Claims,
    key: Option<&str>,
) -> Result<(), AuthFailure> {
    state.auth.recheck(claims).await?;
    if let Some(id) = key {
        match state.db.api_key_exists(id).await {
            Ok(true) => {}
            Ok(false) => return Err(AuthFailure::invalid_token()),
            Err(e) => {
                return Err(AuthFailure::new(
                    axum::http::StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    e.to_string(),
                ));
            }
        }
    }
    Ok(())
}
