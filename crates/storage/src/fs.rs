//! Local filesystem adapter: blobs are files under a root directory (single-node default).
//!
//! Puts write a staging file next to the target and rename it into place on completion
//! (`object_store`'s `LocalFileSystem` multipart upload), so a blob is never seen half-written
//! and a failed or dropped put leaves nothing behind.

use std::path::Path;
use std::sync::Arc;

use object_store::local::LocalFileSystem;

use crate::{ObjectBlobStore, StorageError};

/// Bytes per staged write; with [`PARTS_IN_FLIGHT`] a put holds at most ~3 MiB of the body.
const PART_SIZE: usize = 1024 * 1024;
const PARTS_IN_FLIGHT: usize = 2;

/// Opens (creating it if missing) a blob store rooted at `root`.
pub fn open(root: &Path) -> Result<ObjectBlobStore, StorageError> {
    std::fs::create_dir_all(root)?;
    let local = LocalFileSystem::new_with_prefix(root)
        .map_err(|e| StorageError::Config(format!("storage path {}: {e}", root.display())))?
        // Remove directories a delete leaves empty, so the tree does not grow forever.
        .with_automatic_cleanup(true);
    let root = std::fs::canonicalize(root)?;
    Ok(ObjectBlobStore::new(
        Arc::new(local),
        format!("fs:{}", root.display()),
        Some(root),
        PART_SIZE,
        PARTS_IN_FLIGHT,
    ))
}
