//! The converter's happy path on real parts: a queued job becomes done, its MP3 is stored and
//! decodes, one `mp3` message is written, progress events end in done, and a redelivered
//! message is not converted twice.

mod support;

use mp3converter_core::{AudioOutcome, JobState};
use support::{Harness, drain};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_job_becomes_done_with_a_decodable_mp3_and_one_audio_ready_message() {
    let h = Harness::new().await;
    let job = h.upload("mp4-aac-moov-end.mp4").await;
    let converter = h.converter();

    assert_eq!(converter.run_pending_jobs().await, 1);

    let done = h.job(&job.id).await;
    let key = format!("audio/{}.mp3", job.id);
    assert_eq!(done.state, JobState::Done);
    assert_eq!(done.audio_key.as_deref(), Some(key.as_str()));
    assert_eq!(done.progress, 1.0);
    assert_eq!(done.attempts, 1);
    let duration = done.duration_secs.unwrap();
    assert!((duration - 3.0).abs() < 0.1, "duration {duration}");

    let audio = h.storage.get(&key).await.unwrap().bytes().await.unwrap();
    assert_eq!(done.audio_size, Some(audio.len() as u64));
    assert!(
        audio.starts_with(b"ID3") || (audio[0] == 0xFF && audio[1] & 0xE0 == 0xE0),
        "not an MP3: {:?}",
        &audio[..4]
    );
    let copy = h.temp_path().join("check.mp3");
    std::fs::write(&copy, &audio).unwrap();
    let probe = mp3converter_media::probe(&copy, &Default::default()).unwrap();
    std::fs::remove_file(&copy).unwrap();
    assert_eq!(probe.container, "mp3");
    assert_eq!(probe.audio_streams.len(), 1);

    let raw = h.mp3_messages().await;
    assert_eq!(raw.len(), 1, "exactly one mp3 message: {raw:?}");
    let seed: serde_json::Value = serde_json::from_str(&raw[0]).unwrap();
    assert_eq!(seed["mp3_fid"], key.as_str());
    assert_eq!(seed["video_fid"], job.video_key.as_str());
    assert_eq!(seed["username"], "jane@example.com");
    assert_eq!(seed["job_id"], job.id.as_str());
    let ready: mp3converter_core::AudioReady = serde_json::from_str(&raw[0]).unwrap();
    assert_eq!(
        ready.outcome,
        AudioOutcome::Converted {
            mp3_fid: key,
            options: Box::default()
        }
    );
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 0));
    assert!(h.temp_is_empty(), "job temp files left behind");
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_events_rise_and_end_in_done() {
    let h = Harness::new().await;
    let job = h.upload("mkv-flac.mkv").await;
    let mut events = h.subscribe();

    h.converter().run_pending_jobs().await;

    let events = drain(&mut events);
    assert!(events.iter().all(|e| e.job_id == job.id));
    let first = events.first().expect("events");
    assert_eq!((first.state, first.progress), (JobState::Converting, 0.0));
    let last = events.last().unwrap();
    assert_eq!((last.state, last.progress), (JobState::Done, 1.0));
    let progress: Vec<f64> = events.iter().map(|e| e.progress).collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress goes backwards: {progress:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.state == JobState::Converting && e.progress > 0.0 && e.progress < 1.0),
        "no progress in between: {progress:?}"
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_message_is_acked_without_converting_again() {
    let h = Harness::new().await;
    let job = h.upload("mp4-aac-moov-end.mp4").await;
    let converter = h.converter();
    converter.run_pending_jobs().await;
    let first = h.job(&job.id).await;
    assert_eq!(first.state, JobState::Done);

    let mut events = h.subscribe();
    h.queue
        .publish("video", job.id.as_str(), &h.video_payload(&job))
        .await
        .unwrap();
    assert_eq!(converter.run_pending_jobs().await, 1);

    let again = h.job(&job.id).await;
    assert_eq!(again, first, "the job row did not change");
    assert!(drain(&mut events).is_empty(), "no events for a redelivery");
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 0));
    assert_eq!(h.depth("mp3").await, 1, "no second mp3 message");
    h.cleanup().await;
}
