//! `mp3converter convert IN [-o OUT] [options]`: run the engine on one file.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mp3converter_core::Preset;
use mp3converter_media::{AudioFormat, Control, ConvertOptions, EngineChoice, EngineConfig};

mod dry_run;

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// The video or audio file to convert.
    input: PathBuf,
    /// Where to write the audio (default: the input's name with the format's extension, beside
    /// it). Its extension chooses the format when `--format` is not given (`talk.flac`).
    #[arg(short, long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    options: OptionArgs,
    /// Decoding path: auto (native when correct, else ffmpeg), native, or ffmpeg.
    #[arg(long, default_value = "auto")]
    engine: EngineChoice,
    /// Encoder threads for long inputs ("auto" = one per core).
    #[arg(long, default_value = "auto", value_parser = parse_threads)]
    threads: usize,
    /// Overwrite the output if it exists.
    #[arg(short = 'y', long)]
    overwrite: bool,
    /// Convert nothing: print the route, format, predicted size and time as JSON.
    #[arg(long)]
    dry_run: bool,
}

/// The conversion options, as flags (`convert` and the client's `upload` share them).
#[derive(Debug, Clone, Args)]
pub struct OptionArgs {
    /// A bundle of options: speech (Opus 32 kbps mono, −16 LUFS), podcast (MP3 96 kbps mono,
    /// −16 LUFS), music (MP3 VBR 0) or audiobook (MP3 64 kbps mono, −18 LUFS); the other flags
    /// override it.
    #[arg(long, value_parser = parse_preset)]
    preset: Option<Preset>,
    /// Output format: mp3 (default), opus, flac, wav or m4a.
    #[arg(long, value_parser = parse_format)]
    format: Option<AudioFormat>,
    /// Constant bitrate in kbps (MP3 and M4A 32–320, default 192; Opus 6–510, default 128).
    #[arg(long, conflicts_with = "vbr")]
    bitrate: Option<u16>,
    /// MP3 VBR quality, 0 (best) to 9 (smallest), instead of a constant bitrate.
    #[arg(long)]
    vbr: Option<u8>,
    /// Output sample rate in Hz (default: the source's, when the format can carry it).
    #[arg(long)]
    rate: Option<u32>,
    /// Mix down to one channel.
    #[arg(long)]
    mono: bool,
    /// Start of the kept range: seconds, or [HH:]MM:SS[.fff].
    #[arg(long, value_parser = parse_time)]
    start: Option<f64>,
    /// End of the kept range: seconds, or [HH:]MM:SS[.fff].
    #[arg(long, value_parser = parse_time)]
    end: Option<f64>,
    /// Normalise to this integrated loudness, LUFS (EBU R128, two passes, true peak under
    /// −1 dBTP): −16 for podcasts, −23 for broadcast, −14 for streaming.
    #[arg(long, value_name = "LUFS", allow_negative_numbers = true)]
    loudness: Option<f64>,
    /// Which audio track to convert, counted among audio tracks from 0.
    #[arg(long)]
    track: Option<usize>,
    /// Title tag (default: the source's title, else the file name).
    #[arg(long)]
    title: Option<String>,
    /// Artist tag (default: the source's).
    #[arg(long)]
    artist: Option<String>,
    /// Album tag (default: the source's).
    #[arg(long)]
    album: Option<String>,
    /// Date tag: YYYY, YYYY-MM or YYYY-MM-DD (default: the source's).
    #[arg(long)]
    date: Option<String>,
    /// Genre tag (default: the source's).
    #[arg(long)]
    genre: Option<String>,
    /// Track-number tag, from 1 (default: the source's; `--track` chooses the audio track).
    #[arg(long)]
    track_number: Option<u32>,
    /// Comment tag (default: the source's).
    #[arg(long)]
    comment: Option<String>,
    /// Leave out what the source carries (tags, cover art); the flags' tags are still written.
    #[arg(long)]
    no_tags: bool,
    /// Cover picture (JPEG, PNG or WebP; re-encoded, at most 1200 px a side).
    #[arg(long, value_name = "FILE", conflicts_with = "cover_from_video")]
    pub(crate) cover: Option<PathBuf>,
    /// Take the cover from the video's picture at this time: seconds or [HH:]MM:SS[.fff].
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    cover_from_video: Option<f64>,
    /// One file per chapter (`chapters`) or per part between silences (`silence`), delivered
    /// as a ZIP with an M3U playlist.
    #[arg(long, value_parser = parse_split)]
    split: Option<mp3converter_core::Split>,
    /// `--split silence`: what counts as silence, dBFS (default −45).
    #[arg(long, value_name = "DBFS", allow_negative_numbers = true)]
    split_threshold: Option<f64>,
    /// `--split silence`: the shortest silence between two parts, seconds (default 2).
    #[arg(long, value_name = "SECONDS")]
    split_min_gap: Option<f64>,
}

