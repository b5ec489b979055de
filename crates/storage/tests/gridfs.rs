//! The gridfs adapter against a real MongoDB wire-protocol server when `MP3C_TEST_MONGODB_URL`
//! is set: the conformance suite, the course's layout, interrupted puts and ObjectId lookups.
//!
//! Locally (and in CI) with SecantusDB, a MongoDB-compatible server from PyPI:
//!
//! ```sh
//! python3 -m venv /tmp/secantus && /tmp/secantus/bin/pip install SecantusDB
//! /tmp/secantus/bin/secantusd-py --host 127.0.0.1 --port 27017 --storage-path /tmp/sdb &
//! MP3C_TEST_MONGODB_URL=mongodb://127.0.0.1:27017 cargo test -p mp3converter-storage --test gridfs
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use mongodb::bson::{Document, doc};
use mp3converter_storage::{
    BlobStore, StorageBackend, StorageConfig, StorageError, build, conformance,
};
use secrecy::SecretString;

/// The sweep of interrupted puts looks at every upload in the server's course databases, so
/// the tests of this file run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The test server's URL, or `None` (with a note on stderr) when it is not configured.
fn mongodb_url() -> Option<String> {
    let url = std::env::var("MP3C_TEST_MONGODB_URL").ok();
    if url.is_none() {
        eprintln!(
            "skipping GridFS tests: set MP3C_TEST_MONGODB_URL (e.g. mongodb://127.0.0.1:27017)"
        );
    }
    url
}

fn store(url: &str) -> Arc<dyn BlobStore> {
    build(&StorageConfig {
        backend: StorageBackend::Gridfs,
        url: Some(SecretString::from(url.to_owned())),
        ..StorageConfig::default()
    })
    .unwrap()
}

async fn client(url: &str) -> mongodb::Client {
    mongodb::Client::with_uri_str(url).await.unwrap()
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}/gridfs-test-{nanos}")
}

#[tokio::test]
async fn gridfs_adapter_passes_the_conformance_suite() {
    let Some(url) = mongodb_url() else { return };
    let _serial = SERIAL.lock().await;
    conformance::run(store(&url)).await;
}

#[tokio::test]
async fn videos_and_audio_land_in_the_courses_databases_as_gridfs_files() {
    let Some(url) = mongodb_url() else { return };
    let _serial = SERIAL.lock().await;
    let store = store(&url);
    let video = unique("video");
    let audio = format!("{}.mp3", unique("audio"));
    let data = conformance::pattern(600 * 1024, 7);
    store
        .put_stream(&video, conformance::body(vec![data.clone()]), None)
        .await
        .unwrap();
    store
        .put_stream(&audio, conformance::body(vec![data.clone()]), None)
        .await
        .unwrap();

    // What the course's pymongo code (or mongofiles) sees: an `fs` bucket in `videos` and in
    // `mp3s`, the key as the filename, the bytes in 255 KiB chunks.
    let client = client(&url).await;
    for (database, key) in [("videos", &video), ("mp3s", &audio)] {
        let files = client.database(database).collection::<Document>("fs.files");
        let file = files
            .find_one(doc! { "filename": key.as_str() })
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{key} is not in {database}.fs.files"));
        assert_eq!(
            file.get_i64("length")
                .unwrap_or_else(|_| i64::from(file.get_i32("length").unwrap())),
            data.len() as i64
        );
        let chunks = client
            .database(database)
            .collection::<Document>("fs.chunks")
            .count_documents(doc! { "files_id": file.get("_id").unwrap().clone() })
            .await
            .unwrap();
        assert_eq!(chunks, 3, "600 KiB in 255 KiB chunks");
        // The ObjectId names the same blob, as the course's `fid`.
        let id = file.get_object_id("_id").unwrap().to_hex();
        assert_eq!(
            store.key_of_id(&id).await.unwrap().as_deref(),
            Some(key.as_str())
        );
    }
    assert_eq!(
        store.key_of_id("0123456789abcdef01234567").await.unwrap(),
        None
    );
    assert_eq!(store.key_of_id("not-an-object-id").await.unwrap(), None);
    store.delete(&video).await.unwrap();
    store.delete(&audio).await.unwrap();
}

