//! Runs the queue conformance suite (the one the database adapter passes) on RabbitMQ, with
//! quorum and with classic queues, when `MP3C_TEST_AMQP_URL` is set. Every check uses queue
//! names of its own; the queues a test declared are deleted afterwards, even when it fails.

use std::sync::Arc;

use mp3converter_queue::{JobQueue, conformance};
use mp3converter_queue_rabbitmq::{QueueType, RabbitQueue, RabbitSettings};

/// Few attempts keep the dead-letter checks quick.
const MAX_ATTEMPTS: u32 = 3;

async fn open(queue_type: QueueType) -> Option<RabbitQueue> {
    let Ok(url) = std::env::var("MP3C_TEST_AMQP_URL") else {
        eprintln!("skipping: set MP3C_TEST_AMQP_URL (e.g. amqp://guest:guest@127.0.0.1:5672/%2f)");
        return None;
    };
    let settings = RabbitSettings {
        queue_type,
        max_attempts: MAX_ATTEMPTS,
        timeout_ms: 5_000,
        connection_name: "mp3converter conformance test".into(),
        ..RabbitSettings::new(url)
    };
    let queue = RabbitQueue::connect(settings)
        .await
        .expect("valid settings");
    queue.health_check().await.expect("RabbitMQ is reachable");
    Some(queue)
}

/// Runs `check` on its own task, deletes the queues it declared, then re-raises its panic.
async fn run_and_clean_up(queue: RabbitQueue, check: impl Future<Output = ()> + Send + 'static) {
    let outcome = tokio::spawn(check).await;
    queue
        .delete_declared_queues()
        .await
        .expect("delete test queues");
    if let Err(panicked) = outcome {
        std::panic::resume_unwind(panicked.into_panic());
    }
}

macro_rules! suite {
    ($name:ident, $queue_type:expr, [$($check:ident),*], [$($shared:ident),*]) => {
        mod $name {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some(queue) = open($queue_type).await else { return };
                    let q: Arc<dyn JobQueue> = Arc::new(queue.clone());
                    run_and_clean_up(queue, async move { conformance::$check(&*q).await }).await;
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $shared() {
                    let Some(queue) = open($queue_type).await else { return };
                    let q: Arc<dyn JobQueue> = Arc::new(queue.clone());
                    run_and_clean_up(queue, async move { conformance::$shared(q).await }).await;
                }
            )*
        }
    };
}

macro_rules! both_queue_types {
    ($($t:tt)*) => {
        suite!(quorum, QueueType::Quorum, $($t)*);
        suite!(classic, QueueType::Classic, $($t)*);
    };
}

mp3converter_queue::queue_checks!(both_queue_types);

/// The whole suite through one adapter, as `run_all` promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_suite_passes_through_one_connection() {
    let Some(queue) = open(QueueType::Quorum).await else {
        return;
    };
    let q: Arc<dyn JobQueue> = Arc::new(queue.clone());
    run_and_clean_up(queue, conformance::run_all(q)).await;
}
