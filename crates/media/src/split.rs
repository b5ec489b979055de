//! Splitting one conversion into parts (`split=chapters` or `split=silence`), delivered as one
//! ZIP with an M3U playlist.
//!
//! The input is decoded once for the parts: a [`SplitSink`] sits where the encoder would and
//! opens a new encoder (the format's own, single-threaded) at each cut, writing each part to a
//! file in a private temporary directory. [`write_zip`] then streams those files into the ZIP
//! (stored, not compressed: audio does not compress) without holding any in memory.
//!
//! Cuts: at each chapter's start (audio before the first chapter joins it), or in the middle
//! of every silence at least `split_min_gap` long whose level stays under `split_threshold`
//! (found by a first pass over the decoded audio, [`SilenceFinder`]; silence at the very start
//! or end makes no cut).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use mp3converter_core::{DEFAULT_SPLIT_MIN_GAP, DEFAULT_SPLIT_THRESHOLD, Split};

use crate::meta::Chapter;
use crate::output::tags::Tagging;
use crate::output::{self, Target};
use crate::sink::{Sink, Written};
use crate::{ConvertOptions, EngineConfig, MediaError};

/// Most parts one job may make (a silence threshold set too high would otherwise make
/// thousands of slivers).
pub(crate) const MAX_PARTS: usize = 500;

/// Length of the level windows the silence finder measures, seconds.
const WINDOW_SECS: f64 = 0.05;

/// One part: where it starts (output samples) and its title.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Part {
    pub start: u64,
    pub title: String,
}

/// The parts of a `split=chapters` job: one per chapter (on the output's clock).
pub(crate) fn chapter_parts(chapters: &[Chapter], rate: u32) -> Result<Vec<Part>, MediaError> {
    if chapters.is_empty() {
        return Err(MediaError::NoChapters);
    }
    let mut parts: Vec<Part> = chapters
        .iter()
        .enumerate()
        .take(MAX_PARTS)
        .map(|(i, c)| Part {
            start: (c.start_secs * f64::from(rate)).round() as u64,
            title: crate::output::tags::chapter_title(c, i),
        })
        .collect();
    // Whatever comes before the first chapter belongs to it.
    parts[0].start = 0;
    Ok(parts)
}

/// The parts of a `split=silence` job, from the silences found.
pub(crate) fn silence_parts(cuts: &[u64]) -> Vec<Part> {
    std::iter::once(0)
        .chain(cuts.iter().copied())
        .take(MAX_PARTS)
        .enumerate()
        .map(|(i, start)| Part {
            start,
            title: format!("Part {}", i + 1),
        })
        .collect()
}

/// Finds the silences to cut at: windows of [`WINDOW_SECS`] whose peak stays under the
/// threshold, in runs at least the minimum gap long, followed by sound.
pub(crate) struct SilenceFinder {
    window: usize,
    threshold: f32,
    min_windows: usize,
    /// Samples and peak of the window being measured.
    in_window: usize,
    peak: f32,
    /// Windows measured so far, and where the current silent run began (in windows).
    windows: u64,
    run_start: Option<u64>,
    heard_sound: bool,
    cuts: Vec<u64>,
}

impl SilenceFinder {
    /// A finder for `options` (threshold and gap, or their defaults) at `rate` Hz.
    pub fn new(options: &ConvertOptions, rate: u32) -> Self {
        let threshold_db = options.split_threshold.unwrap_or(DEFAULT_SPLIT_THRESHOLD);
        let gap = options.split_min_gap.unwrap_or(DEFAULT_SPLIT_MIN_GAP);
        let window = ((f64::from(rate) * WINDOW_SECS).round() as usize).max(1);
        SilenceFinder {
            window,
            threshold: 10f64.powf(threshold_db / 20.0) as f32,
            min_windows: ((gap / WINDOW_SECS).ceil() as usize).max(1),
            in_window: 0,
            peak: 0.0,
            windows: 0,
            run_start: None,
            heard_sound: false,
            cuts: Vec::new(),
        }
    }

    /// Measures one block (`right` empty for mono).
    pub fn push(&mut self, left: &[f32], right: &[f32]) {
        for (i, l) in left.iter().enumerate() {
            let l = l.abs();
            let r = right.get(i).map_or(0.0, |r| r.abs());
            self.peak = self.peak.max(l).max(r);
            self.in_window += 1;
            if self.in_window == self.window {
                self.close_window();
            }
        }
    }