impl OptionArgs {
    /// The options these flags ask for.
    pub fn options(&self) -> ConvertOptions {
        let explicit = ConvertOptions {
            format: self.format,
            bitrate: self.bitrate,
            vbr: self.vbr,
            sample_rate: self.rate,
            mono: self.mono,
            start: self.start,
            end: self.end,
            loudness: self.loudness,
            track: self.track,
            title: self.title.clone(),
            artist: self.artist.clone(),
            album: self.album.clone(),
            date: self.date.clone(),
            genre: self.genre.clone(),
            track_number: self.track_number,
            comment: self.comment.clone(),
            no_tags: self.no_tags,
            cover: self.cover.is_some(),
            cover_from_video: self.cover_from_video,
            split: self.split,
            split_threshold: self.split_threshold,
            split_min_gap: self.split_min_gap,
        };
        match self.preset {
            Some(preset) => preset.under(&explicit),
            None => explicit,
        }
    }
}

fn parse_split(s: &str) -> Result<mp3converter_core::Split, String> {
    s.parse()
        .map_err(|e: mp3converter_core::OptionsError| e.to_string())
}

fn parse_preset(s: &str) -> Result<Preset, String> {
    s.parse()
        .map_err(|e: mp3converter_core::UnknownPreset| e.to_string())
}

fn parse_format(s: &str) -> Result<AudioFormat, String> {
    s.parse()
        .map_err(|e: mp3converter_media::UnknownFormat| e.to_string())
}

/// The format a `convert` names: `--format`, else `-o`'s extension (`None`: neither says, so
/// a preset's or MP3).
fn named_format(
    format: Option<AudioFormat>,
    output: Option<&Path>,
) -> anyhow::Result<Option<AudioFormat>> {
    let implied = output
        .and_then(|o| o.extension())
        .and_then(|e| AudioFormat::from_extension(&e.to_string_lossy()));
    Ok(match (format, implied) {
        (Some(asked), Some(named)) if asked != named => anyhow::bail!(
            "the output name says {named} but --format asks for {asked}; change one of them"
        ),
        (Some(f), _) | (None, Some(f)) => Some(f),
        (None, None) => None,
    })
}

fn parse_threads(s: &str) -> Result<usize, String> {
    match s {
        "auto" => Ok(0),
        n => n
            .parse::<usize>()
            .map_err(|_| format!("`{n}` is not a number of threads or `auto`")),
    }
}

/// Parses `90`, `90.5`, `1:30` or `0:01:30.5` into seconds.
pub fn parse_time(s: &str) -> Result<f64, String> {
    let bad = || format!("`{s}` is not a time (use seconds or [HH:]MM:SS[.fff])");
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() > 3 {
        return Err(bad());
    }
    let mut secs = 0.0;
    for (i, part) in parts.iter().enumerate() {
        let v: f64 = part.parse().map_err(|_| bad())?;
        let last = i + 1 == parts.len();
        if !v.is_finite() || v < 0.0 || (!last && v.fract() != 0.0) || (i > 0 && v >= 60.0) {
            return Err(bad());
        }
        secs = secs * 60.0 + v;
    }
    Ok(secs)
}

