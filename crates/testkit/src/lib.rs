//! The test harness: [`TestApp`] runs every role in-process on port 0 with embedded backends in
//! a temp dir and real SMTP to an in-process [`smtp::SmtpCapture`].

#![forbid(unsafe_code)]

pub mod cluster;
pub mod proxy;
pub mod smtp;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mp3converter::app::Application;
use mp3converter::backends::Backends;
use mp3converter::config::Config;
use mp3converter_mail::MailBackend;
use smtp::{Mode, SmtpCapture};
use tokio_util::sync::CancellationToken;

/// The admin every [`TestApp`] starts with.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// A committed media fixture (`tests/fixtures/media/NAME`).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/media")
        .join(name)
}

/// The duration of an MP3 (checking that it is one), as the engine's probe reads it.
pub fn mp3_secs(mp3: &[u8]) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("a.mp3");
    std::fs::write(&path, mp3).expect("write mp3");
    let report = mp3converter_media::probe(&path, &Default::default()).expect("probe");
    assert_eq!(report.container, "mp3");
    report.duration_secs.expect("a duration")
}

/// Logs in with HTTP Basic at `base/login` (the course's route) and returns the token.
pub async fn login_at(http: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let res = http
        .post(format!("{base}/login"))
        .basic_auth(email, Some(password))
        .send()
        .await
        .expect("login request");
    assert_eq!(res.status(), 200, "login of {email} failed");
    res.text().await.expect("token")
}

/// A running application with its own data dir and SMTP capture.
#[derive(Debug)]
pub struct TestApp {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Every email it sent.
    pub smtp: SmtpCapture,
    /// Its backends (inspect the database, storage, queue).
    pub backends: Backends,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// The configuration it runs with (to start another app on the same data).
    pub config: Config,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _data: Option<tempfile::TempDir>,
}

impl TestApp {
    /// Every role, embedded backends, defaults.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    /// Like [`TestApp::spawn`], with the configuration adjusted by `adjust` first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let smtp = SmtpCapture::start(Mode::Accept).await;
        let mut config = Config::default().with_data_dir(dir.path());
        config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.admin_email = Some(ADMIN_EMAIL.into());
        config.admin_password = Some(ADMIN_PASSWORD.into());
        config.mail.backend = MailBackend::Smtp;
        config.mail.url = Some(format!("smtp://{}?tls=none", smtp.addr).into());
        adjust(&mut config);
        Self::start(config, smtp, Some(dir)).await
    }

    /// Starts an app on an existing configuration (e.g. the data dir of a stopped one).
    pub async fn restart(config: Config) -> TestApp {
        let smtp = SmtpCapture::start(Mode::Accept).await;
        let mut config = config;
        config.mail.url = Some(format!("smtp://{}?tls=none", smtp.addr).into());
        Self::start(config, smtp, None).await
    }

    /// Starts an app on exactly `config`, mail settings included (its `smtp` capture then
    /// receives nothing unless `config` points at it).
    pub async fn restart_exact(config: Config) -> TestApp {
        let smtp = SmtpCapture::start(Mode::Accept).await;
        Self::start(config, smtp, None).await
    }

    async fn start(config: Config, smtp: SmtpCapture, data: Option<tempfile::TempDir>) -> TestApp {
        let app = Application::build(config.clone())
            .await
            .expect("the application starts");
        let addr = app.local_addr();
        let backends = app.backends.clone();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        TestApp {
            addr,
            base: format!("http://{addr}"),
            smtp,
            backends,
            http: reqwest::Client::new(),
            config,
            shutdown,
            task,
            _data: data,
        }
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Logs in with HTTP Basic at `/login` (the course's route) and returns the token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        login_at(&self.http, &self.base, email, password).await
    }

    /// The admin's token.
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Waits (up to a minute) until a resumable upload has stored its first segment, so a test
    /// can cut the client's connection in the middle of an upload.
    pub async fn wait_for_upload_segment(&self) {
        use futures_util::TryStreamExt;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let stored: Vec<_> = self
                .backends
                .storage
                .list("uploads")
                .try_collect()
                .await
                .unwrap();
            if !stored.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no segment was stored"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Cuts every connection through `proxy` for half a second once a resumable upload has
    /// stored its first segment: the client's upload breaks off in the middle.
    pub async fn cut_upload_midway(&self, proxy: &proxy::Proxy) {
        self.wait_for_upload_segment().await;
        proxy.down();
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        proxy.up();
    }

    /// Stops the app (as SIGTERM would) and waits for it to drain; keeps the data dir alive in
    /// the returned guard so a new app can start on it.
    pub async fn stop(self) -> (Config, Option<tempfile::TempDir>) {
        self.shutdown.cancel();
        let _ = self.task.await;
        (self.config, self._data)
    }
}
