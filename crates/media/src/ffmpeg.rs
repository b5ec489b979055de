//! The ffmpeg fallback: converts and probes with the `ffmpeg`/`ffprobe` binaries, run in a
//! sandbox (see [`sandbox`]), for inputs the native path cannot handle correctly.

mod confine;
#[cfg(test)]
mod confine_tests;
mod ffprobe;
pub(crate) mod frame;
mod sandbox;
mod side;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::mp3frame::Mp3Summary;
use crate::output::tags::Tagging;
use crate::plan::Plan;
use crate::{
    AudioFormat, Control, ConvertOptions, ConvertReport, Encoding, EngineConfig, MediaError,
    Pipeline, ProbeReport,
};

use sandbox::{Limits, Run, SIGXCPU};
use side::SideInputs;

/// Largest ffprobe JSON accepted (a file with absurdly many streams or tags is refused).
const MAX_PROBE_JSON: usize = 4 << 20;
/// Time budget for `ffmpeg -version`.
const VERSION_TIMEOUT: Duration = Duration::from_secs(10);
/// Progress is reported when it moved by this much, or after [`PROGRESS_INTERVAL`].
const PROGRESS_STEP: f64 = 0.01;
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);

/// Converts `input` to the options' format at `output` with the ffmpeg binary (with a
/// loudness target, measuring the kept range first).
pub(crate) fn convert(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    plan: &Plan,
    tagging: &Tagging,
    control: Control<'_>,
) -> Result<ConvertReport, MediaError> {
    check_input(input)?;
    control.check_cancelled()?;
    let measured = match options.loudness {
        Some(target_lufs) => {
            let report = |f: f64| (control.progress)(MEASURE_SHARE * f);
            let control = Control {
                progress: &report,
                cancel: control.cancel,
            };
            measure_loudness(input, options, config, plan, control, target_lufs)?
        }
        None => None,
    };
    let first = if options.loudness.is_some() {
        MEASURE_SHARE
    } else {
        0.0
    };
    let report = |f: f64| (control.progress)(first + (1.0 - first) * f);
    let control = Control {
        progress: &report,
        cancel: control.cancel,
    };
    convert_measured(
        input, output, options, config, plan, tagging, control, measured,
    )
}

/// [`convert`] with the loudness target's first pass already done by the caller (`measured`:
/// `None` without a target or for silence), so that several runs — the parts of a split — get
/// one gain.
#[allow(clippy::too_many_arguments)]
pub(crate) fn convert_measured(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    plan: &Plan,
    tagging: &Tagging,
    control: Control<'_>,
    measured: Option<Measured>,
) -> Result<ConvertReport, MediaError> {
    check_input(input)?;
    control.check_cancelled()?;
    // The output must exist for the sandbox to allow writing it (and only it) there.
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(output)?;
    let timeout = config.ffmpeg_timeout(plan.duration_secs);
    let max_secs = config.max_duration_secs;
    // Loudness: ffmpeg's two-pass `loudnorm`, the first pass measuring; its filter resamples
    // (to 192 kHz), so the output rate is then named, by the native path's rule.
    let options = match options.loudness {
        Some(_) if options.sample_rate.is_none() => {
            let source = probe(input, config)?;
            let rate = source
                .audio_streams
                .get(options.track.unwrap_or(0))
                .and_then(|s| s.sample_rate)
                .ok_or(MediaError::NoAudioTrack)?;
            std::borrow::Cow::Owned(ConvertOptions {
                sample_rate: Some(crate::output::encoder_rate(options, rate)),
                ..options.clone()
            })
        }
        _ => std::borrow::Cow::Borrowed(options),
    };
    let options = options.as_ref();
    let filter = measured.as_ref().map(|m| m.filter(options));
    let side = SideInputs::write(tagging, options.format(), config)?;
    let mut reads = vec![input, side.metadata.as_path()];
    reads.extend(side.cover.as_deref());
    let run = Run {
        program: &config.ffmpeg_path,
        args: convert_args(
            input,
            output,
            options,
            &side,
            forced_format(input)?,
            max_secs,
            filter.as_deref(),
        )?,
        timeout,
        limits: Limits::new(config, timeout),
        temp_parent: config.temp_dir.as_deref(),
        reads: &reads,
        writes: &[output],
    };
    let mut progress = Progress::new(control.progress, expected_secs(plan, options));
    let finished = run.run(control, &mut |line| {
        progress.line(line);
        Ok(())
    })?;
    tracing::debug!(
        landlock = finished.confined.landlock,
        network = ?finished.confined.net,
        status = %finished.status,
        "ffmpeg finished"
    );
    if !finished.status.success() {
        let tail = scrub_paths(&finished.stderr_tail, input, output);
        return Err(classify_failure(finished.status, tail, timeout));
    }
    let summary = summarise(output, options, config)?;
    let Some(summary) = summary else {
        return Err(if options.start.is_some() || options.end.is_some() {
            MediaError::EmptySelection
        } else {
            MediaError::corrupt("ffmpeg decoded no audio")
        });
    };
    // ffmpeg stopped at `-t limit + margin`: more than the limit means the input is longer.
    if let Some(limit_secs) = max_secs
        && summary.duration_secs > limit_secs + LIMIT_TOLERANCE_SECS
    {
        return Err(MediaError::TooLong {
            duration_secs: summary.duration_secs,
            limit_secs,
        });
    }
    Ok(ConvertReport {
        route: Pipeline::Ffmpeg,
        route_reason: plan.reason.clone(),
        duration_secs: summary.duration_secs,
        sample_rate: summary.sample_rate,
        channels: summary.channels,
        bytes: std::fs::metadata(output)?.len(),
        threads: 1,
        format: options.format(),
        loudness: measured.map(|m| m.report),
        ..ConvertReport::blank()
    })
}

