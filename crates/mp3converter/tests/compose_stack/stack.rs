//! The compose project of the test: compose.yaml + compose.local.yaml rendered with Docker's
//! choice of host ports, the commands run on it, and its removal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Runs a command, returns its output; panics with its stderr when it fails.
pub(crate) fn run(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub(crate) fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("{cmd:?} could not start: {e}"))
}

/// Polls `f` every 250 ms until it returns `Some`, for at most `secs` seconds.
pub(crate) async fn eventually<T>(
    secs: u64,
    what: &str,
    mut f: impl AsyncFnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s: {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// One compose project: the rendered files, the name; `down -v` when dropped.
pub(crate) struct Stack {
    compose: Vec<String>,
    pub(crate) project: String,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Stack {
    /// compose.yaml + compose.local.yaml, merged by compose itself (`config`), with every
    /// published port's host side left to Docker (`127.0.0.1::8080`).
    pub(crate) fn render() -> Stack {
        let compose: Vec<String> = std::env::var("MP3C_TEST_COMPOSE")
            .unwrap_or_else(|_| "docker-compose".into())
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let root = repo_root();
        let merged = run(Command::new(&compose[0])
            .args(&compose[1..])
            .current_dir(&root)
            .args([
                "-f",
                "deploy/compose.yaml",
                "-f",
                "deploy/compose.local.yaml",
            ])
            .arg("config"));
        let mut rewritten = 0;
        let text: Vec<String> = merged
            .lines()
            .filter_map(|line| {
                let t = line.trim_start();
                // Short syntax (docker-compose 1.29): `- 127.0.0.1:8080:8080/tcp`.
                if let Some(spec) = t.strip_prefix("- 127.0.0.1:")
                    && let Some((_host, target)) = spec.split_once(':')
                    && target.trim_end_matches("/tcp").parse::<u16>().is_ok()
                {
                    rewritten += 1;
                    let indent = &line[..line.len() - t.len()];
                    return Some(format!("{indent}- 127.0.0.1::{target}"));
                }
                // Long syntax (compose v2): drop `published:`, Docker picks the host port.
                if t.starts_with("published:") {
                    rewritten += 1;
                    return None;
                }
                Some(line.to_string())
            })
            .collect();
        assert!(rewritten >= 2, "no published ports found in:\n{merged}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, text.join("\n")).unwrap();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        Stack {
            compose,
            project: format!("mp3c-test-{}-{stamp}", std::process::id()),
            file,
            _dir: dir,
        }
    }

    /// `compose -p PROJECT -f FILE ARGS…`
    pub(crate) fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.compose[0]);
        c.args(&self.compose[1..])
            .arg("-p")
            .arg(&self.project)
            .arg("-f")
            .arg(&self.file)
            .args(args);
        c
    }

    pub(crate) fn compose(&self, args: &[&str]) -> String {
        run(&mut self.cmd(args))
    }

    /// The host address of a service's published port.
    pub(crate) fn published(&self, service: &str, port: u16) -> String {
        let out = self.compose(&["port", service, &port.to_string()]);
        let addr = out.trim();
        assert!(
            addr.starts_with("127.0.0.1:"),
            "{service}:{port} → {addr:?}"
        );
        format!("http://{addr}")
    }

    /// The ids of a service's running containers.
    pub(crate) fn containers(&self, service: &str) -> Vec<String> {
        self.compose(&["ps", "-q", service])
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.cmd(&["ps"]).status();
            let _ = self.cmd(&["logs", "--no-color", "--tail", "80"]).status();
        }
        let out = self
            .cmd(&["down", "-v", "--remove-orphans", "-t", "5"])
            .output();
        match out {
            Ok(o) if o.status.success() => {}
            other => eprintln!("compose down of {} failed: {other:?}", self.project),
        }
    }
}

pub(crate) fn docker(args: &[&str]) -> String {
    run(Command::new("docker").args(args))
}

pub(crate) fn inspect(container: &str, format: &str) -> String {
    docker(&["inspect", "-f", format, container])
        .trim()
        .to_string()
}
