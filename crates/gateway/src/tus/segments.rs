//! Where an upload's bytes live until it is complete: segments in blob storage under
//! `uploads/<id>/<offset>` (the offset zero-padded to 20 digits; `uploads/<id>/cover` beside
//! them is the upload's cover picture, see [`super::cover`]), so that any gateway can
//! continue the upload and a restart loses nothing that was acknowledged. A PATCH body is spooled
//! to an anonymous temporary file on local disk (never held in memory) and stored as a segment
//! every [`SEGMENT_BYTES`], at the body's end, and when the body breaks off; the upload's offset
//! in the database moves after each stored segment. The completed upload is streamed from its
//! segments into the job's video blob, hashed and size-checked on the way like a form upload.

use std::io::{self, SeekFrom};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use mp3converter_storage::{BlobStore, BodyStream, ByteRange, PutResult, StorageError};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};
use tokio_util::io::ReaderStream;

/// A segment is stored once this many bytes are spooled (and at the body's end): the most a
/// killed gateway can lose of a PATCH in progress.
pub(crate) const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// The storage prefix of upload `id`'s segments.
pub(crate) fn prefix(id: &str) -> String {
    format!("uploads/{id}")
}

fn segment_key(id: &str, offset: u64) -> String {
    format!("uploads/{id}/{offset:020}")
}

/// Bytes moved to and from the spool file per blocking file operation (tokio runs each one on
/// its blocking pool: small ones would cost a thread hop per network chunk).
const IO_CHUNK: usize = 1024 * 1024;

/// The bytes of a PATCH not yet stored, in an anonymous temporary file.
pub(crate) struct Spool {
    file: BufWriter<tokio::fs::File>,
    len: u64,
}

impl Spool {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(Spool {
            file: BufWriter::with_capacity(
                IO_CHUNK,
                tokio::fs::File::from_std(tempfile::tempfile()?),
            ),
            len: 0,
        })
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    pub(crate) async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.write_all(chunk).await?;
        self.len += chunk.len() as u64;
        Ok(())
    }

    /// The first `n` spooled bytes (fewer if fewer are spooled).
    pub(crate) async fn head(&mut self, n: usize) -> io::Result<Vec<u8>> {
        self.file.flush().await?;
        let mut reader = self.file.get_ref().try_clone().await?;
        reader.seek(SeekFrom::Start(0)).await?;
        let mut head = Vec::with_capacity(n);
        (&mut reader).take(n as u64).read_to_end(&mut head).await?;
        // The clone shares the file's offset: put it back where the next write goes.
        reader.seek(SeekFrom::End(0)).await?;
        Ok(head)
    }

    /// Forgets the spooled bytes.
    pub(crate) async fn clear(&mut self) -> io::Result<()> {
        self.file.flush().await?;
        self.file.get_mut().set_len(0).await?;
        self.file.get_mut().seek(SeekFrom::Start(0)).await?;
        self.len = 0;
        Ok(())
    }

    /// Stores the spooled bytes as upload `id`'s segment at `offset` and empties the spool.
    /// A segment left by an earlier attempt at the same offset is replaced.
    pub(crate) async fn store(
        &mut self,
        storage: &dyn BlobStore,
        id: &str,
        offset: u64,
    ) -> Result<u64, StorageError> {
        let len = self.len;
        self.file.flush().await.map_err(StorageError::Body)?;
        let mut reader = self
            .file
            .get_ref()
            .try_clone()
            .await
            .map_err(StorageError::Body)?;
        reader
            .seek(SeekFrom::Start(0))
            .await
            .map_err(StorageError::Body)?;
        let body: BodyStream<'_> = ReaderStream::with_capacity(reader.take(len), IO_CHUNK).boxed();
        let put = storage
            .put_stream(&segment_key(id, offset), body, Some(len))
            .await?;
        if put.size != len {
            return Err(StorageError::Body(io::Error::other(
                "the spooled segment was shorter than written",
            )));
        }
        self.clear().await.map_err(StorageError::Body)?;
        Ok(len)
    }
}

/// The stored segments that make up the first `received` bytes of upload `id`, in order: each
/// starts where the previous ended. Leftovers of interrupted attempts beyond that are ignored,
/// and so is every key under the prefix whose last part is no offset (the upload's cover
/// picture, `uploads/<id>/cover`).
pub(crate) async fn chain(
    storage: &dyn BlobStore,
    id: &str,
    received: u64,
) -> Result<Vec<(String, u64)>, StorageError> {
    let mut found: Vec<(u64, String, u64)> = storage
        .list(&prefix(id))
        .try_filter_map(|listed| async move {
            let offset = listed.key.rsplit('/').next().and_then(parse_offset);
            Ok(offset.map(|o| (o, listed.key, listed.meta.size)))
        })
        .try_collect()
        .await?;
    found.sort_unstable();
    let mut chain = Vec::new();
    let mut at = 0;
    for (offset, key, size) in found {
        if at >= received {
            break;
        }
        if offset == at && size > 0 {
            at += size;
            chain.push((key, size));
        }
    }
    if at != received {
        return Err(StorageError::Body(io::Error::other(format!(
            "upload {id}: the stored segments hold {at} bytes, not {received}"
        ))));
    }
    Ok(chain)
}

/// The offset a segment key ends with: exactly 20 digits (not `cover`, not `+1`).
fn parse_offset(last: &str) -> Option<u64> {
    (last.len() == 20 && last.bytes().all(|b| b.is_ascii_digit()))
        .then(|| last.parse().ok())
        .flatten()
}

/// The first `len` bytes of the upload (for sniffing), read from its first segment.
pub(crate) async fn head(
    storage: &dyn BlobStore,
    chain: &[(String, u64)],
    len: u64,
) -> Result<Bytes, StorageError> {
    let Some((key, _)) = chain.first() else {
        return Ok(Bytes::new());
    };
    storage
        .get_range(key, ByteRange::Bounded(0..len))
        .await?
        .bytes()
        .await
}

/// Streams the segments of `chain` into one blob under `key`, at most `max_size` bytes.
pub(crate) async fn assemble(
    storage: &Arc<dyn BlobStore>,
    chain: Vec<(String, u64)>,
    key: &str,
    max_size: u64,
) -> Result<PutResult, StorageError> {
    let reader = storage.clone();
    let body = stream::iter(chain)
        .then(move |(segment, _)| {
            let storage = reader.clone();
            async move { storage.get(&segment).await.map(|blob| blob.body) }
        })
        .try_flatten()
        .map_err(io::Error::other)
        .boxed();
    storage.put_stream(key, body, Some(max_size)).await
}

/// Removes every segment of upload `id` (also leftovers of interrupted attempts) and its cover
/// picture: everything under its prefix.
pub(crate) async fn remove(storage: &dyn BlobStore, id: &str) -> Result<(), StorageError> {
    let keys: Vec<String> = storage
        .list(&prefix(id))
        .map_ok(|listed| listed.key)
        .try_collect()
        .await?;
    for key in keys {
        storage.delete(&key).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_segment_keys_parse_as_offsets() {
        assert_eq!(parse_offset(&format!("{:020}", 0)), Some(0));
        assert_eq!(parse_offset(&format!("{:020}", 1234)), Some(1234));
        assert_eq!(parse_offset(super::super::cover::COVER_NAME), None);
        assert_eq!(parse_offset("+0000000000000000001"), None);
        assert_eq!(parse_offset("12"), None);
        assert_eq!(
            segment_key("a", 7)
                .rsplit('/')
                .next()
                .and_then(parse_offset),
            Some(7)
        );
    }
}
