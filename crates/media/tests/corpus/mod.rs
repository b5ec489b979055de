//! A corpus of malformed media, generated from the committed fixtures: truncated at many
//! offsets, bit-flipped headers, a huge declared duration, absurd sample rates and channel
//! counts, and nothing at all. Deterministic (a fixed-seed generator), so a failure names a case
//! that can be re-created. Shared by the engine's tests and the converter's (`#[path]`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// One malformed input: a name that says how it was made, and its bytes.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Fixtures the native engine reads, mutated below.
pub const SOURCES: &[&str] = &[
    "mp4-aac-faststart.mp4",
    "mp4-aac-moov-end.mp4",
    "mov-aac.mov",
    "m4a-alac.m4a",
    "mkv-aac.mkv",
    "mkv-flac.mkv",
    "webm-vorbis.webm",
    "ogg-vorbis.ogg",
    "wav-pcm16.wav",
    "aac-adts.aac",
    "mp3-cbr.mp3",
    "mp4-mp3.mp4",
];

/// A committed media fixture (`tests/fixtures/media/NAME`).
pub fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/media")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// xorshift64*: deterministic positions for the bit flips.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The whole corpus: every kind of damage applied to every source.
pub fn corpus() -> Vec<Case> {
    let mut cases = vec![Case {
        name: "zero bytes".into(),
        bytes: Vec::new(),
    }];
    for source in SOURCES {
        let bytes = read(source);
        cases.extend(truncations(source, &bytes));
        cases.extend(header_flips(source, &bytes));
    }
    cases.extend(declared_values());
    cases.extend(fuzz_findings());
    cases
}

/// Inputs the fuzzer found to break the engine (`tests/fixtures/fuzz/engine`), kept as
/// regression cases once fixed.
pub fn fuzz_findings() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/fuzz/engine");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| Case {
            name: format!("fuzz: {}", path.file_name().unwrap().to_string_lossy()),
            bytes: std::fs::read(&path).unwrap(),
        })
        .collect()
}

/// A smaller corpus for slower paths (the converter worker): every eighth truncation or flip,
/// every case of declared values and every fuzz finding.
pub fn sampler() -> Vec<Case> {
    corpus()
        .into_iter()
        .enumerate()
        .filter(|(i, c)| {
            i % 8 == 0 || c.name.starts_with("declared:") || c.name.starts_with("fuzz:")
        })
        .map(|(_, c)| c)
        .collect()
}

fn truncations(source: &str, bytes: &[u8]) -> Vec<Case> {
    let len = bytes.len();
    let offsets = [
        1,
        4,
        8,
        12,
        32,
        100,
        1000,
        4096,
        len / 4,
        len / 2,
        len * 3 / 4,
        len - 1,
    ];
    let mut offsets: Vec<usize> = offsets.into_iter().filter(|&o| o > 0 && o < len).collect();
    offsets.dedup();
    offsets
        .into_iter()
        .map(|at| Case {
            name: format!("truncated: {source} at {at}"),
            bytes: bytes[..at].to_vec(),
        })
        .collect()
}

fn header_flips(source: &str, bytes: &[u8]) -> Vec<Case> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ bytes.len() as u64);
    let header = bytes.len().min(512);
    let mut cases = Vec::new();
    for i in 0..12 {
        let mut b = bytes.to_vec();
        // One bit in the first 512 bytes, or eight at once.
        let flips = if i < 8 { 1 } else { 8 };
        let mut at = Vec::new();
        for _ in 0..flips {
            let pos = rng.below(header);
            b[pos] ^= 1 << rng.below(8);
            at.push(pos);
        }
        cases.push(Case {
            name: format!("flipped: {source} bits at {at:?}"),
            bytes: b,
        });
    }
    cases
}

fn find(bytes: &[u8], tag: &[u8]) -> Vec<usize> {
    bytes
        .windows(tag.len())
        .enumerate()
        .filter(|(_, w)| *w == tag)
        .map(|(i, _)| i)
        .collect()
}

