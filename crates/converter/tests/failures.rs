//! How the converter fails: permanent engine errors fail the job at once with their reason and
//! a failure `mp3` message; transient storage errors are retried and finally give up.

mod support;

use mp3converter_converter::Tunable as _;
use std::sync::atomic::Ordering;

use mp3converter_converter::Converter;
use mp3converter_core::{AudioOutcome, JobState};
use support::failing_store::FailingStore;
use support::{Harness, drain};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_without_audio_fails_with_no_audio_track_and_is_not_retried() {
    let h = Harness::new().await;
    let job = h.upload("mp4-video-only.mp4").await;
    let mut events = h.subscribe();

    assert_eq!(
        h.converter().run_pending_jobs().await,
        1,
        "one delivery, no retry"
    );

    let failed = h.job(&job.id).await;
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("no-audio-track"));
    assert_eq!(
        failed.error_message.as_deref(),
        Some("this video has no audio track")
    );
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 0));
    let ready = h.only_audio_ready().await;
    match ready.outcome {
        AudioOutcome::Failed(reason) => assert_eq!(reason.code, "no-audio-track"),
        other => panic!("expected a failure message, got {other:?}"),
    }
    let key = format!("audio/{}.mp3", job.id);
    assert!(h.storage.head(&key).await.unwrap().is_none());
    let last = drain(&mut events).pop().unwrap();
    assert_eq!(last.state, JobState::Failed);
    assert_eq!(last.error_code.as_deref(), Some("no-audio-track"));
    assert!(h.temp_is_empty());
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_or_non_media_files_fail_for_good_without_retry() {
    let h = Harness::new().await;
    let truncated = h.upload("truncated.mp4").await;
    let random = h.upload("random.bin").await;

    assert_eq!(h.converter().run_pending_jobs().await, 2);

    // The native decoder hands a damaged MP4 to ffmpeg, which finds it corrupt; without
    // ffmpeg installed the job says that ffmpeg is needed.
    let ffmpeg = mp3converter_media::ffmpeg_available(&Default::default());
    let damaged = if ffmpeg {
        "corrupt-media"
    } else {
        "unsupported-input"
    };
    for (job, code) in [(&truncated, damaged), (&random, "not-media")] {
        let failed = h.job(&job.id).await;
        assert_eq!(failed.state, JobState::Failed, "{}", job.original_name);
        assert_eq!(failed.error_code.as_deref(), Some(code));
        assert_eq!(failed.attempts, 1);
    }
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 0));
    assert_eq!(h.mp3_messages().await.len(), 2);
    assert!(h.temp_is_empty());
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_storage_is_retried_then_the_job_gives_up() {
    let h = Harness::with_max_attempts(3).await;
    let job = h.upload("mp4-aac-moov-end.mp4").await;
    let store = FailingStore::new(h.storage.clone(), u32::MAX);
    let mut deps = h.deps();
    deps.storage = store.clone();
    let converter = Converter::new(deps, h.config()).with_backoff(|_| std::time::Duration::ZERO);

    assert_eq!(
        converter.run_pending_jobs().await,
        3,
        "one delivery per attempt"
    );

    assert_eq!(store.gets.load(Ordering::SeqCst), 3);
    let failed = h.job(&job.id).await;
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("gave-up"));
    let message = failed.error_message.unwrap();
    assert!(message.contains("3 times"), "{message}");
    assert!(message.contains("file storage"), "{message}");
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 1));
    match h.only_audio_ready().await.outcome {
        AudioOutcome::Failed(reason) => assert_eq!(reason.code, "gave-up"),
        other => panic!("expected a failure message, got {other:?}"),
    }
    assert!(h.temp_is_empty());
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_that_recovers_converts_on_a_later_attempt() {
    let h = Harness::new().await;
    let job = h.upload("mp4-aac-moov-end.mp4").await;
    let mut events = h.subscribe();
    let mut deps = h.deps();
    deps.storage = FailingStore::new(h.storage.clone(), 2);
    let converter = Converter::new(deps, h.config()).with_backoff(|_| std::time::Duration::ZERO);

    assert_eq!(converter.run_pending_jobs().await, 3);

    let done = h.job(&job.id).await;
    assert_eq!((done.state, done.attempts), (JobState::Done, 3));
    assert_eq!(h.mp3_messages().await.len(), 1);
    let states: Vec<JobState> = drain(&mut events).iter().map(|e| e.state).collect();
    assert!(
        states.contains(&JobState::Queued),
        "a job waiting for its retry shows as queued: {states:?}"
    );
    assert_eq!(states.last(), Some(&JobState::Done));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_waits_for_its_backoff() {
    let h = Harness::new().await;
    let job = h.upload("mp4-aac-moov-end.mp4").await;
    let mut deps = h.deps();
    deps.storage = FailingStore::new(h.storage.clone(), 1);
    let converter = Converter::new(deps, h.config()); // the real schedule: 1 s first

    assert_eq!(
        converter.run_pending_jobs().await,
        1,
        "the retry is not visible yet"
    );

    let waiting = h.job(&job.id).await;
    assert_eq!((waiting.state, waiting.progress), (JobState::Queued, 0.0));
    assert_eq!((h.depth("video").await, h.dead("video").await), (1, 0));
    assert_eq!(h.depth("mp3").await, 0);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_video_blob_fails_the_job_without_retry() {
    let h = Harness::new().await;
    let job = h.upload("mp4-aac-moov-end.mp4").await;
    h.storage.delete(&job.video_key).await.unwrap();

    assert_eq!(h.converter().run_pending_jobs().await, 1);

    let failed = h.job(&job.id).await;
    assert_eq!(failed.state, JobState::Failed);
    assert_eq!(failed.error_code.as_deref(), Some("video-missing"));
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 0));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_message_is_dead_lettered() {
    let h = Harness::new().await;
    h.queue
        .publish("video", "garbage", "{not json")
        .await
        .unwrap();

    assert_eq!(h.converter().run_pending_jobs().await, 1);

    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 1));
    assert_eq!(h.depth("mp3").await, 0);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_for_an_unknown_job_is_dead_lettered() {
    let h = Harness::new().await;
    let job = h.upload("wav-pcm16.wav").await;
    let payload = h.video_payload(&job);
    assert!(h.db.delete_job(&job.id).await.unwrap());

    assert_eq!(h.converter().run_pending_jobs().await, 1);

    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 1));
    // Another message with a well-formed body but an id nobody created.
    let stranger = payload.replace(job.id.as_str(), "0190b3c1-0000-7000-8000-000000000000");
    h.queue
        .publish("video", "stranger", &stranger)
        .await
        .unwrap();
    assert_eq!(h.converter().run_pending_jobs().await, 1);
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 2));
    assert_eq!(
        h.depth("mp3").await,
        0,
        "no email for a job that does not exist"
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_is_renewed_while_a_job_is_in_flight() {
    let h = Harness::new().await;
    let job = h.upload("mp4-aac-moov-end.mp4").await;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let store = FailingStore::gated(h.storage.clone(), gate.clone());
    let mut deps = h.deps();
    deps.storage = store.clone();
    deps.lease = std::time::Duration::from_millis(200);
    let converter = Converter::new(deps, h.config());
    let running = tokio::spawn(async move { converter.run_pending_jobs().await });
    while store.gets.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }

    // Three lease lengths later the message is still held: nobody else may take it.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let stolen = h.queue.receive("video", support::LEASE).await.unwrap();
    assert!(
        stolen.is_none(),
        "the lease ran out while the job was in flight"
    );

    gate.add_permits(1);
    assert_eq!(running.await.unwrap(), 1);
    let done = h.job(&job.id).await;
    assert_eq!((done.state, done.attempts), (JobState::Done, 1));
    assert_eq!(h.mp3_messages().await.len(), 1);
    h.cleanup().await;
}
