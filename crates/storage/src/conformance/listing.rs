//! Conformance checks the retention sweep relies on: a listing carries each blob's age (its
//! `last_modified`), and a put that has not finished is never listed, so the sweep cannot see
//! (let alone delete) an upload in progress.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::future::{Either, select};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::{body, pattern, put};
use crate::{BlobStore, Listed};

/// Clock difference tolerated between this host and the storage server.
const SKEW: Duration = Duration::from_secs(300);

async fn listed(store: &dyn BlobStore, prefix: &str) -> Vec<Listed> {
    store.list(prefix).try_collect().await.expect("list")
}

/// Every listed blob has its size and a `last_modified` at the time it was written.
pub(super) async fn list_reports_each_blobs_size_and_age(store: &dyn BlobStore, p: &str) {
    let before = SystemTime::now() - SKEW;
    put(store, &format!("{p}/aged/one"), &pattern(10, 1)).await;
    put(store, &format!("{p}/aged/two"), &pattern(20, 2)).await;
    let after = SystemTime::now() + SKEW;
    let mut entries = listed(store, &format!("{p}/aged")).await;
    entries.sort_by(|a, b| a.key.cmp(&b.key));
    assert_eq!(entries.len(), 2, "list with age: {entries:?}");
    for (entry, size) in entries.iter().zip([10, 20]) {
        assert_eq!(
            entry.meta.size, size,
            "list with age: size of {}",
            entry.key
        );
        let at = entry.meta.last_modified;
        assert!(
            before <= at && at <= after,
            "list with age: last_modified of {} is not when it was written: {at:?}",
            entry.key
        );
        // S3 answers HEAD with an HTTP date (whole seconds) but lists with milliseconds.
        let head = store
            .head(&entry.key)
            .await
            .unwrap()
            .expect("head")
            .last_modified;
        let apart = head
            .duration_since(at)
            .or_else(|_| at.duration_since(head))
            .unwrap();
        assert!(
            apart < Duration::from_secs(1),
            "list and head agree on the age to the second: {at:?} vs {head:?}"
        );
    }
}

/// While a put is still receiving its body (several parts already sent), its key is not
/// listed and `head` does not find it.
pub(super) async fn put_in_progress_is_never_listed(store: &dyn BlobStore, p: &str) {
    let key = format!("{p}/in-progress/video");
    // More than a few parts of any adapter, then a body that never ends.
    let chunks: Vec<Bytes> = (0..24).map(|i| pattern(512 * 1024, i)).collect();
    let endless = body(chunks).chain(stream::pending()).boxed();
    let upload = std::pin::pin!(store.put_stream(&key, endless, None));
    let watch = std::pin::pin!(async {
        for _ in 0..25 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let seen = listed(store, p).await;
            assert!(
                seen.iter().all(|l| l.key != key),
                "put in progress: listed before it finished: {seen:?}"
            );
            assert_eq!(
                store.head(&key).await.unwrap(),
                None,
                "put in progress: head finds it"
            );
        }
    });
    match select(upload, watch).await {
        Either::Left((result, _)) => {
            panic!("put in progress: a put with an endless body ended: {result:?}")
        }
        // Dropping the put aborts it (checked by `failing_body_leaves_nothing` and friends).
        Either::Right(((), _)) => {}
    }
}
