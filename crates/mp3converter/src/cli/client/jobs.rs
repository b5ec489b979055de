//! `mp3converter jobs [--all]`: the caller's jobs (with `--all`, an admin's view of everyone's) as
//! a table, newest first.

use chrono::{DateTime, Local};
use clap::Args;
use mp3converter_core::JobState;

use super::api::{Api, JobInfo};
use super::session;

/// Longest name shown; longer ones are cut with `…`.
const NAME_WIDTH: usize = 40;

#[derive(Debug, Args)]
pub struct JobsArgs {
    /// Every user's jobs, not only yours (administrators only).
    #[arg(long)]
    all: bool,
}

pub async fn run(args: JobsArgs) -> anyhow::Result<()> {
    let api = Api::from_session(session::load()?)?;
    let jobs = api.jobs(args.all).await?;
    if jobs.is_empty() {
        eprintln!("no jobs yet: `mp3converter upload FILE` starts one");
        return Ok(());
    }
    print!("{}", table(&jobs));
    Ok(())
}

/// Columns: id, name, state, progress (while queued or converting), duration (of the audio,
/// once done), created (local time) and, last because it may be long, why a job failed. Each
/// column holds one kind of thing; an empty cell is `-`.
fn table(jobs: &[JobInfo]) -> String {
    let header = [
        "ID", "NAME", "STATE", "PROGRESS", "DURATION", "CREATED", "ERROR",
    ]
    .map(str::to_owned);
    let rows: Vec<[String; 7]> = jobs
        .iter()
        .map(|job| {
            [
                job.id.to_string(),
                shorten(&job.original_name),
                job.state.as_str().to_owned(),
                progress(job),
                job.duration_secs
                    .filter(|_| job.state == JobState::Done)
                    .map_or_else(|| "-".to_owned(), duration),
                created(job.created_at),
                job.error
                    .as_ref()
                    .filter(|_| job.state == JobState::Failed)
                    .map_or_else(|| "-".to_owned(), |e| e.message.clone()),
            ]
        })
        .collect();
    let mut widths = [0usize; 7];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = width - cell.chars().count();
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn shorten(name: &str) -> String {
    if name.chars().count() <= NAME_WIDTH {
        return name.to_owned();
    }
    let mut cut: String = name.chars().take(NAME_WIDTH - 1).collect();
    cut.push('…');
    cut
}

/// The progress column: `0%` while queued, `42%` while downloading or converting, `100%` once
/// done.
fn progress(job: &JobInfo) -> String {
    match job.state {
        JobState::Queued => "0%".to_owned(),
        // An import's download: its own 0–100%, before the conversion's.
        JobState::Downloading => format!("{:.0}%", (job.progress * 100.0).floor().min(100.0)),
        // Rounded down: 100% only once it is done.
        JobState::Converting => format!("{:.0}%", (job.progress * 100.0).floor().min(99.0)),
        JobState::Done => "100%".to_owned(),
        JobState::Failed | JobState::Expired => "-".to_owned(),
    }
}

/// `83.4` → `1:23`; `3725` → `1:02:05`.
fn duration(secs: f64) -> String {
    let total = secs.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn created(millis: i64) -> String {
    DateTime::from_timestamp_millis(millis).map_or_else(
        || "-".to_owned(),
        |t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::client::api::JobErrorInfo;

    fn job(name: &str, state: JobState) -> JobInfo {
        JobInfo {
            id: "01930000-0000-7000-8000-000000000001".parse().unwrap(),
            state,
            progress: 0.427,
            original_name: name.to_owned(),
            duration_secs: Some(83.4),
            error: Some(JobErrorInfo {
                message: "this video has no audio track".into(),
            }),
            created_at: 1_700_000_000_000,
        }
    }

    #[test]
    fn the_table_is_aligned_with_one_kind_of_value_per_column() {
        let long = "a".repeat(60);
        let out = table(&[
            job("talk.mp4", JobState::Converting),
            job(&long, JobState::Done),
            job("clip.mp4", JobState::Failed),
            job("new.mp4", JobState::Queued),
        ]);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 5);
        assert!(lines[0].starts_with("ID "), "{out}");
        let state_col = lines[0].find("STATE").unwrap();
        for line in &lines[1..] {
            assert!(
                line.starts_with("01930000-0000-7000-8000-000000000001  "),
                "{out}"
            );
            let state_initial = line.chars().nth(state_col);
            assert!(
                matches!(state_initial, Some('c' | 'd' | 'f' | 'q')),
                "columns line up: {out}"
            );
        }
        let cell = |line: &str, column: &str| {
            let at = lines[0].find(column).unwrap(); // the header is ASCII: bytes = chars
            let rest: String = line.chars().skip(at).collect();
            rest.split("  ").next().unwrap().to_owned()
        };
        let columns =
            |line: &str| ["STATE", "PROGRESS", "DURATION", "ERROR"].map(|c| cell(line, c));
        assert_eq!(columns(lines[1]), ["converting", "42%", "-", "-"], "{out}");
        assert!(lines[2].contains(&format!("{}…", "a".repeat(39))), "{out}");
        assert!(!lines[2].contains(&"a".repeat(41)), "{out}");
        assert_eq!(columns(lines[2]), ["done", "100%", "1:23", "-"], "{out}");
        assert_eq!(
            columns(lines[3]),
            ["failed", "-", "-", "this video has no audio track"],
            "{out}"
        );
        assert_eq!(columns(lines[4]), ["queued", "0%", "-", "-"], "{out}");
    }

    #[test]
    fn durations_read_like_a_player() {
        assert_eq!(duration(3.0), "0:03");
        assert_eq!(duration(83.4), "1:23");
        assert_eq!(duration(3725.0), "1:02:05");
    }
}
