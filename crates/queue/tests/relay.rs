//! The outbox relay: rows written with a job reach the queue once, and survive a broker outage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use mp3converter_db::MessageRoute;
use mp3converter_db::conformance::{
    ScratchDatabase, create_sample_user, sample_job, video_message,
};
use mp3converter_queue::DatabaseQueue;
use mp3converter_queue::{Delivery, JobQueue, OutboxRelay, QueueError, RetryOutcome};
use tokio_util::sync::CancellationToken;

const LEASE: Duration = Duration::from_secs(30);

/// A broker that can be switched off: publishes fail while it is down.
#[derive(Debug)]
struct Switchable {
    inner: DatabaseQueue,
    down: AtomicBool,
    published: AtomicUsize,
}

#[async_trait]
impl JobQueue for Switchable {
    async fn publish(&self, queue: &str, id: &str, payload: &str) -> Result<(), QueueError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(QueueError::Unavailable("broker is down".into()));
        }
        self.published.fetch_add(1, Ordering::SeqCst);
        self.inner.publish(queue, id, payload).await
    }
    async fn receive(&self, queue: &str, lease: Duration) -> Result<Option<Delivery>, QueueError> {
        self.inner.receive(queue, lease).await
    }
    async fn ack(&self, d: &Delivery) -> Result<(), QueueError> {
        self.inner.ack(d).await
    }
    async fn retry(
        &self,
        d: &Delivery,
        delay: Duration,
        e: &str,
    ) -> Result<RetryOutcome, QueueError> {
        self.inner.retry(d, delay, e).await
    }
    async fn dead_letter(&self, d: &Delivery, e: &str) -> Result<(), QueueError> {
        self.inner.dead_letter(d, e).await
    }
    async fn extend_lease(&self, d: &Delivery, lease: Duration) -> Result<(), QueueError> {
        self.inner.extend_lease(d, lease).await
    }
    async fn depth(&self, queue: &str) -> Result<u64, QueueError> {
        self.inner.depth(queue).await
    }
    async fn dead_count(&self, queue: &str) -> Result<u64, QueueError> {
        self.inner.dead_count(queue).await
    }
    async fn health_check(&self) -> Result<(), QueueError> {
        self.inner.health_check().await
    }
}

async fn write_outbox_jobs(scratch: &ScratchDatabase, n: usize) -> Vec<String> {
    let owner = create_sample_user(&scratch.db, "relay@example.com").await;
    let mut ids = Vec::new();
    for i in 0..n {
        let job = sample_job(&owner, 1_700_000_000_000 + i as i64);
        scratch
            .db
            .create_job_with_message(&job, &video_message(&job, "video", MessageRoute::Outbox))
            .await
            .unwrap();
        ids.push(job.id.to_string());
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_woken_relay_publishes_the_row_and_deletes_it() {
    let scratch = ScratchDatabase::sqlite().await;
    let broker: Arc<dyn JobQueue> = Arc::new(DatabaseQueue::new(scratch.db.clone()));
    let relay = OutboxRelay::new(scratch.db.clone(), broker.clone());
    let services = relay.waking(broker.clone());
    let stop = CancellationToken::new();
    let running = tokio::spawn(relay.run(stop.clone()));

    let ids = write_outbox_jobs(&scratch, 1).await;
    services.notify_published("video");
    let d = broker
        .wait_for_message("video", LEASE, Duration::from_secs(10))
        .await
        .unwrap()
        .expect("the relay published the outbox row");
    assert_eq!(d.message_id, ids[0]);
    // The row is deleted right after the publish is confirmed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while scratch.db.outbox_len().await.unwrap() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "row not deleted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    stop.cancel();
    running.await.unwrap();
    scratch.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_wait_out_a_broker_outage_and_are_published_once() {
    let scratch = ScratchDatabase::sqlite().await;
    let broker = Arc::new(Switchable {
        inner: DatabaseQueue::new(scratch.db.clone()),
        down: AtomicBool::new(true),
        published: AtomicUsize::new(0),
    });
    let relay = OutboxRelay::new(scratch.db.clone(), broker.clone());
    // A second relay, as in a second process, competing for the same rows.
    let other = OutboxRelay::new(scratch.db.clone(), broker.clone());
    let ids = write_outbox_jobs(&scratch, 5).await;

    assert!(relay.publish_pending().await.unwrap_err().is_retryable());
    assert_eq!(
        scratch.db.outbox_len().await.unwrap(),
        5,
        "nothing lost while down"
    );

    broker.down.store(false, Ordering::SeqCst);
    let (a, b) = tokio::join!(relay.publish_pending(), other.publish_pending());
    assert_eq!(a.unwrap() + b.unwrap(), 5);
    assert_eq!(
        broker.published.load(Ordering::SeqCst),
        5,
        "each row published once"
    );
    assert_eq!(scratch.db.outbox_len().await.unwrap(), 0);

    let mut got = Vec::new();
    while let Some(d) = broker.receive("video", LEASE).await.unwrap() {
        got.push(d.message_id.clone());
        broker.ack(&d).await.unwrap();
    }
    got.sort();
    let mut want = ids;
    want.sort();
    assert_eq!(got, want);
    scratch.cleanup().await;
}
