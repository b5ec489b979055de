//! A distributed deployment for tests: the real `mp3converter` binary as separate processes
//! (auth, gateway, converters, notifier) against RabbitMQ, MySQL/MariaDB or PostgreSQL, S3 and
//! an in-process SMTP capture — what `docs/operations.md` describes, on loopback.
//!
//! Every cluster gets its own scratch database and its own queue names and events exchange, so
//! clusters never see each other's messages. Each process logs to a file under the cluster's
//! temp dir (the path is printed when the cluster starts).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mp3converter_db::conformance::ScratchDatabase;

use crate::smtp::{Mode, SmtpCapture};

/// The admin of every cluster.
pub const ADMIN_EMAIL: &str = "admin@example.com";
/// Its password.
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// What a cluster needs from the environment.
#[derive(Debug, Clone)]
pub struct ClusterEnv {
    amqp_url: String,
    s3: [(String, String); 4],
}

impl ClusterEnv {
    /// Reads `MP3C_TEST_AMQP_URL` and `MP3C_TEST_S3_*`; `None` (after printing which variables
    /// to set) when one is missing. The database comes from the variable given to
    /// [`Cluster::start`].
    pub fn from_env() -> Option<ClusterEnv> {
        let var = |name: &str| std::env::var(name).ok();
        let names = [
            "MP3C_TEST_AMQP_URL",
            "MP3C_TEST_S3_ENDPOINT",
            "MP3C_TEST_S3_BUCKET",
            "MP3C_TEST_S3_ACCESS_KEY_ID",
            "MP3C_TEST_S3_SECRET_ACCESS_KEY",
        ];
        let missing: Vec<&str> = names.iter().copied().filter(|n| var(n).is_none()).collect();
        if !missing.is_empty() {
            eprintln!(
                "skipped: set {} to run the distributed tests",
                missing.join(", ")
            );
            return None;
        }
        let get = |n: &str| var(n).unwrap_or_default();
        Some(ClusterEnv {
            amqp_url: get("MP3C_TEST_AMQP_URL"),
            s3: [
                ("ENDPOINT".into(), get("MP3C_TEST_S3_ENDPOINT")),
                ("BUCKET".into(), get("MP3C_TEST_S3_BUCKET")),
                ("ACCESS_KEY_ID".into(), get("MP3C_TEST_S3_ACCESS_KEY_ID")),
                (
                    "SECRET_ACCESS_KEY".into(),
                    get("MP3C_TEST_S3_SECRET_ACCESS_KEY"),
                ),
            ],
        })
    }

    /// The AMQP URL.
    pub fn amqp_url(&self) -> &str {
        &self.amqp_url
    }
}

/// One role's process.
#[derive(Debug)]
pub struct Process {
    /// The role list it runs.
    pub roles: String,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its log file.
    pub log: PathBuf,
    child: Child,
}

