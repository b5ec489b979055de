//! The fs adapter: the conformance suite, plus what only a local disk can show
//! (no stray files after failures, bounded memory while streaming large bodies).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use mp3converter_storage::{BlobStore, StorageConfig, StorageError, build, conformance, fs};
use sha2::{Digest, Sha256};

const MIB: usize = 1024 * 1024;

/// Every regular file under `dir`, recursively (staging files included).
fn files_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path.display().to_string());
        }
    }
    found
}

#[tokio::test]
async fn fs_adapter_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let config = StorageConfig {
        path: dir.path().join("blobs"),
        ..StorageConfig::default()
    };
    conformance::run(build(&config).unwrap()).await;
    assert_eq!(files_under(&dir.path().join("blobs")), Vec::<String>::new());
}

#[tokio::test]
async fn failed_puts_leave_no_file_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = fs::open(dir.path()).unwrap();
    let too_large = stream::iter((0..10).map(|_| Ok(Bytes::from(vec![1u8; 1000])))).boxed();
    let result = store.put_stream("videos/big", too_large, Some(5000)).await;
    assert!(matches!(
        result,
        Err(StorageError::TooLarge { limit: 5000 })
    ));
    let failing = stream::iter(vec![
        Ok(Bytes::from(vec![1u8; 3 * MIB])),
        Err(std::io::Error::other("boom")),
    ])
    .boxed();
    assert!(
        store
            .put_stream("videos/broken", failing, None)
            .await
            .is_err()
    );
    assert_eq!(files_under(dir.path()), Vec::<String>::new());
}

#[tokio::test]
async fn cancelled_put_leaves_no_file_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(fs::open(dir.path()).unwrap());
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    // Three parts' worth of data, then a body that never ends (a client that stalls).
    let body = stream::iter((0..3).map(|_| Ok(Bytes::from(vec![7u8; MIB]))))
        .chain(stream::once(async move {
            let _ = started_tx.send(());
            std::future::pending::<std::io::Result<Bytes>>().await
        }))
        .boxed();
    let task = {
        let store = store.clone();
        tokio::spawn(async move { store.put_stream("videos/stalled", body, None).await })
    };
    started_rx.await.unwrap();
    assert!(
        !files_under(dir.path()).is_empty(),
        "the upload was staged on disk"
    );
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    // Clean-up of a dropped upload runs on the blocking pool; give it a bounded moment.
    for _ in 0..200 {
        if files_under(dir.path()).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(files_under(dir.path()), Vec::<String>::new());
    assert_eq!(store.head("videos/stalled").await.unwrap(), None);
}

/// Bytes handed out by the test body that are still alive somewhere (queued, being written).
#[derive(Default)]
struct Liveness {
    live: AtomicUsize,
    peak: AtomicUsize,
}

struct TrackedChunk {
    data: Vec<u8>,
    liveness: Arc<Liveness>,
}

impl AsRef<[u8]> for TrackedChunk {
    fn as_ref(&self) -> &[u8] {
        &self.data
    }
}

impl Drop for TrackedChunk {
    fn drop(&mut self) {
        self.liveness
            .live
            .fetch_sub(self.data.len(), Ordering::SeqCst);
    }
}

fn tracked(data: Vec<u8>, liveness: &Arc<Liveness>) -> Bytes {
    let now = liveness.live.fetch_add(data.len(), Ordering::SeqCst) + data.len();
    liveness.peak.fetch_max(now, Ordering::SeqCst);
    Bytes::from_owner(TrackedChunk {
        data,
        liveness: liveness.clone(),
    })
}

#[tokio::test]
async fn streaming_64_mib_holds_only_a_few_parts_in_memory() {
    const TOTAL: usize = 64 * MIB;
    const CHUNK: usize = 256 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let store = fs::open(dir.path()).unwrap();
    let liveness = Arc::new(Liveness::default());

    // Each chunk is generated when the store polls for it; the whole body never exists at once.
    let mut expected = Sha256::new();
    for i in 0..TOTAL / CHUNK {
        expected.update(vec![i as u8; CHUNK]);
    }
    let body = {
        let liveness = liveness.clone();
        stream::iter(0..TOTAL / CHUNK)
            .map(move |i| Ok(tracked(vec![i as u8; CHUNK], &liveness)))
            .boxed()
    };

    let put = store.put_stream("videos/large", body, None).await.unwrap();

    assert_eq!(put.size, TOTAL as u64);
    let expected_hex: String = expected
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(put.sha256_hex, expected_hex);
    let peak = liveness.peak.load(Ordering::SeqCst);
    let bound = store.max_buffered_bytes() + CHUNK;
    assert!(
        peak <= bound,
        "peak of {peak} body bytes alive exceeds the design bound of {bound}"
    );
    assert!(
        peak < TOTAL / 8,
        "peak {peak} is a sizeable part of the body"
    );
    assert_eq!(
        liveness.live.load(Ordering::SeqCst),
        0,
        "every chunk was released"
    );

    // Reading it back streams in bounded chunks too.
    let blob = store.get("videos/large").await.unwrap();
    let (count, largest, total) =
        blob.body
            .try_fold(
                (0usize, 0usize, 0usize),
                |(n, max, sum), chunk| async move {
                    Ok((n + 1, max.max(chunk.len()), sum + chunk.len()))
                },
            )
            .await
            .unwrap();
    assert_eq!(total, TOTAL);
    assert!(
        count > 1 && largest <= MIB,
        "{count} chunks, largest {largest}"
    );
}

#[tokio::test]
async fn health_check_fails_when_the_root_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let store = fs::open(&root).unwrap();
    store.health_check().await.unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert!(store.health_check().await.is_err());
}
