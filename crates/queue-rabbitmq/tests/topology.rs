//! What the queue adapter leaves on the broker: persistent messages with their id and attempt
//! headers, dead letters that keep the error, retries parked in the queue of their delay tier,
//! queues declared again when deleted from outside, and a clear permanent error when a queue
//! exists with another type. Needs `MP3C_TEST_AMQP_URL`.

mod support;

use std::time::Duration;

use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::{AMQPValue, FieldTable};
use mp3converter_queue::{JobQueue, RetryOutcome};
use mp3converter_queue_rabbitmq::{
    ATTEMPT, DEAD_FROM, LAST_ERROR, QueueType, RabbitQueue, RabbitSettings, dead_queue, retry_queue,
};
use support::{Leftovers, amqp_url, cleaning_up, raw_channel, settings, unique};

const LONG: Duration = Duration::from_secs(60);

async fn queue(url: &str, queue_type: QueueType) -> RabbitQueue {
    let s = RabbitSettings {
        queue_type,
        ..settings(url)
    };
    RabbitQueue::connect(s).await.unwrap()
}

fn header<'a>(props: &'a lapin::BasicProperties, key: &str) -> Option<&'a AMQPValue> {
    props.headers().as_ref()?.inner().get(key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_persistent_and_keep_id_attempt_and_error() {
    let Some(url) = amqp_url() else { return };
    let name = unique("wire");
    let leftovers = Leftovers {
        queues: vec![name.clone()],
        exchanges: vec![],
    };
    cleaning_up(&url.clone(), leftovers, async move {
        let q = queue(&url, QueueType::Quorum).await;
        q.publish(&name, "job-7", r#"{"job_id":"job-7"}"#)
            .await
            .unwrap();
        let d = q.receive(&name, LONG).await.unwrap().unwrap();
        q.dead_letter(&d, "not a media file").await.unwrap();

        let (conn, ch) = raw_channel(&url).await;
        let dead = ch
            .basic_get(dead_queue(&name).into(), BasicGetOptions { no_ack: true })
            .await
            .unwrap()
            .expect("a dead letter");
        let props = &dead.delivery.properties;
        assert_eq!(dead.delivery.data, br#"{"job_id":"job-7"}"#);
        assert_eq!(
            props.message_id().as_ref().map(|m| m.as_str()),
            Some("job-7")
        );
        assert_eq!(*props.delivery_mode(), Some(2), "persistent");
        assert_eq!(header(props, ATTEMPT), Some(&AMQPValue::LongUInt(1)));
        let error = AMQPValue::LongString("not a media file".into());
        assert_eq!(header(props, LAST_ERROR), Some(&error));
        let from = AMQPValue::LongString(name.as_str().into());
        assert_eq!(header(props, DEAD_FROM), Some(&from));
        let _ = conn.close(200, "done".into()).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_waits_in_the_queue_of_its_delay_tier_and_still_counts() {
    let Some(url) = amqp_url() else { return };
    let name = unique("tier");
    let leftovers = Leftovers {
        queues: vec![name.clone()],
        exchanges: vec![],
    };
    cleaning_up(&url.clone(), leftovers, async move {
        let q = queue(&url, QueueType::Quorum).await;
        q.publish(&name, "m", "{}").await.unwrap();
        let d = q.receive(&name, LONG).await.unwrap().unwrap();
        let outcome = q.retry(&d, Duration::from_secs(3), "storage down").await;
        assert_eq!(outcome.unwrap(), RetryOutcome::Scheduled);

        let (conn, ch) = raw_channel(&url).await;
        let parked = ch
            .queue_declare(
                retry_queue(&name, Duration::from_secs(5)).into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .unwrap();
        assert_eq!(parked.message_count(), 1, "3 s rounds up to the 5 s tier");
        assert_eq!(q.depth(&name).await.unwrap(), 1);
        assert!(q.receive(&name, LONG).await.unwrap().is_none());
        let _ = conn.close(200, "done".into()).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queue_deleted_from_outside_is_declared_again_on_publish() {
    let Some(url) = amqp_url() else { return };
    let name = unique("gone");
    let leftovers = Leftovers {
        queues: vec![name.clone()],
        exchanges: vec![],
    };
    cleaning_up(&url.clone(), leftovers, async move {
        let q = queue(&url, QueueType::Quorum).await;
        q.publish(&name, "first", "{}").await.unwrap();
        let (conn, ch) = raw_channel(&url).await;
        ch.queue_delete(name.as_str().into(), QueueDeleteOptions::default())
            .await
            .unwrap();

        q.publish(&name, "second", "{}")
            .await
            .expect("the unroutable publish is repaired");
        let d = q
            .receive(&name, LONG)
            .await
            .unwrap()
            .expect("the second message");
        assert_eq!(d.message_id, "second");
        q.ack(&d).await.unwrap();
        let _ = conn.close(200, "done".into()).await;
    })
    .await;
}

/// The course's broker has classic durable queues made without arguments: a quorum adapter
/// must say so plainly (and keep working for other queues); a classic one uses them as they are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn existing_classic_queue_needs_the_classic_setting() {
    let Some(url) = amqp_url() else { return };
    let name = unique("course");
    let other = unique("other");
    let leftovers = Leftovers {
        queues: vec![name.clone(), other.clone()],
        exchanges: vec![],
    };
    cleaning_up(&url.clone(), leftovers, async move {
        let (conn, ch) = raw_channel(&url).await;
        ch.queue_declare(
            name.as_str().into(),
            QueueDeclareOptions::durable(),
            FieldTable::default(),
        )
        .await
        .unwrap();

        let quorum = queue(&url, QueueType::Quorum).await;
        let err = quorum
            .publish(&name, "m", "{}")
            .await
            .expect_err("a quorum declare of a classic queue is refused");
        assert!(!err.is_retryable(), "{err}");
        let text = format!(
            "{err} {:?}",
            std::error::Error::source(&err).map(|s| s.to_string())
        );
        assert!(text.contains("set the RabbitMQ queue type"), "{text}");
        quorum
            .publish(&other, "m", "{}")
            .await
            .expect("other queues still work");

        let classic = queue(&url, QueueType::Classic).await;
        classic.publish(&name, "m", "{}").await.unwrap();
        let d = classic
            .receive(&name, LONG)
            .await
            .unwrap()
            .expect("message");
        classic.ack(&d).await.unwrap();
        assert_eq!(classic.depth(&name).await.unwrap(), 0);

        let _ = conn.close(200, "done".into()).await;
    })
    .await;
}
