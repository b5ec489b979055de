//! Reading tags, cover art and chapters from sources made by ffmpeg at test time (MP4, MKV,
//! FLAC, MP3, Ogg Opus), and covers taken from a video frame. Needs ffmpeg (installed by
//! `.ci/run`); skipped with a message without it.

use std::path::{Path, PathBuf};
use std::process::Command;

use mp3converter_media::meta::{self, cover};
use mp3converter_media::{EngineConfig, SourceMeta, ffmpeg_available};

fn need_ffmpeg() -> bool {
    let ok = ffmpeg_available(&EngineConfig::default());
    if !ok {
        eprintln!("skipping: ffmpeg is not installed (CI installs it; apt-get install ffmpeg)");
    }
    ok
}

/// Runs ffmpeg with `args` in `dir`; fails the test when it fails.
fn ffmpeg(dir: &Path, args: &[&str]) {
    let out = Command::new("ffmpeg")
        .current_dir(dir)
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const FFMETADATA: &str = ";FFMETADATA1
title=The Title
artist=The Artist
album=The Album
date=2024-05-17
genre=Podcast
track=3/12
comment=A comment
[CHAPTER]
TIMEBASE=1/1000
START=0
END=1500
title=Intro
[CHAPTER]
TIMEBASE=1/1000
START=1500
END=3250
title=Middle
[CHAPTER]
TIMEBASE=1/1000
START=3250
END=5000
title=End
";

/// A temporary directory with `meta.txt` (the tags and chapters above) and `cover.png`
/// (320x240).
fn workdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("meta.txt"), FFMETADATA).unwrap();
    ffmpeg(
        dir.path(),
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=320x240:rate=1",
            "-frames:v",
            "1",
            "cover.png",
        ],
    );
    dir
}

/// Five seconds of a sine tone with the tags, chapters and cover, made by ffmpeg.
fn make(dir: &Path, name: &str, middle: &[&str]) -> PathBuf {
    let mut args = vec!["-f", "lavfi", "-i", "sine=frequency=440:duration=5"];
    args.extend_from_slice(&["-i", "meta.txt"]);
    args.extend_from_slice(middle);
    args.push(name);
    ffmpeg(dir, &args);
    dir.join(name)
}

fn assert_tags(meta: &SourceMeta, what: &str) {
    let t = &meta.tags;
    assert_eq!(t.title.as_deref(), Some("The Title"), "{what}: {t:?}");
    assert_eq!(t.artist.as_deref(), Some("The Artist"), "{what}: {t:?}");
    assert_eq!(t.album.as_deref(), Some("The Album"), "{what}: {t:?}");
    assert_eq!(t.date.as_deref(), Some("2024-05-17"), "{what}: {t:?}");
    assert_eq!(t.genre.as_deref(), Some("Podcast"), "{what}: {t:?}");
    assert_eq!(t.track_number, Some(3), "{what}: {t:?}");
    assert_eq!(t.comment.as_deref(), Some("A comment"), "{what}: {t:?}");
}

fn assert_cover(meta: &SourceMeta, what: &str) {
    let raw = meta
        .cover
        .as_deref()
        .unwrap_or_else(|| panic!("{what}: no cover"));
    let cleaned = cover::clean(raw).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!((cleaned.width, cleaned.height), (320, 240), "{what}");
}

fn assert_chapters(meta: &SourceMeta, what: &str) {
    let got: Vec<(f64, f64, Option<&str>)> = meta
        .chapters
        .iter()
        .map(|c| (c.start_secs, c.end_secs, c.title.as_deref()))
        .collect();
    let want = [
        (0.0, 1.5, "Intro"),
        (1.5, 3.25, "Middle"),
        (3.25, 5.0, "End"),
    ];
    assert_eq!(got.len(), want.len(), "{what}: {got:?}");
    for ((start, end, title), (ws, we, wt)) in got.iter().zip(want) {
        assert!((start - ws).abs() <= 0.001, "{what}: {got:?}");
        assert!((end - we).abs() <= 0.001, "{what}: {got:?}");
        assert_eq!(*title, Some(wt), "{what}: {got:?}");
    }
}

#[test]
fn mp4_tags_cover_and_chapters() {
    if !need_ffmpeg() {
        return;
    }
    let dir = workdir();
    let mp4 = make(
        dir.path(),
        "x.mp4",
        &[
            "-i",
            "cover.png",
            "-map",
            "0:a",
            "-map",
            "2",
            "-map_metadata",
            "1",
            "-map_chapters",
            "1",
            "-c:a",
            "aac",
            "-c:v",
            "png",
            "-disposition:v:0",
            "attached_pic",
        ],
    );
    let meta = meta::read(&mp4, Some(5.0));
    assert_tags(&meta, "mp4");
    assert_cover(&meta, "mp4");
    assert_chapters(&meta, "mp4");
    // Without a duration, the container's own (the AAC track's, a few ms longer: encoder
    // padding) ends the last chapter, as the Nero list gives only starts.
    let without = meta::read(&mp4, None);
    assert_eq!(without.chapters.len(), 3);
    let last = &without.chapters[2];
    assert!((last.start_secs - 3.25).abs() <= 0.001, "{last:?}");
    assert!((5.0..5.1).contains(&last.end_secs), "{last:?}");

    // Without the Nero list, the QuickTime chapter text track gives starts, ends and titles.
    let qt = make(
        dir.path(),
        "qt.mp4",
        &[
            "-map",
            "0:a",
            "-map_metadata",
            "1",
            "-map_chapters",
            "1",
            "-c:a",
            "aac",
            "-movflags",
            "+disable_chpl",
        ],
    );
    let meta = meta::read(&qt, Some(5.0));
    assert_tags(&meta, "mp4 with a chapter track");
    assert_chapters(&meta, "mp4 with a chapter track");
    assert_eq!(meta.cover, None);
}

