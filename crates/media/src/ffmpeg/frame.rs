//! One frame of a video as a PNG, for a cover taken from the video (see `meta::cover`). Runs
//! ffmpeg in the same sandbox, with the same input guards, as every other run.

use std::ffi::OsString;
use std::path::Path;

use super::sandbox::{self, Limits, Run};
use super::{check_input, classify_failure, forced_format, input_guard_args, scrub_paths};
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
