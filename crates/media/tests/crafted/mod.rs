//! Hostile inputs made byte by byte: decompression bombs (a FLAC whose header omits or
//! understates its length) and playlists disguised as media (HLS, ffconcat) that point at
//! another file. Shared by the engine's tests and the converter's (`#[path]`).

#![allow(dead_code)]

use std::path::Path;

/// Sample rate of the crafted FLAC (32 kHz: an MPEG-1 rate, so every bitrate is valid).
pub const FLAC_RATE: u32 = 32_000;
/// Samples per FLAC frame.
const BLOCK: u32 = 4096;

/// A FLAC file of `secs` seconds of digital silence, 32 kHz mono 16-bit, whose STREAMINFO declares
/// `declared_samples` in total (0 means "unknown", as the format allows). Each 4096-sample frame
/// is one CONSTANT subframe: about 11 bytes, so a long file stays tiny — a decompression bomb.
pub fn silent_flac(secs: u32, declared_samples: u64) -> Vec<u8> {
    let mut out = b"fLaC".to_vec();
    // STREAMINFO, the last metadata block: type 0, 34 bytes.
    out.extend_from_slice(&[0x80, 0, 0, 34]);
    out.extend_from_slice(&(BLOCK as u16).to_be_bytes()); // min block size
    out.extend_from_slice(&(BLOCK as u16).to_be_bytes()); // max block size
    out.extend_from_slice(&[0; 6]); // min/max frame size unknown
    // 20 bits rate, 3 bits channels-1, 5 bits bits-per-sample-1, 36 bits total samples.
    let packed: u64 =
        (u64::from(FLAC_RATE) << 44) | (15 << 36) | (declared_samples & 0xF_FFFF_FFFF);
    out.extend_from_slice(&packed.to_be_bytes());
    out.extend_from_slice(&[0; 16]); // MD5 unknown
    let frames = (secs * FLAC_RATE).div_ceil(BLOCK);
    for n in 0..frames {
        let start = out.len();
        // Sync + fixed block size; 4096 samples (0b1100), 32 kHz (0b1000); mono, 16 bits.
        // (ffmpeg 5.1's FLAC parser drops the first frames of such a stream at 8 bits.)
        out.extend_from_slice(&[0xFF, 0xF8, 0xC8, 0x08]);
        utf8_number(n, &mut out);
        let crc = crc8(&out[start..]);
        out.push(crc);
        // Subframe: CONSTANT (type 0, no wasted bits), value 0 in 16 bits.
        out.extend_from_slice(&[0x00, 0x00, 0x00]);
        let crc = crc16(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    out
}

/// FLAC's "UTF-8" coding of a frame number (up to 2^16 here).
fn utf8_number(n: u32, out: &mut Vec<u8>) {
    match n {
        0..0x80 => out.push(n as u8),
        0x80..0x800 => out.extend_from_slice(&[0xC0 | (n >> 6) as u8, 0x80 | (n & 0x3F) as u8]),
        _ => out.extend_from_slice(&[
            0xE0 | (n >> 12) as u8,
            0x80 | ((n >> 6) & 0x3F) as u8,
            0x80 | (n & 0x3F) as u8,
        ]),
    }
}

fn crc8(data: &[u8]) -> u8 {
    data.iter().fold(0u8, |mut crc, &b| {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
        crc
    })
}

fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |mut crc, &b| {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
        crc
    })
}

/// An empty ID3v2.3 tag. ffmpeg skips ID3v2 before probing the format, so what follows decides
/// ffmpeg's demuxer while our sniffer sees "MP3 with a tag".
const ID3_EMPTY: &[u8] = b"ID3\x03\x00\x00\x00\x00\x00\x00";

/// Disguises a text playlist as media: an ID3 tag in front, and a control byte in a comment line
/// so it does not read as plain text.
fn disguise(playlist: &str) -> Vec<u8> {
    let mut bytes = ID3_EMPTY.to_vec();
    bytes.extend_from_slice(playlist.as_bytes());
    bytes
}

/// An HLS media playlist whose one segment is `target` (an absolute path to another file).
pub fn hls_playlist(target: &Path) -> Vec<u8> {
    disguise(&format!(
        "#EXTM3U\n#\x01\x02\x03\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:10.0,\n{}\n#EXT-X-ENDLIST\n",
        target.display()
    ))
}

/// An ffconcat script that plays `target` (an absolute path to another file).
pub fn concat_script(target: &Path) -> Vec<u8> {
    disguise(&format!(
        "ffconcat version 1.0\n#\x01\x02\x03\nfile '{}'\n",
        target.display()
    ))
}