#[test]
fn mkv_tags_cover_and_chapters() {
    if !need_ffmpeg() {
        return;
    }
    let dir = workdir();
    let mkv = make(
        dir.path(),
        "x.mkv",
        &[
            "-map",
            "0:a",
            "-map_metadata",
            "1",
            "-map_chapters",
            "1",
            "-c:a",
            "libopus",
            "-attach",
            "cover.png",
            "-metadata:s:t",
            "mimetype=image/png",
        ],
    );
    let meta = meta::read(&mkv, Some(5.0));
    assert_tags(&meta, "mkv");
    assert_cover(&meta, "mkv");
    assert_chapters(&meta, "mkv");
    assert_chapters(&meta::read(&mkv, None), "mkv without a duration");
}

#[test]
fn flac_mp3_and_opus_tags_and_pictures() {
    if !need_ffmpeg() {
        return;
    }
    let dir = workdir();
    let with_picture = |name: &str, codec: &str, extra: &[&str]| {
        let mut args = vec![
            "-i",
            "cover.png",
            "-map",
            "0:a",
            "-map",
            "2",
            "-map_metadata",
            "1",
            "-c:a",
            codec,
            "-c:v",
            "png",
            "-disposition:v:0",
            "attached_pic",
            "-metadata:s:v",
            "comment=Cover (front)",
        ];
        args.extend_from_slice(extra);
        make(dir.path(), name, &args)
    };
    let flac = with_picture("x.flac", "flac", &[]);
    let mp3 = with_picture("x.mp3", "libmp3lame", &["-id3v2_version", "3"]);
    for (file, what) in [(&flac, "flac"), (&mp3, "mp3")] {
        let meta = meta::read(file, Some(5.0));
        assert_tags(&meta, what);
        assert_cover(&meta, what);
        assert!(meta.chapters.is_empty(), "{what}");
    }
    let opus = make(
        dir.path(),
        "x.opus",
        &["-map", "0:a", "-map_metadata", "1", "-c:a", "libopus"],
    );
    let meta = meta::read(&opus, Some(5.0));
    assert_tags(&meta, "opus");
    assert_eq!(meta.cover, None);
}

#[test]
fn a_cover_from_a_video_frame() {
    if !need_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    ffmpeg(
        dir.path(),
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=640x360:rate=10:duration=3",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=3",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-shortest",
            "v.mp4",
        ],
    );
    let video = dir.path().join("v.mp4");
    let config = EngineConfig::default();
    let cover = mp3converter_media::cover_from_video(&video, 1.0, &config).unwrap();
    assert_eq!((cover.width, cover.height), (640, 360));
    assert!(cover.jpeg.starts_with(&[0xFF, 0xD8, 0xFF]));
    let past = mp3converter_media::cover_from_video(&video, 30.0, &config).unwrap_err();
    assert_eq!(past.code(), "bad-cover");
    assert!(
        past.to_string().contains("no video frame at 30.000 s"),
        "{past}"
    );
    // Audio only: no video to take a frame from.
    ffmpeg(
        dir.path(),
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=duration=1",
            "-c:a",
            "aac",
            "a.m4a",
        ],
    );
    let e =
        mp3converter_media::cover_from_video(&dir.path().join("a.m4a"), 0.0, &config).unwrap_err();
    assert_eq!(e.code(), "bad-cover");
    assert!(e.to_string().contains("no video"), "{e}");
}

#[test]
fn a_cover_from_the_video_without_ffmpeg_says_so() {
    let config = EngineConfig {
        ffmpeg_path: PathBuf::from("/nonexistent/ffmpeg"),
        ..EngineConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("v.mp4");
    std::fs::write(&video, b"\0\0\0\x08free").unwrap();
    let e = mp3converter_media::cover_from_video(&video, 1.0, &config).unwrap_err();
    assert_eq!(e.code(), "bad-cover");
    assert_eq!(
        e.to_string(),
        "a cover from the video needs ffmpeg, which is not installed"
    );
    let e = mp3converter_media::cover_from_video(&video, f64::NAN, &config).unwrap_err();
    assert_eq!(e.code(), "bad-cover");
}