#[tokio::test]
async fn a_range_read_fetches_only_the_chunks_it_needs_and_checks_them() {
    let Some(url) = mongodb_url() else { return };
    let _serial = SERIAL.lock().await;
    let store = store(&url);
    let key = unique("ranges");
    let data = conformance::pattern(1_000_000, 3);
    store
        .put_stream(&key, conformance::body(vec![data.clone()]), None)
        .await
        .unwrap();
    for (start, end) in [
        (0, 1),
        (261_119, 261_121),
        (522_240, 1_000_000),
        (999_999, 1_000_000),
    ] {
        let blob = store
            .get_range(&key, mp3converter_storage::ByteRange::Bounded(start..end))
            .await
            .unwrap();
        assert_eq!(
            blob.bytes().await.unwrap(),
            data.slice(start as usize..end as usize)
        );
    }

    // A damaged file (a chunk removed behind the store's back) is an error, never short data.
    let client = client(&url).await;
    let database = client.database("mp3converter");
    let file = database
        .collection::<Document>("fs.files")
        .find_one(doc! { "filename": key.as_str() })
        .await
        .unwrap()
        .unwrap();
    database
        .collection::<Document>("fs.chunks")
        .delete_one(doc! { "files_id": file.get("_id").unwrap().clone(), "n": 1 })
        .await
        .unwrap();
    let blob = store.get(&key).await.unwrap();
    let read: Result<Vec<Bytes>, StorageError> = blob.body.try_collect().await;
    let err = read.unwrap_err();
    assert!(err.to_string().contains("storage I/O error"), "{err:?}");
    store.delete(&key).await.unwrap();
}

#[tokio::test]
async fn chunks_of_a_put_interrupted_by_a_crash_are_swept_once_idle() {
    let Some(url) = mongodb_url() else { return };
    let _serial = SERIAL.lock().await;
    let store = store(&url);
    let key = unique("video");
    // A put whose body stalls after 600 KiB, abandoned the way a killed process abandons it:
    // the future is forgotten, so nothing runs the upload stream's clean-up.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tx.send(Ok(conformance::pattern(600 * 1024, 1)))
        .await
        .unwrap();
    let body = tokio_stream_of(rx);
    let put = {
        let store = store.clone();
        let key = key.clone();
        Box::pin(async move { store.put_stream(&key, body, None).await })
    };
    let mut put = Some(put);
    let client = client(&url).await;
    let chunks = client
        .database("videos")
        .collection::<Document>("fs.chunks");
    let files = client.database("videos").collection::<Document>("fs.files");
    // Drive the put until its first chunks are stored.
    let ids = loop {
        tokio::select! {
            _ = put.as_mut().unwrap() => panic!("the put ended with its body still open"),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        let ids: Vec<_> = chunks
            .distinct("files_id", doc! {})
            .await
            .unwrap()
            .into_iter()
            .collect();
        let mut orphan = Vec::new();
        for id in ids {
            if files
                .count_documents(doc! { "_id": id.clone() })
                .await
                .unwrap()
                == 0
            {
                orphan.push(id);
            }
        }
        if !orphan.is_empty() {
            break orphan;
        }
    };
    std::mem::forget(put.take());
    drop(tx);
    assert!(
        store
            .list("video")
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
            .iter()
            .all(|b| b.key != key)
    );

    // Not idle yet: a sweep with a safety delay leaves the chunks alone.
    let in_an_hour = SystemTime::now() - Duration::from_secs(3600);
    store.sweep_interrupted(in_an_hour).await.unwrap();
    for id in &ids {
        assert!(
            chunks
                .count_documents(doc! { "files_id": id.clone() })
                .await
                .unwrap()
                > 0
        );
    }
    // Idle for longer than the delay (as seen a few seconds later): removed.
    let removed = store
        .sweep_interrupted(SystemTime::now() + Duration::from_secs(2))
        .await
        .unwrap();
    assert!(removed >= 1, "{removed}");
    for id in &ids {
        assert_eq!(
            chunks
                .count_documents(doc! { "files_id": id.clone() })
                .await
                .unwrap(),
            0
        );
    }
}

/// A body stream fed from a channel.
fn tokio_stream_of(
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> mp3converter_storage::BodyStream<'static> {
    stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
    .boxed()
}

#[tokio::test]
async fn an_unreachable_server_is_retryable_and_a_malformed_url_is_a_config_error() {
    // A port nobody listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = store(&format!(
        "mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=500"
    ))
    .health_check()
    .await
    .unwrap_err();
    assert!(
        matches!(err, StorageError::Unavailable(_)) && err.is_retryable(),
        "{err:?}"
    );
    let err = store("mongodb://app:pa55word@127.0.0.1:1/?authSource=")
        .health_check()
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Config(_)), "{err:?}");
    assert!(!err.to_string().contains("pa55word"), "{err}");
}
