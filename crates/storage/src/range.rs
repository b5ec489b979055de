//! `ByteRange`: the part of a blob a reader asks for, as in an HTTP `Range` header.

use std::ops::Range;

use crate::StorageError;

/// A requested byte range, resolved against the blob's size by the store.
///
/// Mirrors the three forms of an HTTP byte range: `bytes=a-b` ([`Bounded`](Self::Bounded),
/// with `end` exclusive, so `a..b+1`), `bytes=a-` ([`From`](Self::From)) and `bytes=-n`
/// ([`Last`](Self::Last)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ByteRange {
    /// `start..end` (end exclusive). An `end` past the blob's end is clamped to it.
    Bounded(Range<u64>),
    /// Everything from this offset to the end.
    From(u64),
    /// The last `n` bytes (the whole blob if it is shorter).
    Last(u64),
}

impl ByteRange {
    /// The concrete range of a blob of `size` bytes, following RFC 9110 §14.1.2: a range that
    /// starts at or after the end, is empty, or asks for the last 0 bytes is not satisfiable.
    pub fn resolve(&self, size: u64) -> Result<Range<u64>, StorageError> {
        let unsatisfiable = Err(StorageError::RangeNotSatisfiable { size });
        match *self {
            Self::Bounded(Range { start, end }) if start < end && start < size => {
                Ok(start..end.min(size))
            }
            Self::From(start) if start < size => Ok(start..size),
            Self::Last(n) if n > 0 && size > 0 => Ok(size - n.min(size)..size),
            _ => unsatisfiable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(range: ByteRange, size: u64) -> Option<Range<u64>> {
        range.resolve(size).ok()
    }

    #[test]
    fn bounded_range_is_clamped_to_the_end() {
        assert_eq!(resolve(ByteRange::Bounded(0..10), 100), Some(0..10));
        assert_eq!(resolve(ByteRange::Bounded(90..200), 100), Some(90..100));
    }

    #[test]
    fn ranges_starting_at_or_after_the_end_are_unsatisfiable() {
        assert_eq!(resolve(ByteRange::Bounded(100..101), 100), None);
        assert_eq!(resolve(ByteRange::From(100), 100), None);
        assert_eq!(resolve(ByteRange::From(0), 0), None);
        assert!(matches!(
            ByteRange::From(5).resolve(3),
            Err(StorageError::RangeNotSatisfiable { size: 3 })
        ));
    }

    #[test]
    fn empty_and_zero_suffix_ranges_are_unsatisfiable() {
        assert_eq!(resolve(ByteRange::Bounded(5..5), 100), None);
        assert_eq!(resolve(ByteRange::Last(0), 100), None);
        assert_eq!(resolve(ByteRange::Last(10), 0), None);
    }

    #[test]
    fn suffix_range_takes_the_tail_or_everything() {
        assert_eq!(resolve(ByteRange::Last(10), 100), Some(90..100));
        assert_eq!(resolve(ByteRange::Last(500), 100), Some(0..100));
        assert_eq!(resolve(ByteRange::From(40), 100), Some(40..100));
    }
}
