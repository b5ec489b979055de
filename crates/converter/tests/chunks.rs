//! Distributed chunks on real parts (SQLite queue, file storage): a long job is split into
//! chunk tasks, their frames are stored with checksums, the last one queues the join, and the
//! joined MP3 is byte-identical to the one-process chunk-parallel encode. A converter that dies
//! mid-job loses only the chunk it held; a damaged chunk is encoded again at the join; a job
//! deleted mid-way leaves its remaining tasks nothing to do; a plan that does not fit the input
//! is given up and the job converted in one piece.

mod support;

use std::time::Duration;

use mp3converter_converter::{Converter, ConverterConfig, Tunable as _};
use mp3converter_core::{ChunkTask, JobState, VideoUploaded};
use mp3converter_media::{Control, EngineConfig, Extras};
use mp3converter_queue::Handler as _;
use support::{Harness, tone_wav};

/// 45 s of audio in chunks of about 10 s (the engine rounds them to its frame grid).
const SECS: u32 = 45;
const CHUNK_SECS: f64 = 10.0;

fn splitting(h: &Harness) -> ConverterConfig {
    ConverterConfig {
        split_min_secs: 20.0,
        split_chunk_secs: CHUNK_SECS,
        ..h.config()
    }
}

fn converter(h: &Harness) -> Converter {
    Converter::new(h.deps(), splitting(h)).with_backoff(|_| Duration::ZERO)
}

/// A stereo WAV of two tones with a slow swell and a little noise, `secs` long at 44.1 kHz,
/// so the encoder has something to work on at every join.
fn music_wav(secs: u32) -> Vec<u8> {
    let rate = 44_100u32;
    let mut seed = 0x2545_f491_u32;
    let mut samples = Vec::with_capacity((rate * secs * 2) as usize);
    for i in 0..rate * secs {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = f64::from(seed) / f64::from(u32::MAX) - 0.5;
        let t = f64::from(i) / f64::from(rate);
        let swell = 0.6 + 0.4 * (0.3 * t).sin();
        let l = swell * 0.3 * (std::f64::consts::TAU * 220.0 * t).sin() + 0.05 * noise;
        let r =
            0.25 * (std::f64::consts::TAU * 330.0 * t).sin() * (1.0 - swell / 2.0) - 0.04 * noise;
        samples.extend([l, r].map(|v| (v * 20_000.0) as i16));
    }
    support::wav(rate, 2, &samples)
}

/// The same input (uploaded as `name`: the title tag comes from it) converted in one process,
/// chunk-parallel: what the join must equal.
fn one_process_reference(wav: &[u8], name: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (dir.path().join(name), dir.path().join("out.mp3"));
    std::fs::write(&input, wav).unwrap();
    let engine = EngineConfig {
        threads: 2,
        parallel_min_secs: 1.0,
        ..EngineConfig::default()
    };
    mp3converter_media::convert_with(
        &input,
        &output,
        &Default::default(),
        &Extras::default(),
        &engine,
        Control::none(),
    )
    .unwrap();
    std::fs::read(output).unwrap()
}

/// The tasks waiting in the `video` queue, taken under a lease (hidden afterwards).
async fn take_tasks(h: &Harness) -> Vec<ChunkTask> {
    let mut tasks = Vec::new();
    while let Some(d) = h
        .queue
        .receive("video", Duration::from_secs(600))
        .await
        .unwrap()
    {
        let msg: VideoUploaded = serde_json::from_str(&d.payload).unwrap();
        tasks.push(msg.task.expect("only chunk tasks are left"));
    }
    tasks
}

/// The stored audio of `job`.
async fn audio_of(h: &Harness, job: &mp3converter_core::JobId) -> Vec<u8> {
    let key = format!("audio/{job}.mp3");
    h.storage
        .get(&key)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec()
}

