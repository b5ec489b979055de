//! Hostile uploads through the public engine: playlists disguised as media that would make
//! ffmpeg read another user's file, and decompression bombs whose header omits their length.
//! The ffmpeg cases run the real ffmpeg and are skipped (saying so) where it is not installed.

mod crafted;

use std::path::{Path, PathBuf};

use mp3converter_media::{
    Control, ConvertOptions, ConvertReport, EngineChoice, EngineConfig, MediaError,
    ffmpeg_available,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/media")
        .join(name)
}

/// Converts `bytes` (written as `name` in a fresh directory) with `config`. The output must
/// exist exactly when the conversion succeeded.
fn convert_bytes(
    name: &str,
    bytes: &[u8],
    config: &EngineConfig,
) -> Result<ConvertReport, MediaError> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join(name);
    std::fs::write(&input, bytes).unwrap();
    let output = dir.path().join("out.mp3");
    let result = mp3converter_media::convert(
        &input,
        &output,
        &ConvertOptions::default(),
        config,
        Control::none(),
    );
    assert_eq!(output.exists(), result.is_ok(), "{name}: {result:?}");
    result
}

/// `engine` with the real ffmpeg, or `None` (after saying so) when it is not installed.
fn with_ffmpeg(engine: EngineChoice) -> Option<EngineConfig> {
    let config = EngineConfig {
        engine,
        ..EngineConfig::default()
    };
    if ffmpeg_available(&config) {
        Some(config)
    } else {
        eprintln!("skipping: ffmpeg not installed");
        None
    }
}

// --- playlists disguised as media ---------------------------------------------------------------

/// Another user's MP3, stored as the fs blob store keeps it (`audio/<job id>.mp3` under the data
/// dir), outside the upload's directory. The `.mp3` extension matters: ffmpeg's HLS demuxer
/// opens local segments only with a media extension.
fn other_users_audio() -> (tempfile::TempDir, PathBuf) {
    let data_dir = tempfile::tempdir().unwrap();
    let blob = data_dir.path().join("blobs/audio/0190bob0-job.mp3");
    std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
    std::fs::copy(fixture("mp3-cbr.mp3"), &blob).unwrap();
    (data_dir, blob)
}

#[test]
fn an_hls_playlist_pointing_at_another_users_file_is_refused_on_the_ffmpeg_route() {
    let (_data, target) = other_users_audio();
    for engine in [EngineChoice::Auto, EngineChoice::Ffmpeg] {
        let Some(config) = with_ffmpeg(engine) else {
            return;
        };
        let err = convert_bytes("video.mp4", &crafted::hls_playlist(&target), &config)
            .expect_err("a playlist must not convert into another user's audio");
        assert_eq!(err.code(), "not-media", "{engine:?}: {err}");
        assert!(err.is_permanent());
    }
}

/// ffmpeg's concat demuxer refuses absolute and `..` paths by itself (`safe=1`), so this one did
/// not leak before either; it is now refused up front, as not media, by the format whitelist.
#[test]
fn a_concat_script_pointing_at_another_users_file_is_refused_on_the_ffmpeg_route() {
    let (_data, target) = other_users_audio();
    for engine in [EngineChoice::Auto, EngineChoice::Ffmpeg] {
        let Some(config) = with_ffmpeg(engine) else {
            return;
        };
        let err = convert_bytes("video.mp4", &crafted::concat_script(&target), &config)
            .expect_err("a concat script must not convert into another user's audio");
        assert_eq!(err.code(), "not-media", "{engine:?}: {err}");
        assert!(err.is_permanent());
    }
}

#[test]
fn playlists_are_refused_by_the_native_only_engine_too() {
    let (_data, target) = other_users_audio();
    let native = EngineConfig {
        engine: EngineChoice::Native,
        ..EngineConfig::default()
    };
    for bytes in [
        crafted::hls_playlist(&target),
        crafted::concat_script(&target),
    ] {
        let err = convert_bytes("video.mp4", &bytes, &native).unwrap_err();
        assert!(err.is_permanent(), "{err:?}");
    }
}

// --- decompression bombs ------------------------------------------------------------------------

/// A config refusing audio over 5 s.
fn five_second_limit(engine: EngineChoice) -> EngineConfig {
    EngineConfig {
        engine,
        max_duration_secs: Some(5.0),
        ..EngineConfig::default()
    }
}

fn assert_too_long(result: Result<ConvertReport, MediaError>, what: &str) {
    match result {
        Err(e @ MediaError::TooLong { .. }) => {
            assert_eq!(e.code(), "too-long");
            assert!(e.is_permanent());
            assert!(e.to_string().contains("over the limit of 5 s"), "{e}");
        }
        other => panic!("{what}: expected too-long, got {other:?}"),
    }
}

#[test]
fn the_crafted_flac_is_what_it_claims() {
    let bomb = crafted::silent_flac(60, 0);
    assert!(bomb.len() < 6_000, "{} bytes for a minute", bomb.len());
    // Under no limit it decodes to the full minute although the header says nothing.
    let report = convert_bytes(
        "bomb.flac",
        &bomb,
        &EngineConfig {
            max_duration_secs: None,
            engine: EngineChoice::Native,
            ..EngineConfig::default()
        },
    )
    .unwrap();
    assert!((report.duration_secs - 60.0).abs() < 0.6, "{report:?}");
}

#[test]
fn a_flac_without_a_declared_length_is_too_long_when_decoded_natively() {
    let bomb = crafted::silent_flac(60, 0);
    assert_too_long(
        convert_bytes("bomb.flac", &bomb, &five_second_limit(EngineChoice::Native)),
        "native",
    );
}

#[test]
fn a_flac_that_understates_its_length_is_too_long_on_the_chunk_parallel_path() {
    // The header says 2 s: the plan passes the limit, and picks the parallel encoder.
    let bomb = crafted::silent_flac(60, 2 * u64::from(crafted::FLAC_RATE));
    let config = EngineConfig {
        threads: 2,
        parallel_min_secs: 1.0,
        chunk_secs: 1.0,
        ..five_second_limit(EngineChoice::Native)
    };
    assert_too_long(convert_bytes("bomb.flac", &bomb, &config), "parallel");
}

#[test]
fn a_flac_without_a_declared_length_is_too_long_through_ffmpeg() {
    let Some(config) = with_ffmpeg(EngineChoice::Ffmpeg) else {
        return;
    };
    let config = EngineConfig {
        max_duration_secs: Some(5.0),
        ..config
    };
    let bomb = crafted::silent_flac(60, 0);
    assert_too_long(convert_bytes("bomb.flac", &bomb, &config), "ffmpeg");
}

#[test]
fn audio_under_the_limit_still_converts_on_every_route() {
    let short = crafted::silent_flac(3, 0);
    let mut engines = vec![EngineChoice::Native];
    if with_ffmpeg(EngineChoice::Ffmpeg).is_some() {
        engines.push(EngineChoice::Ffmpeg);
    }
    for engine in engines {
        let report = convert_bytes("short.flac", &short, &five_second_limit(engine))
            .unwrap_or_else(|e| panic!("{engine:?}: {e}"));
        assert!(
            (report.duration_secs - 3.0).abs() < 0.6,
            "{engine:?}: {report:?}"
        );
    }
}