pub fn run(args: ConvertArgs) -> anyhow::Result<()> {
    // Refuse bad options before touching any file (the engine checks them again).
    let mut flags = args.options.clone();
    flags.format = named_format(flags.format, args.output.as_deref())?;
    let mut options = flags.options();
    let format = options.format();
    options.format = (format != AudioFormat::Mp3).then_some(format);
    options.validate()?;
    if args.dry_run {
        return dry_run::run(&args.input, &options, args.engine, args.threads);
    }
    let output = args
        .output
        .clone()
        .unwrap_or_else(|| args.input.with_extension(options.output_extension()));
    if options.split.is_some()
        && output
            .extension()
            .is_none_or(|e| !e.eq_ignore_ascii_case("zip"))
    {
        anyhow::bail!(
            "a split writes one ZIP of parts: name the output .zip and choose the parts' format \
             with --format"
        );
    }
    if output == args.input {
        anyhow::bail!("the output would overwrite the input; choose another name with -o");
    }
    if output.exists() && !args.overwrite {
        anyhow::bail!("{} already exists (use -y to overwrite)", output.display());
    }
    let config = EngineConfig {
        engine: args.engine,
        threads: args.threads,
        ..EngineConfig::default()
    };

    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new(1000);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {wide_bar} {percent:>3}% {elapsed_precise} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let progress = |f: f64| bar.set_position((f * 1000.0) as u64);
    let cancel = AtomicBool::new(false);
    let started = Instant::now();
    let extras = mp3converter_media::Extras {
        cover: args.options.cover.as_deref(),
    };
    let result = mp3converter_media::convert_with(
        &args.input,
        &output,
        &options,
        &extras,
        &config,
        Control {
            progress: &progress,
            cancel: &cancel,
        },
    );
    bar.finish_and_clear();
    let report = result.with_context(|| format!("cannot convert {}", args.input.display()))?;
    eprintln!(
        "{} → {} ({}, {:.1} s of audio, {} Hz, {} ch, {} bytes, {} path{}, {:.2} s)",
        args.input.display(),
        output.display(),
        report.format.label(),
        report.duration_secs,
        report.sample_rate,
        report.channels,
        report.bytes,
        serde_json::to_value(report.route)?.as_str().unwrap_or("?"),
        if report.threads > 1 {
            format!(", {} threads", report.threads)
        } else {
            String::new()
        },
        started.elapsed().as_secs_f64(),
    );
    if let Some(parts) = report.parts {
        eprintln!("{parts} parts in the ZIP, with playlist.m3u");
    } else if report.chapters > 0 || report.cover {
        eprintln!(
            "{} chapter marks{}",
            report.chapters,
            if report.cover {
                ", a cover picture"
            } else {
                ""
            }
        );
    }
    if let Some(l) = report.loudness {
        eprintln!(
            "loudness: {:.1} LUFS (true peak {:.1} dBTP) → {:.1} LUFS, gain {:+.1} dB",
            l.source_lufs, l.source_true_peak_dbtp, l.target_lufs, l.gain_db
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{AudioFormat, Path, named_format, parse_time};

    #[test]
    fn the_format_comes_from_the_flag_else_the_output_name() {
        let pick = |format, output: Option<&str>| named_format(format, output.map(Path::new));
        assert_eq!(pick(None, None).unwrap(), None);
        assert_eq!(
            pick(Some(AudioFormat::Opus), None).unwrap(),
            Some(AudioFormat::Opus)
        );
        assert_eq!(
            pick(None, Some("out/x.FLAC")).unwrap(),
            Some(AudioFormat::Flac)
        );
        assert_eq!(pick(None, Some("x.bin")).unwrap(), None);
        let e = pick(Some(AudioFormat::Wav), Some("x.mp3")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the output name says mp3 but --format asks for wav; change one of them"
        );
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time("90"), Ok(90.0));
        assert_eq!(parse_time("1:30.5"), Ok(90.5));
        assert_eq!(parse_time("01:00:01"), Ok(3601.0));
        assert!(parse_time("1:75").is_err());
        assert!(parse_time("-3").is_err());
        assert!(parse_time("a:b").is_err());
    }
}