/// Share of the progress bar taken by the loudness measurement pass.
const MEASURE_SHARE: f64 = 0.3;

/// The first `loudnorm` pass's findings, which the second pass is given.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    /// `measured_I`, `measured_TP`, `measured_LRA`, `measured_thresh`, `offset` as ffmpeg
    /// printed them.
    values: [String; 5],
    report: crate::LoudnessReport,
}

impl Measured {
    /// The second pass's filter: linear normalisation (one gain for the whole file) with the
    /// true-peak ceiling. The loudness-range target is set as wide as `loudnorm` allows, so it
    /// stays linear unless the ceiling makes that impossible.
    fn filter(&self, options: &ConvertOptions) -> String {
        let [i, tp, lra, thresh, offset] = &self.values;
        format!(
            "loudnorm=I={}:TP={}:LRA=50:measured_I={i}:measured_TP={tp}:measured_LRA={lra}:\
             measured_thresh={thresh}:offset={offset}:linear=true:print_format=none",
            self.report.target_lufs,
            ceiling(options)
        )
    }
}

/// The true-peak ceiling for the format: −1 dBTP, half a dB lower for lossy encoders (their
/// own overshoot is in the decoded file's true peak).
fn ceiling(options: &ConvertOptions) -> f64 {
    let lossless = options.format().rate() == mp3converter_core::Rate::Lossless;
    mp3converter_core::TRUE_PEAK_CEILING_DBTP - if lossless { 0.0 } else { 0.5 }
}

