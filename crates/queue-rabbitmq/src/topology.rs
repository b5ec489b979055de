//! The queues behind one queue name and their declaration: `<name>` (the work), `<name>.dead`
//! (dead letters) and one `<name>.retry.<delay>` per retry delay tier, whose messages expire
//! after that delay and are dead-lettered back into `<name>`.
//!
//! One queue per tier, with a queue-wide TTL, because RabbitMQ only expires messages at the head
//! of a queue: in a single retry queue a 10-minute retry would hold back a 1-second one behind
//! it. A delay is rounded up to the next tier (at most the last one).

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use lapin::options::{QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};

use crate::connection::Session;
use crate::{QueueType, RabbitError};

/// The retry delay tiers: the service's retry schedule, and one hour for anything longer.
pub const RETRY_TIERS: [Duration; 6] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
    Duration::from_secs(2 * 60),
    Duration::from_secs(10 * 60),
    Duration::from_secs(60 * 60),
];

/// The dead-letter queue of `queue`.
pub fn dead_queue(queue: &str) -> String {
    format!("{queue}.dead")
}

/// The retry queue holding messages for `tier`.
pub fn retry_queue(queue: &str, tier: Duration) -> String {
    let secs = tier.as_secs();
    let label = match secs {
        s if s >= 3600 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s >= 60 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    };
    format!("{queue}.retry.{label}")
}

/// The tier a retry after `delay` waits in; `None` for no delay (straight back to the queue).
pub fn tier_for(delay: Duration) -> Option<Duration> {
    if delay.is_zero() {
        return None;
    }
    let last = RETRY_TIERS[RETRY_TIERS.len() - 1];
    Some(
        RETRY_TIERS
            .into_iter()
            .find(|t| *t >= delay)
            .unwrap_or(last),
    )
}

/// A protocol-safe queue name (at most 255 bytes, and room for the suffixes).
pub fn queue_name(name: &str) -> Result<ShortString, RabbitError> {
    if name.is_empty() || name.len() > 200 {
        return Err(RabbitError::Invalid(format!(
            "queue name {name:?} must have 1 to 200 bytes"
        )));
    }
    Ok(ShortString::from(name))
}

/// Message counts of one queue name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Ready in `<name>` and waiting in its retry queues.
    pub waiting: u64,
    /// In `<name>.dead`.
    pub dead: u64,
}

/// Declares queue families once per name and process.
#[derive(Debug)]
pub struct Topology {
    queue_type: QueueType,
    declared: Mutex<HashSet<String>>,
}

impl Topology {
    pub fn new(queue_type: QueueType) -> Self {
        Topology {
            queue_type,
            declared: Mutex::new(HashSet::new()),
        }
    }

    /// Declares `queue` and its dead-letter and retry queues unless this process already did.
    pub async fn ensure(&self, session: &Session, queue: &str) -> Result<(), RabbitError> {
        if self.declared.lock().unwrap().contains(queue) {
            return Ok(());
        }
        self.declare_all(session, queue).await?;
        self.declared.lock().unwrap().insert(queue.to_owned());
        Ok(())
    }

    /// Forgets that `queue` was declared (it was deleted behind our back): the next use
    /// declares it again.
    pub fn forget(&self, queue: &str) {
        self.declared.lock().unwrap().remove(queue);
    }

    /// Message counts, from declaring the family again (idempotent, and it recreates queues
    /// deleted from outside).
    pub async fn counts(&self, session: &Session, queue: &str) -> Result<Counts, RabbitError> {
        let counts = self.declare_all(session, queue).await?;
        self.declared.lock().unwrap().insert(queue.to_owned());
        let dead = u64::from(counts[1]);
        let waiting = u64::from(counts[0]) + counts[2..].iter().map(|c| u64::from(*c)).sum::<u64>();
        Ok(Counts { waiting, dead })
    }

