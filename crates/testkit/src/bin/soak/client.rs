//! The soak's HTTP client: uploads of the short fixture clips to whichever gateway is current,
//! each attempt classified (accepted, an HTTP status, or a transport failure) and timed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use mp3converter_testkit::fixture;

/// The clips uploaded, round robin.
pub const CLIPS: [&str; 2] = ["wav-pcm16.wav", "mp4-aac-faststart.mp4"];

/// A clip in memory.
#[derive(Debug, Clone)]
pub struct Clip {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// The fixture clips, read once.
pub fn clips() -> Vec<Clip> {
    CLIPS
        .iter()
        .map(|name| Clip {
            name: (*name).to_owned(),
            bytes: std::fs::read(fixture(name)).expect("fixture"),
        })
        .collect()
}

/// What one upload attempt got.
#[derive(Debug, Clone)]
pub enum Attempt {
    /// 200 with this job id.
    Accepted(String),
    /// Any other HTTP status.
    Status(u16),
    /// No HTTP answer: `connect` (refused), `timeout` or `reset` (cut mid-request).
    Transport(&'static str),
}

impl Attempt {
    /// A short label for tallies: `200`, `503`, `connect`…
    pub fn label(&self) -> String {
        match self {
            Attempt::Accepted(_) => "200".into(),
            Attempt::Status(code) => code.to_string(),
            Attempt::Transport(kind) => (*kind).to_owned(),
        }
    }
}

/// The gateway URL, replaced when the gateway moves.
pub type GatewayUrl = Arc<RwLock<String>>;

/// One upload with the course's `POST /upload`.
pub async fn upload(
    http: &reqwest::Client,
    gateway: &GatewayUrl,
    token: &str,
    clip: &Clip,
) -> (Attempt, Duration) {
    let base = gateway.read().unwrap().clone();
    let form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(clip.bytes.clone()).file_name(clip.name.clone()),
    );
    let started = Instant::now();
    let result = http
        .post(format!("{base}/upload"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await;
    let attempt = match result {
        Ok(res) if res.status() == 200 => match res.headers().get("x-job-id") {
            Some(id) => Attempt::Accepted(id.to_str().unwrap_or_default().to_owned()),
            None => Attempt::Status(200),
        },
        Ok(res) => Attempt::Status(res.status().as_u16()),
        Err(e) if e.is_timeout() => Attempt::Transport("timeout"),
        Err(e) if e.is_connect() => Attempt::Transport("connect"),
        Err(_) => Attempt::Transport("reset"),
    };
    (attempt, started.elapsed())
}

/// Every attempt of a run.
#[derive(Debug, Default)]
pub struct Tally {
    /// Job ids answered 200, in order.
    pub accepted: Vec<String>,
    /// Attempts per label.
    pub attempts: BTreeMap<String, usize>,
    /// Latency of every accepted upload.
    pub latencies: Vec<Duration>,
    /// The longest any attempt took.
    pub slowest: Duration,
}

/// A tally shared by client tasks.
pub type SharedTally = Arc<Mutex<Tally>>;

impl Tally {
    /// Records one attempt.
    pub fn record(&mut self, attempt: &Attempt, took: Duration) {
        *self.attempts.entry(attempt.label()).or_default() += 1;
        self.slowest = self.slowest.max(took);
        if let Attempt::Accepted(id) = attempt {
            self.accepted.push(id.clone());
            self.latencies.push(took);
        }
    }

    /// Attempts that were not answered 200.
    pub fn failed_attempts(&self) -> usize {
        self.attempts
            .iter()
            .filter(|(label, _)| *label != "200")
            .map(|(_, n)| n)
            .sum()
    }
}

/// The `q` quantile (0..=1) of `values`, in milliseconds.
pub fn quantile_ms(values: &[Duration], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let index = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// Uploads until one is accepted, retrying after failures (a gateway that is down, a 503);
/// every attempt is recorded.
pub async fn upload_until_accepted(
    http: &reqwest::Client,
    gateway: &GatewayUrl,
    token: &str,
    clip: &Clip,
    tally: &SharedTally,
) -> String {
    loop {
        let (attempt, took) = upload(http, gateway, token, clip).await;
        tally.lock().unwrap().record(&attempt, took);
        if let Attempt::Accepted(id) = attempt {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