/// The first `loudnorm` pass: decodes the selection and reads the measurement ffmpeg prints
/// (`None` for silence, which is left as it is). Progress goes from 0 to 1 over this pass.
pub(crate) fn measure_loudness(
    input: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    plan: &Plan,
    control: Control<'_>,
    target_lufs: f64,
) -> Result<Option<Measured>, MediaError> {
    let filter = format!(
        "loudnorm=I={target_lufs}:TP={}:print_format=json",
        ceiling(options)
    );
    let pass = Analysis {
        input,
        options,
        config,
        plan,
        filter: &filter,
        loglevel: "info",
        writes: None,
    };
    let tail = pass.run(control)?;
    let json = tail
        .rfind('{')
        .and_then(|at| serde_json::from_str::<serde_json::Value>(&tail[at..]).ok())
        .ok_or_else(|| MediaError::corrupt("ffmpeg measured no loudness"))?;
    let field = |name: &str| json[name].as_str().unwrap_or("").trim().to_owned();
    let values = [
        field("input_i"),
        field("input_tp"),
        field("input_lra"),
        field("input_thresh"),
        field("target_offset"),
    ];
    let numbers: Vec<f64> = values.iter().filter_map(|v| v.parse().ok()).collect();
    if numbers.len() != 5 || numbers.iter().any(|n| !n.is_finite()) {
        return Ok(None); // silence: -inf, nothing to normalise
    }
    Ok(Some(Measured {
        report: crate::LoudnessReport {
            target_lufs,
            source_lufs: numbers[0],
            source_true_peak_dbtp: numbers[1],
            gain_db: target_lufs - numbers[0],
        },
        values,
    }))
}

/// A first pass over the kept range that only analyses: ffmpeg decodes it through `filter` into
/// the `null` muxer (loudness measurement, silence detection), reporting progress.
struct Analysis<'a> {
    input: &'a Path,
    options: &'a ConvertOptions,
    config: &'a EngineConfig,
    plan: &'a Plan,
    filter: &'a str,
    /// ffmpeg's log level: `info` when the filter reports on stderr.
    loglevel: &'a str,
    /// A file of ours the filter writes its findings to.
    writes: Option<&'a Path>,
}

impl Analysis<'_> {
    /// Runs the pass; returns the end of ffmpeg's stderr (paths scrubbed).
    fn run(&self, control: Control<'_>) -> Result<String, MediaError> {
        let (input, config) = (self.input, self.config);
        let timeout = config.ffmpeg_timeout(self.plan.duration_secs);
        let mut args = input_args(
            input,
            self.options,
            forced_format(input)?,
            self.loglevel,
            None,
        )?;
        args.extend(["-af", self.filter].map(OsString::from));
        if let Some(limit) = config.max_duration_secs {
            args.extend([
                "-t".into(),
                format!("{:.3}", limit + LIMIT_MARGIN_SECS).into(),
            ]);
        }
        args.extend(["-f", "null", "-"].map(OsString::from));
        let writes: Vec<&Path> = self.writes.into_iter().collect();
        let run = Run {
            program: &config.ffmpeg_path,
            args,
            timeout,
            limits: Limits::new(config, timeout),
            temp_parent: config.temp_dir.as_deref(),
            reads: &[input],
            writes: &writes,
        };
        let mut progress = Progress::new(control.progress, expected_secs(self.plan, self.options));
        let finished = run.run(control, &mut |line| {
            progress.line(line);
            Ok(())
        })?;
        let tail = scrub_paths(&finished.stderr_tail, input, self.writes.unwrap_or(input));
        if !finished.status.success() {
            return Err(classify_failure(finished.status, tail, timeout));
        }
        Ok(tail)
    }
}

/// Largest silence list read back from ffmpeg (a few lines per silence).
const MAX_SILENCE_LIST: u64 = 4 << 20;

/// The first pass of `split=silence` on the ffmpeg pipeline: where to cut the kept range, in
/// seconds of the output. ffmpeg's `silencedetect` finds the runs at least `split_min_gap` long
/// whose level stays under `split_threshold` on every channel; as in the native finder, each run
/// with sound before and after it is cut in its middle (silence at the very start or end makes
/// no cut). The filter's findings go to a file of ours (`ametadata`), stdout keeps the progress.
pub(crate) fn silence_cuts(
    input: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    plan: &Plan,
    control: Control<'_>,
    max_cuts: usize,
) -> Result<Vec<f64>, MediaError> {
    check_input(input)?;
    let dir = tempfile::Builder::new()
        .prefix(".mp3c-silences-")
        .tempdir_in(config.temp_dir.clone().unwrap_or_else(std::env::temp_dir))?;
    let list = dir.path().join("silences.txt");
    std::fs::write(&list, b"")?;
    let threshold = options
        .split_threshold
        .unwrap_or(mp3converter_core::DEFAULT_SPLIT_THRESHOLD);
    let gap = options
        .split_min_gap
        .unwrap_or(mp3converter_core::DEFAULT_SPLIT_MIN_GAP);
    let list_arg = list
        .to_str()
        .ok_or_else(|| MediaError::Io(std::io::Error::other("temporary path is not UTF-8")))?;
    let filter = format!(
        "silencedetect=n={threshold}dB:d={gap},ametadata=mode=print:file={}",
        filter_escape(list_arg)
    );
    let pass = Analysis {
        input,
        options,
        config,
        plan,
        filter: &filter,
        loglevel: "error",
        writes: Some(&list),
    };
    pass.run(control)?;
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(std::fs::File::open(&list)?, MAX_SILENCE_LIST),
        &mut text,
    )?;
    Ok(cuts_from_silences(&text, max_cuts))
}

