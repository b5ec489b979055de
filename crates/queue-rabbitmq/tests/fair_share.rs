//! Fair share on RabbitMQ, when `MP3C_TEST_AMQP_URL` is set: the outbox relay holds `video`
//! messages back and publishes them fairest first, so with one owner's backlog queued another
//! owner's new job starts after at most one further backlog job per converter slot. The same
//! run with a relay that publishes everything at once shows what it prevents.

use std::sync::Arc;

use mp3converter_db::MessageRoute;
use mp3converter_db::conformance::ScratchDatabase;
use mp3converter_queue::conformance::{BACKLOG, FairShareRun, SLOTS, measure_fair_share};
use mp3converter_queue::{JobQueue, OutboxRelay, wake_on_commit};
use mp3converter_queue_rabbitmq::{RabbitQueue, RabbitSettings};
use tokio_util::sync::CancellationToken;

async fn run(fair: bool) -> Option<FairShareRun> {
    let Ok(url) = std::env::var("MP3C_TEST_AMQP_URL") else {
        eprintln!("skipping: set MP3C_TEST_AMQP_URL (e.g. amqp://guest:guest@127.0.0.1:5672/%2f)");
        return None;
    };
    let rabbit = RabbitQueue::connect(RabbitSettings {
        prefetch: u16::try_from(SLOTS).unwrap(),
        connection_name: "mp3converter fair share test".into(),
        ..RabbitSettings::new(url)
    })
    .await
    .expect("valid settings");
    let video = format!("test-fair-{}", uuid::Uuid::new_v4().simple());
    let scratch = ScratchDatabase::sqlite().await;
    let broker: Arc<dyn JobQueue> = Arc::new(rabbit.clone());
    let mut relay = OutboxRelay::new(scratch.db.clone(), broker.clone());
    if fair {
        relay = relay.with_fair_share(&video, 1);
    }
    let queue = relay.waking(broker);
    let db = scratch
        .db
        .clone()
        .with_message_route(MessageRoute::Outbox, wake_on_commit(queue.clone()));
    let stop = CancellationToken::new();
    let relay = tokio::spawn(relay.run(stop.clone()));
    let measured = tokio::spawn({
        let (db, queue, video) = (db.clone(), queue.clone(), video.clone());
        async move { measure_fair_share(&db, queue, &video).await }
    })
    .await;
    stop.cancel();
    relay.await.unwrap();
    rabbit
        .delete_declared_queues()
        .await
        .expect("delete test queues");
    scratch.cleanup().await;
    match measured {
        Ok(run) => Some(run),
        Err(panicked) => std::panic::resume_unwind(panicked.into_panic()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_owners_backlog_does_not_starve_another_owners_job() {
    let Some(fair) = run(true).await else { return };
    eprintln!("fair share: {fair:?} ({BACKLOG} queued before, {SLOTS} slots)");
    assert!(
        fair.started_before <= SLOTS,
        "{} backlog jobs started first",
        fair.started_before
    );
    // Without it the broker hands out the whole backlog first.
    let plain = run(false).await.unwrap();
    eprintln!("published at once: {plain:?}");
    assert!(plain.started_before >= BACKLOG - SLOTS - 2, "{plain:?}");
}
