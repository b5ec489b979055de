//! Audio extraction (`extract::plan`) over the committed fixtures: what is extracted converts to
//! the same MP3 as the original, what is not falls back to the whole file, unknown sizes are
//! understood, and damaged files never make it panic or point outside the file.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use mp3converter_media::extract::{self, Container, Extraction, Outcome, Piece};

mod extract_support;
use extract_support::with_unknown_sizes;
use mp3converter_media::{Control, ConvertOptions, EngineConfig, convert};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/media")
        .join(name)
}

fn plan_bytes(bytes: &[u8], track: Option<usize>) -> Outcome {
    extract::plan(&mut Cursor::new(bytes), bytes.len() as u64, track, &|_| {})
        .expect("a plan over memory has no I/O error")
}

fn plan(name: &str, track: Option<usize>) -> Outcome {
    plan_bytes(&std::fs::read(fixture(name)).unwrap(), track)
}

fn extracted(name: &str, track: Option<usize>) -> Extraction {
    match plan(name, track) {
        Outcome::Extracted(e) => e,
        Outcome::Whole(reason) => panic!("{name} track {track:?}: not extracted: {reason}"),
    }
}

/// The extracted bytes.
fn build(bytes: &[u8], extraction: &Extraction) -> Vec<u8> {
    let mut out = Vec::new();
    extraction
        .write_to(&mut Cursor::new(bytes), &mut out)
        .unwrap();
    assert_eq!(out.len() as u64, extraction.len, "len is the bytes written");
    out
}