fn put_u16_le(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32_le(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u16_be(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put_u32_be(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn case(name: String, bytes: Vec<u8>) -> Case {
    Case { name, bytes }
}

/// Header fields that declare absurd durations, sample rates and channel counts.
fn declared_values() -> Vec<Case> {
    let mut cases = Vec::new();
    let wav = read("wav-pcm16.wav");
    // RIFF WAVE: channels @22 (u16), rate @24, byte rate @28, block align @32, bits @34, data size.
    let data = find(&wav, b"data")[0];
    for (what, at, value) in [
        ("channels 0", 22, 0u32),
        ("channels 65535", 22, 65535),
        ("channels 1000", 22, 1000),
        ("block align 0", 32, 0),
        ("bits per sample 0", 34, 0),
        ("bits per sample 7", 34, 7),
        ("bits per sample 64", 34, 64),
    ] {
        let mut b = wav.clone();
        put_u16_le(&mut b, at, value as u16);
        cases.push(case(format!("declared: wav {what}"), b));
    }
    for (what, value) in [
        ("rate 0", 0u32),
        ("rate 1", 1),
        ("rate 4294967295", u32::MAX),
        ("rate 10 MHz", 10_000_000),
    ] {
        let mut b = wav.clone();
        put_u32_le(&mut b, 24, value);
        cases.push(case(format!("declared: wav {what}"), b));
    }
    let mut b = wav.clone();
    put_u32_le(&mut b, 4, u32::MAX - 8);
    put_u32_le(&mut b, data + 4, u32::MAX - 16);
    cases.push(case("declared: wav data of 4 GiB (13.5 h)".into(), b));

    let mp4 = read("mp4-aac-faststart.mp4");
    // mvhd/mdhd version 0: version+flags (4), created (4), modified (4), timescale (4), duration (4).
    let mut huge = mp4.clone();
    for tag in [&b"mvhd"[..], b"mdhd"] {
        for at in find(&mp4, tag) {
            put_u32_be(&mut huge, at + 4 + 16, u32::MAX);
        }
    }
    cases.push(case(
        "declared: mp4 duration 2^32-1 in every mvhd/mdhd".into(),
        huge,
    ));
    let mut tiny_scale = mp4.clone();
    for at in find(&mp4, b"mdhd") {
        put_u32_be(&mut tiny_scale, at + 4 + 12, 1);
    }
    cases.push(case("declared: mp4 mdhd timescale 1".into(), tiny_scale));
    let mut zero_scale = mp4.clone();
    for at in find(&mp4, b"mdhd").into_iter().chain(find(&mp4, b"mvhd")) {
        put_u32_be(&mut zero_scale, at + 4 + 12, 0);
    }
    cases.push(case("declared: mp4 timescale 0".into(), zero_scale));
    // mp4a sample entry: 6 reserved, 2 data ref, 8 reserved, channels (2), sample size (2),
    // 4 reserved, rate (16.16).
    for (what, field, value) in [
        ("channels 0", 16, 0u32),
        ("channels 65535", 16, 65535),
        ("sample size 0", 18, 0),
    ] {
        let mut b = mp4.clone();
        for at in find(&mp4, b"mp4a") {
            put_u16_be(&mut b, at + 4 + field, value as u16);
        }
        cases.push(case(format!("declared: mp4a {what}"), b));
    }
    for (what, value) in [("rate 0", 0u32), ("rate 65535 Hz", 0xFFFF_0000)] {
        let mut b = mp4.clone();
        for at in find(&mp4, b"mp4a") {
            put_u32_be(&mut b, at + 4 + 24, value);
        }
        cases.push(case(format!("declared: mp4a {what}"), b));
    }
    // ADTS: sampling frequency index (4 bits) and channel configuration in every frame header.
    let adts = read("aac-adts.aac");
    for (what, rate_index, channels) in [
        ("rate index 15", 15u8, 2u8),
        ("rate index 13", 13, 2),
        ("channels 0", 4, 0),
        ("channels 7", 4, 7),
    ] {
        let mut b = adts.clone();
        let mut i = 0;
        while i + 7 <= b.len() {
            if b[i] == 0xFF && b[i + 1] & 0xF0 == 0xF0 {
                let len = (usize::from(b[i + 3] & 0x03) << 11)
                    | (usize::from(b[i + 4]) << 3)
                    | usize::from(b[i + 5] >> 5);
                b[i + 2] = (b[i + 2] & 0b1100_0010) | (rate_index << 2) | (channels >> 2);
                b[i + 3] = (b[i + 3] & 0x3F) | ((channels & 0x03) << 6);
                i += len.max(7);
            } else {
                i += 1;
            }
        }
        cases.push(case(format!("declared: adts {what}"), b));
    }
    // Matroska Duration (0x4489) as an 8-byte float of 1e15 ms (31,700 years).
    let mkv = read("mkv-aac.mkv");
    let mut b = mkv.clone();
    for at in find(&mkv, &[0x44, 0x89, 0x88]) {
        b[at + 3..at + 11].copy_from_slice(&1e15f64.to_be_bytes());
    }
    for at in find(&mkv, &[0x44, 0x89, 0x84]) {
        b[at + 3..at + 7].copy_from_slice(&1e15f32.to_be_bytes());
    }
    cases.push(case("declared: mkv duration 1e15 ms".into(), b));
    // MP3 Xing/Info frame count of 2^31 (about 600 days).
    let mp3 = read("mp3-cbr.mp3");
    let mut b = mp3.clone();
    for at in find(&mp3, b"Info").into_iter().chain(find(&mp3, b"Xing")) {
        put_u32_be(&mut b, at + 8, 0x8000_0000);
    }
    cases.push(case("declared: mp3 info frame count 2^31".into(), b));
    // Magic bytes of a container followed by noise.
    let mut rng = Rng(7);
    for (what, magic) in [
        ("wav", &b"RIFF\xff\xff\xff\x7fWAVEfmt "[..]),
        ("mp4", b"\0\0\0\x20ftypisom"),
        ("mkv", b"\x1a\x45\xdf\xa3"),
        ("ogg", b"OggS\0\x02"),
        ("flac", b"fLaC"),
        ("mp3", b"ID3\x04\0\0\0\0\0\0"),
    ] {
        let mut b = magic.to_vec();
        b.extend((0..20_000).map(|_| rng.next() as u8));
        cases.push(case(format!("declared: {what} magic + noise"), b));
    }
    cases
}
