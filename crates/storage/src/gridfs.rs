//! MongoDB GridFS adapter, laid out as the course keeps its files: uploaded videos in the
//! `videos` database and audio in `mp3s`, each in its default `fs` bucket, so the course's tools
//! (and `mongofiles`) see the same layout. Blobs under other prefixes go to the database named in
//! the URL's path (default `mp3converter`).
//!
//! * A blob is a GridFS file whose `filename` is its key. Puts stream through the driver's
//!   upload stream (one chunk buffered); the file document is written when the last chunk is in,
//!   so a put in progress is never seen, and a failed or dropped put removes its chunks (the
//!   driver's abort). A put on an existing key uploads a new revision, then deletes the older
//!   ones; readers always take the newest.
//! * Reads go to the chunks collection by chunk number: the GridFS specification defines no
//!   ranged read, and reading a file's tail through the bucket's download stream would read
//!   every chunk before it. Each chunk's number and size are checked as the driver does.
//! * A process killed in the middle of a put leaves chunks without a file document; the janitor
//!   removes them through [`BlobStore::sweep_interrupted`] once their newest chunk is old.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use futures_util::io::AsyncWriteExt;
use futures_util::stream::{self, BoxStream, StreamExt, TryStreamExt};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{Bson, DateTime, Document, doc};
use mongodb::error::{Error as MongoError, ErrorKind, GridFsErrorKind};
use mongodb::gridfs::{FilesCollectionDocument, GridFsBucket};
use mongodb::options::{ClientOptions, FindOptions};
use mongodb::{Client, Collection, Database};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::OnceCell;

use crate::meter::Meter;
use crate::{
    BlobStore, BodyStream, ByteRange, ByteStream, Listed, Meta, PutResult, StorageError, key,
};

/// The course's database for uploaded videos (keys under `video/`).
pub const VIDEOS_DATABASE: &str = "videos";
/// The course's database for converted audio (keys under `audio/`).
pub const MP3S_DATABASE: &str = "mp3s";
/// The database for every other key when the URL names none.
pub const DEFAULT_DATABASE: &str = "mp3converter";

/// Chunks read per round trip: with 255 KiB chunks a read holds about 2 MiB.
const READ_BATCH: u32 = 8;
/// File ids checked per query by the sweep of interrupted puts.
const SWEEP_BATCH: usize = 500;
/// How long the driver looks for a server before an operation fails (and `/readyz` with it).
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach the MongoDB server. Built from [`StorageConfig`](crate::StorageConfig) by
/// [`build`](crate::build).
#[derive(Debug, Clone)]
pub struct GridFsSettings {
    /// `mongodb://…` or `mongodb+srv://…`, credentials included (redacted in `Debug`).
    pub url: SecretString,
}

/// A [`BlobStore`] on GridFS. Connects on first use; `build` does no I/O.
pub struct GridFsBlobStore {
    /// Host list of the URL, without credentials, for logs and `Debug`.
    location: String,
    /// Shared with the listing streams, which outlive a borrow of the store.
    connection: Arc<Connection>,
}

/// The URL and, once connected, the client.
struct Connection {
    url: SecretString,
    client: OnceCell<Connected>,
}

/// The client and the three buckets, once connected.
struct Connected {
    client: Client,
    other_database: String,
}

/// One database's `fs` bucket and its chunks collection.
struct Bucket {
    bucket: GridFsBucket,
    chunks: Collection<Document>,
}

/// Checks the URL's form and builds a store for it. Does no I/O; use `health_check` to see
/// whether the server is reachable.
pub fn open(settings: &GridFsSettings) -> Result<GridFsBlobStore, StorageError> {
    let raw = settings.url.expose_secret();
    let rest = raw
        .strip_prefix("mongodb://")
        .or_else(|| raw.strip_prefix("mongodb+srv://"))
        .ok_or_else(|| {
            StorageError::Config(
                "storage.url must start with mongodb:// or mongodb+srv:// for gridfs".into(),
            )
        })?;
    // `user:password@host1,host2/db?options` → `host1,host2`.
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let hosts = authority.rsplit('@').next().unwrap_or_default();
    if hosts.is_empty() {
        return Err(StorageError::Config("storage.url names no host".into()));
    }
    Ok(GridFsBlobStore {
        location: format!("gridfs:{hosts}"),
        connection: Arc::new(Connection {
            url: settings.url.clone(),
            client: OnceCell::new(),
        }),
    })
}