/// The cuts in `ametadata`'s print of `silencedetect`'s findings: the middle of each silence
/// that has sound before it (it does not start at 0) and after it (it has an end), at most
/// `max_cuts`.
fn cuts_from_silences(text: &str, max_cuts: usize) -> Vec<f64> {
    let mut cuts = Vec::new();
    let mut start = None;
    for line in text.lines() {
        let value = |key: &str| {
            line.strip_prefix(key)
                .and_then(|v| v.trim().parse::<f64>().ok())
        };
        if let Some(at) = value("lavfi.silence_start=") {
            start = Some(at);
        } else if let Some(end) = value("lavfi.silence_end=")
            && let Some(begin) = start.take().filter(|&b| b > 0.0 && end > b)
            && cuts.len() < max_cuts
        {
            cuts.push((begin + end) / 2.0);
        }
    }
    cuts
}

/// `value` escaped for a filter option inside a filter graph: once for the option parser
/// (`\ ' : =`), then once for the graph parser (`\ ' [ ] , ;`).
fn filter_escape(value: &str) -> String {
    let escape = |text: &str, special: &[char]| {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            if special.contains(&c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    escape(
        &escape(value, &['\\', '\'', ':', '=']),
        &['\\', '\'', '[', ']', ',', ';'],
    )
}

/// Duration, rate and channels of what ffmpeg wrote; `None` when it holds no audio.
struct Summary {
    duration_secs: f64,
    sample_rate: u32,
    channels: u32,
}

/// Reads the totals of ffmpeg's output: MP3 from its frames, other formats with ffprobe.
fn summarise(
    output: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
) -> Result<Option<Summary>, MediaError> {
    if options.format() == AudioFormat::Mp3 {
        return Ok(Mp3Summary::read(output)?
            .filter(|s| s.frames > 0)
            .map(|s| Summary {
                duration_secs: s.duration_secs,
                sample_rate: s.sample_rate,
                channels: s.channels,
            }));
    }
    if std::fs::metadata(output)?.len() == 0 {
        return Ok(None);
    }
    let report = probe(output, config)?;
    Ok(report.audio_streams.first().and_then(|stream| {
        let duration_secs = stream.duration_secs.or(report.duration_secs)?;
        (duration_secs > 0.0).then(|| Summary {
            duration_secs,
            sample_rate: stream.sample_rate.unwrap_or(0),
            channels: stream.channels.unwrap_or(0),
        })
    }))
}

/// Probes `input` with ffprobe (for containers the native demuxers cannot open).
pub(crate) fn probe(input: &Path, config: &EngineConfig) -> Result<ProbeReport, MediaError> {
    check_input(input)?;
    let timeout = config.ffmpeg_timeout_base;
    let mut args: Vec<OsString> = ["-v", "error", "-print_format", "json"]
        .into_iter()
        .chain(["-show_format", "-show_streams"])
        .map(OsString::from)
        .collect();
    args.extend(input_guard_args(forced_format(input)?));
    args.push(sandbox::file_url(input)?);
    let run = Run {
        program: &config.ffprobe_path,
        args,
        timeout,
        limits: Limits::new(config, timeout),
        temp_parent: config.temp_dir.as_deref(),
        reads: &[input],
        writes: &[],
    };
    let mut json = Vec::new();
    let finished = run.run(Control::none(), &mut |line| {
        if json.len() + line.len() > MAX_PROBE_JSON {
            return Err(MediaError::corrupt(
                "ffprobe's description of the file is too large",
            ));
        }
        json.extend_from_slice(line);
        Ok(())
    })?;
    if !finished.status.success() {
        let tail = scrub_paths(&finished.stderr_tail, input, input);
        return Err(match classify_failure(finished.status, tail, timeout) {
            // ffprobe recognised no format at all: not a damaged file, not media.
            MediaError::Corrupt { detail } if !detail.contains("moov atom") => MediaError::NotMedia,
            other => other,
        });
    }
    ffprobe::parse_report(&json)
}

/// True when `config.ffmpeg_path` can be executed (`ffmpeg -version` succeeds). The answer is
/// cached per path for the life of the process.
pub(crate) fn available(config: &EngineConfig) -> bool {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, bool>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let path = &config.ffmpeg_path;
    if let Some(known) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(path)
    {
        return *known;
    }
    let run = Run {
        program: path,
        args: vec!["-version".into()],
        timeout: VERSION_TIMEOUT,
        limits: Limits::new(config, VERSION_TIMEOUT),
        temp_parent: config.temp_dir.as_deref(),
        reads: &[],
        writes: &[],
    };
    let ok = match run.run(Control::none(), &mut |_| Ok(())) {
        Ok(finished) => finished.status.success(),
        Err(e) => {
            tracing::debug!(error = %e, path = %path.display(), "ffmpeg is not usable");
            false
        }
    };
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(path.clone(), ok);
    ok
}

/// Fails early, with the engine's own errors, on a missing or empty input.
fn check_input(input: &Path) -> Result<(), MediaError> {
    if std::fs::metadata(input)?.len() == 0 {
        return Err(MediaError::Empty);
    }
    Ok(())
}

/// The demuxers ffmpeg and ffprobe may use (`-format_whitelist`): containers that read one file
/// and open nothing else. Left out on purpose: playlists and indirections that open other files
/// or URLs (`hls`, `dash`, `concat`, `imf`, `webm_dash_manifest`, `image2` patterns, `sdp`,
/// `rtsp`, ...), devices, images and text. A nested open (an HLS segment) would be held to the
/// same list, but the list is enforced on the outer file first. Names are matched against each
/// of ffmpeg's aliases (`mov` covers `mov,mp4,m4a,3gp,3g2,mj2`).
const FORMAT_WHITELIST: &str = "mov,matroska,ogg,wav,w64,aiff,caf,flac,mp3,aac,loas,avi,mpeg,\
mpegts,flv,live_flv,asf,asf_o,rm,ac3,eac3,dts,dtshd,truehd,mlp,wv,ape,tta,amr,amrnb,amrwb,au,\
mpc,mpc8,nut,dv,mxf,wtv,xwma,dsf,tak,shn,voc,gsm,oma";

/// Output seconds allowed past `max_duration_secs` before the input counts as too long (ffmpeg
/// is stopped at the limit plus [`LIMIT_MARGIN_SECS`]; MP3 frames round the length up a little).
const LIMIT_TOLERANCE_SECS: f64 = 0.1;
/// How far past the limit ffmpeg may decode (`-t`), so that "longer than the limit" is seen.
const LIMIT_MARGIN_SECS: f64 = 1.0;

/// The demuxer to force (`-f`) when our own sniffing is certain of the container, so ffmpeg's
/// probing never gets to pick a playlist demuxer for a file crafted to look like one. Files that
/// start with an ID3 tag are left to the whitelist: the tag can hide what follows from the sniffer.
fn forced_format(input: &Path) -> Result<Option<&'static str>, MediaError> {
    use mp3converter_sniff::{Container as C, Sniffed};
    use std::io::Read;
    let mut head = Vec::with_capacity(mp3converter_sniff::SNIFF_LEN);
    std::fs::File::open(input)?
        .take(mp3converter_sniff::SNIFF_LEN as u64)
        .read_to_end(&mut head)?;
    if head.starts_with(b"ID3") {
        return Ok(None);
    }
    let container = match mp3converter_sniff::sniff(&head) {
        Sniffed::Native(c) | Sniffed::NeedsFfmpeg(c) => c,
        Sniffed::NotMedia(_) | Sniffed::Unknown => return Ok(None),
    };
    Ok(match container {
        C::Mp4 => Some("mov"),
        C::Matroska => Some("matroska"),
        C::Ogg => Some("ogg"),
        C::Wav => Some("wav"),
        C::Aiff => Some("aiff"),
        C::Caf => Some("caf"),
        C::Flac => Some("flac"),
        C::Mp3 => Some("mp3"),
        C::Adts => Some("aac"),
        C::Avi => Some("avi"),
        C::MpegPs => Some("mpeg"),
        C::MpegTs => Some("mpegts"),
        C::Flv => Some("flv"),
        C::Asf => Some("asf"),
        C::RealMedia => Some("rm"),
        C::Dts => Some("dts"),
        // AC-3 and E-AC-3 share a sync word and have separate demuxers: the whitelist decides.
        C::Ac3 => None,
    })
}

/// Input options for ffmpeg and ffprobe: local files only (no network, no `pipe:`, no `data:`),
/// single-file demuxers only, and the sniffed demuxer forced when known.
fn input_guard_args(format: Option<&str>) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-protocol_whitelist", "file"]
        .into_iter()
        .chain(["-format_whitelist", FORMAT_WHITELIST])
        .map(OsString::from)
        .collect();
    if let Some(format) = format {
        args.extend(["-f", format].map(OsString::from));
    }
    args
}