async fn chunk_blobs(h: &Harness) -> usize {
    use futures_util::TryStreamExt;
    h.storage
        .list("chunks")
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_job_is_split_into_chunk_tasks_and_joined_byte_identical() {
    let h = Harness::new().await;
    let wav = music_wav(SECS);
    let job = h.upload_bytes("concert.wav", wav.clone()).await;
    let converter = converter(&h);

    // The job's own message plans it: chunk tasks, nothing converted yet.
    let chunks = plan(&converter, &h, &job.id).await;
    assert!(chunks >= 4, "{chunks} chunks of about {CHUNK_SECS} s");
    assert_eq!(h.job(&job.id).await.state, JobState::Converting);
    // Every chunk, then the join.
    assert_eq!(converter.run_pending_jobs().await, chunks as usize + 1);
    let done = h.job(&job.id).await;
    assert_eq!(done.state, JobState::Done, "{:?}", done.error_message);
    assert_eq!(done.progress, 1.0);
    let audio = audio_of(&h, &job.id).await;
    let reference = one_process_reference(&wav, "concert.wav");
    assert_eq!(audio.len(), reference.len());
    assert!(
        audio[..] == reference[..],
        "the joined file differs from the one-process chunked encode"
    );
    let duration = done.duration_secs.unwrap();
    assert!((duration - f64::from(SECS)).abs() < 0.1, "{duration}");
    assert_eq!(h.mp3_messages().await.len(), 1, "one mp3 message");
    assert_eq!(
        chunk_blobs(&h).await,
        0,
        "chunk frames are removed after the join"
    );
    assert_eq!(h.db.chunk_plan(&job.id).await.unwrap(), None);
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 0));
    assert!(h.temp_is_empty(), "temp files left behind");
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converter_killed_mid_job_loses_only_the_chunk_it_held() {
    let h = Harness::new().await;
    let wav = music_wav(SECS);
    let job = h.upload_bytes("lecture.wav", wav.clone()).await;
    let first = converter(&h);
    let chunks = plan(&first, &h, &job.id).await;
    assert_eq!(h.depth("video").await, u64::from(chunks));
    drive_one(&first, &h).await;
    drive_one(&first, &h).await;
    let record = h.db.chunk_plan(&job.id).await.unwrap().unwrap();
    assert_eq!(record.done, 2);
    let row = h.job(&job.id).await;
    assert_eq!(row.state, JobState::Converting);
    assert!(
        (row.progress - 2.0 / f64::from(chunks)).abs() < 1e-9,
        "progress is the share of the chunks done: {}",
        row.progress
    );
    let stored_before = h.db.chunks_of(&job.id).await.unwrap();

    // The first converter takes a task and dies with it (kill -9: no ack, no hand-back).
    let _held = h
        .queue
        .receive("video", Duration::from_millis(300))
        .await
        .unwrap()
        .unwrap();
    drop(first);
    tokio::time::sleep(Duration::from_millis(600)).await;

    // Another converter does what is left: the lost chunk, the others, the join.
    let second = converter(&h);
    assert_eq!(second.run_pending_jobs().await, chunks as usize - 2 + 1);
    let done = h.job(&job.id).await;
    assert_eq!(done.state, JobState::Done, "{:?}", done.error_message);
    let audio = audio_of(&h, &job.id).await;
    assert!(
        audio[..] == one_process_reference(&wav, "lecture.wav")[..],
        "the resumed job's audio differs from a clean run"
    );
    let kept = stored_before.iter().filter(|c| c.stored.is_some()).count();
    assert_eq!(
        kept, 2,
        "the chunks stored before the crash were not encoded again"
    );
    assert_eq!(h.mp3_messages().await.len(), 1);
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 0));
    h.cleanup().await;
}

/// Handles the job's own message, which splits it; returns the number of chunks.
async fn plan(converter: &Converter, h: &Harness, job: &mp3converter_core::JobId) -> u32 {
    drive_one(converter, h).await;
    let plan =
        h.db.chunk_plan(job)
            .await
            .unwrap()
            .expect("the job is split");
    assert_eq!(plan.done, 0);
    plan.chunks
}