impl fmt::Debug for GridFsBlobStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GridFsBlobStore")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Connection {
    async fn connected(&self) -> Result<&Connected, StorageError> {
        let url = self.url.expose_secret();
        // The driver's messages about a malformed URL may quote it.
        let invalid = |e: MongoError| {
            StorageError::Config(format!(
                "storage.url: {}",
                without_password(&e.to_string(), url)
            ))
        };
        self.client
            .get_or_try_init(|| async {
                let mut options = ClientOptions::parse(url).await.map_err(|e| match *e.kind {
                    // A resolvable name may come back; a malformed URL will not.
                    ErrorKind::DnsResolve { .. } => StorageError::Unavailable(Box::new(e)),
                    _ => invalid(e),
                })?;
                options
                    .app_name
                    .get_or_insert_with(|| "mp3converter".into());
                options
                    .server_selection_timeout
                    .get_or_insert(SERVER_SELECTION_TIMEOUT);
                options
                    .connect_timeout
                    .get_or_insert(SERVER_SELECTION_TIMEOUT);
                let other_database = options
                    .default_database
                    .clone()
                    .unwrap_or_else(|| DEFAULT_DATABASE.into());
                let client = Client::with_options(options).map_err(invalid)?;
                Ok(Connected {
                    client,
                    other_database,
                })
            })
            .await
    }
}

impl GridFsBlobStore {
    async fn connected(&self) -> Result<&Connected, StorageError> {
        self.connection.connected().await
    }

    /// The bucket that holds `key` (checked first).
    async fn bucket_for(&self, key: &str) -> Result<Bucket, StorageError> {
        key::to_path(key)?;
        let connected = self.connected().await?;
        Ok(connected.bucket(connected.database_for(key)))
    }

    /// The newest revision of `key`, if any.
    async fn newest(
        &self,
        bucket: &Bucket,
        key: &str,
    ) -> Result<Option<FilesCollectionDocument>, StorageError> {
        bucket
            .bucket
            .find_one(doc! { "filename": key })
            .sort(doc! { "uploadDate": -1, "_id": -1 })
            .await
            .map_err(|e| classify(key, e))
    }

    async fn read(&self, key: &str, range: Option<ByteRange>) -> Result<crate::Blob, StorageError> {
        let bucket = self.bucket_for(key).await?;
        let file = self
            .newest(&bucket, key)
            .await?
            .ok_or_else(|| StorageError::NotFound {
                key: key.to_owned(),
            })?;
        let meta = meta_of(&file);
        let range = match range {
            Some(range) => range.resolve(meta.size)?,
            None => 0..meta.size,
        };
        let body = chunk_stream(bucket.chunks, key.to_owned(), &file, range.clone());
        Ok(crate::Blob { meta, range, body })
    }

    /// Deletes the revisions of `key` older than the file `id` (just stored under it).
    async fn delete_older_revisions(
        &self,
        bucket: &Bucket,
        key: &str,
        id: &Bson,
    ) -> Result<(), StorageError> {
        let mine = bucket
            .bucket
            .find_one(doc! { "_id": id.clone() })
            .await
            .map_err(|e| classify(key, e))?
            .ok_or_else(|| {
                StorageError::Unavailable(format!("{key}: stored file vanished").into())
            })?;
        let older = doc! {
            "filename": key,
            "$or": [
                { "uploadDate": { "$lt": mine.upload_date } },
                { "uploadDate": mine.upload_date, "_id": { "$lt": id.clone() } },
            ],
        };
        delete_matching(bucket, key, older).await
    }
}

