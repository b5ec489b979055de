//! The malformed-media corpus through the converter worker: every damaged upload fails its own
//! job at the first attempt with a stable code and a message in words (or converts), and the
//! same worker then converts a good file.

#[path = "../../media/tests/corpus/mod.rs"]
mod corpus;
mod support;

use mp3converter_converter::Tunable as _;
use std::time::Duration;

use mp3converter_converter::Converter;
use mp3converter_core::JobState;
use mp3converter_media::EngineChoice;
use support::Harness;

const PERMANENT: &[&str] = &[
    "not-media",
    "empty-file",
    "no-audio-track",
    "unsupported-input",
    "corrupt-media",
    "too-long",
    "too-many-channels",
    "bad-sample-rate",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_uploads_fail_their_jobs_and_the_worker_keeps_converting() {
    let h = Harness::new().await;
    let mut config = h.config();
    // The same answers with or without ffmpeg installed.
    config.engine.engine = EngineChoice::Native;
    config.engine.ffmpeg_path = "/nonexistent/ffmpeg".into();
    config.engine.ffprobe_path = "/nonexistent/ffprobe".into();
    let converter = Converter::new(h.deps(), config).with_backoff(|_| Duration::ZERO);

    let cases = corpus::sampler();
    let mut jobs = Vec::new();
    for case in &cases {
        jobs.push((
            case.name.clone(),
            h.upload_bytes("upload.bin", case.bytes.clone()).await,
        ));
    }
    assert_eq!(converter.run_pending_jobs().await, cases.len());

    let (mut failed, mut done) = (0, 0);
    for (name, job) in &jobs {
        let job = h.job(&job.id).await;
        assert_eq!(job.attempts, 1, "{name}: a damaged file is never retried");
        match job.state {
            JobState::Failed => {
                failed += 1;
                let code = job.error_code.as_deref().unwrap_or_default();
                assert!(PERMANENT.contains(&code), "{name}: failed with {code:?}");
                let message = job.error_message.as_deref().unwrap_or_default();
                assert!(message.len() > 10, "{name}: message {message:?}");
            }
            JobState::Done => {
                done += 1;
                assert!(job.audio_size.unwrap_or(0) > 0, "{name}: empty audio");
                assert!(
                    job.duration_secs.is_some_and(|d| (0.0..10.0).contains(&d)),
                    "{name}: {job:?}"
                );
            }
            other => panic!("{name}: left {other}"),
        }
    }
    assert!(
        failed > cases.len() / 2,
        "{failed} failed, {done} converted"
    );
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 0));
    assert!(h.temp_is_empty(), "no temp files left behind");

    let good = h.upload("wav-pcm16.wav").await;
    assert_eq!(converter.run_pending_jobs().await, 1);
    assert_eq!(
        h.job(&good.id).await.state,
        JobState::Done,
        "the worker still converts"
    );
    h.cleanup().await;
}
