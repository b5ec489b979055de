//! Behaviour of the database adapter beyond the port's contract: messages written by
//! `mp3converter-db` together with a job are the queue's messages.

use std::sync::Arc;
use std::time::Duration;

use mp3converter_core::{JobState, VideoUploaded};
use mp3converter_db::conformance::{
    ScratchDatabase, create_sample_user, sample_job, video_message,
};
use mp3converter_db::{AudioOutput, MessageRoute, Transition};
use mp3converter_queue::{DatabaseQueue, JobQueue};

const LEASE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_message_written_in_the_job_transaction_is_delivered_and_wakes_consumers() {
    let scratch = ScratchDatabase::sqlite().await;
    let db = scratch.db.clone();
    let queue: Arc<dyn JobQueue> = Arc::new(DatabaseQueue::new(db.clone()));
    let owner = create_sample_user(&db, "flow@example.com").await;
    let job = sample_job(&owner, 1_700_000_000_000);

    let waiter = {
        let queue = queue.clone();
        tokio::spawn(async move {
            queue
                .wait_for_message("video", LEASE, Duration::from_secs(10))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    let written = std::time::Instant::now();
    let route = MessageRoute::QueueTable { max_attempts: 5 };
    db.create_job_with_message(&job, &video_message(&job, "video", route))
        .await
        .unwrap();
    queue.notify_published("video");

    let delivery = waiter.await.unwrap().unwrap().expect("delivered");
    assert!(
        written.elapsed() < Duration::from_millis(400),
        "woken, not polled late"
    );
    assert_eq!(delivery.message_id, job.id.as_str());
    assert_eq!((delivery.attempt, delivery.max_attempts), (1, 5));
    let body: VideoUploaded = serde_json::from_str(&delivery.payload).unwrap();
    assert_eq!(
        (body.job_id, body.video_fid),
        (job.id.clone(), job.video_key.clone())
    );

    // The converter's path: finish the job (writing the mp3 message), then ack.
    assert_eq!(
        db.mark_converting(&job.id).await.unwrap(),
        Transition::Applied
    );
    let audio = AudioOutput {
        key: "audio/a.mp3".into(),
        size: 1,
        duration_secs: 1.0,
    };
    let mp3 = mp3converter_db::OutboundMessage {
        queue: "mp3".into(),
        message_id: job.id.to_string(),
        payload: "{}".into(),
        route,
        fair_key: None,
    };
    db.mark_done(&job.id, &audio, Some(&mp3)).await.unwrap();
    queue.ack(&delivery).await.unwrap();
    assert_eq!(queue.depth("video").await.unwrap(), 0);
    assert_eq!(queue.depth("mp3").await.unwrap(), 1);
    assert_eq!(
        db.get_job(&job.id).await.unwrap().unwrap().state,
        JobState::Done
    );
    scratch.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_events_report_changes_made_by_other_processes() {
    use mp3converter_queue::{DatabaseEvents, EventBus};
    let scratch = ScratchDatabase::sqlite().await;
    let db = scratch.db.clone();
    let events = DatabaseEvents::new(db.clone(), Duration::from_millis(50));
    let mut rx = events.subscribe();
    let stop = tokio_util::sync::CancellationToken::new();
    let poller = tokio::spawn(events.clone().run(stop.clone()));

    // Another process would do this through its own connection: only the row changes.
    let owner = create_sample_user(&db, "events@example.com").await;
    let job = sample_job(&owner, mp3converter_core::now_millis());
    db.create_job_with_message(&job, &video_message(&job, "video", MessageRoute::Outbox))
        .await
        .unwrap();
    db.mark_converting(&job.id).await.unwrap();
    db.update_progress(&job.id, 0.5).await.unwrap();

    let event = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let e = rx.recv().await.unwrap();
            if e.job_id == job.id && e.state == JobState::Converting {
                return e;
            }
        }
    })
    .await
    .expect("the poller saw the change");
    assert_eq!(event.owner_id, owner.id);
    stop.cancel();
    poller.await.unwrap();
    scratch.cleanup().await;
}

/// Fair share on the database queue, on every engine the environment names: with one owner's
/// backlog queued, another owner's job starts after at most one further backlog job per slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_owners_backlog_does_not_starve_another_owners_job() {
    use mp3converter_queue::conformance::{BACKLOG, SLOTS, measure_fair_share};
    let mut engines = vec![("sqlite", Some(ScratchDatabase::sqlite().await))];
    for var in ["MP3C_TEST_MYSQL_URL", "MP3C_TEST_POSTGRES_URL"] {
        engines.push((var, ScratchDatabase::from_env(var).await));
    }
    for (engine, scratch) in engines {
        let Some(scratch) = scratch else { continue };
        let queue: Arc<dyn JobQueue> = Arc::new(DatabaseQueue::new(scratch.db.clone()));
        let db = scratch.db.clone().with_message_route(
            MessageRoute::QueueTable { max_attempts: 5 },
            mp3converter_queue::wake_on_commit(queue.clone()),
        );
        let run = measure_fair_share(&db, queue, "video").await;
        scratch.cleanup().await;
        eprintln!("{engine}: {run:?} ({BACKLOG} queued before, {SLOTS} slots)");
        assert!(
            run.started_before <= SLOTS,
            "{engine}: {} backlog jobs started first",
            run.started_before
        );
    }
}
