//! WAV header values checked before symphonia sees the file. symphonia's WAV reader multiplies
//! the declared channel count without checking it (an overflow panic with overflow checks on,
//! found by fuzzing), so an absurd count is refused first: by the route against
//! `max_channels` (`too-many-channels`), and by every native open above [`MAX_WAV_CHANNELS`].

use std::io::Read;
use std::path::Path;

/// How far into the file the `fmt ` chunk is looked for.
const HEAD: u64 = 64 * 1024;

/// More channels than any WAV layout has: such a header never reaches symphonia (which maps at
/// most 32 and overflows on counts in the tens of thousands).
pub(crate) const MAX_WAV_CHANNELS: u16 = 64;

/// The channel count a RIFF/RF64 WAVE file's `fmt ` chunk declares, if it has one in the first
/// 64 KiB.
pub(crate) fn declared_channels(path: &Path) -> std::io::Result<Option<u16>> {
    let mut head = Vec::new();
    std::fs::File::open(path)?
        .take(HEAD)
        .read_to_end(&mut head)?;
    Ok(channels_in(&head))
}

fn channels_in(head: &[u8]) -> Option<u16> {
    if !matches!(head.get(..4), Some(b"RIFF" | b"RF64")) || head.get(8..12) != Some(b"WAVE") {
        return None;
    }
    let mut at = 12usize;
    while let Some(chunk) = head.get(at..at + 8) {
        let size = u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]) as usize;
        if &chunk[..4] == b"fmt " {
            // format tag (2), then the channel count (2).
            let channels = head.get(at + 10..at + 12)?;
            return Some(u16::from_le_bytes([channels[0], channels[1]]));
        }
        // Chunks are padded to an even size.
        at = at
            .checked_add(8)?
            .checked_add(size)?
            .checked_add(size & 1)?;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::channels_in;

    fn wav(channels: u16, junk_before_fmt: bool) -> Vec<u8> {
        let mut b = b"RIFF\0\0\0\0WAVE".to_vec();
        if junk_before_fmt {
            b.extend_from_slice(b"LIST\x03\0\0\0abc\0");
        }
        b.extend_from_slice(b"fmt \x10\0\0\0\x01\0");
        b.extend_from_slice(&channels.to_le_bytes());
        b.extend_from_slice(&[0; 12]);
        b
    }

    #[test]
    fn finds_the_declared_channels_past_other_chunks() {
        assert_eq!(channels_in(&wav(2, false)), Some(2));
        assert_eq!(channels_in(&wav(65535, true)), Some(65535));
        assert_eq!(channels_in(b"RIFF\0\0\0\0WAVEdata\xff\xff\xff\xff"), None);
        assert_eq!(channels_in(b"OggS"), None);
        assert_eq!(
            channels_in(&wav(2, false)[..21]),
            None,
            "cut inside the fmt chunk"
        );
    }
}