/// Converts `path` with `options`; the MP3's bytes.
fn mp3_of(path: &Path, options: &ConvertOptions) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp3");
    convert(
        path,
        &out,
        options,
        &EngineConfig::default(),
        Control::none(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    std::fs::read(out).unwrap()
}

fn assert_converts_the_same(name: &str, track: Option<usize>, container: Container) {
    let source = std::fs::read(fixture(name)).unwrap();
    let extraction = extracted(name, track);
    assert_eq!(extraction.container, container, "{name}");
    let audio = build(&source, &extraction);
    assert!(
        audio.len() < source.len(),
        "{name}: the audio ({}) is smaller than the file ({})",
        audio.len(),
        source.len()
    );
    // Same file name in another directory: the default ID3 title comes from it.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join(name);
    std::fs::write(&copy, &audio).unwrap();
    let original = mp3_of(
        &fixture(name),
        &ConvertOptions {
            track,
            ..Default::default()
        },
    );
    let from_audio = mp3_of(&copy, &ConvertOptions::default());
    assert!(
        original == from_audio,
        "{name} track {track:?}: the extracted audio converts to other MP3 bytes ({} vs {})",
        from_audio.len(),
        original.len()
    );
}

#[test]
fn mp4_audio_is_extracted_and_converts_to_the_same_mp3() {
    for name in [
        "mp4-aac-faststart.mp4",
        "mp4-aac-moov-end.mp4",
        "mov-aac.mov",
        "mp4-mp3.mp4",
    ] {
        assert_converts_the_same(name, None, Container::M4a);
    }
}

#[test]
fn each_chosen_track_of_two_is_extracted_and_converts_to_the_same_mp3() {
    assert_converts_the_same("mp4-two-audio.mp4", Some(0), Container::M4a);
    assert_converts_the_same("mp4-two-audio.mp4", Some(1), Container::M4a);
    let (a, b) = (
        extracted("mp4-two-audio.mp4", Some(0)),
        extracted("mp4-two-audio.mp4", Some(1)),
    );
    assert_ne!(a.pieces, b.pieces, "the two tracks are different audio");
}

#[test]
fn matroska_audio_is_extracted_and_converts_to_the_same_mp3() {
    assert_converts_the_same("mkv-aac.mkv", None, Container::Matroska);
    assert_converts_the_same("webm-vorbis.webm", None, Container::Webm);
    assert_converts_the_same("webm-opus.webm", None, Container::Webm);
}

#[test]
fn what_cannot_or_need_not_be_extracted_is_sent_whole() {
    for (name, track) in [
        ("m4a-alac.m4a", None), // audio only
        ("mp4-video-only.mp4", None),
        ("mp4-two-audio.mp4", None), // two audio tracks, none chosen
        ("mp4-two-audio.mp4", Some(2)),
        ("mp4-aac-faststart.mp4", Some(1)),
        ("mkv-flac.mkv", None),
        ("mkv-ac3.mkv", None),
        ("truncated.mp4", None),
        ("random.bin", None),
        ("not-media.pdf", None),
        ("mpegts-aac.ts", None),
        ("empty.bin", None),
        ("avi-mp3.avi", None),
    ] {
        match plan(name, track) {
            Outcome::Whole(reason) => assert!(!reason.is_empty(), "{name}: a reason is given"),
            Outcome::Extracted(_) => panic!("{name} track {track:?}: must be sent whole"),
        }
    }
}

#[test]
fn m4a_layout_is_ftyp_moov_mdat_with_one_trak() {
    let source = std::fs::read(fixture("mp4-aac-moov-end.mp4")).unwrap();
    let audio = build(&source, &extracted("mp4-aac-moov-end.mp4", None));
    assert_eq!(&audio[..28], b"\0\0\0\x1cftypM4A \0\0\0\0M4A mp42isom");
    assert_eq!(&audio[32..36], b"moov");
    let moov_len = u32::from_be_bytes(audio[28..32].try_into().unwrap()) as usize;
    let mdat = 28 + moov_len;
    assert_eq!(&audio[mdat + 4..mdat + 8], b"mdat");
    let mdat_len = u32::from_be_bytes(audio[mdat..mdat + 4].try_into().unwrap()) as usize;
    assert_eq!(mdat + mdat_len, audio.len(), "mdat runs to the end");
    let moov = &audio[28..mdat];
    assert_eq!(moov.windows(4).filter(|w| w == b"trak").count(), 1);
    assert_eq!(moov.windows(4).filter(|w| w == b"soun").count(), 1);
    assert_eq!(moov.windows(4).filter(|w| w == b"vide").count(), 0);
}

#[test]
fn adjacent_source_ranges_are_merged_and_pieces_resume_at_any_offset() {
    for name in ["mp4-aac-faststart.mp4", "mkv-aac.mkv", "webm-opus.webm"] {
        let source = std::fs::read(fixture(name)).unwrap();
        let extraction = extracted(name, None);
        for pair in extraction.pieces.windows(2) {
            match pair {
                [
                    Piece::Source { offset, len },
                    Piece::Source { offset: next, .. },
                ] => {
                    assert_ne!(offset + len, *next, "{name}: adjacent ranges are one piece");
                }
                [Piece::Bytes(_), Piece::Bytes(_)] => panic!("{name}: consecutive bytes pieces"),
                _ => {}
            }
        }
        let whole = build(&source, &extraction);
        for offset in (0..=extraction.len + 3).step_by(97) {
            let mut rest = Vec::new();
            extract::write_pieces(
                &extraction.pieces_from(offset),
                &mut Cursor::new(&source),
                &mut rest,
            )
            .unwrap();
            let from = (offset as usize).min(whole.len());
            assert_eq!(rest, whole[from..], "{name}: pieces from {offset}");
        }
    }
}

#[test]
fn unknown_size_segments_and_clusters_give_the_same_audio() {
    for name in ["webm-opus.webm", "webm-vorbis.webm", "mkv-aac.mkv"] {
        let source = std::fs::read(fixture(name)).unwrap();
        let unknown = with_unknown_sizes(&source);
        assert_ne!(source, unknown);
        let known = build(&source, &extracted(name, None));
        let Outcome::Extracted(extraction) = plan_bytes(&unknown, None) else {
            panic!("{name}: unknown sizes must still be extracted");
        };
        assert_eq!(
            build(&unknown, &extraction),
            known,
            "{name}: the same audio file"
        );
    }
}

/// `plan` on damaged bytes must not panic; an extraction must stay inside the file.
fn check_damaged(name: &str, bytes: &[u8]) {
    for track in [None, Some(0), Some(1)] {
        if let Outcome::Extracted(e) = plan_bytes(bytes, track) {
            let mut sum = 0;
            for piece in &e.pieces {
                if let Piece::Source { offset, len } = piece {
                    assert!(
                        offset
                            .checked_add(*len)
                            .is_some_and(|end| end <= bytes.len() as u64),
                        "{name}: a piece lies outside the file"
                    );
                }
                sum += piece.len();
            }
            assert_eq!(sum, e.len, "{name}: len is the sum of the pieces");
            build(bytes, &e);
        }
    }
}

const EXTRACTABLE: [&str; 8] = [
    "mp4-aac-faststart.mp4",
    "mp4-aac-moov-end.mp4",
    "mov-aac.mov",
    "mp4-mp3.mp4",
    "mp4-two-audio.mp4",
    "mkv-aac.mkv",
    "webm-opus.webm",
    "webm-vorbis.webm",
];

#[test]
fn flipped_bytes_never_panic_or_point_outside_the_file() {
    for name in EXTRACTABLE {
        let source = std::fs::read(fixture(name)).unwrap();
        for at in (0..source.len()).step_by(97) {
            for flip in [0xFF, 0x80] {
                let mut bytes = source.clone();
                bytes[at] ^= flip;
                check_damaged(name, &bytes);
            }
        }
    }
}

#[test]
fn truncated_files_never_panic_or_point_outside_the_file() {
    for name in EXTRACTABLE {
        let source = std::fs::read(fixture(name)).unwrap();
        for i in 0..50 {
            let cut = source.len() * i / 50;
            check_damaged(name, &source[..cut]);
        }
    }
}

#[test]
fn boxes_claiming_huge_sizes_fall_back_without_allocating_them() {
    let ftyp = b"\0\0\0\x14ftypisom\0\0\x02\0isom".to_vec();
    let huge_moov = [&ftyp[..], b"\xFF\xFF\xFF\xFFmoov\0\0\0\0"].concat();
    let huge_moov64 = [&ftyp[..], b"\0\0\0\x01moov\x7F\xFF\xFF\xFF\xFF\xFF\xFF\xFF"].concat();
    // An EBML header, then a Segment whose Tracks claims 2^55 bytes.
    let mkv = [
        &b"\x1A\x45\xDF\xA3\x84\x42\x82\x81m"[..],
        b"\x18\x53\x80\x67\x01\xFF\xFF\xFF\xFF\xFF\xFF\xFF",
        b"\x16\x54\xAE\x6B\x01\x7F\xFF\xFF\xFF\xFF\xFF\xFF\0\0",
    ]
    .concat();
    for bytes in [huge_moov, huge_moov64, mkv] {
        assert!(matches!(plan_bytes(&bytes, None), Outcome::Whole(_)));
    }
}
