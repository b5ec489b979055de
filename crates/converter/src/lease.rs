//! Keeps a delivery's lease alive while its job is handled, and stops the job when the lease
//! was lost to another consumer.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mp3converter_queue::{Delivery, JobQueue, QueueError};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// Renews the lease every third of its length until dropped.
pub(crate) struct LeaseKeeper {
    task: JoinHandle<()>,
    lost: Arc<AtomicBool>,
}

impl LeaseKeeper {
    /// Starts renewing; on a lost lease it cancels `stop`.
    pub(crate) fn start(
        queue: Arc<dyn JobQueue>,
        delivery: Delivery,
        lease: Duration,
        stop: CancellationToken,
    ) -> LeaseKeeper {
        let every = (lease / 3).max(Duration::from_millis(50));
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(Instant::now() + every, every);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match queue.extend_lease(&delivery, lease).await {
                    Ok(()) => {}
                    Err(QueueError::LeaseLost(_)) => {
                        tracing::warn!(message_id = %delivery.message_id, "lease lost to another consumer; stopping");
                        flag.store(true, Ordering::SeqCst);
                        stop.cancel();
                        return;
                    }
                    // The next renewal may work; if none does, the message is redelivered.
                    Err(e) => tracing::warn!(error = %e, "renewing the lease failed"),
                }
            }
        });
        LeaseKeeper { task, lost }
    }

    /// True once a renewal found that another consumer holds the message.
    pub(crate) fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}
