//! The conformance suite every [`BlobStore`] adapter must pass; run by this crate's tests
//! against each adapter (and by CI against a real S3 server).
//!
//! Each check works under its own random prefix, so the suite can share a bucket with other
//! runs, and deletes what it wrote. Failures panic with the name of the broken rule.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use crate::{BlobStore, BodyStream, ByteRange, StorageError};

mod listing;

/// Runs every check against `store`.
pub async fn run(store: Arc<dyn BlobStore>) {
    let store = &*store;
    let p = unique_prefix();
    store
        .health_check()
        .await
        .expect("health_check of a working store");
    round_trip_returns_the_same_bytes_and_metadata(store, &p).await;
    empty_blob_round_trips(store, &p).await;
    sha256_and_size_match_the_body(store, &p).await;
    multi_part_body_round_trips(store, &p).await;
    range_reads_return_the_requested_bytes(store, &p).await;
    size_limit_aborts_and_leaves_nothing(store, &p).await;
    size_limit_on_existing_key_keeps_the_old_blob(store, &p).await;
    failing_body_leaves_nothing(store, &p).await;
    put_overwrites_existing_blob(store, &p).await;
    put_file_stores_the_file(store, &p).await;
    missing_blobs_are_none_or_not_found(store, &p).await;
    delete_is_idempotent(store, &p).await;
    invalid_keys_are_refused(store).await;
    concurrent_puts_of_different_keys_all_land(store, &p).await;
    list_returns_blobs_under_the_prefix_only(store, &p).await;
    listing::list_reports_each_blobs_size_and_age(store, &p).await;
    listing::put_in_progress_is_never_listed(store, &p).await;
    cleanup(store, &p).await;
}

fn unique_prefix() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("conformance/{nanos}-{}", std::process::id())
}

/// A body of `chunks` pieces, each yielded when polled (never materialised as a whole).
pub fn body(chunks: Vec<Bytes>) -> BodyStream<'static> {
    stream::iter(chunks.into_iter().map(Ok)).boxed()
}

/// Deterministic test data.
pub fn pattern(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i % 251) as u8 ^ seed)
        .collect::<Vec<u8>>()
        .into()
}

fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn read_all(store: &dyn BlobStore, key: &str) -> Bytes {
    let blob = store
        .get(key)
        .await
        .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
    blob.bytes().await.expect("reading the body")
}

