//! Tags, cover art and chapters carried from a source into every output format, overridden by
//! the job or dropped with `no_tags`, and splitting into a ZIP of parts with a playlist; each
//! result read back with ffprobe (an independent reader). Needs ffmpeg (installed by
//! `.ci/run`); skipped with a message without it.

mod meter;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use mp3converter_core::Split;
use mp3converter_media::{
    AudioFormat, Control, ConvertOptions, EngineConfig, Extras, convert, convert_with,
    ffmpeg_available,
};
use serde_json::Value;

fn need_ffmpeg() -> bool {
    let ok = ffmpeg_available(&EngineConfig::default());
    if !ok {
        eprintln!("skipping: ffmpeg is not installed (CI installs it; apt-get install ffmpeg)");
    }
    ok
}

fn run(dir: &Path, program: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs ffmpeg quietly with `args` in `dir`; fails the test when it fails.
fn ffmpeg(dir: &Path, args: &[&str]) {
    let mut all = vec!["-nostdin", "-v", "error", "-y"];
    all.extend_from_slice(args);
    run(dir, "ffmpeg", &all);
}

const FFMETADATA: &str = ";FFMETADATA1
title=Source Title
artist=Source Artist
album=Source Album
date=2023
genre=Talk
track=4
comment=From the source
[CHAPTER]
TIMEBASE=1/1000
START=0
END=2000
title=Opening
[CHAPTER]
TIMEBASE=1/1000
START=2000
END=4500
title=Main part
[CHAPTER]
TIMEBASE=1/1000
START=4500
END=6000
title=Closing
";

/// A 6 s MP4 (AAC) with the tags, three chapters and a 400x300 cover, made by ffmpeg.
fn tagged_mp4(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("meta.txt"), FFMETADATA).unwrap();
    ffmpeg(
        dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=400x300:rate=1",
            "-frames:v",
            "1",
            "cover.png",
        ],
    );
    ffmpeg(
        dir,
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=6",
            "-i",
            "meta.txt",
            "-i",
            "cover.png",
            "-map",
            "0:a",
            "-map",
            "2:v",
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
            "source.mp4",
        ],
    );
    dir.join("source.mp4")
}

/// ffprobe's view: format tags (and the audio stream's, where Ogg keeps them), chapters, and
/// whether a picture stream is attached.
struct Probed {
    duration: f64,
    tags: Value,
    chapters: Vec<(f64, f64, String)>,
    cover: Option<(u64, u64)>,
}

fn probe(path: &Path) -> Probed {
    let json = run(
        path.parent().unwrap(),
        "ffprobe",
        &[
            "-v",
            "error",
            "-of",
            "json",
            "-show_format",
            "-show_streams",
            "-show_chapters",
            path.to_str().unwrap(),
        ],
    );
    let v: Value = serde_json::from_slice(&json).unwrap();
    let mut tags = v["format"]["tags"].clone();
    if tags.is_null() {
        tags = Value::Object(Default::default());
    }
    // Ogg keeps its comments on the stream.
    for stream in v["streams"].as_array().unwrap() {
        if stream["codec_type"] == "audio"
            && let Some(t) = stream["tags"].as_object()
        {
            for (k, val) in t {
                tags[k.to_lowercase()] = val.clone();
            }
        }
    }
    let tags = Value::Object(
        tags.as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.to_lowercase(), v.clone()))
            .collect(),
    );
    let chapters = v["chapters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let secs = |k: &str| c[k].as_str().unwrap().parse::<f64>().unwrap();
            (
                secs("start_time"),
                secs("end_time"),
                c["tags"]["title"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let cover = v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["disposition"]["attached_pic"] == 1)
        .map(|s| (s["width"].as_u64().unwrap(), s["height"].as_u64().unwrap()));
    Probed {
        duration: v["format"]["duration"]
            .as_str()
            .and_then(|d| d.parse().ok())
            .unwrap_or(f64::NAN),
        tags,
        chapters,
        cover,
    }
}

fn tag<'a>(p: &'a Probed, key: &str) -> Option<&'a str> {
    p.tags[key].as_str()
}

