//! The database's [`Wake`] hook, implemented by a queue: after a job's transaction committed
//! a message, the queue's `notify_published` wakes local consumers (database queue) or the
//! outbox relay (a broker behind [`OutboxRelay::waking`](crate::OutboxRelay::waking)).

use std::sync::Arc;

use mp3converter_db::Wake;

use crate::JobQueue;

/// `queue` as the hook [`Database::with_message_route`](mp3converter_db::Database::with_message_route)
/// calls after each committed message.
pub fn wake_on_commit(queue: Arc<dyn JobQueue>) -> Arc<dyn Wake> {
    Arc::new(QueueWake(queue))
}

#[derive(Debug)]
struct QueueWake(Arc<dyn JobQueue>);

impl Wake for QueueWake {
    fn wake(&self, queue: &str) {
        self.0.notify_published(queue);
    }
}
