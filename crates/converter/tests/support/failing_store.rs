//! Test `BlobStore`s: one whose reads fail as "unavailable" a given number of times, one whose
//! reads wait until the test opens a gate.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use mp3converter_storage::{
    Blob, BlobStore, BodyStream, ByteRange, Listed, Meta, PutResult, StorageError,
};
use tokio::sync::Semaphore;

/// Wraps a store; `get` waits for the gate (if any), then fails while failures are left.
#[derive(Debug)]
pub struct FailingStore {
    inner: Arc<dyn BlobStore>,
    failures_left: AtomicU32,
    pub gets: AtomicU32,
    gate: Option<Arc<Semaphore>>,
}

impl FailingStore {
    pub fn new(inner: Arc<dyn BlobStore>, failures: u32) -> Arc<FailingStore> {
        Arc::new(FailingStore {
            inner,
            failures_left: AtomicU32::new(failures),
            gets: AtomicU32::new(0),
            gate: None,
        })
    }

    /// A store whose `get` waits until `gate` gets a permit.
    pub fn gated(inner: Arc<dyn BlobStore>, gate: Arc<Semaphore>) -> Arc<FailingStore> {
        Arc::new(FailingStore {
            inner,
            failures_left: AtomicU32::new(0),
            gets: AtomicU32::new(0),
            gate: Some(gate),
        })
    }

    fn fail(&self) -> bool {
        self.failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

#[async_trait]
impl BlobStore for FailingStore {
    async fn put_stream(
        &self,
        key: &str,
        body: BodyStream<'_>,
        max_size: Option<u64>,
    ) -> Result<PutResult, StorageError> {
        self.inner.put_stream(key, body, max_size).await
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<PutResult, StorageError> {
        self.inner.put_file(key, path).await
    }

    async fn get(&self, key: &str) -> Result<Blob, StorageError> {
        self.gets.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.unwrap().forget();
        }
        if self.fail() {
            return Err(StorageError::Unavailable(
                "connection refused (test)".into(),
            ));
        }
        self.inner.get(key).await
    }

    async fn get_range(&self, key: &str, range: ByteRange) -> Result<Blob, StorageError> {
        self.inner.get_range(key, range).await
    }

    async fn head(&self, key: &str) -> Result<Option<Meta>, StorageError> {
        self.inner.head(key).await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.inner.delete(key).await
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, Result<Listed, StorageError>> {
        self.inner.list(prefix)
    }

    async fn health_check(&self) -> Result<(), StorageError> {
        self.inner.health_check().await
    }
}