/// The ffmpeg command line for a conversion (`filter`: an `-af` audio filter).
fn convert_args(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    side: &SideInputs,
    format: Option<&str>,
    max_secs: Option<f64>,
    filter: Option<&str>,
) -> Result<Vec<OsString>, MediaError> {
    let mut args = input_args(input, options, format, "error", Some(side))?;
    // Mono and stereo stay as they are, more channels are mixed down to stereo (what
    // libmp3lame does by itself; the other encoders would keep 5.1).
    let keep_layout = (!options.mono && options.format() != AudioFormat::Mp3)
        .then_some("aformat=channel_layouts=mono|stereo");
    let filters: Vec<&str> = filter.into_iter().chain(keep_layout).collect();
    if !filters.is_empty() {
        args.extend(["-af".into(), OsString::from(filters.join(","))]);
    }
    args.extend(codec_args(options));
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    // Decode at most a little past the limit; the caller fails the run if it got there.
    if let Some(limit) = max_secs {
        push(&["-t", &format!("{:.3}", limit + LIMIT_MARGIN_SECS)]);
    }
    push(&["-f", muxer(options.format())]);
    args.push(sandbox::file_url(output)?);
    Ok(args)
}

/// Everything up to the output options: the guards, the trim, the input and the track.
fn input_args(
    input: &Path,
    options: &ConvertOptions,
    format: Option<&str>,
    loglevel: &str,
    side: Option<&SideInputs>,
) -> Result<Vec<OsString>, MediaError> {
    let mut args: Vec<OsString> = Vec::with_capacity(40);
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&[
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        loglevel,
    ]);
    push(&["-progress", "pipe:1", "-y"]);
    args.extend(input_guard_args(format));
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    if let Some(start) = options.start {
        push(&["-ss", &format!("{start:.6}")]);
    }
    if let Some(end) = options.end {
        push(&["-to", &format!("{end:.6}")]);
    }
    push(&["-i"]);
    args.push(sandbox::file_url(input)?);
    if let Some(side) = side {
        // Our own files: the tags and chapters, and the cover.
        args.extend(["-protocol_whitelist", "file", "-f", "ffmetadata", "-i"].map(OsString::from));
        args.push(sandbox::file_url(&side.metadata)?);
        if let Some(cover) = &side.cover {
            args.extend(
                ["-protocol_whitelist", "file", "-f", "jpeg_pipe", "-i"].map(OsString::from),
            );
            args.push(sandbox::file_url(cover)?);
        }
    }
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-map", &format!("0:a:{}", options.track.unwrap_or(0))]);
    match side {
        Some(side) => {
            push(&["-map_metadata", "1", "-map_chapters", "1"]);
            if side.cover.is_some() {
                push(&[
                    "-map",
                    "2:v",
                    "-c:v",
                    "copy",
                    "-disposition:v:0",
                    "attached_pic",
                ]);
            } else {
                push(&["-vn"]);
            }
            push(&["-sn", "-dn"]);
        }
        None => push(&[
            "-vn",
            "-sn",
            "-dn",
            "-map_metadata",
            "-1",
            "-map_chapters",
            "-1",
        ]),
    }
    Ok(args)
}