async fn put(store: &dyn BlobStore, key: &str, data: &Bytes) {
    store
        .put_stream(key, body(vec![data.clone()]), None)
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

async fn assert_absent(store: &dyn BlobStore, prefix: &str, key: &str, rule: &str) {
    assert_eq!(
        store.head(key).await.unwrap(),
        None,
        "{rule}: head finds {key}"
    );
    let listed: Vec<_> = store.list(prefix).try_collect().await.unwrap();
    assert!(
        listed.iter().all(|l| l.key != key),
        "{rule}: list shows {key}: {listed:?}"
    );
}

async fn round_trip_returns_the_same_bytes_and_metadata(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/round-trip.bin");
    let data = pattern(100_000, 1);
    let chunks = data.chunks(7_000).map(Bytes::copy_from_slice).collect();
    let before = SystemTime::now() - std::time::Duration::from_secs(120);
    let put = store.put_stream(&key, body(chunks), None).await.unwrap();
    assert_eq!(put.size, 100_000, "round trip: reported size");
    let blob = store.get(&key).await.unwrap();
    assert_eq!(blob.meta.size, 100_000, "round trip: meta size");
    assert_eq!(blob.range, 0..100_000, "round trip: full range");
    assert!(
        blob.meta.last_modified > before,
        "round trip: last_modified is recent"
    );
    assert_eq!(blob.bytes().await.unwrap(), data, "round trip: bytes");
    let head = store.head(&key).await.unwrap().expect("round trip: head");
    assert_eq!(head.size, 100_000, "round trip: head size");
}

async fn empty_blob_round_trips(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/empty");
    let put = store.put_stream(&key, body(vec![]), None).await.unwrap();
    assert_eq!(put.size, 0, "empty blob: size");
    assert_eq!(put.sha256_hex, sha256_hex(b""), "empty blob: sha256");
    assert_eq!(read_all(store, &key).await.len(), 0, "empty blob: bytes");
    assert!(
        matches!(
            store.get_range(&key, ByteRange::From(0)).await,
            Err(StorageError::RangeNotSatisfiable { size: 0 })
        ),
        "empty blob: every range is unsatisfiable"
    );
}

async fn sha256_and_size_match_the_body(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/abc");
    let chunks = vec![
        Bytes::from_static(b"a"),
        Bytes::new(),
        Bytes::from_static(b"bc"),
    ];
    let put = store.put_stream(&key, body(chunks), None).await.unwrap();
    assert_eq!(put.size, 3, "sha256: size");
    assert_eq!(
        put.sha256_hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha256: the known digest of \"abc\""
    );
}

async fn multi_part_body_round_trips(store: &dyn BlobStore, p: &str) {
    // Larger than two S3 parts, so the multipart path really uploads several parts.
    let key = format!("{p}/multi-part.bin");
    let chunk = pattern(1024 * 1024, 7);
    let chunks: Vec<Bytes> = (0..17).map(|_| chunk.clone()).collect();
    let whole: Vec<u8> = chunks.concat();
    let put = store.put_stream(&key, body(chunks), None).await.unwrap();
    assert_eq!(put.size, whole.len() as u64, "multi-part: size");
    assert_eq!(put.sha256_hex, sha256_hex(&whole), "multi-part: sha256");
    assert_eq!(read_all(store, &key).await, whole, "multi-part: bytes");
    let boundary = 8 * 1024 * 1024;
    let blob = store
        .get_range(&key, ByteRange::Bounded(boundary - 5..boundary + 5))
        .await
        .unwrap();
    assert_eq!(
        blob.bytes().await.unwrap(),
        whole[boundary as usize - 5..boundary as usize + 5],
        "multi-part: range across a part boundary"
    );
}

async fn range_reads_return_the_requested_bytes(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/range.bin");
    let data = pattern(1000, 3);
    put(store, &key, &data).await;
    let cases = [
        ("start", ByteRange::Bounded(0..10), 0..10),
        ("middle", ByteRange::Bounded(400..600), 400..600),
        ("end", ByteRange::Bounded(990..1000), 990..1000),
        ("end clamped", ByteRange::Bounded(990..5000), 990..1000),
        ("from offset", ByteRange::From(750), 750..1000),
        ("suffix", ByteRange::Last(10), 990..1000),
        ("suffix longer than blob", ByteRange::Last(5000), 0..1000),
    ];
    for (name, range, expected) in cases {
        let blob = store.get_range(&key, range).await.unwrap();
        assert_eq!(blob.range, expected, "range {name}: reported range");
        assert_eq!(blob.meta.size, 1000, "range {name}: full size in meta");
        let (s, e) = (expected.start as usize, expected.end as usize);
        assert_eq!(
            blob.bytes().await.unwrap(),
            data[s..e],
            "range {name}: bytes"
        );
    }
    for range in [ByteRange::From(1000), ByteRange::Bounded(1000..1010)] {
        assert!(
            matches!(
                store.get_range(&key, range.clone()).await,
                Err(StorageError::RangeNotSatisfiable { size: 1000 })
            ),
            "range beyond the end ({range:?}) must be RangeNotSatisfiable"
        );
    }
    assert!(
        matches!(
            store
                .get_range(&format!("{p}/missing"), ByteRange::From(0))
                .await,
            Err(StorageError::NotFound { .. })
        ),
        "range of a missing blob must be NotFound"
    );
}

async fn size_limit_aborts_and_leaves_nothing(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/too-large.bin");
    let pulled = Arc::new(AtomicUsize::new(0));
    let counter = pulled.clone();
    let chunks = stream::iter(0..100)
        .map(move |_| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(pattern(1024, 5))
        })
        .boxed();
    let result = store.put_stream(&key, chunks, Some(10 * 1024)).await;
    assert!(
        matches!(result, Err(StorageError::TooLarge { limit: 10_240 })),
        "size limit: expected TooLarge, got {result:?}"
    );
    assert_eq!(
        pulled.load(Ordering::SeqCst),
        11,
        "size limit: the body must stop being read at the chunk that crosses the limit"
    );
    assert_absent(store, p, &key, "size limit").await;

    let exact = format!("{p}/exactly-at-limit.bin");
    let put = store
        .put_stream(&exact, body(vec![pattern(1024, 1)]), Some(1024))
        .await;
    assert!(
        put.is_ok(),
        "size limit: a body exactly at the limit is stored: {put:?}"
    );
}

async fn size_limit_on_existing_key_keeps_the_old_blob(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/keep-old.bin");
    let old = pattern(100, 9);
    put(store, &key, &old).await;
    let result = store
        .put_stream(&key, body(vec![pattern(200, 1)]), Some(150))
        .await;
    assert!(
        matches!(result, Err(StorageError::TooLarge { .. })),
        "{result:?}"
    );
    assert_eq!(
        read_all(store, &key).await,
        old,
        "a failed put must leave the previous blob untouched"
    );
}

async fn failing_body_leaves_nothing(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/failing-body.bin");
    let chunks = stream::iter(vec![
        Ok(pattern(4096, 2)),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "client went away",
        )),
    ])
    .boxed();
    let result = store.put_stream(&key, chunks, None).await;
    assert!(
        matches!(&result, Err(e @ StorageError::Body(_)) if e.is_permanent()),
        "failing body: expected a permanent Body error, got {result:?}"
    );
    assert_absent(store, p, &key, "failing body").await;
}