    fn close_window(&mut self) {
        let silent = self.peak < self.threshold;
        match (silent, self.run_start) {
            (true, None) => self.run_start = Some(self.windows),
            (false, Some(start)) => {
                let len = self.windows - start;
                if self.heard_sound
                    && len as usize >= self.min_windows
                    && self.cuts.len() < MAX_PARTS - 1
                {
                    let middle = start + len / 2;
                    self.cuts.push(middle * self.window as u64);
                }
                self.run_start = None;
            }
            _ => {}
        }
        if !silent {
            self.heard_sound = true;
        }
        self.windows += 1;
        self.in_window = 0;
        self.peak = 0.0;
    }

    /// The cut points, in samples (silence at the end makes none).
    pub fn finish(self) -> Vec<u64> {
        self.cuts
    }
}

/// One finished part file.
#[derive(Debug)]
pub(crate) struct PartFile {
    pub path: PathBuf,
    pub name: String,
    pub title: String,
    pub samples: u64,
}

/// The encoder stage of a split job: one encoder per part, switched at each cut.
pub(crate) struct SplitSink<'a> {
    dir: &'a Path,
    options: &'a ConvertOptions,
    config: &'a EngineConfig,
    base: &'a Tagging,
    rate: u32,
    channels: u8,
    parts: Vec<Part>,
    /// The part being written and its encoder.
    index: usize,
    current: Option<Box<dyn Sink>>,
    /// Output samples pushed so far, in all parts.
    pos: u64,
    part_start: u64,
    done: Vec<PartFile>,
    rate_written: u32,
    channels_written: u8,
}

impl<'a> SplitSink<'a> {
    /// A sink that writes `parts` as files in `dir`.
    pub fn new(
        dir: &'a Path,
        options: &'a ConvertOptions,
        config: &'a EngineConfig,
        base: &'a Tagging,
        rate: u32,
        channels: u8,
        parts: Vec<Part>,
    ) -> Result<Self, MediaError> {
        let mut sink = SplitSink {
            dir,
            options,
            config,
            base,
            rate,
            channels,
            parts,
            index: 0,
            current: None,
            pos: 0,
            part_start: 0,
            done: Vec::new(),
            rate_written: rate,
            channels_written: channels,
        };
        sink.open_part()?;
        Ok(sink)
    }

    fn total(&self) -> usize {
        self.parts.len()
    }

    fn open_part(&mut self) -> Result<(), MediaError> {
        let i = self.index;
        let total = self.total();
        let title = self.parts[i].title.clone();
        let name = part_name(i, total, &title, self.options.format().extension());
        let path = self.dir.join(format!("part-{i:04}"));
        let tagging = part_tagging(self.base, i, total, &title);
        let opened = output::open(
            &Target {
                path: &path,
                options: self.options,
                rate: self.rate,
                channels: self.channels,
                tagging: &tagging,
                long_enough: false,
            },
            self.config,
        )?;
        self.current = Some(opened.sink);
        self.done.push(PartFile {
            path,
            name,
            title,
            samples: 0,
        });
        self.part_start = self.pos;
        Ok(())
    }

    fn close_part(&mut self) -> Result<(), MediaError> {
        if let Some(sink) = self.current.take() {
            let written = sink.finish()?;
            self.rate_written = written.rate;
            self.channels_written = written.channels;
            if let Some(last) = self.done.last_mut() {
                last.samples = self.pos - self.part_start;
            }
        }
        Ok(())
    }

    /// Finishes the last part; returns the part files in order.
    pub fn finish_parts(mut self) -> Result<(Vec<PartFile>, u32, u8), MediaError> {
        self.close_part()?;
        Ok((self.done, self.rate_written, self.channels_written))
    }
}

