//! The `BlobStore` implementation shared by every adapter, on top of an `object_store` backend.
//!
//! Adapters ([`fs`](crate::fs), [`s3`](crate::s3)) only build the backend and choose part
//! sizes; streaming, hashing, limits, atomicity and error mapping live here once.

use std::fmt;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{
    GetOptions, GetRange, GetResultPayload, ObjectMeta, ObjectStore, ObjectStoreExt, WriteMultipart,
};
use tokio::io::AsyncReadExt;

use crate::meter::Meter;
use crate::{
    BlobStore, BodyStream, ByteRange, ByteStream, Listed, Meta, PutResult, StorageError, key,
};

/// Size of the chunks read from local files (`put_file` and fs `get`).
const READ_CHUNK: usize = 256 * 1024;

/// A [`BlobStore`] over any `object_store` backend. Built by [`crate::fs::open`],
/// [`crate::s3::open`] or [`crate::build`].
pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    /// Where the blobs live, for logs and `Debug` (never contains secrets).
    location: String,
    /// The local root directory, checked by `health_check` (fs adapter only).
    local_root: Option<PathBuf>,
    /// Bytes per multipart part; with `parts_in_flight` this bounds a put's memory.
    part_size: usize,
    /// Parts uploaded concurrently before the body stops being read (back-pressure).
    parts_in_flight: usize,
}

impl ObjectBlobStore {
    pub(crate) fn new(
        store: Arc<dyn ObjectStore>,
        location: String,
        local_root: Option<PathBuf>,
        part_size: usize,
        parts_in_flight: usize,
    ) -> Self {
        Self {
            store,
            location,
            local_root,
            part_size,
            parts_in_flight: parts_in_flight.max(1),
        }
    }

    /// The most body bytes a put holds in memory at once: the parts being uploaded plus the
    /// part being filled. Independent of the body's length.
    pub fn max_buffered_bytes(&self) -> usize {
        self.part_size * (self.parts_in_flight + 1)
    }

    async fn read(&self, key: &str, range: Option<ByteRange>) -> Result<crate::Blob, StorageError> {
        let path = key::to_path(key)?;
        let mut options = GetOptions::default();
        if let Some(range) = range {
            // Resolve against the real size first so every backend answers out-of-range
            // requests the same way; `if_match` makes sure the range and the bytes belong to
            // the same version of the blob.
            let meta = self
                .head(key)
                .await?
                .ok_or_else(|| StorageError::NotFound {
                    key: key.to_owned(),
                })?;
            options.range = Some(GetRange::Bounded(range.resolve(meta.size)?));
            options.if_match = meta.e_tag;
        }
        let result = self
            .store
            .get_opts(&path, options)
            .await
            .map_err(|e| StorageError::from_object_store(key, e))?;
        let meta = to_meta(&result.meta);
        let range = result.range.clone();
        let body = match result.payload {
            GetResultPayload::File(file, _) => file_range_stream(file, range.clone()),
            GetResultPayload::Stream(stream) => {
                let key = key.to_owned();
                stream
                    .map_err(move |e| StorageError::from_object_store(&key, e))
                    .boxed()
            }
        };
        Ok(crate::Blob { meta, range, body })
    }
}