impl Connected {
    fn database_for(&self, key: &str) -> &str {
        match key.split('/').next() {
            Some("video") => VIDEOS_DATABASE,
            Some("audio") => MP3S_DATABASE,
            _ => &self.other_database,
        }
    }

    /// The databases whose keys can start with `prefix` (`""`: all three).
    fn databases_for(&self, prefix: &str) -> Vec<&str> {
        if prefix.is_empty() {
            let mut all = vec![VIDEOS_DATABASE, MP3S_DATABASE];
            if !all.contains(&self.other_database.as_str()) {
                all.push(&self.other_database);
            }
            all
        } else {
            vec![self.database_for(prefix)]
        }
    }

    fn database(&self, name: &str) -> Database {
        self.client.database(name)
    }

    fn bucket(&self, database: &str) -> Bucket {
        let database = self.database(database);
        Bucket {
            bucket: database.gridfs_bucket(None),
            chunks: database.collection("fs.chunks"),
        }
    }
}

#[async_trait]
impl BlobStore for GridFsBlobStore {
    async fn put_stream(
        &self,
        key: &str,
        mut body: BodyStream<'_>,
        max_size: Option<u64>,
    ) -> Result<PutResult, StorageError> {
        let bucket = self.bucket_for(key).await?;
        // Dropped before `close` (an error below, or the caller's future dropped), the upload
        // stream removes the chunks it wrote.
        let mut upload = bucket
            .bucket
            .open_upload_stream(key)
            .await
            .map_err(|e| classify(key, e))?;
        let mut meter = Meter::new(max_size);
        let copied: Result<(), StorageError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = meter.take(chunk)?;
                upload.write_all(&chunk).await.map_err(|e| io_to(key, e))?;
            }
            upload.close().await.map_err(|e| io_to(key, e))
        }
        .await;
        if let Err(error) = copied {
            if let Err(abort) = upload.abort().await
                && !matches!(
                    *abort.kind,
                    ErrorKind::GridFs(GridFsErrorKind::UploadStreamClosed)
                )
            {
                tracing::warn!(key, error = %abort, "removing the chunks of a failed put failed");
            }
            return Err(error);
        }
        self.delete_older_revisions(&bucket, key, upload.id())
            .await?;
        Ok(meter.finish())
    }

    async fn put_file(&self, key: &str, path: &Path) -> Result<PutResult, StorageError> {
        crate::object::put_local_file(self, key, path).await
    }

    async fn get(&self, key: &str) -> Result<crate::Blob, StorageError> {
        self.read(key, None).await
    }

    async fn get_range(&self, key: &str, range: ByteRange) -> Result<crate::Blob, StorageError> {
        self.read(key, Some(range)).await
    }

    async fn head(&self, key: &str) -> Result<Option<Meta>, StorageError> {
        let bucket = self.bucket_for(key).await?;
        Ok(self.newest(&bucket, key).await?.as_ref().map(meta_of))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let bucket = self.bucket_for(key).await?;
        delete_matching(&bucket, key, doc! { "filename": key }).await
    }

    fn list(&self, prefix: &str) -> BoxStream<'static, Result<Listed, StorageError>> {
        if let Err(e) = key::prefix_to_path(prefix) {
            return stream::once(async { Err(e) }).boxed();
        }
        // Keys under `prefix/` sort between `prefix/` and `prefix0` ('0' follows '/'), so an
        // indexed range replaces a regular expression.
        let filter = if prefix.is_empty() {
            doc! { "filename": { "$type": "string" } }
        } else {
            doc! { "filename": { "$gte": format!("{prefix}/"), "$lt": format!("{prefix}0") } }
        };
        let connection = self.connection.clone();
        let prefix = prefix.to_owned();
        stream::once(async move {
            let connected = connection.connected().await?;
            let mut listings = Vec::new();
            for database in connected.databases_for(&prefix) {
                let files = connected
                    .bucket(database)
                    .bucket
                    .find(filter.clone())
                    .sort(doc! { "filename": 1, "uploadDate": -1, "_id": -1 })
                    .await
                    .map_err(|e| classify(&prefix, e))?;
                let prefix = prefix.clone();
                // Newest revision of each key only (a replace in progress has two).
                let mut last: Option<String> = None;
                listings.push(
                    files
                        .map_err(move |e| classify(&prefix, e))
                        .try_filter_map(move |file| {
                            let fresh = match &file.filename {
                                Some(name) if last.as_ref() != Some(name) => {
                                    last = Some(name.clone());
                                    true
                                }
                                _ => false,
                            };
                            async move {
                                Ok(fresh.then(|| Listed {
                                    key: file.filename.clone().unwrap_or_default(),
                                    meta: meta_of(&file),
                                }))
                            }
                        })
                        .boxed(),
                );
            }
            Ok::<_, StorageError>(stream::iter(listings).flatten())
        })
        .try_flatten()
        .boxed()
    }

    async fn health_check(&self) -> Result<(), StorageError> {
        let connected = self.connected().await?;
        // A query per bucket: reaching the server is not enough, the credentials must be
        // allowed to read each database.
        for database in connected.databases_for("") {
            connected
                .bucket(database)
                .bucket
                .find_one(doc! { "filename": "mp3converter-health-probe" })
                .await
                .map_err(|e| classify(&self.location, e))?;
        }
        Ok(())
    }

    async fn sweep_interrupted(&self, idle_since: SystemTime) -> Result<u64, StorageError> {
        let connected = self.connected().await?;
        let cutoff = object_id_at(idle_since);
        let mut removed = 0;
        for database in connected.databases_for("") {
            removed += sweep_database(&connected.bucket(database), database, cutoff).await?;
        }
        Ok(removed)
    }

    async fn key_of_id(&self, id: &str) -> Result<Option<String>, StorageError> {
        let Ok(id) = ObjectId::parse_str(id) else {
            return Ok(None);
        };
        let connected = self.connected().await?;
        for database in connected.databases_for("") {
            let file = connected
                .bucket(database)
                .bucket
                .find_one(doc! { "_id": id })
                .await
                .map_err(|e| classify(&self.location, e))?;
            if let Some(name) = file.and_then(|f| f.filename) {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }
}

/// Deletes every file matching `filter` with its chunks (the bucket's delete, file by file).
async fn delete_matching(bucket: &Bucket, key: &str, filter: Document) -> Result<(), StorageError> {
    let ids: Vec<Bson> = bucket
        .bucket
        .find(filter)
        .await
        .map_err(|e| classify(key, e))?
        .map_ok(|file| file.id)
        .try_collect()
        .await
        .map_err(|e| classify(key, e))?;
    for id in ids {
        match bucket.bucket.delete(id).await {
            // Deleted meanwhile by someone else: the goal is reached.
            Err(e)
                if matches!(
                    *e.kind,
                    ErrorKind::GridFs(GridFsErrorKind::FileNotFound { .. })
                ) => {}
            other => other.map_err(|e| classify(key, e))?,
        }
    }
    Ok(())
}

/// Removes the chunks of one bucket that belong to no file and whose newest chunk is older than
/// `cutoff`: a put interrupted by a crash. A put still running writes a chunk at least every
/// few seconds, so its newest chunk is always young.
async fn sweep_database(
    bucket: &Bucket,
    database: &str,
    cutoff: ObjectId,
) -> Result<u64, StorageError> {
    let fail = |e| classify(database, e);
    // File ids are ObjectIds made when the put started: candidates are the old ones.
    let candidates = bucket
        .chunks
        .distinct("files_id", doc! { "files_id": { "$lt": cutoff } })
        .await
        .map_err(fail)?;
    let mut removed = 0;
    for batch in candidates.chunks(SWEEP_BATCH) {
        let files = bucket
            .bucket
            .find(doc! { "_id": { "$in": batch.to_vec() } })
            .await
            .map_err(fail)?
            .map_ok(|file| file.id)
            .try_collect::<Vec<Bson>>()
            .await
            .map_err(fail)?;
        let present: HashSet<String> = files.iter().map(ToString::to_string).collect();
        for id in batch.iter().filter(|id| !present.contains(&id.to_string())) {
            let newest = bucket
                .chunks
                .find_one(doc! { "files_id": id.clone() })
                .sort(doc! { "n": -1 })
                .await
                .map_err(fail)?;
            let idle = newest
                .as_ref()
                .and_then(|chunk| chunk.get_object_id("_id").ok())
                .is_none_or(|chunk_id| chunk_id < cutoff);
            if !idle {
                continue;
            }
            let deleted = bucket
                .chunks
                .delete_many(doc! { "files_id": id.clone() })
                .await
                .map_err(fail)?;
            if deleted.deleted_count > 0 {
                removed += 1;
                tracing::info!(database, files_id = %id, chunks = deleted.deleted_count,
                    "chunks of an interrupted upload removed");
            }
        }
    }
    Ok(removed)
}

/// Streams `range` of `file` from its chunks, checking each chunk's number and size.
fn chunk_stream(
    chunks: Collection<Document>,
    key: String,
    file: &FilesCollectionDocument,
    range: Range<u64>,
) -> ByteStream {
    if range.is_empty() {
        return stream::empty().boxed();
    }
    let chunk_size = u64::from(file.chunk_size_bytes.max(1));
    let (length, id) = (file.length, file.id.clone());
    let first = range.start / chunk_size;
    let last = (range.end - 1) / chunk_size;
    let expected_len = move |n: u64| chunk_size.min(length - n * chunk_size);
    let damaged = |key: &str, what: String| {
        StorageError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("blob {key:?}: {what}"),
        ))
    };
    stream::once(async move {
        let options = FindOptions::builder()
            .sort(doc! { "n": 1 })
            .batch_size(READ_BATCH)
            .build();
        let cursor = chunks
            .find(doc! { "files_id": id, "n": { "$gte": first as i64, "$lte": last as i64 } })
            .with_options(options)
            .await
            .map_err(|e| classify(&key, e))?;
        Ok::<_, StorageError>(stream::try_unfold(
            (cursor, first, key),
            move |(mut cursor, n, key)| async move {
                if n > last {
                    return Ok(None);
                }
                let Some(chunk) = cursor.try_next().await.map_err(|e| classify(&key, e))? else {
                    // Replaced or deleted while being read, or damaged.
                    return Err(damaged(&key, format!("chunk {n} is missing")));
                };
                let number = match chunk.get("n") {
                    Some(Bson::Int32(v)) => i64::from(*v),
                    Some(Bson::Int64(v)) => *v,
                    _ => -1,
                };
                if number != n as i64 {
                    return Err(damaged(&key, format!("chunk {n} is missing")));
                }
                let data = chunk
                    .get_binary_generic("data")
                    .map_err(|_| damaged(&key, format!("chunk {n} has no data")))?;
                if data.len() as u64 != expected_len(n) {
                    return Err(damaged(
                        &key,
                        format!(
                            "chunk {n} has {} bytes, not {}",
                            data.len(),
                            expected_len(n)
                        ),
                    ));
                }
                let start = range.start.max(n * chunk_size) - n * chunk_size;
                let end = range.end.min((n + 1) * chunk_size) - n * chunk_size;
                let bytes = Bytes::copy_from_slice(&data[start as usize..end as usize]);
                Ok(Some((bytes, (cursor, n + 1, key))))
            },
        ))
    })
    .try_flatten()
    .boxed()
}

