//! Where a job's messages go — the queue table or the outbox ([`MessageRoute`]) — and whom to
//! wake once one is committed ([`Wake`]). Set once on a `Database` by the composition root.

use std::fmt;
use std::sync::Arc;

/// Where a message written by a repository call goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageRoute {
    /// Into `queue_messages`, the database queue, deliverable at most `max_attempts` times.
    QueueTable {
        /// Deliveries before the message is dead-lettered.
        max_attempts: u32,
    },
    /// Into `outbox`, for a relay to publish to the broker.
    Outbox,
}

/// Deliveries of a queue-table message before it is dead-lettered, until the composition root
/// sets the route (the database queue's default).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;

/// Told after a message was committed, so its queue's consumers (or the outbox relay) look at
/// once instead of at their next poll. The queue crate implements it.
pub trait Wake: fmt::Debug + Send + Sync {
    /// A message for `queue` was just committed.
    fn wake(&self, queue: &str);
}

/// Where this database's messages go and whom to wake.
#[derive(Debug, Clone)]
pub(crate) struct Messages {
    pub(crate) route: MessageRoute,
    pub(crate) wake: Option<Arc<dyn Wake>>,
}

impl Default for Messages {
    fn default() -> Self {
        Messages {
            route: MessageRoute::QueueTable {
                max_attempts: DEFAULT_MAX_ATTEMPTS,
            },
            wake: None,
        }
    }
}
