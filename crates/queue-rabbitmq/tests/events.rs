//! `RabbitEvents` across processes: two instances (two connections, as two processes would
//! have) see each other's job events once, and a bus whose connection dropped binds again and
//! hears events anew. Needs `MP3C_TEST_AMQP_URL`.

mod support;

use std::time::Duration;

use mp3converter_core::{JobEvent, JobId, JobState, UserId};
use mp3converter_queue::EventBus;
use mp3converter_queue_rabbitmq::{RabbitEvents, RabbitSettings};
use support::{
    Leftovers, Proxy, WAIT, amqp_url, cleaning_up, fast_reconnect, settings, until_health,
};
use tokio::sync::broadcast;

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

/// A test exchange, so parallel runs and a live service do not hear each other.
fn events_settings(url: &str, exchange: &str) -> RabbitSettings {
    RabbitSettings {
        events_exchange: exchange.to_owned(),
        ..settings(url)
    }
}

async fn next(rx: &mut broadcast::Receiver<JobEvent>) -> JobEvent {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("an event within the wait")
        .expect("no lag")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_see_each_others_events_once() {
    let Some(url) = amqp_url() else { return };
    let exchange = support::unique("events");
    let leftovers = Leftovers {
        queues: vec![],
        exchanges: vec![exchange.clone()],
    };
    cleaning_up(&url.clone(), leftovers, async move {
        let s = events_settings(&url, &exchange);
        let a = RabbitEvents::connect(&s).await.unwrap();
        let b = RabbitEvents::connect(&s).await.unwrap();
        a.health_check().await.unwrap();
        let (mut at_a, mut at_b) = (a.subscribe(), b.subscribe());

        let from_a = event(0.25);
        a.publish(from_a.clone());
        assert_eq!(next(&mut at_b).await, from_a, "b hears a");
        assert_eq!(
            next(&mut at_a).await,
            from_a,
            "a's own subscribers hear it directly"
        );

        let from_b = event(0.5);
        b.publish(from_b.clone());
        assert_eq!(
            next(&mut at_a).await,
            from_b,
            "a hears b, and not its own event twice"
        );
        assert_eq!(next(&mut at_b).await, from_b);
        assert!(at_b.try_recv().is_err(), "nothing else arrived");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_whose_connection_dropped_binds_again_and_hears_events() {
    let Some(url) = amqp_url() else { return };
    let exchange = support::unique("events");
    let leftovers = Leftovers {
        queues: vec![],
        exchanges: vec![exchange.clone()],
    };
    cleaning_up(&url.clone(), leftovers, async move {
        let proxy = Proxy::start(&url).await;
        let direct = RabbitEvents::connect(&events_settings(&url, &exchange))
            .await
            .unwrap();
        let behind = RabbitEvents::connect_with_backoff(
            &events_settings(&proxy.url, &exchange),
            fast_reconnect(),
        )
        .await
        .unwrap();

        proxy.down();
        until_health(false, || behind.health_check()).await;
        behind.publish(event(0.1)); // never blocks or fails while the broker is gone
        let mut at_behind = behind.subscribe();
        proxy.up();
        until_health(true, || behind.health_check()).await;

        // The queue is bound again shortly after the reconnect: publish until it is.
        let mut sent = Vec::new();
        let mut heard = None;
        for _ in 0..100 {
            let e = event(0.9);
            sent.push(e.job_id.clone());
            direct.publish(e);
            if let Ok(got) =
                tokio::time::timeout(Duration::from_millis(100), at_behind.recv()).await
            {
                heard = Some(got.expect("no lag"));
                break;
            }
        }
        let heard = heard.expect("events reach the reconnected bus");
        assert!(sent.contains(&heard.job_id), "heard {heard:?}");
    })
    .await;
}

/// The event bus conformance suite (the one the in-process bus and the database poller pass),
/// on a test exchange of its own per check. Skipped without `MP3C_TEST_AMQP_URL`.
mod conformance {
    use super::*;

    macro_rules! suite {
        ([$($check:ident),*]) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some(url) = amqp_url() else { return };
                    let exchange = support::unique("events-conformance");
                    let leftovers = Leftovers {
                        queues: vec![],
                        exchanges: vec![exchange.clone()],
                    };
                    cleaning_up(&url.clone(), leftovers, async move {
                        let bus = RabbitEvents::connect(&events_settings(&url, &exchange))
                            .await
                            .unwrap();
                        bus.health_check().await.unwrap();
                        mp3converter_queue::conformance::$check(&bus).await;
                    })
                    .await;
                }
            )*
        };
    }

    mp3converter_queue::event_checks!(suite);
}