fn meta_of(file: &FilesCollectionDocument) -> Meta {
    Meta {
        size: file.length,
        last_modified: file.upload_date.to_system_time(),
        // A new ObjectId for every revision: it changes whenever the blob does.
        e_tag: Some(match &file.id {
            Bson::ObjectId(id) => id.to_hex(),
            other => other.to_string(),
        }),
    }
}

/// The smallest ObjectId made at `time` or later: ids below it were made before.
fn object_id_at(time: SystemTime) -> ObjectId {
    let secs = DateTime::from_system_time(time).timestamp_millis().max(0) / 1000;
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&(secs.min(i64::from(u32::MAX)) as u32).to_be_bytes());
    ObjectId::from_bytes(bytes)
}

/// Classifies a driver error: bad credentials and missing permissions will not heal by
/// retrying; everything else (network, server selection, a primary stepping down) may.
fn classify(what: &str, error: MongoError) -> StorageError {
    const UNAUTHORIZED: i32 = 13;
    const AUTHENTICATION_FAILED: i32 = 18;
    let refused = match &*error.kind {
        ErrorKind::Authentication { .. }
        | ErrorKind::InvalidArgument { .. }
        | ErrorKind::InvalidTlsConfig { .. }
        | ErrorKind::IncompatibleServer { .. } => true,
        ErrorKind::Command(command) => {
            matches!(command.code, UNAUTHORIZED | AUTHENTICATION_FAILED)
        }
        _ => false,
    };
    // Past parsing, the driver names hosts in its messages, never the URL's credentials.
    let error: Box<dyn std::error::Error + Send + Sync> = format!("{what}: {error}").into();
    if refused {
        StorageError::Refused(error)
    } else {
        StorageError::Unavailable(error)
    }
}

