//! S3-compatible adapter (AWS S3, MinIO, Garage, s3s, GCS's S3 API) for distributed setups.
//!
//! Puts are multipart uploads: parts are sent while the body streams in, and the upload is
//! aborted on any error, so a failed put never becomes a visible object.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::{BackoffConfig, ClientOptions, RetryConfig};
use secrecy::{ExposeSecret, SecretString};

use crate::{ObjectBlobStore, StorageError};

/// Bytes per multipart part (S3 needs at least 5 MiB except for the last part; 8 MiB parts
/// allow objects up to ~78 GiB within S3's 10,000-part limit).
const PART_SIZE: usize = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 2;

/// How to reach a bucket. Built from [`StorageConfig`](crate::StorageConfig) by
/// [`build`](crate::build).
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// `http(s)://host:port` of an S3-compatible server; `None` for AWS itself.
    pub endpoint: Option<String>,
    /// The bucket; it must already exist.
    pub bucket: String,
    /// The region used to sign requests.
    pub region: String,
    /// Static credentials; without them the AWS credential chain (env, instance metadata) is used.
    pub access_key_id: Option<String>,
    /// Secret for `access_key_id` (redacted in `Debug`).
    pub secret_access_key: Option<SecretString>,
    /// `http://host/bucket/key` (true) or `http://bucket.host/key` (false).
    pub path_style: bool,
}

/// Builds a store for the bucket. Does no I/O; use `health_check` to see if it is reachable.
pub fn open(settings: &S3Settings) -> Result<ObjectBlobStore, StorageError> {
    let allow_http = settings
        .endpoint
        .as_deref()
        .is_some_and(|e| e.starts_with("http://"));
    let client = ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(Duration::from_secs(5))
        // Covers a whole request including its body: long enough for a download streamed to a
        // slow client, short enough that a hung server is noticed.
        .with_timeout(Duration::from_secs(300));
    let retry = RetryConfig {
        backoff: BackoffConfig::default(),
        max_retries: 3,
        retry_timeout: Duration::from_secs(30),
    };
    let mut builder = AmazonS3Builder::new()
        .with_bucket_name(&settings.bucket)
        .with_region(&settings.region)
        .with_virtual_hosted_style_request(!settings.path_style)
        .with_allow_http(allow_http)
        .with_client_options(client)
        .with_retry(retry);
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(id) = &settings.access_key_id {
        builder = builder.with_access_key_id(id);
    }
    if let Some(secret) = &settings.secret_access_key {
        builder = builder.with_secret_access_key(secret.expose_secret());
    }
    let store = builder
        .build()
        .map_err(|e| StorageError::Config(format!("s3: {e}")))?;
    let location = format!(
        "s3:{}/{}",
        settings.endpoint.as_deref().unwrap_or("aws"),
        settings.bucket
    );
    Ok(ObjectBlobStore::new(
        Arc::new(store),
        location,
        None,
        PART_SIZE,
        PARTS_IN_FLIGHT,
    ))
}
