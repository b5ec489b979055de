//! Secrets never reach the logs or an HTTP answer: the admin password, the HS256 JWT secret, the
//! SMTP password inside the mail URL, the S3 secret key and the database password, through
//! logins (right and wrong), uploads, conversions, email delivery failures, readiness checks,
//! storage outages and a start that waits for its database. Every log line of every crate is captured (debug level, see
//! `telemetry.rs` for the production filter) into one buffer that is searched at the end.
//!
//! This file is its own test binary because it installs the process-wide tracing subscriber.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use mp3converter::app::Application;
use mp3converter::config::Config;
use mp3converter_auth::Algorithm;
use mp3converter_storage::StorageBackend;
use mp3converter_testkit::smtp::{Mode, SmtpCapture};
use mp3converter_testkit::{ADMIN_EMAIL, TestApp, fixture};

const ADMIN_PASSWORD: &str = "Adm1n-pw-7c1e9b2a-never-logged";
const JWT_SECRET: &str = "jwt-secret-5f0d8e3c4b2a19e7d6c5b4a3f2e1d0c9";
const SMTP_PASSWORD: &str = "smtp-pw-91ab27cd-never-logged";
const S3_SECRET: &str = "s3-secret-0c3f5e7a9b1d-never-logged";
const DB_PASSWORD: &str = "db-pw-4e6a8c0b2d-never-logged";

/// Everything every subscriber-visible event wrote, from the start of the process.
fn captured() -> Arc<Mutex<Vec<u8>>> {
    static BUFFER: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUFFER
        .get_or_init(|| {
            let buffer = Arc::new(Mutex::new(Vec::new()));
            let sink = buffer.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
                .with_ansi(false)
                .with_writer(move || Sink(sink.clone()))
                .finish();
            tracing::subscriber::set_global_default(subscriber).expect("first subscriber");
            buffer
        })
        .clone()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every form a secret could leak in: as is, and base64 of the `user:password` pairs that travel
/// in Basic and SMTP `AUTH PLAIN` credentials.
fn forms() -> Vec<(String, &'static str)> {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    vec![
        (ADMIN_PASSWORD.into(), "admin password"),
        (
            b64(&format!("{ADMIN_EMAIL}:{ADMIN_PASSWORD}")),
            "admin Basic credentials",
        ),
        (JWT_SECRET.into(), "JWT secret"),
        (SMTP_PASSWORD.into(), "SMTP password"),
        (
            b64(&format!("\0mailer\0{SMTP_PASSWORD}")),
            "SMTP AUTH PLAIN",
        ),
        (S3_SECRET.into(), "S3 secret key"),
        (DB_PASSWORD.into(), "database password"),
    ]
}

fn assert_clean(text: &str, what: &str) {
    for (secret, name) in forms() {
        assert!(
            !text.contains(&secret),
            "the {name} appears in {what}:\n{text}"
        );
    }
}

async fn text(res: reqwest::Response) -> (u16, String) {
    let status = res.status().as_u16();
    let headers = format!("{:?}", res.headers());
    (status, format!("{headers}\n{}", res.text().await.unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_stay_out_of_logs_and_answers() {
    let logs = captured();
    let mut answers = Vec::new();

    // 1. Every role, HS256 tokens, SMTP with a password that defers every recipient (so the
    //    notifier logs delivery failures).
    let smtp = SmtpCapture::start(Mode::DeferRecipient).await;
    let app = TestApp::spawn_with(|c| {
        c.admin_password = Some(ADMIN_PASSWORD.into());
        c.auth.algorithm = Algorithm::Hs256;
        c.auth.jwt_secret = Some(JWT_SECRET.into());
        c.mail.url = Some(format!("smtp://mailer:{SMTP_PASSWORD}@{}?tls=none", smtp.addr).into());
    })
    .await;
    let wrong = app
        .http
        .post(app.url("/login"))
        .basic_auth(ADMIN_EMAIL, Some("not-the-password"))
        .send()
        .await
        .unwrap();
    answers.push(text(wrong).await);
    let token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let video = std::fs::read(fixture("mp4-aac-faststart.mp4")).unwrap();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(video).file_name("clip.mp4"),
    );
    let upload = app
        .http
        .post(app.url("/upload"))
        .bearer_auth(&token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    answers.push(text(upload).await);
    for path in [
        "/readyz",
        "/metrics",
        "/api/v1/me",
        "/api/v1/users",
        "/api/v1/jobs",
    ] {
        let res = app
            .http
            .get(app.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        answers.push(text(res).await);
    }
    let forged = app
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth("e30.e30.forged")
        .send()
        .await;
    answers.push(text(forged.unwrap()).await);
    // The conversion finishes and the notifier tries (and fails) to deliver, logging why.
    let deferred = || String::from_utf8_lossy(&logs.lock().unwrap()).contains("try again later");
    for _ in 0..600 {
        if deferred() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;

    // 2. S3 storage with a secret key, unreachable: readiness and an upload fail.
    let s3 = TestApp::spawn_with(|c| {
        c.admin_password = Some(ADMIN_PASSWORD.into());
        c.storage.backend = StorageBackend::S3;
        c.storage.endpoint = Some("http://127.0.0.1:9".into());
        c.storage.bucket = Some("mp3converter".into());
        c.storage.access_key_id = Some("mp3c-access-key".into());
        c.storage.secret_access_key = Some(S3_SECRET.into());
    })
    .await;
    answers.push(text(s3.http.get(s3.url("/readyz")).send().await.unwrap()).await);
    let token = s3.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(std::fs::read(fixture("mp4-aac-faststart.mp4")).unwrap())
            .file_name("clip.mp4"),
    );
    let res = s3
        .http
        .post(s3.url("/api/v1/jobs"))
        .bearer_auth(&token)
        .multipart(form)
        .send();
    let (status, body) = text(res.await.unwrap()).await;
    assert!(
        status >= 500,
        "an upload to unreachable storage fails: {status} {body}"
    );
    answers.push((status, body));
    s3.stop().await;

    // 3. A database that refuses connections: the process waits for it, saying why in its log
    //    and on /readyz — without the password.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut config = Config::default().with_data_dir(&tempfile::tempdir().unwrap().keep());
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], port));
    config.database.url = Some(format!("postgres://mp3c:{DB_PASSWORD}@127.0.0.1:9/mp3c").into());
    let starting = tokio::spawn(Application::build(config));
    let readyz = format!("http://127.0.0.1:{port}/readyz");
    let mut waiting = None;
    for _ in 0..400 {
        if let Ok(res) = reqwest::get(&readyz).await {
            waiting = Some(text(res).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (status, body) = waiting.expect("a starting process answers /readyz");
    assert_eq!(status, 503, "{body}");
    answers.push((status, body));
    let logged =
        || String::from_utf8_lossy(&logs.lock().unwrap()).contains("waiting for a backend");
    for _ in 0..400 {
        if logged() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    starting.abort();

    for (status, answer) in &answers {
        assert_clean(answer, &format!("an HTTP answer ({status})"));
    }
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    // The capture works: what these steps must log is there (the upload, the SMTP server's
    // refusal, the storage endpoint that could not be reached, the database being waited for).
    for expected in [
        "upload accepted",
        "try again later",
        "127.0.0.1:9",
        "waiting for a backend",
    ] {
        assert!(
            logs.contains(expected),
            "the log capture missed {expected:?}:\n{logs}"
        );
    }
    assert_clean(&logs, "the logs");
}
