//! The queue adapter when the broker goes away: it starts without one, answers with retryable
//! errors while it is gone, reconnects by itself, and counts the deliveries a lost connection
//! cost. The broker "goes away" by cutting a TCP proxy in front of it. Needs
//! `MP3C_TEST_AMQP_URL`.

mod support;

use std::time::Duration;

use mp3converter_queue::JobQueue;
use mp3converter_queue_rabbitmq::RabbitQueue;
use support::{
    Leftovers, Proxy, WAIT, amqp_url, cleaning_up, fast_reconnect, settings, unique, until_health,
};

const LONG: Duration = Duration::from_secs(60);

async fn through(proxy: &Proxy) -> RabbitQueue {
    RabbitQueue::connect_with_backoff(settings(&proxy.url), fast_reconnect())
        .await
        .expect("connect never fails on an unreachable broker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_started_while_the_broker_is_down_waits_for_it_then_works() {
    let Some(url) = amqp_url() else { return };
    let name = unique("late");
    let leftovers = Leftovers {
        queues: vec![name.clone()],
        exchanges: vec![],
    };
    cleaning_up(&url.clone(), leftovers, async move {
        let proxy = Proxy::start(&url).await;
        proxy.down();
        let q = through(&proxy).await;

        let err = q
            .health_check()
            .await
            .expect_err("unhealthy without a broker");
        assert!(err.is_retryable(), "{err}");
        let err = q
            .publish(&name, "m", "{}")
            .await
            .expect_err("nowhere to publish");
        assert!(err.is_retryable(), "{err}");
        let err = q
            .receive(&name, LONG)
            .await
            .expect_err("nothing to receive from");
        assert!(err.is_retryable(), "{err}");

        proxy.up();
        until_health(true, || q.health_check()).await;
        q.publish(&name, "m", r#"{"n":1}"#).await.unwrap();
        let d = q.receive(&name, LONG).await.unwrap().expect("the message");
        assert_eq!(
            (d.message_id.as_str(), d.payload.as_str(), d.attempt),
            ("m", r#"{"n":1}"#, 1)
        );
        q.ack(&d).await.unwrap();
        assert_eq!(q.depth(&name).await.unwrap(), 0);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishers_and_consumers_recover_after_the_connection_drops() {
    let Some(url) = amqp_url() else { return };
    let name = unique("drop");
    let leftovers = Leftovers {
        queues: vec![name.clone()],
        exchanges: vec![],
    };
    cleaning_up(&url.clone(), leftovers, async move {
        let proxy = Proxy::start(&url).await;
        let q = through(&proxy).await;
        q.publish(&name, "held", "{}").await.unwrap();
        let held = q.receive(&name, LONG).await.unwrap().expect("message");
        let waiter = {
            let (q, name) = (q.clone(), name.clone());
            tokio::spawn(async move { q.wait_for_message(&name, LONG, LONG).await })
        };

        proxy.down();
        until_health(false, || q.health_check()).await;
        let err = waiter
            .await
            .unwrap()
            .expect_err("a waiting consumer hears of the loss");
        assert!(err.is_retryable(), "{err}");
        let err = q
            .publish(&name, "during", "{}")
            .await
            .expect_err("broker gone");
        assert!(err.is_retryable(), "{err}");

        proxy.up();
        until_health(true, || q.health_check()).await;
        q.ack(&held)
            .await
            .expect("an ack after the connection died is harmless");
        let again = q
            .wait_for_message(&name, LONG, WAIT)
            .await
            .unwrap()
            .expect("the broker took the held message back and delivers it again");
        assert_eq!((again.message_id.as_str(), again.attempt), ("held", 2));
        q.ack(&again).await.unwrap();

        let waiter = {
            let (q, name) = (q.clone(), name.clone());
            tokio::spawn(async move { q.wait_for_message(&name, LONG, WAIT).await })
        };
        q.publish(&name, "after", "{}").await.unwrap();
        let after = waiter
            .await
            .unwrap()
            .unwrap()
            .expect("consumers work again");
        assert_eq!((after.message_id.as_str(), after.attempt), ("after", 1));
        q.ack(&after).await.unwrap();
        assert_eq!(q.depth(&name).await.unwrap(), 0);
    })
    .await;
}

/// A message whose consumer dies with it every time (its connection drops before the ack) is
/// counted on each redelivery and ends in the dead letters after `max_attempts` deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_that_keeps_killing_its_consumer_is_dead_lettered() {
    let Some(url) = amqp_url() else { return };
    let name = unique("killer");
    let leftovers = Leftovers {
        queues: vec![name.clone()],
        exchanges: vec![],
    };
    cleaning_up(&url.clone(), leftovers, async move {
        let proxy = Proxy::start(&url).await;
        let consumer = through(&proxy).await;
        let observer = RabbitQueue::connect(settings(&url)).await.unwrap();
        observer.publish(&name, "poison", "{}").await.unwrap();

        for attempt in 1..=3 {
            let d = consumer
                .wait_for_message(&name, LONG, WAIT)
                .await
                .unwrap()
                .expect("delivered again");
            assert_eq!((d.message_id.as_str(), d.attempt), ("poison", attempt));
            proxy.down(); // the consumer "crashes" holding it
            until_health(false, || consumer.health_check()).await;
            proxy.up();
            until_health(true, || consumer.health_check()).await;
        }
        // The broker hands it back once more; the consumer buries it instead of delivering it.
        let deadline = tokio::time::Instant::now() + WAIT;
        while observer.dead_count(&name).await.unwrap() == 0 {
            let fourth = consumer
                .wait_for_message(&name, LONG, Duration::from_millis(200))
                .await
                .unwrap();
            assert!(fourth.is_none(), "a fourth delivery: {fourth:?}");
            assert!(
                tokio::time::Instant::now() < deadline,
                "never dead-lettered"
            );
        }
        assert_eq!(observer.dead_count(&name).await.unwrap(), 1);
        assert_eq!(observer.depth(&name).await.unwrap(), 0);
    })
    .await;
}