async fn put_overwrites_existing_blob(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/overwrite.bin");
    put(store, &key, &pattern(500, 1)).await;
    let new = pattern(300, 2);
    put(store, &key, &new).await;
    assert_eq!(read_all(store, &key).await, new, "overwrite: new bytes");
    assert_eq!(
        store.head(&key).await.unwrap().unwrap().size,
        300,
        "overwrite: new size"
    );
}

async fn put_file_stores_the_file(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/from-file.mp3");
    let data = pattern(700_000, 4);
    let dir = std::env::temp_dir().join(format!(
        "mp3c-conformance-{}",
        unique_prefix().replace('/', "-")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("out.mp3");
    std::fs::write(&path, &data).unwrap();
    let put = store.put_file(&key, &path).await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(put.size, 700_000, "put_file: size");
    assert_eq!(put.sha256_hex, sha256_hex(&data), "put_file: sha256");
    assert_eq!(read_all(store, &key).await, data, "put_file: bytes");
    let missing = store.put_file(&key, &dir.join("nope")).await;
    assert!(
        matches!(missing, Err(StorageError::Io(_))),
        "put_file of a missing file: {missing:?}"
    );
}

async fn missing_blobs_are_none_or_not_found(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/never-written");
    assert_eq!(
        store.head(&key).await.unwrap(),
        None,
        "head of missing is None"
    );
    let got = store.get(&key).await;
    assert!(
        matches!(&got, Err(e @ StorageError::NotFound { .. }) if e.is_permanent()),
        "get of missing must be a permanent NotFound, got {got:?}"
    );
}

async fn delete_is_idempotent(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/deleted.bin");
    put(store, &key, &pattern(10, 0)).await;
    store.delete(&key).await.expect("delete existing");
    assert_eq!(
        store.head(&key).await.unwrap(),
        None,
        "deleted blob is gone"
    );
    store.delete(&key).await.expect("second delete succeeds");
    store
        .delete(&format!("{p}/never/existed"))
        .await
        .expect("delete of a never-written key succeeds");
}

async fn invalid_keys_are_refused(store: &dyn BlobStore) {
    for key in [
        "",
        "/abs",
        "../escape",
        "a/../../b",
        "a//b",
        "ctl\u{7}",
        "new\nline",
        "back\\slash",
    ] {
        let refused =
            |r: &Result<_, StorageError>| matches!(r, Err(StorageError::InvalidKey { .. }));
        let put = store
            .put_stream(key, body(vec![Bytes::from_static(b"x")]), None)
            .await;
        assert!(
            refused(&put.map(|_| ())),
            "put with key {key:?} must be refused"
        );
        assert!(refused(&store.get(key).await.map(|_| ())), "get {key:?}");
        assert!(refused(&store.head(key).await.map(|_| ())), "head {key:?}");
        assert!(refused(&store.delete(key).await), "delete {key:?}");
        assert!(
            refused(&store.get_range(key, ByteRange::From(0)).await.map(|_| ())),
            "get_range {key:?}"
        );
    }
    let listed: Result<Vec<_>, _> = store.list("../x").try_collect().await;
    assert!(
        matches!(listed, Err(StorageError::InvalidKey { .. })),
        "list with a bad prefix"
    );
}

async fn concurrent_puts_of_different_keys_all_land(store: &dyn BlobStore, p: &str) {
    let puts = (0..8u8).map(|i| async move {
        let key = format!("{p}/concurrent/{i}");
        let data = pattern(50_000 + usize::from(i), i);
        let chunks = data.chunks(4096).map(Bytes::copy_from_slice).collect();
        let put = store.put_stream(&key, body(chunks), None).await.unwrap();
        (key, data, put)
    });
    for (key, data, put) in futures_util::future::join_all(puts).await {
        assert_eq!(
            put.sha256_hex,
            sha256_hex(&data),
            "concurrent: sha256 of {key}"
        );
        assert_eq!(
            read_all(store, &key).await,
            data,
            "concurrent: bytes of {key}"
        );
    }
}

async fn list_returns_blobs_under_the_prefix_only(store: &dyn BlobStore, p: &str) {
    put(store, &format!("{p}/listing/a"), &pattern(1, 0)).await;
    put(store, &format!("{p}/listing/sub/b"), &pattern(2, 0)).await;
    put(store, &format!("{p}/listing2/c"), &pattern(3, 0)).await;
    let mut listed: Vec<_> = store
        .list(&format!("{p}/listing"))
        .map_ok(|l| (l.key, l.meta.size))
        .try_collect()
        .await
        .unwrap();
    listed.sort();
    assert_eq!(
        listed,
        vec![
            (format!("{p}/listing/a"), 1),
            (format!("{p}/listing/sub/b"), 2)
        ],
        "list: segment-wise prefix"
    );
}

async fn cleanup(store: &dyn BlobStore, p: &str) {
    let keys: Vec<String> = store.list(p).map_ok(|l| l.key).try_collect().await.unwrap();
    for key in &keys {
        store.delete(key).await.unwrap();
    }
    let left: Vec<_> = store.list(p).try_collect().await.unwrap();
    assert!(left.is_empty(), "cleanup left {left:?}");
}
