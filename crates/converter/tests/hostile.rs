//! Hostile uploads through the converter worker, with the fs blob store: a playlist disguised as
//! media that points at another user's stored audio, and a decompression bomb. Each job fails
//! at its first attempt with a permanent code; nothing of the other user's reaches the output.

#[path = "../../media/tests/crafted/mod.rs"]
mod crafted;
mod support;

use mp3converter_converter::Tunable as _;
use std::time::Duration;

use mp3converter_converter::Converter;
use mp3converter_core::JobState;
use mp3converter_media::{EngineChoice, EngineConfig, ffmpeg_available};
use support::Harness;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlist_pointing_at_another_users_audio_fails_its_job() {
    if !ffmpeg_available(&EngineConfig::default()) {
        eprintln!("skipping: ffmpeg not installed");
        return;
    }
    let h = Harness::new().await;
    let converter = h.converter();
    // Bob's finished conversion: his MP3 now sits in the blob store under the data dir.
    let bob = h.upload("mp3-cbr.mp3").await;
    assert_eq!(converter.run_pending_jobs().await, 1);
    let bob = h.job(&bob.id).await;
    assert_eq!(bob.state, JobState::Done);
    let bobs_audio = h.blob_root().join(bob.audio_key.as_deref().unwrap());
    assert!(bobs_audio.is_file(), "{bobs_audio:?}");

    for (name, bytes) in [
        ("hls.mp4", crafted::hls_playlist(&bobs_audio)),
        ("concat.mp4", crafted::concat_script(&bobs_audio)),
    ] {
        let job = h.upload_bytes(name, bytes).await;
        assert_eq!(converter.run_pending_jobs().await, 1);
        let job = h.job(&job.id).await;
        assert_eq!(job.state, JobState::Failed, "{name}: {job:?}");
        assert_eq!(job.error_code.as_deref(), Some("not-media"), "{name}");
        assert_eq!((job.attempts, job.audio_key), (1, None), "{name}");
    }
    assert!(h.temp_is_empty());
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flac_bomb_fails_with_too_long_on_both_engines() {
    let h = Harness::new().await;
    let mut engines = vec![EngineChoice::Native];
    if ffmpeg_available(&EngineConfig::default()) {
        engines.push(EngineChoice::Ffmpeg);
    } else {
        eprintln!("ffmpeg not installed: the native engine only");
    }
    for engine in engines {
        let mut config = h.config();
        config.engine.engine = engine;
        config.engine.max_duration_secs = Some(5.0);
        let converter = Converter::new(h.deps(), config).with_backoff(|_| Duration::ZERO);
        // One minute of audio in under 6 KB, with no length in its header.
        let bomb = h
            .upload_bytes("bomb.flac", crafted::silent_flac(60, 0))
            .await;
        let fine = h
            .upload_bytes("fine.flac", crafted::silent_flac(3, 0))
            .await;
        assert_eq!(converter.run_pending_jobs().await, 2);
        let bomb = h.job(&bomb.id).await;
        assert_eq!(bomb.state, JobState::Failed, "{engine:?}: {bomb:?}");
        assert_eq!(bomb.error_code.as_deref(), Some("too-long"), "{engine:?}");
        assert_eq!(bomb.attempts, 1);
        let fine = h.job(&fine.id).await;
        assert_eq!(fine.state, JobState::Done, "{engine:?}: {fine:?}");
    }
    assert!(h.temp_is_empty());
    h.cleanup().await;
}