/// ffmpeg's muxer for each output format.
fn muxer(format: AudioFormat) -> &'static str {
    match format {
        AudioFormat::Mp3 => "mp3",
        AudioFormat::Opus => "ogg",
        AudioFormat::Flac => "flac",
        AudioFormat::Wav => "wav",
        // The `ipod` muxer is `mp4` with the M4A brand that players expect of `.m4a`.
        AudioFormat::M4a => "ipod",
    }
}

/// Encoder, rate, channel and tag arguments for the output format: the same settings the
/// native encoders use, so the two pipelines give the same kind of file.
fn codec_args(options: &ConvertOptions) -> Vec<OsString> {
    let format = options.format();
    let mut args: Vec<OsString> = Vec::with_capacity(16);
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    let bitrate = |kbps: u16| format!("{kbps}k");
    match (format, options.encoding()) {
        (AudioFormat::Mp3, Encoding::Cbr(kbps)) => {
            push(&["-c:a", "libmp3lame", "-b:a", &bitrate(kbps)]);
        }
        (AudioFormat::Mp3, Encoding::Vbr(quality)) => {
            push(&["-c:a", "libmp3lame", "-q:a", &quality.to_string()]);
        }
        (AudioFormat::Opus, encoding) => {
            let kbps = match encoding {
                Encoding::Cbr(kbps) => kbps,
                Encoding::Vbr(_) => 128,
            };
            push(&["-c:a", "libopus", "-b:a", &bitrate(kbps)]);
            push(&["-compression_level", "10", "-frame_duration", "20"]);
        }
        (AudioFormat::Flac, _) => push(&["-c:a", "flac", "-sample_fmt", "s16"]),
        (AudioFormat::Wav, _) => push(&["-c:a", "pcm_s16le"]),
        (AudioFormat::M4a, encoding) => {
            let kbps = match encoding {
                Encoding::Cbr(kbps) => kbps,
                Encoding::Vbr(_) => 192,
            };
            push(&[
                "-c:a",
                "aac",
                "-profile:a",
                "aac_low",
                "-b:a",
                &bitrate(kbps),
            ]);
        }
    }
    let rate = options
        .sample_rate
        .or((format == AudioFormat::Opus).then_some(mp3converter_core::OPUS_RATE));
    if let Some(rate) = rate {
        push(&["-ar", &rate.to_string()]);
    }
    // Without -ac, ffmpeg keeps mono and stereo (and libmp3lame downmixes more channels to
    // stereo; for the other encoders `convert_args` adds an `aformat` filter that does).
    if options.mono {
        push(&["-ac", "1"]);
    }
    match format {
        AudioFormat::Mp3 => push(&["-id3v2_version", "4", "-write_xing", "1"]),
        AudioFormat::M4a => push(&["-movflags", "+faststart"]),
        AudioFormat::Wav => push(&["-rf64", "never"]),
        AudioFormat::Opus | AudioFormat::Flac => {}
    }
    args
}

