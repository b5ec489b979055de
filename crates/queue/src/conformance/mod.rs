//! The queue conformance suite: what every [`JobQueue`] adapter must do. Each check uses its own
//! queue names, so checks may share one backend. Delays are short (≤ 0.5 s); no check sleeps
//! longer than that.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::JobQueue;

mod events;
mod failures;
mod fair;

pub use events::*;
pub use failures::*;
pub use fair::{BACKLOG, FairShareRun, SLOTS, WORK, measure_fair_share};

const LONG: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(5);

/// A queue name no other check or test run uses.
pub fn unique_queue(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// The suite's one list of checks: calls `$callback! { $($arg,)* [checks taking
/// `&dyn JobQueue`], [checks taking `Arc<dyn JobQueue>`] }`. Each adapter's test file passes
/// a macro that turns the names into tests, so a new check is added here only.
#[macro_export]
macro_rules! queue_checks {
    ($callback:ident $(, $arg:tt)*) => {
        $callback! {
            $($arg,)*
            [
                published_message_is_received_then_acked,
                retried_message_stays_invisible_until_its_delay_passes,
                expired_lease_redelivers_with_the_next_attempt,
                message_is_dead_lettered_after_max_attempts,
                poison_message_whose_lease_keeps_expiring_is_dead_lettered,
                dead_letter_takes_the_message_out_of_the_queue,
                extended_lease_keeps_the_message_and_a_lost_one_says_so,
                depth_counts_waiting_and_leased_messages_per_queue
            ],
            [
                waiting_consumer_is_woken_by_a_publish,
                concurrent_consumers_never_receive_the_same_message
            ]
        }
    };
}

macro_rules! define_run_all {
    ([$($check:ident),*], [$($shared:ident),*]) => {
        /// Runs every check, then the health check.
        pub async fn run_all(queue: Arc<dyn JobQueue>) {
            $($check(&*queue).await;)*
            $($shared(queue.clone()).await;)*
            queue.health_check().await.expect("health check");
        }
    };
}

crate::queue_checks!(define_run_all);

/// Publish, receive (attempt 1, hidden from others), ack (gone); a second ack is harmless.
pub async fn published_message_is_received_then_acked(q: &dyn JobQueue) {
    let name = unique_queue("basic");
    q.publish(&name, "job-1", r#"{"job_id":"job-1"}"#)
        .await
        .unwrap();
    assert_eq!(q.depth(&name).await.unwrap(), 1);
    let d = q.receive(&name, LONG).await.unwrap().expect("message");
    assert_eq!(
        (d.message_id.as_str(), d.payload.as_str()),
        ("job-1", r#"{"job_id":"job-1"}"#)
    );
    assert_eq!((d.queue.as_str(), d.attempt), (name.as_str(), 1));
    assert!(
        q.receive(&name, LONG).await.unwrap().is_none(),
        "leased message is hidden"
    );
    q.ack(&d).await.unwrap();
    assert_eq!(q.depth(&name).await.unwrap(), 0);
    assert!(q.receive(&name, LONG).await.unwrap().is_none());
    q.ack(&d).await.expect("second ack is harmless");
    assert!(
        q.receive(&unique_queue("empty"), LONG)
            .await
            .unwrap()
            .is_none()
    );
}

/// A consumer waiting on an empty queue gets a message published meanwhile, well before its
/// timeout; with nothing published it returns `None` at the timeout.
pub async fn waiting_consumer_is_woken_by_a_publish(q: Arc<dyn JobQueue>) {
    let name = unique_queue("wake");
    let started = Instant::now();
    assert!(
        q.wait_for_message(&name, LONG, Duration::from_millis(100))
            .await
            .unwrap()
            .is_none()
    );
    assert!(started.elapsed() >= Duration::from_millis(100));

    let waiter = {
        let (q, name) = (q.clone(), name.clone());
        tokio::spawn(async move { q.wait_for_message(&name, LONG, WAIT).await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let published = Instant::now();
    q.publish(&name, "m", "{}").await.unwrap();
    let d = waiter
        .await
        .unwrap()
        .unwrap()
        .expect("woken with the message");
    assert!(
        published.elapsed() < Duration::from_secs(2),
        "took {:?}",
        published.elapsed()
    );
    assert_eq!(d.message_id, "m");
    q.ack(&d).await.unwrap();
}

/// 100 messages claimed by 4 concurrent consumers: each is received exactly once.
pub async fn concurrent_consumers_never_receive_the_same_message(q: Arc<dyn JobQueue>) {
    let name = unique_queue("compete");
    for i in 0..100 {
        q.publish(&name, &format!("m{i}"), &format!(r#"{{"n":{i}}}"#))
            .await
            .unwrap();
    }
    let mut consumers = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (q, name) = (q.clone(), name.clone());
        consumers.spawn(async move {
            let mut got = Vec::new();
            while let Some(d) = q.receive(&name, LONG).await.unwrap() {
                got.push(d.message_id.clone());
                q.ack(&d).await.unwrap();
            }
            got
        });
    }
    let mut all = Vec::new();
    let mut busy_consumers = 0;
    while let Some(got) = consumers.join_next().await {
        let got = got.unwrap();
        busy_consumers += usize::from(!got.is_empty());
        all.extend(got);
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(
        all.len(),
        100,
        "every message delivered once, no duplicates"
    );
    assert_eq!(unique.len(), 100);
    assert!(busy_consumers >= 1);
    assert_eq!(q.depth(&name).await.unwrap(), 0);
}

/// Depth counts waiting and leased messages of one queue only; acking lowers it.
pub async fn depth_counts_waiting_and_leased_messages_per_queue(q: &dyn JobQueue) {
    let (a, b) = (unique_queue("depth-a"), unique_queue("depth-b"));
    for i in 0..3 {
        q.publish(&a, &format!("a{i}"), "{}").await.unwrap();
    }
    q.publish(&b, "b0", "{}").await.unwrap();
    assert_eq!(
        (q.depth(&a).await.unwrap(), q.depth(&b).await.unwrap()),
        (3, 1)
    );
    let d = q.receive(&a, LONG).await.unwrap().unwrap();
    assert_eq!(d.message_id, "a0", "oldest first");
    assert_eq!(
        q.depth(&a).await.unwrap(),
        3,
        "a leased message still counts"
    );
    q.ack(&d).await.unwrap();
    assert_eq!(q.depth(&a).await.unwrap(), 2);
    assert_eq!(q.dead_count(&a).await.unwrap(), 0);
    assert_eq!(q.depth(&unique_queue("none")).await.unwrap(), 0);
}
