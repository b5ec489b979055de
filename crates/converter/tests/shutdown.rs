//! The service loop and shutdown: work published while running is picked up; on shutdown an
//! in-flight job either finishes within the grace period or is cancelled and handed back, and
//! another converter then completes it exactly once.

mod support;

use mp3converter_converter::Tunable as _;
use std::time::Duration;

use mp3converter_core::{JobEvent, JobId, JobState};
use support::{Harness, tone_wav};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

const PATIENCE: Duration = Duration::from_secs(60);

/// Waits for the first event of `job` that `pred` accepts.
async fn wait_for(
    events: &mut broadcast::Receiver<JobEvent>,
    job: &JobId,
    pred: impl Fn(&JobEvent) -> bool,
) -> JobEvent {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let e = events.recv().await.expect("event bus open");
            if &e.job_id == job && pred(&e) {
                return e;
            }
        }
    })
    .await
    .expect("the awaited event came")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_a_conversion_hands_the_job_back_for_another_converter() {
    hand_back_then_complete(Harness::new().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_on_the_last_attempt_hands_back_without_dead_lettering() {
    hand_back_then_complete(Harness::with_max_attempts(1).await).await;
}

/// Shuts a converter down while it converts; checks the job is handed back, then has a second
/// converter complete it once.
async fn hand_back_then_complete(h: Harness) {
    // Long enough (10 minutes of 8 kHz audio) that it is still converting when cancelled.
    let job = h.upload_bytes("long tone.wav", tone_wav(600, 8000)).await;
    let mut events = h.subscribe();
    let shutdown = CancellationToken::new();
    let first = h.converter().with_shutdown_grace(Duration::ZERO);
    let running = tokio::spawn(first.run(shutdown.clone()));

    wait_for(&mut events, &job.id, |e| {
        e.state == JobState::Converting && e.progress > 0.0
    })
    .await;
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("run returns after shutdown")
        .unwrap();

    let handed_back = h.job(&job.id).await;
    assert_eq!(
        (handed_back.state, handed_back.progress),
        (JobState::Queued, 0.0)
    );
    assert_eq!((h.depth("video").await, h.dead("video").await), (1, 0));
    assert_eq!(h.depth("mp3").await, 0);
    let key = format!("audio/{}.mp3", job.id);
    assert!(h.storage.head(&key).await.unwrap().is_none());
    assert!(h.temp_is_empty(), "the cancelled job's temp files are gone");

    assert_eq!(h.converter().run_pending_jobs().await, 1);
    let done = h.job(&job.id).await;
    assert_eq!((done.state, done.attempts), (JobState::Done, 2));
    assert!((done.duration_secs.unwrap() - 600.0).abs() < 0.5);
    assert_eq!(h.mp3_messages().await.len(), 1, "completed exactly once");
    assert!(h.temp_is_empty());
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_converter_picks_up_new_work_and_finishes_it_within_the_grace_period() {
    let h = Harness::new().await;
    let mut events = h.subscribe();
    let shutdown = CancellationToken::new();
    let converter = h.converter().with_shutdown_grace(PATIENCE);
    let running = tokio::spawn(converter.run(shutdown.clone()));

    let job = h.upload_bytes("tone.wav", tone_wav(60, 8000)).await;
    wait_for(&mut events, &job.id, |e| e.state == JobState::Converting).await;
    shutdown.cancel();
    tokio::time::timeout(PATIENCE, running)
        .await
        .expect("run returns once the job is finished")
        .unwrap();

    let done = h.job(&job.id).await;
    assert_eq!((done.state, done.attempts), (JobState::Done, 1));
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 0));
    assert_eq!(h.mp3_messages().await.len(), 1);
    assert!(h.temp_is_empty());
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_converter_stops_at_once_on_shutdown() {
    let h = Harness::new().await;
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(h.converter().run(shutdown.clone()));
    tokio::task::yield_now().await;
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("an idle converter stops promptly")
        .unwrap();
    h.cleanup().await;
}
