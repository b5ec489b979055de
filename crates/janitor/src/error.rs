//! `JanitorError`: why a retention pass stopped early.

use mp3converter_db::DbError;
use mp3converter_storage::StorageError;

/// A pass that could not go on. Failures on single blobs do not end a pass: they are logged,
/// counted in [`PassReport::errors`](crate::PassReport) and retried on the next pass.
#[derive(Debug, thiserror::Error)]
pub enum JanitorError {
    /// The database could not be asked which jobs are due.
    #[error("retention: database error: {0}")]
    Database(#[from] DbError),
    /// Listing the blobs failed.
    #[error("retention: storage error: {0}")]
    Storage(#[from] StorageError),
}

impl JanitorError {
    /// True when the next pass may succeed (the backend was unreachable or busy).
    pub fn is_retryable(&self) -> bool {
        match self {
            JanitorError::Database(e) => e.is_retryable(),
            JanitorError::Storage(e) => e.is_retryable(),
        }
    }
}