#[test]
fn tags_cover_and_chapters_are_carried_into_every_format() {
    if !need_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = tagged_mp4(dir.path());
    for format in [
        AudioFormat::Mp3,
        AudioFormat::Opus,
        AudioFormat::Flac,
        AudioFormat::Wav,
        AudioFormat::M4a,
    ] {
        let out = dir.path().join(format!("out.{}", format.extension()));
        let options = ConvertOptions {
            format: Some(format),
            ..Default::default()
        };
        let report = convert(
            &source,
            &out,
            &options,
            &EngineConfig::default(),
            Control::none(),
        )
        .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert!(report.cover, "{format}");
        assert_eq!(report.chapters, 3, "{format}");
        let p = probe(&out);
        assert_eq!(
            tag(&p, "title"),
            Some("Source Title"),
            "{format}: {}",
            p.tags
        );
        assert_eq!(
            tag(&p, "artist"),
            Some("Source Artist"),
            "{format}: {}",
            p.tags
        );
        assert_eq!(
            tag(&p, "album"),
            Some("Source Album"),
            "{format}: {}",
            p.tags
        );
        assert_eq!(tag(&p, "genre"), Some("Talk"), "{format}: {}", p.tags);
        assert!(
            tag(&p, "date").is_some_and(|d| d.starts_with("2023")),
            "{format}: {}",
            p.tags
        );
        assert!(
            tag(&p, "track").is_some_and(|t| t.starts_with('4')),
            "{format}: {}",
            p.tags
        );
        let comment = tag(&p, "comment").or(tag(&p, "description"));
        assert_eq!(comment, Some("From the source"), "{format}: {}", p.tags);
        assert_eq!(p.cover, Some((400, 300)), "{format}: cover");
        let titles: Vec<&str> = p.chapters.iter().map(|c| c.2.as_str()).collect();
        assert_eq!(titles, ["Opening", "Main part", "Closing"], "{format}");
        assert!(
            (p.chapters[1].0 - 2.0).abs() < 0.01,
            "{format}: {:?}",
            p.chapters
        );
        assert!(
            (p.chapters[2].0 - 4.5).abs() < 0.01,
            "{format}: {:?}",
            p.chapters
        );
    }
}

#[test]
fn the_job_overrides_tags_sets_a_cover_and_no_tags_drops_the_source() {
    if !need_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = tagged_mp4(dir.path());
    ffmpeg(
        dir.path(),
        &[
            "-f",
            "lavfi",
            "-i",
            "color=red:size=2400x1600",
            "-frames:v",
            "1",
            "big.jpg",
        ],
    );
    let out = dir.path().join("mine.mp3");
    let options = ConvertOptions {
        no_tags: true,
        artist: Some("Me".into()),
        track_number: Some(9),
        cover: true,
        start: Some(1.0),
        ..Default::default()
    };
    let cover = dir.path().join("big.jpg");
    convert_with(
        &source,
        &out,
        &options,
        &Extras {
            cover: Some(&cover),
        },
        &EngineConfig::default(),
        Control::none(),
    )
    .unwrap();
    let p = probe(&out);
    assert_eq!(tag(&p, "artist"), Some("Me"), "{}", p.tags);
    assert_eq!(tag(&p, "track"), Some("9"), "{}", p.tags);
    assert_eq!(
        tag(&p, "album"),
        None,
        "no_tags drops the source's: {}",
        p.tags
    );
    assert_eq!(tag(&p, "title"), None, "{}", p.tags);
    assert_eq!(p.cover, Some((1200, 800)), "the job's cover, scaled down");
    // Chapters stay, on the trimmed clock.
    assert_eq!(p.chapters.len(), 3);
    assert!((p.chapters[1].0 - 1.0).abs() < 0.01, "{:?}", p.chapters);

    let bad = dir.path().join("bad.jpg");
    std::fs::write(&bad, b"\xFF\xD8\xFFnot really").unwrap();
    let e = convert_with(
        &source,
        &dir.path().join("bad.mp3"),
        &options,
        &Extras { cover: Some(&bad) },
        &EngineConfig::default(),
        Control::none(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "bad-cover", "{e}");
}

/// The entries of a ZIP, with their sizes.
fn zip_entries(path: &Path) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut f = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            f.read_to_end(&mut data).unwrap();
            (f.name().unwrap().into_owned(), data)
        })
        .collect()
}

