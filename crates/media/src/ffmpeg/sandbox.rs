//! Runs one ffmpeg or ffprobe child in a sandbox: no stdin, an empty environment, its own
//! temporary working directory, resource limits, Landlock and a network namespace (see
//! [`confine`](super::confine)), a wall-clock timeout, cancellation, and a guard that kills it
//! on any exit.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use rlimit::Resource;

use super::confine::{self, Confinement, NetIsolation};
use crate::{Control, EngineConfig, MediaError};

/// How often cancellation and the deadline are checked while the child produces no output.
const POLL: Duration = Duration::from_millis(50);
/// The stderr lines kept for error messages, and their total size.
const TAIL_LINES: usize = 20;
const TAIL_BYTES: usize = 4096;
/// Longest piece of output handled as one line (longer lines arrive in pieces).
const MAX_LINE: u64 = 8192;
/// The signals the kernel sends at the CPU time and file size limits.
pub(super) const SIGXCPU: i32 = 24;
const SIGXFSZ: i32 = 25;
/// Extra CPU seconds beyond the wall-clock budget before the kernel stops the child.
const CPU_MARGIN_SECS: u64 = 5;

/// The resource limits applied to the child with `setrlimit` (soft, hard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Limits {
    /// `RLIMIT_CPU`, seconds: SIGXCPU at the soft limit, SIGKILL at the hard one.
    pub cpu_secs: (u64, u64),
    /// `RLIMIT_AS`, bytes.
    pub address_space: u64,
    /// `RLIMIT_FSIZE`, bytes: a larger write fails and the child gets SIGXFSZ.
    pub file_size: u64,
}

impl Limits {
    /// The limits for a run with a wall-clock budget of `timeout`, never above what this process
    /// may grant (raising a hard limit would make the spawn fail).
    pub fn new(config: &EngineConfig, timeout: Duration) -> Limits {
        let cpu = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0) + CPU_MARGIN_SECS;
        let cap = |res: Resource, want: u64| match rlimit::getrlimit(res) {
            Ok((_, hard)) => want.min(hard),
            Err(_) => want,
        };
        Limits {
            cpu_secs: (
                cap(Resource::CPU, cpu),
                cap(Resource::CPU, cpu + CPU_MARGIN_SECS),
            ),
            address_space: cap(Resource::AS, config.ffmpeg_max_memory_bytes),
            file_size: cap(Resource::FSIZE, config.ffmpeg_max_output_bytes),
        }
    }

    /// Applies the limits to the calling process. Runs in the forked child: allocation-free.
    fn apply(&self) -> io::Result<()> {
        rlimit::setrlimit(Resource::CPU, self.cpu_secs.0, self.cpu_secs.1)?;
        rlimit::setrlimit(Resource::AS, self.address_space, self.address_space)?;
        rlimit::setrlimit(Resource::FSIZE, self.file_size, self.file_size)?;
        rlimit::setrlimit(Resource::CORE, 0, 0)
    }
}

/// Makes the child apply `limits` and `confinement` to itself between fork and exec.
#[allow(unsafe_code)]
fn confine_child(command: &mut Command, limits: Limits, mut confinement: Confinement) {
    // SAFETY: the hook runs in the forked child before exec. It calls setrlimit(2), then
    // `apply_in_child` (unshare(2), write(2), prctl(2), landlock_restrict_self(2)), all
    // async-signal-safe, on values prepared before the fork; it allocates nothing, takes no
    // locks and touches no state shared with the parent.
    unsafe {
        command.pre_exec(move || {
            limits.apply()?;
            confinement.apply_in_child()
        });
    }
}

/// One sandboxed run.
#[derive(Debug)]
pub(super) struct Run<'a> {
    /// The binary: a name looked up in `PATH`, or a path.
    pub program: &'a Path,
    /// Its arguments (paths in them must be absolute: the child runs in its own directory).
    pub args: Vec<OsString>,
    /// Wall-clock budget; the child is killed when it runs longer.
    pub timeout: Duration,
    /// Resource limits.
    pub limits: Limits,
    /// Where the child's temporary directory goes; `None` for the system temp dir.
    pub temp_parent: Option<&'a Path>,
    /// The only files outside the system directories the child may read (the input).
    pub reads: &'a [&'a Path],
    /// The only files the child may write besides its temporary directory (the output).
    pub writes: &'a [&'a Path],
}

