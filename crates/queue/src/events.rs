//! The `EventBus` port: live job events (state, progress) fanned out to every subscriber.
//!
//! Events are hints for live views (SSE); a missed event is harmless because subscribers start
//! from the job rows. The in-process adapter is a `tokio::sync::broadcast` channel; across
//! processes an adapter feeds the same local channel from a RabbitMQ fanout exchange or from
//! database polling.

use std::fmt;

use mp3converter_core::JobEvent;
use tokio::sync::broadcast;

/// Publishes job events and hands out subscriptions.
pub trait EventBus: Send + Sync + fmt::Debug {
    /// Sends an event to every current subscriber; never blocks, never fails (a slow
    /// subscriber that falls too far behind misses events and sees `Lagged`).
    fn publish(&self, event: JobEvent);
    /// A new subscription to every event published from now on.
    fn subscribe(&self) -> broadcast::Receiver<JobEvent>;
}

/// Events within one process.
#[derive(Debug, Clone)]
pub struct InProcessEvents {
    tx: broadcast::Sender<JobEvent>,
}

impl InProcessEvents {
    /// A bus that keeps up to `capacity` events for slow subscribers.
    pub fn new(capacity: usize) -> Self {
        InProcessEvents {
            tx: broadcast::channel(capacity.max(1)).0,
        }
    }
}

impl Default for InProcessEvents {
    fn default() -> Self {
        Self::new(1024)
    }
}

impl EventBus for InProcessEvents {
    fn publish(&self, event: JobEvent) {
        // No subscriber is not an error: nobody is watching.
        let _ = self.tx.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use mp3converter_core::{JobId, JobState, UserId};

    use super::*;

    fn event(progress: f64) -> JobEvent {
        JobEvent {
            job_id: JobId::generate(),
            owner_id: UserId::generate(),
            state: JobState::Converting,
            progress,
            error_code: None,
            error_message: None,
        }
    }

    #[tokio::test]
    async fn every_subscriber_sees_events_published_after_it_subscribed() {
        let bus = InProcessEvents::new(8);
        bus.publish(event(0.1)); // nobody listening: dropped, no error
        let (mut a, mut b) = (bus.subscribe(), bus.subscribe());
        bus.publish(event(0.5));
        assert_eq!(a.recv().await.unwrap().progress, 0.5);
        assert_eq!(b.recv().await.unwrap().progress, 0.5);
        assert!(a.try_recv().is_err());
    }
}
