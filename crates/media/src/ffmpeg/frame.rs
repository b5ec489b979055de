//! One frame of a video as a PNG, for a cover taken from the video (see `meta::cover`). Runs
//! ffmpeg in the same sandbox, with the same input guards, as every other run.

use std::ffi::OsString;
use std::path::Path;

use super::sandbox::{self, Limits, Run};
use super::{check_input, classify_failure, forced_format, input_guard_args, scrub_paths};
use crate::meta::cover::{self, Cover};
use crate::{Control, EngineConfig, MediaError};

/// Writes the frame of `input`'s first video stream (attached pictures excluded) at `at_secs`
/// to `png`, an existing file ffmpeg may overwrite. `Ok(false)` when ffmpeg decoded no frame
/// there (the time is past the end of the video).
///
/// Errors: a file without a video stream gives [`MediaError::BadCover`] in words; ffmpeg's
/// other failures the same errors as a conversion's.
pub(crate) fn frame_png(
    input: &Path,
    at_secs: f64,
    png: &Path,
    config: &EngineConfig,
) -> Result<bool, MediaError> {
    check_input(input)?;
    let timeout = config.ffmpeg_timeout_base;
    let mut args: Vec<OsString> = [
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-y",
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.extend(input_guard_args(forced_format(input)?));
    args.extend(["-ss".into(), format!("{at_secs:.6}").into(), "-i".into()]);
    args.push(sandbox::file_url(input)?);
    // `V`: video streams that are not attached pictures.
    args.extend(
        [
            "-map",
            "0:V:0",
            "-an",
            "-sn",
            "-dn",
            "-frames:v",
            "1",
            "-c:v",
            "png",
            "-pix_fmt",
            "rgb24",
            "-update",
            "1",
            "-f",
            "image2",
        ]
        .map(OsString::from),
    );
    args.push(sandbox::file_url(png)?);
    let run = Run {
        program: &config.ffmpeg_path,
        args,
        timeout,
        limits: Limits::new(config, timeout),
        temp_parent: config.temp_dir.as_deref(),
        reads: &[input],
        writes: &[png],
    };
    let finished = run.run(Control::none(), &mut |_| Ok(()))?;
    if !finished.status.success() {
        let tail = scrub_paths(&finished.stderr_tail, input, png);
        return Err(match classify_failure(finished.status, tail, timeout) {
            MediaError::NoAudioTrack => {
                MediaError::BadCover("this file has no video to take a cover picture from".into())
            }
            other => other,
        });
    }
    Ok(std::fs::metadata(png)?.len() > 0)
}

/// A cover from a frame of `input`'s video at `at_secs` (attached pictures are not video
/// frames), taken with the engine's sandboxed ffmpeg as a PNG in a temporary directory, then
/// [`cover::clean`]ed.
///
/// Errors: [`MediaError::BadCover`] when ffmpeg is not installed, the file has no video, or
/// `at_secs` is past its end; ffmpeg's own failures as for a conversion.
pub fn cover_from_video(
    input: &Path,
    at_secs: f64,
    config: &EngineConfig,
) -> Result<Cover, MediaError> {
    if !at_secs.is_finite() || at_secs < 0.0 {
        return Err(MediaError::BadCover(format!(
            "the time of the cover frame must be a number of seconds from 0; {at_secs} is not"
        )));
    }
    if !super::available(config) {
        return Err(MediaError::BadCover(
            "a cover from the video needs ffmpeg, which is not installed".into(),
        ));
    }
    let dir = match config.temp_dir.as_deref() {
        Some(parent) => tempfile::Builder::new()
            .prefix(".mp3c-cover-")
            .tempdir_in(parent)?,
        None => tempfile::Builder::new().prefix(".mp3c-cover-").tempdir()?,
    };
    let png = dir.path().join("frame.png");
    std::fs::File::create(&png)?;
    if !frame_png(input, at_secs, &png, config)? {
        return Err(MediaError::BadCover(format!(
            "there is no video frame at {at_secs:.3} s: the video is shorter"
        )));
    }
    let len = std::fs::metadata(&png)?.len();
    if len > cover::MAX_COVER_BYTES as u64 {
        return Err(MediaError::BadCover(format!(
            "the video frame at {at_secs:.3} s is too large to use as a cover"
        )));
    }
    cover::clean(&std::fs::read(&png)?)
}
