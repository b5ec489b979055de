//! The s3 adapter: the conformance suite against a real S3-compatible server when
//! `MP3C_TEST_S3_ENDPOINT` is set, plus failure classification.
//!
//! Locally (and in CI) with s3s-fs:
//!
//! ```sh
//! cargo install s3s-fs@0.14.1 --features binary --locked --root /work/tools
//! mkdir -p /tmp/s3s-root/mp3converter-test        # a bucket is a directory under the root
//! /work/tools/bin/s3s-fs --host 127.0.0.1 --port 8014 \
//!     --access-key test --secret-key testtest /tmp/s3s-root &
//! MP3C_TEST_S3_ENDPOINT=http://127.0.0.1:8014 cargo test -p mp3converter-storage --test s3
//! ```

use mp3converter_storage::{StorageBackend, StorageConfig, StorageError, build, conformance};
use secrecy::SecretString;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// The test server's config, or `None` (with a note on stderr) when it is not configured.
fn s3_test_config() -> Option<StorageConfig> {
    let Ok(endpoint) = std::env::var("MP3C_TEST_S3_ENDPOINT") else {
        eprintln!("skipping S3 tests: set MP3C_TEST_S3_ENDPOINT (e.g. http://127.0.0.1:8014)");
        return None;
    };
    Some(StorageConfig {
        backend: StorageBackend::S3,
        endpoint: Some(endpoint),
        bucket: Some(env_or("MP3C_TEST_S3_BUCKET", "mp3converter-test")),
        access_key_id: Some(env_or("MP3C_TEST_S3_ACCESS_KEY_ID", "test")),
        secret_access_key: Some(SecretString::from(env_or(
            "MP3C_TEST_S3_SECRET_ACCESS_KEY",
            "testtest",
        ))),
        ..StorageConfig::default()
    })
}

#[tokio::test]
async fn s3_adapter_passes_the_conformance_suite() {
    let Some(config) = s3_test_config() else {
        return;
    };
    conformance::run(build(&config).unwrap()).await;
}

#[tokio::test]
async fn s3_health_check_refuses_a_missing_bucket_and_wrong_credentials() {
    let Some(config) = s3_test_config() else {
        return;
    };
    let missing_bucket = StorageConfig {
        bucket: Some("mp3converter-no-such-bucket".into()),
        ..config.clone()
    };
    let store = build(&missing_bucket).unwrap();
    let err = store.health_check().await.unwrap_err();
    assert!(
        matches!(err, StorageError::Refused(_)),
        "missing bucket: {err:?}"
    );

    let wrong_secret = StorageConfig {
        secret_access_key: Some(SecretString::from("wrong-secret")),
        ..config
    };
    let err = build(&wrong_secret)
        .unwrap()
        .health_check()
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "wrong credentials: {err:?}");
}

#[tokio::test]
async fn unreachable_s3_endpoint_is_a_retryable_error() {
    // A port nobody listens on: bind, note the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = StorageConfig {
        backend: StorageBackend::S3,
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        bucket: Some("any".into()),
        access_key_id: Some("test".into()),
        secret_access_key: Some(SecretString::from("testtest")),
        ..StorageConfig::default()
    };
    let err = build(&config).unwrap().health_check().await.unwrap_err();
    assert!(
        matches!(err, StorageError::Unavailable(_)) && err.is_retryable(),
        "{err:?}"
    );
}
