//! `StorageError`: what can go wrong when storing or reading a blob, classified for retries.

use std::io;

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Every failure of a [`BlobStore`](crate::BlobStore) operation.
///
/// Workers use [`is_retryable`](Self::is_retryable) to decide between "try again later" and
/// "fail the job"; the HTTP edge maps `NotFound` to 404, `TooLarge` to 413 and
/// `RangeNotSatisfiable` to 416.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No blob is stored under this key.
    #[error("blob {key:?} not found")]
    NotFound {
        /// The key that was asked for.
        key: String,
    },

    /// The body was larger than the limit given to `put_stream`; nothing was stored.
    #[error("blob is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes that was crossed.
        limit: u64,
    },

    /// The key is not acceptable (empty, absolute, `..`, control characters, ...).
    #[error("invalid blob key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key (control characters are shown escaped by `Debug`).
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },

    /// The requested byte range does not overlap the blob (HTTP 416).
    #[error("range not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable {
        /// The blob's size, for `Content-Range: bytes */{size}`.
        size: u64,
    },

    /// Reading the body that was being stored failed (e.g. the uploading client went away).
    /// Nothing was stored. Not a fault of the store, so retrying the same body is pointless.
    #[error("reading the body to store failed")]
    Body(#[source] io::Error),

    /// The backend could not be reached or failed in a way that may heal (network, 5xx, timeouts).
    #[error("storage backend unavailable")]
    Unavailable(#[source] BoxError),

    /// The backend refused the request for a reason that will not heal by retrying
    /// (bad credentials, missing permission, missing bucket, unsupported operation).
    #[error("storage backend refused the request")]
    Refused(#[source] BoxError),

    /// Local I/O failed.
    #[error("storage I/O error")]
    Io(#[from] io::Error),

    /// The storage configuration is invalid; raised by [`build`](crate::build).
    #[error("invalid storage config: {0}")]
    Config(String),
}

impl StorageError {
    /// Whether the same operation may succeed later (backend down, network trouble, local I/O).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Io(e) => !matches!(
                e.kind(),
                io::ErrorKind::NotFound
                    | io::ErrorKind::PermissionDenied
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::InvalidData
                    | io::ErrorKind::Unsupported
            ),
            Self::NotFound { .. }
            | Self::TooLarge { .. }
            | Self::InvalidKey { .. }
            | Self::RangeNotSatisfiable { .. }
            | Self::Body(_)
            | Self::Refused(_)
            | Self::Config(_) => false,
        }
    }

    /// Whether retrying cannot help; the opposite of [`is_retryable`](Self::is_retryable).
    pub fn is_permanent(&self) -> bool {
        !self.is_retryable()
    }

    /// Maps an `object_store` error, keeping its cause chain.
    pub(crate) fn from_object_store(key: &str, error: object_store::Error) -> Self {
        use object_store::Error as E;
        match error {
            E::NotFound { .. } => Self::NotFound {
                key: key.to_owned(),
            },
            E::InvalidPath { .. } => Self::InvalidKey {
                key: key.to_owned(),
                reason: "rejected by the storage backend",
            },
            e @ (E::PermissionDenied { .. }
            | E::Unauthenticated { .. }
            | E::NotSupported { .. }
            | E::NotImplemented { .. }
            | E::UnknownConfigurationKey { .. }) => Self::Refused(Box::new(e)),
            // Generic: network, HTTP status, local I/O. A 4xx reply other than 408/429 will
            // not heal by itself (e.g. a list of a missing bucket, a malformed request).
            e @ E::Generic { .. } => match http_status(&e) {
                Some(status) if (400..500).contains(&status) && status != 408 && status != 429 => {
                    Self::Refused(Box::new(e))
                }
                _ => Self::Unavailable(Box::new(e)),
            },
            // JoinError, precondition races, ...
            e => Self::Unavailable(Box::new(e)),
        }
    }
}

/// The HTTP status of a failed `object_store` request, if the error came from one.
///
/// `object_store` maps some statuses on some requests to typed errors (404 → `NotFound`) but
/// wraps the rest in `Generic` with a crate-private error type, so the status is read from its
/// message ("Server returned non-2xx status code: 404 Not Found: ..."). The S3 tests pin this.
pub(crate) fn http_status(error: &(dyn std::error::Error + 'static)) -> Option<u16> {
    const MARKER: &str = "non-2xx status code: ";
    let mut current = Some(error);
    while let Some(e) = current {
        let text = e.to_string();
        if let Some(at) = text.find(MARKER) {
            let digits = text.get(at + MARKER.len()..at + MARKER.len() + 3)?;
            return digits.parse().ok();
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unavailable_and_transient_io_are_retryable() {
        assert!(StorageError::Unavailable("down".into()).is_retryable());
        assert!(StorageError::Io(io::Error::from(io::ErrorKind::TimedOut)).is_retryable());
    }

    #[test]
    fn client_side_problems_are_permanent() {
        for e in [
            StorageError::TooLarge { limit: 1 },
            StorageError::NotFound { key: "a".into() },
            StorageError::RangeNotSatisfiable { size: 0 },
            StorageError::Refused("denied".into()),
            StorageError::Io(io::Error::from(io::ErrorKind::PermissionDenied)),
            StorageError::Io(io::Error::from(io::ErrorKind::NotFound)),
        ] {
            assert!(e.is_permanent(), "{e:?} should be permanent");
        }
    }

    #[test]
    fn http_status_is_found_anywhere_in_the_cause_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("list failed")]
        struct Outer(#[source] io::Error);
        let inner = io::Error::other(
            "Server returned non-2xx status code: 404 Not Found: <Code>NoSuchBucket</Code>",
        );
        assert_eq!(http_status(&Outer(inner)), Some(404));
        assert_eq!(http_status(&io::Error::other("connection refused")), None);
    }

    #[test]
    fn object_store_not_found_maps_to_not_found_with_our_key() {
        let e = object_store::Error::NotFound {
            path: "x".into(),
            source: "missing".into(),
        };
        assert!(matches!(
            StorageError::from_object_store("videos/1", e),
            StorageError::NotFound { key } if key == "videos/1"
        ));
    }
}
