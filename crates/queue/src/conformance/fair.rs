//! The fair-share measurement every queue setup must pass: with one owner's backlog queued, a
//! second owner's new job starts after at most one further job of the first per converter slot.
//! Converters are played by [`SLOTS`] tasks that take `video` messages, hold each for [`WORK`]
//! and finish the job as a converter would.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mp3converter_core::{JobId, VideoUploaded};
use mp3converter_db::Database;
use mp3converter_db::conformance::{create_sample_user, sample_job};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::JobQueue;

/// Converter slots.
pub const SLOTS: usize = 2;
/// How long one conversion takes.
pub const WORK: Duration = Duration::from_millis(150);
/// The first owner's backlog.
pub const BACKLOG: usize = 12;

/// What one run measured.
#[derive(Debug, Clone)]
pub struct FairShareRun {
    /// Jobs of the first owner that started after the second owner's job was created and
    /// before it started.
    pub started_before: usize,
    /// From the second owner's job created to its start.
    pub wait: Duration,
    /// The order jobs started in: `a` the first owner's, `B` the second's, `|` where the
    /// second owner's job was created.
    pub order: String,
}

/// Queues [`BACKLOG`] jobs of one owner on `video_queue` (through `db`, whose message route the
/// caller set), lets [`SLOTS`] workers start on them, then queues one job of another owner and
/// measures how many more of the first owner's jobs start before it, and how long it waits.
pub async fn measure_fair_share(
    db: &Database,
    queue: Arc<dyn JobQueue>,
    video_queue: &str,
) -> FairShareRun {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let alice = create_sample_user(db, &format!("backlog-{tag}@example.com")).await;
    let bob = create_sample_user(db, &format!("single-{tag}@example.com")).await;
    for _ in 0..BACKLOG {
        let job = sample_job(&alice, mp3converter_core::now_millis());
        db.create_job_and_enqueue_video(&job, video_queue)
            .await
            .expect("queue a job");
    }
    let started: Arc<Mutex<Vec<JobId>>> = Arc::default();
    let stop = CancellationToken::new();
    let mut workers = Vec::new();
    for _ in 0..SLOTS {
        let (db, queue, started, stop) = (db.clone(), queue.clone(), started.clone(), stop.clone());
        let video_queue = video_queue.to_owned();
        workers.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let delivery = queue
                    .wait_for_message(
                        &video_queue,
                        Duration::from_secs(60),
                        Duration::from_millis(100),
                    )
                    .await
                    .expect("receive");
                let Some(delivery) = delivery else { continue };
                let message: VideoUploaded =
                    serde_json::from_str(&delivery.payload).expect("a video message");
                db.mark_converting(&message.job_id)
                    .await
                    .expect("converting");
                started.lock().unwrap().push(message.job_id.clone());
                tokio::time::sleep(WORK).await;
                let audio = mp3converter_db::AudioOutput {
                    key: format!("audio/{}.mp3", message.job_id),
                    size: 1,
                    duration_secs: 1.0,
                };
                db.mark_done(&message.job_id, &audio, None)
                    .await
                    .expect("done");
                queue.ack(&delivery).await.expect("ack");
            }
        }));
    }
    let count = || started.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(20);
    while count() < SLOTS {
        assert!(Instant::now() < deadline, "the backlog never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let job = sample_job(&bob, mp3converter_core::now_millis());
    let created = Instant::now();
    let before = count();
    db.create_job_and_enqueue_video(&job, video_queue)
        .await
        .expect("queue the second owner's job");
    let deadline = Instant::now() + Duration::from_secs(30);
    let position = loop {
        if let Some(at) = started.lock().unwrap().iter().position(|id| *id == job.id) {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "the second owner's job never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let wait = created.elapsed();
    stop.cancel();
    for worker in workers {
        worker.await.expect("worker");
    }
    let order = started
        .lock()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mark = if *id == job.id { "B" } else { "a" };
            if i == before {
                format!("|{mark}")
            } else {
                mark.to_owned()
            }
        })
        .collect();
    FairShareRun {
        started_before: position - before,
        wait,
        order,
    }
}
