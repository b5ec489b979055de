//! SIGTERM with a browser tab open: the real binary ends its live event streams with a final
//! `shutdown` event (so the page reconnects) and exits 0 within its grace period — single node,
//! and each role in its own process. Before, `serve` stopped listening but stayed alive as long
//! as an `/api/v1/events` client was connected, past the grace period.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

const ADMIN_EMAIL: &str = "admin@example.com";
const ADMIN_PASSWORD: &str = "admin-password-1";
/// The grace period the processes are started with.
const GRACE_SECS: u64 = 5;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One `serve` process; killed if the test fails before it exits.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start(data: &Path, roles: &str, env: &[(&str, String)]) -> Server {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_mp3converter"))
            .args(["serve", "--roles", roles, "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--data-dir")
            .arg(data)
            .env("MP3C_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("MP3C_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("MP3C_SERVER__SHUTDOWN_GRACE_SECS", GRACE_SECS.to_string())
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let http = reqwest::Client::new();
        loop {
            let ready = http.get(format!("{}/readyz", self.url)).send().await;
            if ready.is_ok_and(|r| r.status() == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "{} never became ready", self.url);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Its exit status, if it exits within `within`.
    async fn exit_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn login(url: &str) -> String {
    let res = reqwest::Client::new()
        .post(format!("{url}/login"))
        .basic_auth(ADMIN_EMAIL, Some(ADMIN_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.text().await.unwrap().trim().to_owned()
}

/// Opens `/api/v1/events` as a browser tab would and reads it until the server ends it; the
/// text received.
async fn open_stream(url: &str, token: &str) -> tokio::task::JoinHandle<String> {
    let res = reqwest::Client::new()
        .get(format!("{url}/api/v1/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    tokio::spawn(async move {
        let mut body = res.bytes_stream();
        let mut text = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text
    })
}

/// The bound on how long a stopping process may take: the grace period, plus time to start
/// up the check (not a benchmark: the processes stop well before it).
fn bound() -> Duration {
    Duration::from_secs(GRACE_SECS + 5)
}

async fn assert_stream_ended_with_shutdown(stream: tokio::task::JoinHandle<String>) {
    let text = tokio::time::timeout(bound(), stream)
        .await
        .expect("the event stream ended")
        .unwrap();
    assert!(
        text.contains("event: shutdown\n"),
        "the last event tells the page to reconnect: {text:?}"
    );
    assert!(text.contains("retry: "), "with a reconnect delay: {text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_open_event_streams_and_exits_within_the_grace_period() {
    let data = tempfile::tempdir().unwrap();
    let mut server = Server::start(data.path(), "all", &[]);
    server.wait_ready().await;
    let token = login(&server.url).await;
    let stream = open_stream(&server.url, &token).await;
    // A second tab, to be sure every stream is ended, not just one.
    let other = open_stream(&server.url, &token).await;

    server.terminate();
    assert_stream_ended_with_shutdown(stream).await;
    assert_stream_ended_with_shutdown(other).await;
    let status = server.exit_within(bound()).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "exited 0 within the grace period: {status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_in_its_own_process_exits_within_the_grace_period() {
    let data = tempfile::tempdir().unwrap();
    let mut auth = Server::start(data.path(), "auth", &[]);
    auth.wait_ready().await;
    let auth_url = auth.url.clone();
    let mut gateway = Server::start(
        data.path(),
        "gateway",
        &[("MP3C_AUTH__URL", auth_url.clone())],
    );
    let mut workers = Server::start(data.path(), "converter,notifier", &[]);
    gateway.wait_ready().await;
    workers.wait_ready().await;
    let token = login(&gateway.url).await;
    let stream = open_stream(&gateway.url, &token).await;

    gateway.terminate();
    assert_stream_ended_with_shutdown(stream).await;
    for (name, server) in [
        ("gateway", &mut gateway),
        ("auth", &mut auth),
        ("converter,notifier", &mut workers),
    ] {
        if name != "gateway" {
            server.terminate();
        }
        let status = server.exit_within(bound()).await;
        assert!(
            status.is_some_and(|s| s.success()),
            "{name} exited 0 within the grace period: {status:?}"
        );
    }
}