impl fmt::Debug for ObjectBlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectBlobStore")
            .field("location", &self.location)
            .field("part_size", &self.part_size)
            .field("parts_in_flight", &self.parts_in_flight)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn put_stream(
        &self,
        key: &str,
        mut body: BodyStream<'_>,
        max_size: Option<u64>,
    ) -> Result<PutResult, StorageError> {
        let path = key::to_path(key)?;
        let map = |e| match e {
            // Nothing is read here: "not found" while writing means the bucket is missing.
            object_store::Error::NotFound { source, .. } => missing_root(&self.location, source),
            e => StorageError::from_object_store(key, e),
        };
        let upload = self.store.put_multipart(&path).await.map_err(map)?;
        let mut guard = AbortOnDrop(Some(WriteMultipart::new_with_chunk_size(
            upload,
            self.part_size,
        )));
        let mut meter = Meter::new(max_size);

        let copied: Result<(), StorageError> = async {
            let Some(writer) = guard.0.as_mut() else {
                unreachable!("the writer is only taken after the copy loop")
            };
            while let Some(chunk) = body.next().await {
                let chunk = meter.take(chunk)?;
                // Back-pressure: stop reading the body while enough parts are in flight.
                writer
                    .wait_for_capacity(self.parts_in_flight)
                    .await
                    .map_err(map)?;
                writer.put(chunk);
            }
            Ok(())
        }
        .await;

        let Some(writer) = guard.0.take() else {
            unreachable!("the writer is taken exactly once")
        };
        match copied {
            Ok(()) => {
                // `finish` aborts the upload itself when completing fails.
                writer.finish().await.map_err(map)?;
                Ok(meter.finish())
            }
            Err(error) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(key, error = %abort, "aborting a failed upload failed");
                }
                Err(error)
            }
        }
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<PutResult, StorageError> {
        put_local_file(self, key, path).await
    }

    async fn get(&self, key: &str) -> Result<crate::Blob, StorageError> {
        self.read(key, None).await
    }

    async fn get_range(&self, key: &str, range: ByteRange) -> Result<crate::Blob, StorageError> {
        self.read(key, Some(range)).await
    }

    async fn head(&self, key: &str) -> Result<Option<Meta>, StorageError> {
        let path = key::to_path(key)?;
        match self.store.head(&path).await {
            Ok(meta) => Ok(Some(to_meta(&meta))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(StorageError::from_object_store(key, e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = key::to_path(key)?;
        match self.store.delete(&path).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_object_store(key, e)),
        }
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, Result<Listed, StorageError>> {
        let prefix_path = match key::prefix_to_path(prefix) {
            Ok(p) => p,
            Err(e) => return stream::once(async { Err(e) }).boxed(),
        };
        let prefix = prefix.to_owned();
        self.store
            .list(prefix_path.as_ref())
            .map(move |item| match item {
                Ok(meta) => Ok(Listed {
                    key: meta.location.to_string(),
                    meta: to_meta(&meta),
                }),
                Err(e) => Err(StorageError::from_object_store(&prefix, e)),
            })
            .boxed()
    }

    async fn health_check(&self) -> Result<(), StorageError> {
        if let Some(root) = &self.local_root
            && !tokio::fs::metadata(root).await?.is_dir()
        {
            return Err(StorageError::Io(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("storage root {} is not a directory", root.display()),
            )));
        }
        // HEAD of a key that need not exist classifies credential problems (403/401) as
        // permanent; listing an (empty) prefix then proves the bucket itself exists.
        let probe = ObjectPath::from("mp3converter-health-probe");
        match self.store.head(&probe).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(StorageError::from_object_store(&self.location, e)),
        }
        match self.store.list_with_delimiter(Some(&probe)).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::NotFound { source, .. }) => {
                Err(missing_root(&self.location, source))
            }
            Err(e) if crate::error::http_status(&e) == Some(404) => {
                Err(missing_root(&self.location, Box::new(e)))
            }
            Err(e) => Err(StorageError::from_object_store(&self.location, e)),
        }
    }
}

/// Aborts a multipart upload that was neither finished nor aborted, e.g. because the future
/// running `put_stream` was dropped when a client disconnected.
struct AbortOnDrop(Option<WriteMultipart>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(writer) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(async move {
                if let Err(error) = writer.abort().await {
                    tracing::warn!(%error, "aborting a cancelled upload failed");
                }
            });
        }
    }
}

fn missing_root(
    location: &str,
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
) -> StorageError {
    StorageError::Refused(
        format!("{location}: bucket or storage root does not exist: {source}").into(),
    )
}

fn to_meta(meta: &ObjectMeta) -> Meta {
    Meta {
        size: meta.size,
        last_modified: meta.last_modified.into(),
        e_tag: meta.e_tag.clone(),
    }
}

/// `put_file` through `put_stream`, for every adapter.
pub(crate) async fn put_local_file(
    store: &dyn BlobStore,
    key: &str,
    path: &Path,
) -> Result<PutResult, StorageError> {
    key::to_path(key)?;
    let file = tokio::fs::File::open(path).await?;
    store
        .put_stream(key, file_body(file), None)
        .await
        .map_err(|e| match e {
            // Reading our own file failed: that is local I/O, not a bad client body.
            StorageError::Body(e) => StorageError::Io(e),
            e => e,
        })
}

/// Streams a local file in `READ_CHUNK` pieces.
fn file_body(file: tokio::fs::File) -> BodyStream<'static> {
    stream::try_unfold(file, |mut file| async move {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        let n = file.read_buf(&mut buf).await?;
        Ok(if n == 0 {
            None
        } else {
            Some((buf.freeze(), file))
        })
    })
    .boxed()
}

/// Streams `range` of a local file with large reads on the blocking pool (`object_store`'s own
/// file stream reads 8 KiB at a time, too slow for the download budget).
fn file_range_stream(file: std::fs::File, range: Range<u64>) -> ByteStream {
    let first = range.start;
    stream::try_unfold(
        (file, Some(first), range.end - range.start),
        |(mut file, seek_to, remaining)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = remaining.min(READ_CHUNK as u64);
            tokio::task::spawn_blocking(move || {
                if let Some(offset) = seek_to {
                    file.seek(SeekFrom::Start(offset))?;
                }
                let mut buf = Vec::with_capacity(want as usize);
                (&mut file).take(want).read_to_end(&mut buf)?;
                if buf.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "blob file ended before its recorded size",
                    ));
                }
                let left = remaining - buf.len() as u64;
                Ok(Some((Bytes::from(buf), (file, None, left))))
            })
            .await
            .map_err(io::Error::other)?
            .map_err(StorageError::Io)
        },
    )
    .boxed()
}
