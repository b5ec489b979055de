//! `StorageConfig` and [`build`]: the one place where the storage backend is chosen.

use std::path::PathBuf;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::gridfs::GridFsSettings;
use crate::s3::S3Settings;
use crate::{BlobStore, StorageError};

/// Which adapter stores the blobs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Files under [`StorageConfig::path`].
    #[default]
    Fs,
    /// An S3-compatible bucket.
    S3,
    /// MongoDB GridFS at [`StorageConfig::url`] (the course's layout: `videos` and `mp3s`).
    Gridfs,
}

/// The `[storage]` config section. Key names are fixed (env: `MP3C_STORAGE__<KEY>`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `fs` (default), `s3` or `gridfs`.
    pub backend: StorageBackend,
    /// fs: the root directory, created if missing. Default `data/blobs`.
    pub path: PathBuf,
    /// s3: `http(s)://host:port` of an S3-compatible server; unset for AWS.
    pub endpoint: Option<String>,
    /// s3: the bucket (required).
    pub bucket: Option<String>,
    /// s3: signing region. Default `us-east-1`.
    pub region: Option<String>,
    /// s3: access key id; unset to use the AWS credential chain.
    pub access_key_id: Option<String>,
    /// s3: secret access key (redacted in `Debug`).
    pub secret_access_key: Option<SecretString>,
    /// s3: path-style URLs. Default: true with a custom `endpoint`, false for AWS.
    pub path_style: Option<bool>,
    /// gridfs: `mongodb://user:password@host:port/db` (redacted in `Debug`).
    pub url: Option<SecretString>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            backend: StorageBackend::Fs,
            path: PathBuf::from("data/blobs"),
            endpoint: None,
            bucket: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            path_style: None,
            url: None,
        }
    }
}

impl StorageConfig {
    /// The S3 settings with defaults applied, or why they are incomplete.
    pub fn s3_settings(&self) -> Result<S3Settings, StorageError> {
        let bucket = self
            .bucket
            .clone()
            .filter(|b| !b.trim().is_empty())
            .ok_or_else(|| StorageError::Config("storage.bucket is required for s3".into()))?;
        if let Some(endpoint) = &self.endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            return Err(StorageError::Config(format!(
                "storage.endpoint must start with http:// or https://, got {endpoint:?}"
            )));
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(StorageError::Config(
                "storage.access_key_id and storage.secret_access_key must be set together".into(),
            ));
        }
        Ok(S3Settings {
            endpoint: self.endpoint.clone(),
            bucket,
            region: self.region.clone().unwrap_or_else(|| "us-east-1".into()),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            path_style: self.path_style.unwrap_or(self.endpoint.is_some()),
        })
    }
}

impl StorageConfig {
    /// The GridFS settings, or why they are incomplete.
    pub fn gridfs_settings(&self) -> Result<GridFsSettings, StorageError> {
        let url = self
            .url
            .clone()
            .filter(|u| !u.expose_secret().trim().is_empty())
            .ok_or_else(|| StorageError::Config("storage.url is required for gridfs".into()))?;
        Ok(GridFsSettings { url })
    }
}

/// Builds the configured adapter. The only `match` over storage backends.
pub fn build(config: &StorageConfig) -> Result<Arc<dyn BlobStore>, StorageError> {
    Ok(match config.backend {
        StorageBackend::Fs => Arc::new(crate::fs::open(&config.path)?),
        StorageBackend::S3 => Arc::new(crate::s3::open(&config.s3_settings()?)?),
        StorageBackend::Gridfs => Arc::new(crate::gridfs::open(&config.gridfs_settings()?)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3_config() -> StorageConfig {
        StorageConfig {
            backend: StorageBackend::S3,
            endpoint: Some("http://127.0.0.1:9000".into()),
            bucket: Some("media".into()),
            access_key_id: Some("AKIA".into()),
            secret_access_key: Some(SecretString::from("very-secret-value")),
            ..StorageConfig::default()
        }
    }

    #[test]
    fn secret_access_key_is_redacted_in_debug_of_config_and_store() {
        let config = s3_config();
        assert!(!format!("{config:?}").contains("very-secret-value"));
        assert!(!format!("{:?}", config.s3_settings().unwrap()).contains("very-secret-value"));
        let store = build(&config).unwrap();
        let shown = format!("{store:?}");
        assert!(shown.contains("127.0.0.1:9000/media"), "{shown}");
        assert!(!shown.contains("very-secret-value"), "{shown}");
    }

    #[test]
    fn path_style_defaults_to_true_for_custom_endpoints_only() {
        assert!(s3_config().s3_settings().unwrap().path_style);
        let aws = StorageConfig {
            endpoint: None,
            ..s3_config()
        };
        assert!(!aws.s3_settings().unwrap().path_style);
        assert_eq!(aws.s3_settings().unwrap().region, "us-east-1");
    }

    #[test]
    fn s3_without_bucket_or_with_half_credentials_is_refused() {
        let no_bucket = StorageConfig {
            bucket: None,
            ..s3_config()
        };
        assert!(matches!(build(&no_bucket), Err(StorageError::Config(m)) if m.contains("bucket")));
        let half = StorageConfig {
            secret_access_key: None,
            ..s3_config()
        };
        assert!(matches!(build(&half), Err(StorageError::Config(_))));
        let bad_endpoint = StorageConfig {
            endpoint: Some("127.0.0.1:9000".into()),
            ..s3_config()
        };
        assert!(matches!(build(&bad_endpoint), Err(StorageError::Config(m)) if m.contains("http")));
    }

    #[test]
    fn config_keys_deserialize_and_misspelt_keys_are_refused() {
        let config: StorageConfig = serde_json::from_str(
            r#"{"backend": "s3", "endpoint": "http://minio:9000", "bucket": "b",
                "region": "eu-west-1", "access_key_id": "id", "secret_access_key": "s",
                "path_style": false}"#,
        )
        .unwrap();
        let s3 = config.s3_settings().unwrap();
        assert_eq!((s3.region.as_str(), s3.path_style), ("eu-west-1", false));
        let defaults: StorageConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(defaults.backend, StorageBackend::Fs);
        assert_eq!(defaults.path, PathBuf::from("data/blobs"));
        let typo = serde_json::from_str::<StorageConfig>(r#"{"secret_acess_key": "s"}"#);
        assert!(typo.unwrap_err().to_string().contains("secret_acess_key"));
    }

    #[test]
    fn fs_backend_creates_its_root_directory() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("nested/blobs");
        let config = StorageConfig {
            path: root.clone(),
            ..StorageConfig::default()
        };
        build(&config).unwrap();
        assert!(root.is_dir());
    }
}