/// The upload stream reports driver errors as `io::Error`s wrapping them.
fn io_to(key: &str, error: std::io::Error) -> StorageError {
    match error.into_inner() {
        Some(inner) => match inner.downcast::<MongoError>() {
            Ok(mongo) => classify(key, *mongo),
            Err(other) => StorageError::Unavailable(other),
        },
        None => StorageError::Unavailable(format!("{key}: upload stream failed").into()),
    }
}

/// `message` with the password of `url` (`scheme://user:password@…`) masked.
fn without_password(message: &str, url: &str) -> String {
    let authority = url.split("://").nth(1).unwrap_or_default();
    let password = authority
        .rsplit_once('@')
        .and_then(|(credentials, _)| credentials.split_once(':'))
        .map(|(_, password)| password)
        .filter(|p| !p.is_empty());
    match password {
        Some(password) => message.replace(password, "***"),
        None => message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> GridFsSettings {
        GridFsSettings {
            url: SecretString::from(url.to_owned()),
        }
    }

    #[test]
    fn the_url_must_be_a_mongodb_url_with_a_host() {
        for bad in [
            "http://db:27017",
            "db:27017",
            "mongodb://",
            "mongodb://user:pw@/videos",
        ] {
            assert!(
                matches!(open(&settings(bad)), Err(StorageError::Config(_))),
                "{bad}"
            );
        }
        let store = open(&settings(
            "mongodb://user:s3cret@db1:27017,db2/videos?tls=true",
        ))
        .unwrap();
        let shown = format!("{store:?}");
        assert!(shown.contains("gridfs:db1:27017,db2"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(open(&settings("mongodb+srv://cluster0.example.net")).is_ok());
    }

    #[test]
    fn passwords_are_masked_in_messages_about_the_url() {
        let url = "mongodb://app:pa55word@db:27017/?authSource=x";
        assert_eq!(
            without_password("bad url mongodb://app:pa55word@db:27017/", url),
            "bad url mongodb://app:***@db:27017/"
        );
        assert_eq!(without_password("no secret", "mongodb://db"), "no secret");
    }

    #[test]
    fn object_ids_order_by_their_creation_second() {
        let now = SystemTime::now();
        let cutoff = object_id_at(now);
        assert!(ObjectId::new() >= cutoff);
        assert!(object_id_at(now - Duration::from_secs(2)) < cutoff);
        // Whole seconds: the cutoff is at most a second before `now`.
        let at = cutoff.timestamp().to_system_time();
        assert!(at <= now && now.duration_since(at).unwrap() < Duration::from_secs(1));
    }
}
