//! Conformance checks of failure handling: delayed retries, lease expiry and extension, bounded
//! attempts and dead letters.

use std::time::Duration;

use tokio::time::Instant;

use super::{LONG, WAIT, unique_queue};
use crate::{JobQueue, QueueError, RetryOutcome};

/// After `retry(delay)` the message is invisible, then comes back with attempt 2.
pub async fn retried_message_stays_invisible_until_its_delay_passes(q: &dyn JobQueue) {
    let name = unique_queue("retry");
    q.publish(&name, "m", "{}").await.unwrap();
    let first = q.receive(&name, LONG).await.unwrap().unwrap();
    let delay = Duration::from_millis(400);
    let retried_at = Instant::now();
    let outcome = q.retry(&first, delay, "storage unreachable").await.unwrap();
    assert_eq!(outcome, RetryOutcome::Scheduled);
    assert!(
        q.receive(&name, LONG).await.unwrap().is_none(),
        "invisible during the delay"
    );
    assert_eq!(
        q.depth(&name).await.unwrap(),
        1,
        "still counted while delayed"
    );
    let second = q
        .wait_for_message(&name, LONG, WAIT)
        .await
        .unwrap()
        .expect("redelivered");
    assert!(
        retried_at.elapsed() >= delay - Duration::from_millis(50),
        "came back too early"
    );
    assert_eq!((second.message_id.as_str(), second.attempt), ("m", 2));
    q.ack(&second).await.unwrap();
}

/// A lease that runs out (consumer killed) makes the message visible again with attempt + 1;
/// the stale receipt's ack changes nothing.
pub async fn expired_lease_redelivers_with_the_next_attempt(q: &dyn JobQueue) {
    let name = unique_queue("lease");
    q.publish(&name, "m", "{}").await.unwrap();
    let stale = q
        .receive(&name, Duration::from_millis(150))
        .await
        .unwrap()
        .unwrap();
    let fresh = q
        .wait_for_message(&name, LONG, WAIT)
        .await
        .unwrap()
        .expect("redelivered");
    assert_eq!((fresh.message_id.as_str(), fresh.attempt), ("m", 2));
    q.ack(&stale).await.expect("stale ack is harmless");
    assert_eq!(
        q.depth(&name).await.unwrap(),
        1,
        "stale ack must not remove the message"
    );
    assert!(
        q.receive(&name, LONG).await.unwrap().is_none(),
        "still leased to the new consumer"
    );
    q.ack(&fresh).await.unwrap();
    assert_eq!(q.depth(&name).await.unwrap(), 0);
}

/// Retrying the last attempt dead-letters the message instead.
pub async fn message_is_dead_lettered_after_max_attempts(q: &dyn JobQueue) {
    let name = unique_queue("max");
    q.publish(&name, "m", "{}").await.unwrap();
    let mut deliveries = 0;
    loop {
        let d = q
            .wait_for_message(&name, LONG, WAIT)
            .await
            .unwrap()
            .expect("delivery");
        deliveries += 1;
        assert_eq!(d.attempt, deliveries);
        match q.retry(&d, Duration::ZERO, "transient").await.unwrap() {
            RetryOutcome::Scheduled => assert!(!d.is_last_attempt()),
            RetryOutcome::DeadLettered => {
                assert!(d.is_last_attempt());
                assert_eq!(d.attempt, d.max_attempts);
                break;
            }
            RetryOutcome::LeaseLost => panic!("lease lost without contention"),
        }
        assert!(deliveries < 50, "never dead-lettered");
    }
    assert_eq!(q.dead_count(&name).await.unwrap(), 1);
    assert_eq!(q.depth(&name).await.unwrap(), 0);
    assert!(q.receive(&name, LONG).await.unwrap().is_none());
}

/// A message whose lease runs out `max_attempts` times is dead-lettered, not delivered again.
pub async fn poison_message_whose_lease_keeps_expiring_is_dead_lettered(q: &dyn JobQueue) {
    let name = unique_queue("poison");
    q.publish(&name, "m", "{}").await.unwrap();
    let lease = Duration::from_millis(60);
    let first = q.receive(&name, lease).await.unwrap().expect("delivery");
    for attempt in 2..=first.max_attempts {
        let d = q
            .wait_for_message(&name, lease, WAIT)
            .await
            .unwrap()
            .expect("redelivery");
        assert_eq!(d.attempt, attempt);
    }
    tokio::time::sleep(lease + Duration::from_millis(40)).await;
    assert!(
        q.receive(&name, lease).await.unwrap().is_none(),
        "poison must not come back"
    );
    assert_eq!(q.dead_count(&name).await.unwrap(), 1);
    assert_eq!(q.depth(&name).await.unwrap(), 0);
}

/// `dead_letter` moves the message out of the queue into the dead letters at once.
pub async fn dead_letter_takes_the_message_out_of_the_queue(q: &dyn JobQueue) {
    let name = unique_queue("dead");
    q.publish(&name, "m", "{}").await.unwrap();
    let d = q.receive(&name, LONG).await.unwrap().unwrap();
    q.dead_letter(&d, "not a media file").await.unwrap();
    assert_eq!(q.dead_count(&name).await.unwrap(), 1);
    assert_eq!(q.depth(&name).await.unwrap(), 0);
    assert!(q.receive(&name, LONG).await.unwrap().is_none());
}

/// An extended lease outlives its first term; once another consumer reclaimed the message, the
/// old receipt's extend fails with `LeaseLost` and its retry and dead-letter change nothing.
pub async fn extended_lease_keeps_the_message_and_a_lost_one_says_so(q: &dyn JobQueue) {
    let name = unique_queue("extend");
    q.publish(&name, "kept", "{}").await.unwrap();
    let kept = q
        .receive(&name, Duration::from_millis(150))
        .await
        .unwrap()
        .unwrap();
    q.extend_lease(&kept, LONG).await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        q.receive(&name, LONG).await.unwrap().is_none(),
        "extended lease still holds"
    );
    q.ack(&kept).await.unwrap();

    q.publish(&name, "lost", "{}").await.unwrap();
    let old = q
        .receive(&name, Duration::from_millis(100))
        .await
        .unwrap()
        .unwrap();
    let new = q
        .wait_for_message(&name, LONG, WAIT)
        .await
        .unwrap()
        .expect("reclaimed");
    assert_eq!(new.message_id, "lost");
    let err = q
        .extend_lease(&old, LONG)
        .await
        .expect_err("lease was lost");
    assert!(matches!(err, QueueError::LeaseLost(_)), "{err:?}");
    assert_eq!(
        q.retry(&old, Duration::ZERO, "x").await.unwrap(),
        RetryOutcome::LeaseLost
    );
    q.dead_letter(&old, "x").await.unwrap();
    assert_eq!(
        q.dead_count(&name).await.unwrap(),
        0,
        "stale dead-letter changed nothing"
    );
    q.ack(&new).await.unwrap();
    assert_eq!(q.depth(&name).await.unwrap(), 0);
}