impl Sink for SplitSink<'_> {
    fn push(&mut self, left: &[f32], right: &[f32]) -> Result<(), MediaError> {
        let mut at = 0;
        while at < left.len() {
            let next_cut = self.parts.get(self.index + 1).map(|p| p.start);
            let room = next_cut.map_or(usize::MAX, |c| c.saturating_sub(self.pos) as usize);
            if room == 0 {
                self.close_part()?;
                self.index += 1;
                self.open_part()?;
                continue;
            }
            let n = room.min(left.len() - at);
            let r = if right.is_empty() {
                &right[..0]
            } else {
                &right[at..at + n]
            };
            if let Some(sink) = self.current.as_mut() {
                sink.push(&left[at..at + n], r)?;
            }
            self.pos += n as u64;
            at += n;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Written, MediaError> {
        Err(MediaError::Encoder(
            "a split job finishes through finish_parts".into(),
        ))
    }
}

/// The tags of part `index` of `total`: a track of an album (the source's album, else its
/// title), titled `title`, with the cover and the other tags, without chapter marks.
fn part_tagging(base: &Tagging, index: usize, total: usize, title: &str) -> Tagging {
    let mut tagging = base.clone();
    tagging.chapters.clear();
    if tagging.tags.album.is_none() {
        tagging.tags.album = base.tags.title.clone();
    }
    tagging.tags.title = Some(title.to_owned());
    tagging.tags.track_number = Some(index as u32 + 1);
    tagging.total_tracks = Some(total as u32);
    tagging
}

/// `03 - Title.mp3`: the number padded to the set's width, the title made safe as a file name
/// in any system (no path separators, control or reserved characters, no leading dot, at most
/// 80 characters).
pub(crate) fn part_name(index: usize, total: usize, title: &str, extension: &str) -> String {
    let width = total.to_string().len().max(2);
    let safe: String = title
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .take(80)
        .collect();
    let safe = safe.trim().trim_start_matches('.').trim();
    let safe = if safe.is_empty() { "Part" } else { safe };
    format!("{:0width$} - {safe}.{extension}", index + 1)
}

/// Writes the ZIP at `output`: every part file, stored, then `playlist.m3u`. Streams from the
/// part files; returns the ZIP's size.
pub(crate) fn write_zip(output: &Path, parts: &[PartFile], rate: u32) -> Result<u64, MediaError> {
    let zip_error = |e: zip::result::ZipError| match e {
        zip::result::ZipError::Io(e) => MediaError::Io(e),
        other => MediaError::Encoder(format!("ZIP: {other}")),
    };
    let file = BufWriter::with_capacity(256 << 10, File::create(output)?);
    let mut zip = zip::ZipWriter::new(file);
    let mut playlist = String::from("#EXTM3U\n");
    for part in parts {
        let size = std::fs::metadata(&part.path)?.len();
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(size >= u64::from(u32::MAX))
            .unix_permissions(0o644);
        zip.start_file(part.name.as_str(), options)
            .map_err(zip_error)?;
        io::copy(&mut File::open(&part.path)?, &mut zip)?;
        let secs = (part.samples as f64 / f64::from(rate)).round() as u64;
        playlist.push_str(&format!(
            "#EXTINF:{secs},{}\n{}\n",
            part.title.replace(['\r', '\n'], " "),
            part.name
        ));
    }
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .unix_permissions(0o644);
    zip.start_file("playlist.m3u", options).map_err(zip_error)?;
    zip.write_all(playlist.as_bytes())?;
    let mut file = zip.finish().map_err(zip_error)?;
    file.flush()?;
    let file = file
        .into_inner()
        .map_err(|e| MediaError::Io(e.into_error()))?;
    Ok(file.metadata()?.len())
}

/// Shares of the progress bar taken by the ffmpeg pipeline's first passes: finding the
/// silences, measuring the loudness.
const FIND_SHARE: f64 = 0.2;
const MEASURE_SHARE: f64 = 0.2;

/// The ffmpeg pipeline's split (M4A output, inputs only ffmpeg reads): the parts from the
/// chapters, or from a first ffmpeg pass that finds the silences, then one ffmpeg run per part,
/// each seeking to it, then the ZIP.
pub(crate) fn split_with_ffmpeg(
    input: &Path,
    output: &Path,
    options: &ConvertOptions,
    config: &EngineConfig,
    plan: &crate::plan::Plan,
    tagging: &Tagging,
    control: crate::Control<'_>,
) -> Result<crate::ConvertReport, MediaError> {
    // Each part: start and end on the output's clock (`None`: the end of the kept range).
    let (parts, first): (Vec<(f64, Option<f64>, String)>, f64) = match options.split {
        Some(Split::Silence) => {
            let progress = |f: f64| (control.progress)(FIND_SHARE * f);
            let find_control = crate::Control {
                progress: &progress,
                cancel: control.cancel,
            };
            let cuts = crate::ffmpeg::silence_cuts(
                input,
                options,
                config,
                plan,
                find_control,
                MAX_PARTS - 1,
            )?;
            let starts: Vec<f64> = std::iter::once(0.0).chain(cuts).collect();
            let parts = starts
                .iter()
                .enumerate()
                .map(|(i, &start)| (start, starts.get(i + 1).copied(), format!("Part {}", i + 1)))
                .collect();
            (parts, FIND_SHARE)
        }
        _ => {
            if tagging.chapters.is_empty() {
                return Err(MediaError::NoChapters);
            }
            let chapters = &tagging.chapters[..tagging.chapters.len().min(MAX_PARTS)];
            let last = chapters.len() - 1;
            let parts = chapters
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    // Audio before the first chapter joins it; the last ends where the range
                    // does.
                    let start = if i == 0 { 0.0 } else { c.start_secs };
                    let end = (i < last).then_some(c.end_secs);
                    (start, end, crate::output::tags::chapter_title(c, i))
                })
                .collect();
            (parts, 0.0)
        }
    };
    // A loudness target is measured once over the kept range: every part gets the same gain,
    // as on the native pipeline.
    let (measured, first) = match options.loudness {
        Some(target_lufs) => {
            let progress = |f: f64| (control.progress)(first + MEASURE_SHARE * f);
            let measure_control = crate::Control {
                progress: &progress,
                cancel: control.cancel,
            };
            let measured = crate::ffmpeg::measure_loudness(
                input,
                options,
                config,
                plan,
                measure_control,
                target_lufs,
            )?;
            (measured, first + MEASURE_SHARE)
        }
        None => (None, first),
    };
    let dir = tempfile::Builder::new()
        .prefix(".mp3c-parts-")
        .tempdir_in(output.parent().unwrap_or(Path::new(".")))?;
    let offset = options.start.unwrap_or(0.0);
    let total = parts.len();
    let mut files = Vec::with_capacity(total);
    let mut report = crate::ConvertReport::blank();
    for (i, (start, end, title)) in parts.into_iter().enumerate() {
        let part_options = ConvertOptions {
            split: None,
            start: Some(offset + start),
            end: end.map(|e| offset + e).or(options.end),
            ..options.clone()
        };
        let part_tagging = part_tagging(tagging, i, total, &title);
        let path = dir.path().join(format!("part-{i:04}"));
        let progress =
            |f: f64| (control.progress)(first + (1.0 - first) * (i as f64 + f) / total as f64);
        let part_control = crate::Control {
            progress: &progress,
            cancel: control.cancel,
        };
        let part = crate::ffmpeg::convert_measured(
            input,
            &path,
            &part_options,
            config,
            plan,
            &part_tagging,
            part_control,
            measured.clone(),
        )?;
        report.duration_secs += part.duration_secs;
        (report.sample_rate, report.channels) = (part.sample_rate, part.channels);
        report.loudness = report.loudness.or(part.loudness);
        files.push(PartFile {
            path,
            name: part_name(i, total, &title, options.format().extension()),
            title,
            samples: (part.duration_secs * f64::from(part.sample_rate.max(1))).round() as u64,
        });
    }
    report.route = crate::Pipeline::Ffmpeg;
    report.route_reason = plan.reason.clone();
    report.format = options.format();
    report.bytes = write_zip(output, &files, report.sample_rate.max(1))?;
    report.parts = Some(files.len());
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silences_between_sounds_become_cuts_in_their_middle() {
        let rate = 1000;
        let options = ConvertOptions {
            split: Some(Split::Silence),
            split_min_gap: Some(1.0),
            ..Default::default()
        };
        let mut finder = SilenceFinder::new(&options, rate);
        // 0.5 s silence (start: no cut), 2 s tone, 1.5 s silence (cut), 1 s tone,
        // 0.5 s silence (too short), 1 s tone, 3 s silence (end: no cut).
        let mut signal = Vec::new();
        let mut add = |secs: f64, loud: bool| {
            for i in 0..(secs * f64::from(rate)) as usize {
                signal.push(if loud {
                    (i as f32 * 0.3).sin() * 0.5
                } else {
                    0.0
                });
            }
        };
        add(0.5, false);
        add(2.0, true);
        add(1.5, false);
        add(1.0, true);
        add(0.5, false);
        add(1.0, true);
        add(3.0, false);
        for block in signal.chunks(333) {
            finder.push(block, &[]);
        }
        let cuts = finder.finish();
        assert_eq!(cuts.len(), 1, "{cuts:?}");
        let at = cuts[0] as f64 / f64::from(rate);
        assert!((at - 3.25).abs() < 0.06, "cut at {at}");
        let parts = silence_parts(&cuts);
        assert_eq!(parts[1].title, "Part 2");
        assert_eq!(parts[0].start, 0);
    }

    #[test]
    fn chapter_parts_start_at_zero_and_need_chapters() {
        let c = |s: f64, t: Option<&str>| Chapter {
            start_secs: s,
            end_secs: s + 1.0,
            title: t.map(str::to_owned),
        };
        let parts = chapter_parts(&[c(0.5, Some("A")), c(2.0, None)], 100).unwrap();
        assert_eq!(
            parts,
            [
                Part {
                    start: 0,
                    title: "A".into()
                },
                Part {
                    start: 200,
                    title: "Chapter 2".into()
                }
            ]
        );
        assert_eq!(chapter_parts(&[], 100).unwrap_err().code(), "no-chapters");
    }

    #[test]
    fn part_names_are_safe_and_numbered() {
        assert_eq!(part_name(2, 12, "a/b: c?", "mp3"), "03 - a_b_ c_.mp3");
        assert_eq!(part_name(0, 150, " ..\n ", "opus"), "001 - _.opus");
        assert_eq!(part_name(0, 3, "...", "flac"), "01 - Part.flac");
    }
}