impl Process {
    /// What it has logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Process {
    /// SIGKILL: no draining, no cleanup (a crash).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits up to `grace` for it to exit; true if it exited with status 0.
    pub fn terminate(&mut self, grace: Duration) -> bool {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.kill();
        false
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `host:port` it listens on.
    pub fn addr(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Its peak resident set size so far in KiB (`VmHWM` in `/proc/PID/status`), while it runs.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The processes of one deployment and the services they share.
#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    env: Vec<(String, String)>,
    /// Removed with the cluster, unless a test failed (then the logs stay for a look).
    dir: Option<tempfile::TempDir>,
    /// The cluster's database (tests may read it directly).
    pub scratch: Option<ScratchDatabase>,
    /// Where the notifier sends email.
    pub smtp: SmtpCapture,
    /// This cluster's `video` queue name.
    pub video_queue: String,
    /// This cluster's `mp3` queue name.
    pub mp3_queue: String,
    /// An HTTP client.
    pub http: reqwest::Client,
    /// The auth process.
    pub auth: Process,
    /// The gateway process.
    pub gateway: Process,
    /// The notifier process.
    pub notifier: Process,
    /// The converter processes (`None` once a test took one away).
    pub converters: Vec<Option<Process>>,
}

impl Cluster {
    /// Starts auth, gateway, `converters` converters and the notifier, with the database from
    /// env var `db_var`, and waits until each is ready. `None` (after printing what to set)
    /// when the environment lacks a service.
    pub async fn start(bin: &Path, db_var: &str, converters: usize) -> Option<Cluster> {
        Self::start_with(bin, db_var, converters, |_, _| None).await
    }

    /// Like [`Cluster::start`], with each environment variable first offered to `rewrite`
    /// (`(name, value)` → a new value, or `None` to keep it): e.g. to route the database, S3,
    /// SMTP or RabbitMQ URL through a [`Proxy`](crate::proxy::Proxy).
    pub async fn start_with(
        bin: &Path,
        db_var: &str,
        converters: usize,
        rewrite: impl FnMut(&str, &str) -> Option<String>,
    ) -> Option<Cluster> {
        Self::start_with_settings(bin, db_var, converters, &[], rewrite).await
    }

    /// Like [`Cluster::start_with`], with `settings` (`MP3C_…` variables, e.g. the converters'
    /// `MP3C_CONVERTER__SPLIT_MIN_SECS`) added to every process's environment.
    pub async fn start_with_settings(
        bin: &Path,
        db_var: &str,
        converters: usize,
        settings: &[(&str, &str)],
        rewrite: impl FnMut(&str, &str) -> Option<String>,
    ) -> Option<Cluster> {
        let env = ClusterEnv::from_env()?;
        let storage = env
            .s3
            .iter()
            .map(|(key, value)| (format!("MP3C_STORAGE__{key}"), value.clone()))
            .chain([
                ("MP3C_STORAGE__BACKEND".into(), "s3".into()),
                ("MP3C_STORAGE__REGION".into(), "us-east-1".into()),
            ])
            .chain(
                settings
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
            )
            .collect();
        Self::start_configured(bin, db_var, converters, env, storage, rewrite).await
    }

    /// Like [`Cluster::start`], with the blobs in MongoDB GridFS at the URL in
    /// `MP3C_TEST_MONGODB_URL` instead of S3; `None` (after printing what to set) without it.
    pub async fn start_on_gridfs(bin: &Path, db_var: &str, converters: usize) -> Option<Cluster> {
        let env = ClusterEnv::from_env()?;
        let Ok(url) = std::env::var("MP3C_TEST_MONGODB_URL") else {
            eprintln!("skipped: set MP3C_TEST_MONGODB_URL to run the GridFS cluster tests");
            return None;
        };
        let storage = vec![
            ("MP3C_STORAGE__BACKEND".into(), "gridfs".into()),
            ("MP3C_STORAGE__URL".into(), url),
        ];
        Self::start_configured(bin, db_var, converters, env, storage, |_, _| None).await
    }

    async fn start_configured(
        bin: &Path,
        db_var: &str,
        converters: usize,
        env: ClusterEnv,
        storage: Vec<(String, String)>,
        mut rewrite: impl FnMut(&str, &str) -> Option<String>,
    ) -> Option<Cluster> {
        let scratch = ScratchDatabase::from_env(db_var).await?;
        let smtp = SmtpCapture::start(Mode::Accept).await;
        let tag = uuid_tag();
        let (video_queue, mp3_queue) = (format!("video-{tag}"), format!("mp3-{tag}"));
        let mut vars = vec![
            ("MP3C_DATABASE__URL".to_string(), scratch.url.clone()),
            ("MP3C_QUEUE__BACKEND".into(), "rabbitmq".into()),
            ("MP3C_QUEUE__URL".into(), env.amqp_url.clone()),
            ("MP3C_QUEUE__VIDEO_QUEUE".into(), video_queue.clone()),
            ("MP3C_QUEUE__MP3_QUEUE".into(), mp3_queue.clone()),
            (
                "MP3C_QUEUE__EVENTS_EXCHANGE".into(),
                format!("events-{tag}"),
            ),
            ("MP3C_MAIL__BACKEND".into(), "smtp".into()),
            (
                "MP3C_MAIL__URL".into(),
                format!("smtp://{}?tls=none", smtp.addr),
            ),
            ("MP3C_ADMIN_EMAIL".into(), ADMIN_EMAIL.into()),
            ("MP3C_ADMIN_PASSWORD".into(), ADMIN_PASSWORD.into()),
            ("MP3C_PUBLIC_URL".into(), "http://mp3converter.test".into()),
            ("MP3C_SERVER__SHUTDOWN_GRACE_SECS".into(), "10".into()),
            // Accounts re-read every second (default 30), so revocation tests wait little.
            ("MP3C_AUTH__REVOCATION_CHECK_SECS".into(), "1".into()),
            ("MP3C_SERVER__LISTEN".into(), "127.0.0.1:0".into()),
            ("RUST_LOG".into(), "info".into()),
        ];
        vars.extend(storage);
        for (key, value) in &mut vars {
            if let Some(new) = rewrite(key, value) {
                *value = new;
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("mp3c-cluster-")
            .tempdir()
            .expect("temp dir");
        eprintln!("cluster logs: {}", dir.path().display());
        // One signing key for every auth process, as a Secret would give them: a replaced auth
        // keeps accepting the tokens its predecessor issued.
        vars.push((
            "MP3C_AUTH__KEY_PATH".into(),
            dir.path().join("jwt-ed25519.pem").display().to_string(),
        ));
        let mut cluster_env = ClusterStarter {
            bin: bin.to_path_buf(),
            env: vars,
            dir: dir.path().to_path_buf(),
        };
        let auth = cluster_env.must_spawn("auth").await;
        cluster_env
            .env
            .push(("MP3C_AUTH__URL".into(), auth.url.clone()));
        let gateway = cluster_env.must_spawn("gateway").await;
        let mut procs = Vec::new();
        for _ in 0..converters {
            procs.push(Some(cluster_env.must_spawn("converter").await));
        }
        let notifier = cluster_env.must_spawn("notifier").await;
        Some(Cluster {
            bin: cluster_env.bin,
            env: cluster_env.env,
            dir: Some(dir),
            scratch: Some(scratch),
            smtp,
            video_queue,
            mp3_queue,
            http: reqwest::Client::new(),
            auth,
            gateway,
            notifier,
            converters: procs,
        })
    }

    /// Starts one more process with `roles` (e.g. a replacement converter).
    pub async fn spawn(&self, roles: &str) -> Process {
        ClusterStarter {
            bin: self.bin.clone(),
            env: self.env.clone(),
            dir: self.dir.as_ref().expect("cluster dir").path().to_path_buf(),
        }
        .spawn(roles, None)
        .await
        .unwrap_or_else(|| panic!("{roles} did not start; see its log"))
    }

    /// Starts a process with `old`'s roles in place of `old` (which should be dead by now), on
    /// `old`'s port when it is free (so its URL stays the same), else on a new one: compare
    /// the URLs. A new auth URL is used by the processes started after [`Cluster::set_auth_url`].
    pub async fn replace(&self, old: &Process) -> Process {
        let starter = ClusterStarter {
            bin: self.bin.clone(),
            env: self.env.clone(),
            dir: self.dir.as_ref().expect("cluster dir").path().to_path_buf(),
        };
        match starter.spawn(&old.roles, Some(old.addr())).await {
            Some(process) => process,
            None => self.spawn(&old.roles).await,
        }
    }

    /// The auth URL given to the processes started from now on.
    pub fn set_auth_url(&mut self, url: &str) {
        for (key, value) in &mut self.env {
            if key == "MP3C_AUTH__URL" {
                *value = url.to_owned();
            }
        }
    }

    /// The environment the processes get (after the `rewrite` of [`Cluster::start_with`]).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// `gateway URL` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gateway.url)
    }

    /// Logs in at the gateway's `/login` (HTTP Basic) and returns the token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        crate::login_at(&self.http, &self.gateway.url, email, password).await
    }

    /// Creates a user through the admin API and returns their token.
    pub async fn user(&self, email: &str) -> String {
        let admin = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        let res = self
            .http
            .post(self.url("/api/v1/users"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"email": email, "password": "user-password-1"}))
            .send()
            .await
            .expect("create user");
        assert!(
            res.status().is_success(),
            "create {email}: {}",
            res.status()
        );
        self.login(email, "user-password-1").await
    }

    /// Uploads `file` with the course's `POST /upload`; returns the job id. Each upload gets a
    /// name of its own (`<n>-<file name>`), so the same file sent again is converted again
    /// rather than done at once from an earlier job's audio (dedup).
    pub async fn upload(&self, token: &str, file: &Path) -> String {
        static UPLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = UPLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bytes = tokio::fs::read(file).await.expect("read upload");
        let name = format!("{n}-{}", file.file_name().unwrap().to_string_lossy());
        let form = reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name(name),
        );
        let res = self
            .http
            .post(self.url("/upload"))
            .bearer_auth(token)
            .multipart(form)
            .send()
            .await
            .expect("upload request");
        assert_eq!(res.status(), 200, "upload of {}", file.display());
        res.headers()["x-job-id"].to_str().unwrap().to_string()
    }

