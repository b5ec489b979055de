use std::path::Path;
use std::process::Command;

use md5::{Digest, Md5};

use super::*;

/// A 440 Hz sine (left) and 660 Hz sine (right, when stereo) at half scale, 16-bit, interleaved.
fn sine(rate: u32, channels: u8, frames: usize) -> Vec<i32> {
    let mut v = Vec::with_capacity(frames * usize::from(channels));
    for i in 0..frames {
        for ch in 0..channels {
            let f = 440.0 * (1.0 + f64::from(ch) / 2.0);
            let x = (i as f64 * f * std::f64::consts::TAU / f64::from(rate)).sin();
            v.push((x * 16384.0).round() as i32);
        }
    }
    v
}

/// Encodes `pcm` in pieces of `piece` values; returns the frames, the STREAMINFO and how many
/// frames the encoder had written before `finish`.
fn encode(config: &Config, pcm: &[i32], piece: usize) -> (Vec<u8>, [u8; STREAMINFO_LEN], u32) {
    let mut enc = Encoder::new(config).unwrap();
    let mut out = Vec::new();
    for chunk in pcm.chunks(piece) {
        enc.encode(chunk, &mut out).unwrap();
    }
    let before = enc.frames();
    let info = enc.finish(&mut out).unwrap();
    (out, info, before)
}

/// A whole file: `fLaC`, STREAMINFO as the last metadata block, the frames.
fn file(frames: &[u8], info: &[u8; STREAMINFO_LEN]) -> Vec<u8> {
    let mut f = b"fLaC\x80\x00\x00\x22".to_vec();
    f.extend_from_slice(info);
    f.extend_from_slice(frames);
    f
}

fn le_bytes(pcm: &[i32]) -> Vec<u8> {
    pcm.iter().flat_map(|&v| (v as i16).to_le_bytes()).collect()
}

/// The file decoded by ffmpeg to interleaved s16le bytes, or `None` when ffmpeg is missing.
fn ffmpeg_decode(path: &Path) -> Option<Vec<u8>> {
    let out = match Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "s16le", "-"])
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            println!("ffmpeg is not installed (apt-get install ffmpeg): skipping the decode check");
            return None;
        }
        Err(e) => panic!("ffmpeg could not be started: {e}"),
    };
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(out.stdout)
}

#[test]
fn a_sine_round_trips_and_streaminfo_has_the_totals_and_md5() {
    for (rate, channels, loose_mid_side) in
        [(44_100, 2, true), (44_100, 2, false), (48_000, 1, true)]
    {
        let n = 3 * 4096 + 1234;
        let pcm = sine(rate, channels, n);
        let config = Config {
            loose_mid_side,
            ..Config::new(rate, channels)
        };
        let (frames, info, before) = encode(&config, &pcm, 1000);
        assert_eq!(before, 3, "three whole blocks before the last one");
        assert_eq!(&frames[..2], &[0xFF, 0xF8], "frames start with a sync code");

        assert_eq!(u16::from_be_bytes([info[0], info[1]]), 4096);
        assert_eq!(u16::from_be_bytes([info[2], info[3]]), 4096);
        let min_frame = u32::from_be_bytes([0, info[4], info[5], info[6]]);
        let max_frame = u32::from_be_bytes([0, info[7], info[8], info[9]]);
        assert!(
            0 < min_frame && min_frame <= max_frame,
            "{min_frame} {max_frame}"
        );
        assert!((max_frame as usize) < frames.len());
        let packed = u64::from_be_bytes(info[10..18].try_into().unwrap());
        assert_eq!(packed >> 44, u64::from(rate));
        assert_eq!((packed >> 41) & 7, u64::from(channels) - 1);
        assert_eq!((packed >> 36) & 31, 15);
        assert_eq!(packed & ((1 << 36) - 1), n as u64);
        let pcm_bytes = le_bytes(&pcm);
        assert_eq!(info[18..34], Md5::digest(&pcm_bytes)[..]);
        // Compressed: a pure sine is far smaller than its PCM.
        assert!(frames.len() < pcm_bytes.len() / 3, "{} bytes", frames.len());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sine.flac");
        std::fs::write(&path, file(&frames, &info)).unwrap();
        if let Some(decoded) = ffmpeg_decode(&path) {
            assert!(
                decoded == pcm_bytes,
                "{rate} Hz × {channels}: decoded samples differ"
            );
        }
    }
}

#[test]
fn the_output_does_not_depend_on_how_the_input_is_split() {
    let pcm = sine(44_100, 2, 20_000);
    let config = Config::new(44_100, 2);
    let (a, ia, _) = encode(&config, &pcm, 2);
    let (b, ib, _) = encode(&config, &pcm, 8192);
    let (c, ic, _) = encode(&config, &pcm, pcm.len());
    assert!(a == b && b == c);
    assert!(ia == ib && ib == ic);
}

#[test]
fn refuses_bad_settings_and_bad_samples() {
    let bad = |c: Config| Encoder::new(&c).unwrap_err();
    let ok = Config::new(44_100, 2);
    assert_eq!(
        bad(Config {
            channels: 0,
            ..ok.clone()
        }),
        FlacError::Setting("channels")
    );
    assert_eq!(
        bad(Config {
            channels: 9,
            ..ok.clone()
        }),
        FlacError::Setting("channels")
    );
    assert_eq!(
        bad(Config {
            rate: 0,
            ..ok.clone()
        }),
        FlacError::Setting("sample rate")
    );
    assert_eq!(
        bad(Config {
            rate: 1 << 20,
            ..ok.clone()
        }),
        FlacError::Setting("sample rate")
    );
    assert_eq!(
        bad(Config {
            level: 9,
            ..ok.clone()
        }),
        FlacError::Setting("compression level")
    );
    assert_eq!(
        bad(Config {
            bits_per_sample: 32,
            ..ok.clone()
        }),
        FlacError::Setting("bits per sample")
    );

    let mut enc = Encoder::new(&ok).unwrap();
    let mut out = Vec::new();
    assert!(matches!(
        enc.encode(&[1, 2, 3], &mut out),
        Err(FlacError::Input(_))
    ));
    assert!(matches!(
        enc.encode(&[0, 32768], &mut out),
        Err(FlacError::Input(_))
    ));
    assert!(matches!(
        enc.encode(&[-32769, 0], &mut out),
        Err(FlacError::Input(_))
    ));
    // Extremes are fine, and the encoder is still usable after a refusal.
    enc.encode(&[32767, -32768], &mut out).unwrap();
    let info = enc.finish(&mut out).unwrap();
    let packed = u64::from_be_bytes(info[10..18].try_into().unwrap());
    assert_eq!(packed & ((1 << 36) - 1), 1);
}

#[test]
fn an_odd_rate_outside_the_subset_still_encodes() {
    let pcm = sine(100_001, 1, 5000);
    let (frames, info, _) = encode(&Config::new(100_001, 1), &pcm, 4096);
    let packed = u64::from_be_bytes(info[10..18].try_into().unwrap());
    assert_eq!(packed >> 44, 100_001);
    assert!(!frames.is_empty());
}

#[test]
fn dropping_a_running_encoder_frees_it() {
    // Dropped mid-stream (libFLAC still holds a partial block) and without any input: no leak
    // or crash (run under a sanitizer or valgrind to see the former).
    for n in [0, 10_000] {
        let mut enc = Encoder::new(&Config::new(44_100, 2)).unwrap();
        let mut out = Vec::new();
        enc.encode(&sine(44_100, 2, n), &mut out).unwrap();
        drop(enc);
    }
    assert!(version().starts_with("1.5"), "{}", version());
}
