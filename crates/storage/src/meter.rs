//! What every adapter does to a body on its way in: count it against the size limit and hash it.

use bytes::Bytes;
use sha2::{Digest, Sha256};

use crate::{PutResult, StorageError};

/// Counts and hashes the pieces of one body.
pub(crate) struct Meter {
    hasher: Sha256,
    size: u64,
    limit: Option<u64>,
}

impl Meter {
    pub(crate) fn new(limit: Option<u64>) -> Meter {
        Meter {
            hasher: Sha256::new(),
            size: 0,
            limit,
        }
    }

    /// Takes the next piece of the body: [`StorageError::Body`] if reading it failed,
    /// [`StorageError::TooLarge`] as soon as the body crosses the limit.
    pub(crate) fn take(
        &mut self,
        chunk: Result<Bytes, std::io::Error>,
    ) -> Result<Bytes, StorageError> {
        let chunk = chunk.map_err(StorageError::Body)?;
        self.size += chunk.len() as u64;
        if let Some(limit) = self.limit
            && self.size > limit
        {
            return Err(StorageError::TooLarge { limit });
        }
        self.hasher.update(&chunk);
        Ok(chunk)
    }

    /// The size and SHA-256 of everything taken.
    pub(crate) fn finish(self) -> PutResult {
        PutResult {
            size: self.size,
            sha256_hex: hex(&self.hasher.finalize()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_and_zero_padded() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }

    #[test]
    fn the_limit_is_crossed_by_the_first_byte_over_it() {
        let mut meter = Meter::new(Some(4));
        assert!(meter.take(Ok(Bytes::from_static(b"abcd"))).is_ok());
        assert!(matches!(
            meter.take(Ok(Bytes::from_static(b"e"))),
            Err(StorageError::TooLarge { limit: 4 })
        ));
    }
}