/// Seconds of audio the conversion should produce, for progress: the plan's duration cut by
/// the trim range.
fn expected_secs(plan: &Plan, options: &ConvertOptions) -> Option<f64> {
    let end = match (options.end, plan.duration_secs) {
        (Some(end), Some(total)) => end.min(total),
        (Some(end), None) => end,
        (None, Some(total)) => total,
        (None, None) => return None,
    };
    let secs = end - options.start.unwrap_or(0.0);
    (secs.is_finite() && secs > 0.0).then_some(secs)
}

/// Turns ffmpeg's `-progress` lines into throttled progress reports.
struct Progress<'a> {
    report: &'a (dyn Fn(f64) + Sync),
    total_secs: Option<f64>,
    last: f64,
    last_at: Instant,
}

impl std::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("total_secs", &self.total_secs)
            .field("last", &self.last)
            .finish()
    }
}

impl<'a> Progress<'a> {
    fn new(report: &'a (dyn Fn(f64) + Sync), total_secs: Option<f64>) -> Self {
        Progress {
            report,
            total_secs,
            last: 0.0,
            last_at: Instant::now(),
        }
    }

    /// Handles one line of `-progress` output (`key=value`).
    fn line(&mut self, line: &[u8]) {
        let Some(total) = self.total_secs else { return };
        let Ok(line) = std::str::from_utf8(line).map(str::trim_end) else {
            return;
        };
        // Both keys are in microseconds (out_time_ms is misnamed in ffmpeg).
        let Some(micros) = line
            .strip_prefix("out_time_us=")
            .or_else(|| line.strip_prefix("out_time_ms="))
        else {
            return;
        };
        let Ok(micros) = micros.trim().parse::<i64>() else {
            return;
        };
        let fraction = (micros as f64 / 1e6 / total).clamp(0.0, 1.0);
        let now = Instant::now();
        if fraction - self.last >= PROGRESS_STEP
            || (fraction > self.last && now.duration_since(self.last_at) >= PROGRESS_INTERVAL)
        {
            (self.report)(fraction);
            self.last = fraction;
            self.last_at = now;
        }
    }
}

