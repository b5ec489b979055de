//! The web UI's audio extraction (`web/extract.js`, run in Node by `tests/extract/extract.mjs`)
//! builds the same bytes as the engine's `extract::plan` for every fixture, and falls back to
//! the whole file for the same ones — also on unknown sizes and damaged copies. Runs when `MP3C_TEST_NODE` is the path of a Node ≥ 20
//! binary (CI sets it); skipped otherwise.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::process::Command;

use mp3converter_media::extract::{self, Outcome};

mod extract_support;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What the Rust side builds: the bytes, or `None` for the whole file.
fn rust_side(bytes: &[u8], track: Option<usize>) -> Option<Vec<u8>> {
    match extract::plan(&mut Cursor::new(bytes), bytes.len() as u64, track, &|_| {}).unwrap() {
        Outcome::Extracted(e) => {
            let mut out = Vec::new();
            e.write_to(&mut Cursor::new(bytes), &mut out).unwrap();
            Some(out)
        }
        Outcome::Whole(_) => None,
    }
}

/// What the web side builds for the file at `input`.
fn web_side(node: &str, input: &Path, track: Option<usize>) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out");
    let mut cmd = Command::new(node);
    cmd.arg(repo().join("tests/extract/extract.mjs"))
        .arg(input)
        .arg(&output);
    if let Some(t) = track {
        cmd.arg(t.to_string());
    }
    let out = cmd.output().expect("node runs");
    match out.status.code() {
        Some(0) => Some(std::fs::read(&output).unwrap()),
        Some(3) => None,
        _ => panic!(
            "{}: extract.mjs failed: {}",
            input.display(),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn the_web_ui_and_the_cli_build_the_same_audio_file() {
    let Ok(node) = std::env::var("MP3C_TEST_NODE") else {
        eprintln!("skipping: set MP3C_TEST_NODE=$(command -v node) to compare with web/extract.js");
        return;
    };
    let fixtures = repo().join("tests/fixtures/media");
    let mut names: Vec<_> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".md") && !n.ends_with(".sh"))
        .collect();
    names.sort();
    let mut extracted = 0;
    for name in &names {
        let path = fixtures.join(name);
        let bytes = std::fs::read(&path).unwrap();
        for track in [None, Some(0), Some(1)] {
            let rust = rust_side(&bytes, track);
            let web = web_side(&node, &path, track);
            match (&rust, &web) {
                (Some(r), Some(w)) => {
                    assert!(
                        r == w,
                        "{name} track {track:?}: different bytes ({} vs {})",
                        r.len(),
                        w.len()
                    );
                    extracted += 1;
                }
                (None, None) => {}
                _ => panic!(
                    "{name} track {track:?}: extracted by {} only",
                    if rust.is_some() {
                        "the CLI"
                    } else {
                        "the web UI"
                    }
                ),
            }
        }
    }
    assert!(extracted >= 8, "the fixtures include extractable files");
}

/// Compares both sides on `bytes` (written to a temp file for Node); whether they extracted.
fn same_on(node: &str, what: &str, bytes: &[u8], track: Option<usize>) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("input");
    std::fs::write(&path, bytes).unwrap();
    let rust = rust_side(bytes, track);
    let web = web_side(node, &path, track);
    assert!(
        rust == web,
        "{what} track {track:?}: the CLI {:?} bytes, the web UI {:?}",
        rust.as_ref().map(Vec::len),
        web.as_ref().map(Vec::len)
    );
    rust.is_some()
}

#[test]
fn the_web_ui_and_the_cli_agree_on_unknown_sizes_and_damaged_files() {
    let Ok(node) = std::env::var("MP3C_TEST_NODE") else {
        eprintln!("skipping: set MP3C_TEST_NODE=$(command -v node) to compare with web/extract.js");
        return;
    };
    let fixtures = repo().join("tests/fixtures/media");
    for name in ["webm-opus.webm", "webm-vorbis.webm", "mkv-aac.mkv"] {
        let bytes = std::fs::read(fixtures.join(name)).unwrap();
        let unknown = extract_support::with_unknown_sizes(&bytes);
        assert!(same_on(&node, name, &unknown, None), "{name}: extracted");
    }
    for name in [
        "mp4-aac-faststart.mp4",
        "mp4-aac-moov-end.mp4",
        "mov-aac.mov",
        "mkv-aac.mkv",
        "webm-opus.webm",
    ] {
        let bytes = std::fs::read(fixtures.join(name)).unwrap();
        for i in 1..5 {
            let cut = bytes.len() * i / 5;
            same_on(&node, &format!("{name} cut at {cut}"), &bytes[..cut], None);
        }
        for at in (0..bytes.len()).step_by(bytes.len() / 6 + 1) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0xFF;
            same_on(&node, &format!("{name} flipped at {at}"), &flipped, None);
        }
    }
}