    /// Deletes every queue this process declared (tests clean up with it); returns how many.
    pub async fn delete_all(&self, session: &Session) -> Result<usize, RabbitError> {
        let names: Vec<String> = self.declared.lock().unwrap().drain().collect();
        let ch = session.control().await?;
        let mut deleted = 0;
        for queue in names {
            let mut family = vec![queue.clone(), dead_queue(&queue)];
            family.extend(RETRY_TIERS.iter().map(|t| retry_queue(&queue, *t)));
            for name in family {
                session
                    .timed(
                        "queue.delete",
                        ch.queue_delete(name.into(), QueueDeleteOptions::default()),
                    )
                    .await?;
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Declares the family; returns the message counts of `<name>`, `<name>.dead`, then the
    /// retry queues in tier order.
    async fn declare_all(&self, session: &Session, queue: &str) -> Result<Vec<u32>, RabbitError> {
        queue_name(queue)?;
        let ch = session.control().await?;
        let mut family = vec![
            (queue.to_owned(), self.arguments()),
            (dead_queue(queue), self.arguments()),
        ];
        for tier in RETRY_TIERS {
            family.push((retry_queue(queue, tier), self.retry_arguments(queue, tier)));
        }
        // One after another: a refused declaration closes the channel, and the first refusal
        // is the one worth reporting.
        let mut counts = Vec::with_capacity(family.len());
        for (name, args) in family {
            let declared = session
                .timed(
                    "queue.declare",
                    ch.queue_declare(name.as_str().into(), QueueDeclareOptions::durable(), args),
                )
                .await;
            match declared {
                Ok(q) => counts.push(q.message_count()),
                Err(RabbitError::Amqp { source, .. }) if is_precondition_failed(&source) => {
                    return Err(RabbitError::QueueMismatch {
                        queue: name,
                        queue_type: self.queue_type.as_str(),
                        source,
                    });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(counts)
    }

    /// `<name>` and `<name>.dead`: only the queue type (none for classic, so queues made by
    /// other tools without arguments match).
    fn arguments(&self) -> FieldTable {
        let mut args = FieldTable::default();
        if self.queue_type == QueueType::Quorum {
            args.insert("x-queue-type".into(), long_string("quorum"));
        }
        args
    }

    fn retry_arguments(&self, queue: &str, tier: Duration) -> FieldTable {
        let mut args = self.arguments();
        let ttl = i64::try_from(tier.as_millis()).unwrap_or(i64::MAX);
        args.insert("x-message-ttl".into(), AMQPValue::LongLongInt(ttl));
        args.insert("x-dead-letter-exchange".into(), long_string(""));
        args.insert("x-dead-letter-routing-key".into(), long_string(queue));
        if self.queue_type == QueueType::Quorum {
            // Expired messages move to `<name>` with a confirm, never lost on the way.
            args.insert(
                "x-dead-letter-strategy".into(),
                long_string("at-least-once"),
            );
            args.insert("x-overflow".into(), long_string("reject-publish"));
        }
        args
    }
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(LongString::from(s))
}

fn is_precondition_failed(e: &lapin::Error) -> bool {
    use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
    matches!(e.kind(), lapin::ErrorKind::ProtocolError(p)
        if *p.kind() == AMQPErrorKind::Soft(AMQPSoftError::PRECONDITIONFAILED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_round_up_to_a_tier_and_long_ones_wait_an_hour() {
        let secs = |ms: u64| tier_for(Duration::from_millis(ms)).map(|t| t.as_secs());
        assert_eq!(secs(0), None);
        assert_eq!(secs(1), Some(1));
        assert_eq!(secs(400), Some(1));
        assert_eq!(secs(1_000), Some(1));
        assert_eq!(secs(1_001), Some(5));
        assert_eq!(secs(120_000), Some(120));
        assert_eq!(secs(86_400_000), Some(3600));
    }

    #[test]
    fn retry_queues_are_named_after_their_delay() {
        let names: Vec<String> = RETRY_TIERS
            .iter()
            .map(|t| retry_queue("video", *t))
            .collect();
        assert_eq!(
            names,
            [
                "video.retry.1s",
                "video.retry.5s",
                "video.retry.30s",
                "video.retry.2m",
                "video.retry.10m",
                "video.retry.1h"
            ]
        );
        assert_eq!(dead_queue("mp3"), "mp3.dead");
        assert!(queue_name("").is_err() && queue_name(&"q".repeat(201)).is_err());
    }
}