/// Handles exactly the next visible message of the `video` queue.
async fn drive_one(converter: &Converter, h: &Harness) {
    let delivery = h
        .queue
        .receive("video", support::LEASE)
        .await
        .unwrap()
        .expect("a visible message");
    converter
        .handle(delivery, tokio_util::sync::CancellationToken::new())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_chunk_is_encoded_again_at_the_join() {
    let h = Harness::new().await;
    let wav = music_wav(SECS);
    let job = h.upload_bytes("damaged.wav", wav.clone()).await;
    let converter = converter(&h);
    // Plan and encode every chunk, but hold the join back.
    let chunks = plan(&converter, &h, &job.id).await;
    for _ in 0..chunks {
        drive_one(&converter, &h).await;
    }
    assert_eq!(h.depth("video").await, 1, "the join task");
    // Damage chunk 2's stored frames (same length, one byte flipped).
    let key = format!("chunks/{}/2.mp3", job.id);
    let mut bytes = h
        .storage
        .get(&key)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap()
        .to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x55;
    let body = futures_util::stream::iter([Ok(bytes::Bytes::from(bytes))]);
    h.storage
        .put_stream(&key, Box::pin(body), None)
        .await
        .unwrap();

    // The join finds it, queues the chunk again; its arrival queues a new join.
    assert_eq!(converter.run_pending_jobs().await, 1 + 1 + 1);
    let done = h.job(&job.id).await;
    assert_eq!(done.state, JobState::Done, "{:?}", done.error_message);
    let audio = audio_of(&h, &job.id).await;
    assert!(audio[..] == one_process_reference(&wav, "damaged.wav")[..]);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_that_does_not_fit_the_input_converts_the_job_in_one_piece() {
    let h = Harness::new().await;
    let wav = music_wav(SECS);
    let job = h.upload_bytes("unfit.wav", wav.clone()).await;
    let converter = converter(&h);
    let chunks = plan(&converter, &h, &job.id).await;
    // The plan now names another input, as if it had been made from other bytes: every chunk
    // task refuses it (chunk-mismatch).
    let record = h.db.chunk_plan(&job.id).await.unwrap().unwrap();
    let mut unfit: serde_json::Value = serde_json::from_str(&record.plan).unwrap();
    unfit["input_digest"] = "0".repeat(64).into();
    h.db.delete_chunk_plan(&job.id).await.unwrap();
    let converting = h.job(&job.id).await;
    assert!(
        h.db.plan_chunks_and_enqueue(&converting, &unfit.to_string(), chunks, "elsewhere")
            .await
            .unwrap()
    );

    // The first chunk task gives the plan up and queues the job whole; the other chunk tasks
    // find no plan; the whole task converts it.
    assert_eq!(converter.run_pending_jobs().await, chunks as usize + 1);
    let done = h.job(&job.id).await;
    assert_eq!(done.state, JobState::Done, "{:?}", done.error_message);
    assert_eq!(h.db.chunk_plan(&job.id).await.unwrap(), None);
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 0));
    // One pass with the bit reservoir: not the chunk-parallel bytes, but as long (CBR).
    let audio = audio_of(&h, &job.id).await;
    let reference = one_process_reference(&wav, "unfit.wav");
    assert!(
        audio.len().abs_diff(reference.len()) * 100 < reference.len(),
        "{} vs {} bytes",
        audio.len(),
        reference.len()
    );
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_of_a_deleted_job_end_quietly() {
    let h = Harness::new().await;
    let job = h.upload_bytes("gone.wav", music_wav(SECS)).await;
    let converter = converter(&h);
    let chunks = plan(&converter, &h, &job.id).await;
    drive_one(&converter, &h).await;
    assert!(h.db.delete_job(&job.id).await.unwrap());
    assert_eq!(
        converter.run_pending_jobs().await,
        chunks as usize - 1,
        "the chunk tasks left"
    );
    assert_eq!((h.depth("video").await, h.dead("video").await), (0, 0));
    assert!(take_tasks(&h).await.is_empty());
    // The one stored chunk is the janitor's (see the janitor's chunk sweep test).
    assert_eq!(chunk_blobs(&h).await, 1);
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_jobs_and_splitting_off_convert_in_one_piece() {
    let h = Harness::new().await;
    let short = h.upload_bytes("short.wav", tone_wav(5, 44_100)).await;
    let converter = converter(&h);
    assert_eq!(converter.run_pending_jobs().await, 1);
    assert_eq!(h.job(&short.id).await.state, JobState::Done);
    let long = h.upload_bytes("long.wav", music_wav(SECS)).await;
    let off = Converter::new(
        h.deps(),
        ConverterConfig {
            split_min_secs: 0.0,
            ..splitting(&h)
        },
    );
    assert_eq!(off.run_pending_jobs().await, 1, "converted whole");
    assert_eq!(h.job(&long.id).await.state, JobState::Done);
    assert_eq!(h.db.chunk_plan(&long.id).await.unwrap(), None);
    h.cleanup().await;
}