    /// The job as `GET /api/v1/jobs/{id}` shows it.
    pub async fn job(&self, token: &str, id: &str) -> serde_json::Value {
        let res = self
            .http
            .get(self.url(&format!("/api/v1/jobs/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .expect("job request");
        assert_eq!(res.status(), 200, "job {id}");
        res.json().await.expect("job json")
    }

    /// Waits until the job is `done` or `failed` and returns it.
    pub async fn wait_finished(
        &self,
        token: &str,
        id: &str,
        within: Duration,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let job = self.job(token, id).await;
            if matches!(job["state"].as_str(), Some("done" | "failed")) {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} not finished in {within:?}: {job}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the SMTP capture holds `n` messages (and gives stragglers a moment).
    pub async fn wait_emails(&self, n: usize, within: Duration) -> Vec<crate::smtp::Captured> {
        let deadline = tokio::time::Instant::now() + within;
        while self.smtp.messages().len() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} of {n} emails after {within:?}",
                self.smtp.messages().len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.smtp.messages()
    }

    /// The sum of the samples of metric `name` (any labels matching `label`, e.g.
    /// `result="done"`) that `process` reports at `/metrics`.
    pub async fn metric(&self, process: &Process, name: &str, label: &str) -> f64 {
        let text = self
            .http
            .get(format!("{}/metrics", process.url))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text");
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter(|l| l.contains(label))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Stops every process, deletes the cluster's queues (quorum queues are not free: a broker
    /// with hundreds left over starts slowly) and drops the scratch database.
    pub async fn shutdown(mut self) {
        for p in self.converters.iter_mut().flatten() {
            p.kill();
        }
        self.gateway.kill();
        self.notifier.kill();
        self.auth.kill();
        self.delete_queues().await;
        if let Some(scratch) = self.scratch.take() {
            scratch.cleanup().await;
        }
    }

    /// Deletes `video-…` and `mp3-…` with their dead-letter and retry queues.
    async fn delete_queues(&self) {
        use mp3converter_queue::JobQueue;
        let url = self
            .env
            .iter()
            .find(|(k, _)| k == "MP3C_QUEUE__URL")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let settings = mp3converter_queue_rabbitmq::RabbitSettings::new(url.as_str());
        let Ok(queue) = mp3converter_queue_rabbitmq::RabbitQueue::connect(settings).await else {
            return;
        };
        // Touching a queue declares its family in this handle; then delete them all.
        for name in [&self.video_queue, &self.mp3_queue] {
            let _ = queue.depth(name).await;
        }
        if let Err(e) = queue.delete_declared_queues().await {
            eprintln!("could not delete the cluster's queues: {e}");
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(dir) = self.dir.take()
        {
            eprintln!("kept the cluster logs in {}", dir.keep().display());
        }
    }
}

/// Starts processes with the cluster's environment.
struct ClusterStarter {
    bin: PathBuf,
    env: Vec<(String, String)>,
    dir: PathBuf,
}

impl ClusterStarter {
    async fn must_spawn(&self, roles: &str) -> Process {
        self.spawn(roles, None)
            .await
            .unwrap_or_else(|| panic!("{roles} did not start; see its log"))
    }

    /// Starts `roles` (listening on `listen`, or as configured) and waits until it is ready;
    /// `None` if it exited before listening (e.g. the port was taken).
    async fn spawn(&self, roles: &str, listen: Option<&str>) -> Option<Process> {
        let name = format!("{}-{}", roles.replace(',', "+"), uuid_tag());
        let data = self.dir.join(&name);
        std::fs::create_dir_all(&data).expect("data dir");
        let log_path = self.dir.join(format!("{name}.log"));
        let log = File::create(&log_path).expect("log file");
        let mut cmd = Command::new(&self.bin);
        cmd.args(["serve", "--roles", roles])
            .env("MP3C_DATA_DIR", &data)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log.try_clone().expect("log"));
        for (key, _) in std::env::vars() {
            if key.starts_with("MP3C_TEST_") {
                cmd.env_remove(key);
            }
        }
        if let Some(listen) = listen {
            cmd.env("MP3C_SERVER__LISTEN", listen);
        }
        let mut child = cmd.spawn().expect("start mp3converter");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut log = log;
            let mut sent = false;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if !sent && let Some(url) = line.strip_prefix("mp3converter listening on ") {
                    let _ = tx.send(url.trim().to_string());
                    sent = true;
                }
                let _ = std::io::Write::write_all(&mut log, format!("{line}\n").as_bytes());
            }
        });
        let url =
            match tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(120)))
                .await
                .expect("join")
            {
                Ok(url) => url,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{roles} did not start; see {}", log_path.display())
                }
            };
        let process = Process {
            roles: roles.to_string(),
            url,
            log: log_path,
            child,
        };
        wait_ready(&process).await;
        Some(process)
    }
}

/// Waits until `/readyz` answers 200 (up to two minutes: a broker under load can take a while
/// to accept a new connection).
pub async fn wait_ready(process: &Process) {
    let http = reqwest::Client::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let ready = http
            .get(format!("{}/readyz", process.url))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} not ready after 120 s",
            process.roles
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn uuid_tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_string()
}
