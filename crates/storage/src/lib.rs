//! BlobStore port: stores uploaded videos and converted audio as blobs under string keys.
//!
//! Services hold an `Arc<dyn BlobStore>` built by [`build`] from a [`StorageConfig`]; the
//! adapters are local files ([`fs`]) and S3-compatible object storage ([`s3`]), both on the
//! `object_store` crate, and MongoDB GridFS ([`gridfs`]) on the official driver. Every adapter
//! must pass [`conformance::run`].

#![forbid(unsafe_code)]

pub mod config;
#[doc(hidden)]
pub mod conformance;
mod error;
pub mod fs;
pub mod gridfs;
mod key;
mod meter;
mod object;
mod range;
pub mod s3;

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::BoxStream;

pub use config::{StorageBackend, StorageConfig, build};
pub use error::StorageError;
pub use key::MAX_KEY_LEN;
pub use object::ObjectBlobStore;
pub use range::ByteRange;

/// A body to store: chunks of bytes, or the I/O error that ended reading it.
pub type BodyStream<'a> = BoxStream<'a, Result<Bytes, std::io::Error>>;

/// A stored blob's bytes as they are read from the backend.
pub type ByteStream = BoxStream<'static, Result<Bytes, StorageError>>;

/// The blob storage port.
///
/// Contract, checked for every adapter by [`conformance::run`]:
///
/// * **Keys** are relative `/`-separated paths of `[A-Za-z0-9._=-]` segments; anything else
///   (empty, absolute, `..`, control characters, ...) fails with [`StorageError::InvalidKey`]
///   before the backend is touched.
/// * **Writes are atomic.** A put either stores the whole body under the key or leaves nothing
///   behind (no partial object, no temp file), also when the body fails, the size limit is
///   crossed, or the future is dropped. A put on an existing key replaces it; readers see the old
///   or the new blob, never a mix.
/// * **Writes stream.** The body is never held in memory as a whole; memory use is bounded by
///   the adapter's part size times the parts in flight, whatever the body's length.
/// * **Deletes are idempotent**: deleting a missing key succeeds.
/// * Missing keys: `get`/`get_range` fail with [`StorageError::NotFound`], `head` returns `None`.
#[async_trait]
pub trait BlobStore: fmt::Debug + Send + Sync + 'static {
    /// Stores `body` under `key`, hashing and counting it on the way.
    ///
    /// With `max_size`, fails with [`StorageError::TooLarge`] as soon as the body crosses the
    /// limit (the rest is not read). A failing body gives [`StorageError::Body`].
    async fn put_stream(
        &self,
        key: &str,
        body: BodyStream<'_>,
        max_size: Option<u64>,
    ) -> Result<PutResult, StorageError>;

    /// Stores the file at `path` under `key` (e.g. the converter's output), streaming it.
    async fn put_file(&self, key: &str, path: &Path) -> Result<PutResult, StorageError>;

    /// Reads the whole blob.
    async fn get(&self, key: &str) -> Result<Blob, StorageError>;

    /// Reads part of the blob; see [`ByteRange::resolve`] for clamping and
    /// [`StorageError::RangeNotSatisfiable`].
    async fn get_range(&self, key: &str, range: ByteRange) -> Result<Blob, StorageError>;

    /// The blob's metadata, or `None` if no blob is stored under `key`.
    async fn head(&self, key: &str) -> Result<Option<Meta>, StorageError>;

    /// Removes the blob; succeeds if it does not exist.
    async fn delete(&self, key: &str) -> Result<(), StorageError>;

    /// Every blob under `prefix`, compared segment-wise (`"videos"` lists `videos/a`, not
    /// `videos2/a`); `""` lists everything. Order is unspecified.
    fn list(&self, prefix: &str) -> BoxStream<'static, Result<Listed, StorageError>>;

    /// Checks that the backend is reachable and usable, for `/readyz`.
    async fn health_check(&self) -> Result<(), StorageError>;

    /// Removes what puts interrupted by a crash left inside the backend that [`list`] does not
    /// show (GridFS: chunks without a file document), when nothing was added to it since
    /// `idle_since`; returns how many interrupted puts were cleaned up. The janitor calls it
    /// with its sweep's safety delay. Adapters whose interrupted puts leave nothing behind, or
    /// whose backend expires them itself (an S3 lifecycle rule), keep the default.
    ///
    /// [`list`]: BlobStore::list
    async fn sweep_interrupted(&self, idle_since: SystemTime) -> Result<u64, StorageError> {
        let _ = idle_since;
        Ok(0)
    }

    /// The key of the blob the backend itself names `id` (a GridFS ObjectId, as the course's
    /// clients send it), or `None` when the backend has no ids of its own or none matches.
    async fn key_of_id(&self, id: &str) -> Result<Option<String>, StorageError> {
        let _ = id;
        Ok(None)
    }
}

/// What a successful put stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// Bytes stored.
    pub size: u64,
    /// Lower-case hex SHA-256 of the bytes stored.
    pub sha256_hex: String,
}

/// Metadata of a stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    /// Size in bytes.
    pub size: u64,
    /// When the blob was last written.
    pub last_modified: SystemTime,
    /// The backend's entity tag, if it has one (usable as an HTTP `ETag`).
    pub e_tag: Option<String>,
}

/// One entry of [`BlobStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The blob's key.
    pub key: String,
    /// Its metadata.
    pub meta: Meta,
}

/// A blob being read: its metadata, the byte range being returned and the bytes.
pub struct Blob {
    /// Metadata of the whole blob (`meta.size` is the full size, for `Content-Range`).
    pub meta: Meta,
    /// The range of the blob that `body` yields.
    pub range: Range<u64>,
    /// The bytes of `range`.
    pub body: ByteStream,
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Blob")
            .field("meta", &self.meta)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}

impl Blob {
    /// Collects the body into memory. For tests and small blobs only.
    pub async fn bytes(self) -> Result<Bytes, StorageError> {
        use futures_util::TryStreamExt;
        let parts: Vec<Bytes> = self.body.try_collect().await?;
        Ok(parts.concat().into())
    }
}