/// How a run that finished by itself ended.
#[derive(Debug)]
pub(super) struct Finished {
    /// The exit status.
    pub status: ExitStatus,
    /// The last lines written to stderr.
    pub stderr_tail: String,
    /// The confinement the child ran under.
    pub confined: Confined,
}

/// The confinement a child ran under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Confined {
    /// A Landlock domain was enforced.
    pub landlock: bool,
    /// Its network isolation.
    pub net: NetIsolation,
}

impl Run<'_> {
    /// Runs the child to completion, handing each line (with its end) or piece of a long line of its stdout
    /// to `on_stdout` on this thread. An error from `on_stdout`, a cancel or the timeout kills
    /// the child; so does a panic, through the guard.
    pub fn run(
        &self,
        control: Control<'_>,
        on_stdout: &mut dyn FnMut(&[u8]) -> Result<(), MediaError>,
    ) -> Result<Finished, MediaError> {
        let dir = match self.temp_parent {
            Some(parent) => tempfile::Builder::new()
                .prefix("mp3c-ffmpeg-")
                .tempdir_in(parent)?,
            None => tempfile::Builder::new().prefix("mp3c-ffmpeg-").tempdir()?,
        };
        let program = confine::resolve_program(self.program);
        let (confinement, status) =
            Confinement::prepare(&program, self.reads, self.writes, dir.path())?;
        let mut command = Command::new(&program);
        command
            .args(&self.args)
            .current_dir(dir.path())
            .env_clear()
            .envs(confine::child_env(dir.path()))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let has_landlock = confinement.has_landlock();
        confine_child(&mut command, self.limits, confinement);
        let mut child = ChildGuard::spawn(&mut command, self.program)?;
        // The hook has run: the status pipe holds the child's report (and the parent's copy of
        // its write end goes with the command).
        drop(command);
        let confined = Confined {
            landlock: has_landlock,
            net: status.read(),
        };
        let (lines, stdout_thread) = forward_lines(child.stdout.take());
        let stderr_thread = collect_tail(child.stderr.take());

        let deadline = Instant::now() + self.timeout;
        let mut stdout_open = true;
        let mut status = None;
        loop {
            if stdout_open {
                match lines.recv_timeout(POLL) {
                    Ok(line) => on_stdout(&line)?,
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => stdout_open = false,
                }
            }
            if status.is_none() {
                status = child.try_wait()?;
            }
            if let Some(status) = status
                && !stdout_open
                && stderr_thread.is_finished()
            {
                let stderr_tail = stderr_thread.join().unwrap_or_default();
                let _ = stdout_thread.join();
                if let Err(e) = dir.close() {
                    tracing::warn!(error = %e, "could not remove the ffmpeg temporary directory");
                }
                return Ok(Finished {
                    status,
                    stderr_tail,
                    confined,
                });
            }
            if control.cancel.load(Ordering::Relaxed) {
                return Err(MediaError::Cancelled);
            }
            if Instant::now() >= deadline {
                return Err(MediaError::FfmpegTimeout(self.timeout));
            }
            if !stdout_open {
                thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

/// Owns the child: kills and reaps it when dropped before it was seen to exit.
#[derive(Debug)]
struct ChildGuard {
    child: Child,
    stdout: Option<ChildStdout>,
    stderr: Option<ChildStderr>,
    reaped: bool,
}

impl ChildGuard {
    fn spawn(command: &mut Command, program: &Path) -> Result<ChildGuard, MediaError> {
        let mut child = command.spawn().map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => {
                MediaError::FfmpegMissing(format!("{}: {e}", program.display()))
            }
            _ => MediaError::Io(e),
        })?;
        let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
        Ok(ChildGuard {
            child,
            stdout,
            stderr,
            reaped: false,
        })
    }

    fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        let status = self.child.try_wait()?;
        self.reaped |= status.is_some();
        Ok(status)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads `stdout` on a thread and sends it line by line (pieces of at most [`MAX_LINE`]).
fn forward_lines(stdout: Option<ChildStdout>) -> (Receiver<Vec<u8>>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        let Some(stdout) = stdout else { return };
        let mut reader = BufReader::new(stdout);
        while let Some(line) = read_line(&mut reader) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (rx, thread)
}

/// Reads `stderr` on a thread, keeping the last [`TAIL_LINES`] lines within [`TAIL_BYTES`].
fn collect_tail(stderr: Option<ChildStderr>) -> JoinHandle<String> {
    thread::spawn(move || {
        let mut tail = Tail::default();
        if let Some(stderr) = stderr {
            let mut reader = BufReader::new(stderr);
            while let Some(line) = read_line(&mut reader) {
                tail.push(&String::from_utf8_lossy(&line));
            }
        }
        tail.into_string()
    })
}

/// The next line (with its `\n`, so pieces of a long line join back exactly) or piece of a
/// long line; `None` at the end or on an error.
fn read_line<R: BufRead>(reader: &mut R) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    match reader.by_ref().take(MAX_LINE).read_until(b'\n', &mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(line),
    }
}

/// The end of a stream of lines, bounded in count and bytes.
#[derive(Debug, Default)]
pub(super) struct Tail {
    lines: VecDeque<String>,
    bytes: usize,
}

impl Tail {
    pub fn push(&mut self, line: &str) {
        let line = line.trim_end();
        if line.is_empty() {
            return;
        }
        let mut cut = line.len().min(TAIL_BYTES);
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        self.bytes += cut;
        self.lines.push_back(line[..cut].to_owned());
        while self.lines.len() > TAIL_LINES || self.bytes > TAIL_BYTES {
            if let Some(old) = self.lines.pop_front() {
                self.bytes -= old.len();
            }
        }
    }

    pub fn into_string(self) -> String {
        Vec::from(self.lines).join("\n")
    }
}

/// `path` made absolute (the child runs in another directory) and prefixed with `file:`, so
/// ffmpeg never reads a name like `concat:a|b` or `http://...` as a protocol.
pub(super) fn file_url(path: &Path) -> io::Result<OsString> {
    let absolute: PathBuf = std::path::absolute(path)?;
    let mut url = OsString::from("file:");
    url.push(absolute);
    Ok(url)
}

/// The exit status in words, naming the limit signals.
pub(super) fn describe(status: ExitStatus) -> String {
    match status.signal() {
        Some(SIGXCPU) => "killed at the CPU time limit (SIGXCPU)".into(),
        Some(SIGXFSZ) => "killed at the output size limit (SIGXFSZ)".into(),
        _ => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_last_lines_within_the_byte_budget() {
        let mut tail = Tail::default();
        for i in 0..100 {
            tail.push(&format!("line {i}\n"));
        }
        tail.push("   ");
        let s = tail.into_string();
        assert_eq!(s.lines().count(), TAIL_LINES);
        assert!(s.starts_with("line 80\n") && s.ends_with("line 99"), "{s}");

        let mut tail = Tail::default();
        tail.push(&"é".repeat(3000)); // 6000 bytes: cut on a char boundary
        tail.push("last");
        let s = tail.into_string();
        assert!(s.len() <= TAIL_BYTES && s.ends_with("last"));
    }

    #[test]
    fn long_lines_arrive_in_pieces_that_join_back_exactly() {
        let text = format!("short\n{}\nend", "x".repeat(20_000));
        let mut reader = io::Cursor::new(text.as_bytes());
        let pieces: Vec<Vec<u8>> = std::iter::from_fn(|| read_line(&mut reader)).collect();
        assert_eq!(pieces.len(), 5, "short, three pieces of the long line, end");
        assert!(pieces.iter().all(|p| p.len() as u64 <= MAX_LINE));
        assert_eq!(pieces.concat(), text.as_bytes());
    }

    #[test]
    fn file_url_is_absolute_and_prefixed() {
        let url = file_url(Path::new("concat:a.mp4")).unwrap();
        let url = url.to_str().unwrap();
        assert!(
            url.starts_with("file:/") && url.ends_with("/concat:a.mp4"),
            "{url}"
        );
    }

    #[test]
    fn limits_follow_the_config_and_timeout() {
        let config = EngineConfig {
            ffmpeg_max_memory_bytes: 1 << 30,
            ffmpeg_max_output_bytes: 1 << 20,
            ..EngineConfig::default()
        };
        let limits = Limits::new(&config, Duration::from_millis(10_500));
        let (_, cpu_hard) = rlimit::getrlimit(Resource::CPU).unwrap();
        if cpu_hard == rlimit::INFINITY {
            assert_eq!(
                limits.cpu_secs,
                (11 + CPU_MARGIN_SECS, 11 + 2 * CPU_MARGIN_SECS)
            );
        }
        assert!(limits.address_space <= 1 << 30 && limits.file_size <= 1 << 20);
    }
}