#[test]
fn split_at_chapters_makes_a_zip_of_tagged_tracks_and_a_playlist() {
    if !need_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let source = tagged_mp4(dir.path());
    for format in [AudioFormat::Mp3, AudioFormat::M4a] {
        let out = dir.path().join(format!("{format}.zip"));
        let options = ConvertOptions {
            format: Some(format),
            split: Some(Split::Chapters),
            ..Default::default()
        };
        let report = convert(
            &source,
            &out,
            &options,
            &EngineConfig::default(),
            Control::none(),
        )
        .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(report.parts, Some(3), "{format}");
        assert_eq!(report.bytes, std::fs::metadata(&out).unwrap().len());
        let entries = zip_entries(&out);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        let ext = format.extension();
        assert_eq!(
            names,
            [
                format!("01 - Opening.{ext}").as_str(),
                &format!("02 - Main part.{ext}"),
                &format!("03 - Closing.{ext}"),
                "playlist.m3u"
            ],
            "{format}"
        );
        let playlist = String::from_utf8(entries[3].1.clone()).unwrap();
        assert!(
            playlist.starts_with("#EXTM3U\n#EXTINF:2,Opening\n01 - Opening."),
            "{playlist}"
        );
        for (i, (name, data)) in entries[..3].iter().enumerate() {
            let part = dir.path().join(format!("part-{format}-{i}.{ext}"));
            std::fs::write(&part, data).unwrap();
            let p = probe(&part);
            let want = [2.0, 2.5, 1.5][i];
            let dur = run(
                dir.path(),
                "ffprobe",
                &[
                    "-v",
                    "error",
                    "-show_entries",
                    "format=duration",
                    "-of",
                    "csv=p=0",
                    part.to_str().unwrap(),
                ],
            );
            let dur: f64 = String::from_utf8_lossy(&dur).trim().parse().unwrap();
            assert!((dur - want).abs() < 0.1, "{name}: {dur} s, want {want}");
            assert_eq!(tag(&p, "album"), Some("Source Album"), "{name}: {}", p.tags);
            assert!(
                tag(&p, "track").is_some_and(|t| t.starts_with(&format!("{}/3", i + 1))),
                "{name}: {}",
                p.tags
            );
            assert_eq!(
                tag(&p, "title"),
                Some(["Opening", "Main part", "Closing"][i])
            );
        }
    }
}

#[test]
fn split_at_silences_cuts_in_the_gaps() {
    if !need_ffmpeg() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // tone 2 s, silence 3 s, tone 2 s, silence 0.5 s (too short), tone 1 s, silence 3 s, tone 2 s
    let expr = "if(lt(t,2)+between(t,5,7)+between(t,7.5,8.5)+gt(t,11.5),0.5*sin(2*PI*440*t),0)";
    ffmpeg(
        dir.path(),
        &[
            "-f",
            "lavfi",
            "-i",
            &format!("aevalsrc='{expr}':s=44100:d=13.5"),
            "-c:a",
            "flac",
            "gaps.flac",
        ],
    );
    // Opus on the native pipeline (the first pass over the decoded audio), M4A on ffmpeg's
    // (silencedetect): the same three parts, cut in the middle of the long gaps.
    for format in [AudioFormat::Opus, AudioFormat::M4a] {
        let ext = format.extension();
        let out = dir.path().join(format!("gaps-{ext}.zip"));
        let options = ConvertOptions {
            format: Some(format),
            split: Some(Split::Silence),
            split_min_gap: Some(1.0),
            loudness: Some(-20.0),
            ..Default::default()
        };
        let report = convert(
            &dir.path().join("gaps.flac"),
            &out,
            &options,
            &EngineConfig::default(),
            Control::none(),
        )
        .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(report.parts, Some(3), "{format}");
        let entries = zip_entries(&out);
        let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                format!("01 - Part 1.{ext}"),
                format!("02 - Part 2.{ext}"),
                format!("03 - Part 3.{ext}"),
                "playlist.m3u".to_owned()
            ],
            "{format}"
        );
        // Cuts at 3.5 s (the middle of 2–5) and 10 s (of 8.5–11.5).
        for ((name, bytes), want) in entries.iter().zip([3.5, 6.5, 3.5]) {
            let part = dir.path().join(format!("part-{name}"));
            std::fs::write(&part, bytes).unwrap();
            let p = probe(&part);
            assert!(
                (p.duration - want).abs() < 0.1,
                "{format} {name}: {} s, expected {want}",
                p.duration
            );
        }
        // One gain for the whole input: the parts are as loud as each other (the same tone).
        let levels: Vec<f64> = entries[..3]
            .iter()
            .map(|(name, _)| meter::ebur128(&dir.path().join(format!("part-{name}"))).0)
            .collect();
        assert!(
            (levels[0] - levels[1]).abs() < 1.0 && (levels[1] - levels[2]).abs() < 1.0,
            "{format}: {levels:?}"
        );
    }
    // Without chapters there is nothing to split at.
    let e = convert(
        &dir.path().join("gaps.flac"),
        &dir.path().join("none.zip"),
        &ConvertOptions {
            split: Some(Split::Chapters),
            ..Default::default()
        },
        &EngineConfig::default(),
        Control::none(),
    )
    .unwrap_err();
    assert_eq!(e.code(), "no-chapters");
}
