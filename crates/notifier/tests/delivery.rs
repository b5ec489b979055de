//! How the notifier treats its messages: one email per job even when a message comes twice;
//! nothing acked before it is sent; transient mail errors retried, permanent ones dead-lettered.

mod support;

use mp3converter_notifier::Tunable as _;
use std::sync::atomic::Ordering;
use std::time::Duration;

use mp3converter_core::JobState;
use mp3converter_mail::{Mailer, MemoryMailer};
use support::{FlakyMailer, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_audio_ready_sends_no_second_email() {
    let h = Harness::new().await;
    let job = h.done_job("jane@example.com", "clip.mp4").await;
    let notifier = h.notifier();
    assert_eq!(notifier.run_pending_jobs().await, 1);
    let payload = {
        // The converter's message, published again (as a broker may redeliver it).
        let again = mp3converter_core::AudioReady {
            video_fid: job.video_key.clone(),
            username: job.owner_email.clone(),
            job_id: job.id.clone(),
            outcome: mp3converter_core::AudioOutcome::Converted {
                mp3_fid: job.audio_key.clone().unwrap(),
                options: Box::default(),
            },
        };
        serde_json::to_string(&again).unwrap()
    };
    h.queue
        .publish("mp3", job.id.as_str(), &payload)
        .await
        .unwrap();

    assert_eq!(notifier.run_pending_jobs().await, 1);

    assert_eq!(h.mailer.sent().len(), 1, "one email per job");
    assert_eq!((h.depth().await, h.dead().await), (0, 0));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_send_is_retried_not_acked_and_sent_once_when_the_mailer_recovers() {
    let h = Harness::new().await;
    let job = h.done_job("jane@example.com", "clip.mp4").await;
    let mailer = FlakyMailer::new(h.mailer.clone(), 2);

    assert_eq!(h.notifier_with(mailer.clone()).run_pending_jobs().await, 3);

    assert_eq!(mailer.attempts.load(Ordering::SeqCst), 3);
    assert_eq!(h.mailer.sent().len(), 1);
    assert!(h.job(&job.id).await.notified_at.is_some());
    assert_eq!((h.depth().await, h.dead().await), (0, 0));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_stays_queued_while_its_retry_waits() {
    let h = Harness::new().await;
    let job = h.done_job("jane@example.com", "clip.mp4").await;
    let mailer = FlakyMailer::new(h.mailer.clone(), 1);
    let notifier = h
        .notifier_with(mailer.clone())
        .with_backoff(|_| Duration::from_secs(3600));

    assert_eq!(notifier.run_pending_jobs().await, 1);

    assert!(h.mailer.sent().is_empty());
    assert!(h.job(&job.id).await.notified_at.is_none());
    assert_eq!((h.depth().await, h.dead().await), (1, 0), "not acked");
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailer_that_never_recovers_dead_letters_after_the_last_attempt() {
    let h = Harness::with_max_attempts(2).await;
    let job = h.done_job("jane@example.com", "clip.mp4").await;
    let mailer = FlakyMailer::new(h.mailer.clone(), u32::MAX);

    assert_eq!(h.notifier_with(mailer.clone()).run_pending_jobs().await, 2);

    assert!(h.mailer.sent().is_empty());
    let job = h.job(&job.id).await;
    assert_eq!((job.state, job.notified_at), (JobState::Done, None));
    assert_eq!((h.depth().await, h.dead().await), (0, 1));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanently_refused_email_is_dead_lettered_and_the_job_keeps_its_state() {
    let h = Harness::new().await;
    let job = h.done_job("not an address", "clip.mp4").await;
    let mailer = MemoryMailer::new("noreply@example.test").unwrap();
    let notifier =
        h.notifier_with(std::sync::Arc::new(mailer.clone()) as std::sync::Arc<dyn Mailer>);

    assert_eq!(notifier.run_pending_jobs().await, 1, "not retried");

    assert!(mailer.sent().is_empty());
    let job = h.job(&job.id).await;
    assert_eq!((job.state, job.notified_at), (JobState::Done, None));
    assert_eq!((h.depth().await, h.dead().await), (0, 1));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_message_is_dead_lettered() {
    let h = Harness::new().await;
    h.queue
        .publish("mp3", "x", "{\"job_id\": 1}")
        .await
        .unwrap();

    assert_eq!(h.notifier().run_pending_jobs().await, 1);

    assert!(h.mailer.sent().is_empty());
    assert_eq!((h.depth().await, h.dead().await), (0, 1));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_notifier_sends_new_work_and_stops_on_shutdown() {
    let h = Harness::new().await;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(h.notifier().run(shutdown.clone()));

    let job = h.done_job("jane@example.com", "clip.mp4").await;
    h.queue.notify_published("mp3");
    tokio::time::timeout(Duration::from_secs(30), async {
        while h.job(&job.id).await.notified_at.is_none() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the running notifier sent the email");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("run returns after shutdown")
        .unwrap();

    assert_eq!(h.mailer.sent().len(), 1);
    assert_eq!((h.depth().await, h.dead().await), (0, 0));
    h.cleanup().await;
}
