//! The lease table. RabbitMQ has no leases: a delivery stays with its channel until it is
//! acked. The adapter keeps each delivery it hands out here, under a receipt, with a deadline;
//! whoever removes the entry first (ack, retry, dead-letter, or the expiry timer) decides what
//! happens to the message, so a stale receipt finds nothing and changes nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::message::Incoming;

#[derive(Debug)]
struct Lease {
    incoming: Incoming,
    deadline: Instant,
    /// Wakes the lease's timer when the deadline moves or the lease ends.
    wake: Arc<Notify>,
}

/// Deliveries held by consumers of this process.
#[derive(Debug, Default)]
pub struct Leases {
    map: Mutex<HashMap<String, Lease>>,
    /// Per queue: held while expired leases are being handed back, so a `receive` that comes
    /// after a deadline sees the effect of the expiry.
    expiring: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Leases {
    /// Holds `incoming` until `lease` from now; returns the notifier of its timer.
    pub fn insert(&self, receipt: &str, incoming: Incoming, lease: Duration) -> Arc<Notify> {
        let wake = Arc::new(Notify::new());
        let deadline = Instant::now() + lease;
        let entry = Lease {
            incoming,
            deadline,
            wake: wake.clone(),
        };
        self.map.lock().unwrap().insert(receipt.to_owned(), entry);
        wake
    }

    /// Ends the lease and gives its message to the caller; `None` if it already ended.
    pub fn take(&self, receipt: &str) -> Option<Incoming> {
        let lease = self.map.lock().unwrap().remove(receipt)?;
        lease.wake.notify_one();
        Some(lease.incoming)
    }

    /// Moves the deadline to `lease` from now. False if the lease ended or its channel died
    /// (then it is dropped: the broker has handed the message to someone else).
    pub fn extend(&self, receipt: &str, lease: Duration) -> bool {
        let mut map = self.map.lock().unwrap();
        let Some(entry) = map.get_mut(receipt) else {
            return false;
        };
        if !entry.incoming.acker.usable() {
            map.remove(receipt);
            return false;
        }
        entry.deadline = Instant::now() + lease;
        entry.wake.notify_one();
        true
    }

    /// The lease's deadline, or `None` once it ended.
    pub fn deadline(&self, receipt: &str) -> Option<Instant> {
        self.map.lock().unwrap().get(receipt).map(|l| l.deadline)
    }

    /// Ends the lease if its deadline has passed.
    pub fn take_if_expired(&self, receipt: &str) -> Option<Incoming> {
        let mut map = self.map.lock().unwrap();
        if map.get(receipt)?.deadline > Instant::now() {
            return None;
        }
        map.remove(receipt).map(|l| l.incoming)
    }

    /// Ends every lease on `queue` whose deadline has passed.
    pub fn take_expired_of(&self, queue: &str) -> Vec<Incoming> {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap();
        let due: Vec<String> = map
            .iter()
            .filter(|(_, l)| l.incoming.queue == queue && l.deadline <= now)
            .map(|(r, _)| r.clone())
            .collect();
        due.iter()
            .filter_map(|r| map.remove(r))
            .map(|l| {
                l.wake.notify_one();
                l.incoming
            })
            .collect()
    }

    /// Leases on `queue` whose channel is alive.
    pub fn count(&self, queue: &str) -> u64 {
        let map = self.map.lock().unwrap();
        let held = map
            .values()
            .filter(|l| l.incoming.queue == queue && l.incoming.acker.usable())
            .count();
        u64::try_from(held).unwrap_or(u64::MAX)
    }

    /// The lock held while expired leases of `queue` are handed back.
    pub fn expiry_lock(&self, queue: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.expiring.lock().unwrap();
        locks.entry(queue.to_owned()).or_default().clone()
    }
}