/// Replaces the input and output paths in ffmpeg's messages (they are shown to users).
fn scrub_paths(tail: &str, input: &Path, output: &Path) -> String {
    let mut tail = tail.to_owned();
    for (path, name) in [(input, "input"), (output, "output")] {
        if let Ok(url) = sandbox::file_url(path)
            && let Some(url) = url.to_str()
        {
            tail = tail.replace(url, name);
        }
    }
    tail
}

/// The error for a failed run, from its stderr.
fn classify_failure(status: ExitStatus, stderr_tail: String, timeout: Duration) -> MediaError {
    if status.signal() == Some(SIGXCPU) {
        return MediaError::FfmpegTimeout(timeout);
    }
    const NO_AUDIO: [&str; 3] = [
        "matches no streams",
        "does not contain any stream",
        "Output file does not contain any stream",
    ];
    const CORRUPT: [&str; 2] = [
        "moov atom not found",
        "Invalid data found when processing input",
    ];
    let line_with = |needles: &[&str]| {
        stderr_tail
            .lines()
            .find(|l| needles.iter().any(|n| l.contains(n)))
            .map(strip_context)
    };
    // A playlist or other indirect format refused by `-format_whitelist` (or a nested open
    // refused by `-protocol_whitelist`): not a media file we convert.
    if line_with(&["Format not on whitelist", "Protocol not on whitelist"]).is_some() {
        return MediaError::NotMedia;
    }
    if line_with(&NO_AUDIO).is_some() {
        return MediaError::NoAudioTrack;
    }
    // Prefer the most specific line: "moov atom not found" precedes the generic message.
    if let Some(detail) = line_with(&CORRUPT[..1]).or_else(|| line_with(&CORRUPT[1..])) {
        return MediaError::corrupt(detail);
    }
    MediaError::FfmpegFailed {
        status: sandbox::describe(status),
        stderr_tail,
    }
}

/// Drops ffmpeg's `[demuxer @ 0x55...] ` prefix from a log line.
fn strip_context(line: &str) -> String {
    let line = line.trim();
    match line
        .strip_prefix('[')
        .and_then(|rest| rest.split_once("] "))
    {
        Some((context, message)) if context.contains(" @ ") => message.to_owned(),
        _ => line.to_owned(),
    }
}
