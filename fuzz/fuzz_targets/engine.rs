//! The engine's entry points on arbitrary bytes: `sniff` on the whole input and on its head (as
//! the gateway calls it), then `probe` and `convert` on the bytes as a file, native engine, no
//! ffmpeg. Invariants: no panic, no hang, no huge allocation (libFuzzer's limits); every error is
//! a permanent, typed refusal in words (never I/O, which workers would retry, nor an encoder
//! failure); every success is an MP3 of a plausible length.

#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mp3converter_media::sniff::{SNIFF_LEN, sniff};
use mp3converter_media::{
    Control, ConvertOptions, EngineChoice, EngineConfig, MediaError, convert, probe,
};

/// Where each input gets its own temporary directory: tmpfs when there is one.
fn base() -> &'static PathBuf {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        }
    })
}

fn config() -> EngineConfig {
    EngineConfig {
        engine: EngineChoice::Native,
        threads: 1,
        // Bounds the work per input: a small file declaring hours is refused from its headers.
        max_duration_secs: Some(120.0),
        ffmpeg_path: "/nonexistent/ffmpeg".into(),
        ffprobe_path: "/nonexistent/ffprobe".into(),
        ..EngineConfig::default()
    }
}

fn check(what: &str, e: &MediaError) {
    assert!(
        e.is_permanent() && !matches!(e, MediaError::Encoder(_) | MediaError::Io(_)),
        "{what}: {e:?}"
    );
    assert!(!e.to_string().trim().is_empty(), "{what}: empty message");
}

fuzz_target!(|data: &[u8]| {
    let _ = sniff(data);
    let _ = sniff(&data[..data.len().min(SNIFF_LEN)]);

    // Removed when the input is done (a crash leaves it behind, next to the crash artifact).
    let dir = tempfile::Builder::new()
        .prefix("mp3c-fuzz-engine-")
        .tempdir_in(base())
        .unwrap();
    let input = dir.path().join("input");
    let output = dir.path().join("output.mp3");
    std::fs::write(&input, data).unwrap();
    let config = config();
    if let Err(e) = probe(&input, &config) {
        check("probe", &e);
    }
    match convert(
        &input,
        &output,
        &ConvertOptions::default(),
        &config,
        Control::none(),
    ) {
        Err(e) => {
            check("convert", &e);
            assert!(!output.exists(), "a failed conversion left its output");
        }
        Ok(report) => {
            assert!(
                (0.0..=120.0 + 1.0).contains(&report.duration_secs),
                "duration {}",
                report.duration_secs
            );
            let size = std::fs::metadata(&output).unwrap().len();
            assert_eq!(size, report.bytes, "reported size");
            std::fs::remove_file(&output).unwrap();
        }
    }
});
