//! Helpers of the RabbitMQ tests: the broker URL from `MP3C_TEST_AMQP_URL`, settings with
//! short timeouts and a fast reconnect, waits for the link to change state, and a TCP proxy
//! that a test can cut to play a broker going away and coming back.

#![allow(dead_code)] // each test binary uses its own part

use std::sync::Arc;
use std::time::Duration;

use mp3converter_queue::{Backoff, QueueError};
use mp3converter_queue_rabbitmq::{RETRY_TIERS, RabbitSettings, dead_queue, retry_queue};
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// How long a test waits for something that should happen within a second or two.
pub const WAIT: Duration = Duration::from_secs(10);

/// The broker to test against, or `None` (printing what to set) to skip.
pub fn amqp_url() -> Option<String> {
    let url = std::env::var("MP3C_TEST_AMQP_URL").ok();
    if url.is_none() {
        eprintln!("skipping: set MP3C_TEST_AMQP_URL (e.g. amqp://guest:guest@127.0.0.1:5672/%2f)");
    }
    url
}

/// Settings for `url` with a short call timeout.
pub fn settings(url: &str) -> RabbitSettings {
    RabbitSettings {
        max_attempts: 3,
        timeout_ms: 3_000,
        connection_name: "mp3converter test".into(),
        ..RabbitSettings::new(url)
    }
}

/// Reconnects every 50 ms.
pub fn fast_reconnect() -> Backoff {
    Arc::new(|_| Duration::from_millis(50))
}

/// A queue name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("test-{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Polls `health` until it reports `healthy` (at most [`WAIT`]).
pub async fn until_health<F, Fut>(healthy: bool, health: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), QueueError>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while health().await.is_ok() != healthy {
        assert!(
            tokio::time::Instant::now() < deadline,
            "health never became {healthy}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A TCP proxy to the broker. While down it cuts every connection through it and closes new
/// ones at once, as a stopped broker would; up, it passes them through again.
pub struct Proxy {
    /// The broker URL through the proxy.
    pub url: String,
    up: watch::Sender<bool>,
}

impl Proxy {
    pub async fn start(broker_url: &str) -> Proxy {
        let mut url = url::Url::parse(broker_url).expect("a valid AMQP URL");
        let upstream = format!(
            "{}:{}",
            url.host_str().expect("a host"),
            url.port().unwrap_or(5672)
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        let (up, _) = watch::channel(true);
        let state = up.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if *state.borrow() {
                    tokio::spawn(pipe(client, upstream.clone(), state.subscribe()));
                }
            }
        });
        Proxy {
            url: url.to_string(),
            up,
        }
    }

    /// Cuts every connection and refuses new ones.
    pub fn down(&self) {
        self.up.send_replace(false);
    }

    /// Lets connections through again.
    pub fn up(&self) {
        self.up.send_replace(true);
    }
}

async fn pipe(mut client: TcpStream, upstream: String, mut up: watch::Receiver<bool>) {
    let Ok(mut server) = TcpStream::connect(&upstream).await else {
        return;
    };
    tokio::select! {
        _ = copy_bidirectional(&mut client, &mut server) => {}
        _ = up.wait_for(|up| !*up) => {}
    }
    // Both sockets close here, as when a broker goes away.
}

/// A plain client connection, for looking at what the adapter did.
pub async fn raw_channel(url: &str) -> (lapin::Connection, lapin::Channel) {
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    (conn, ch)
}

/// What a test leaves on the broker.
#[derive(Debug, Default)]
pub struct Leftovers {
    /// Queue names, each with its dead-letter and retry queues.
    pub queues: Vec<String>,
    pub exchanges: Vec<String>,
}

/// Runs `body` on its own task, deletes `leftovers` whatever happened, then re-raises the
/// body's panic.
pub async fn cleaning_up(
    url: &str,
    leftovers: Leftovers,
    body: impl Future<Output = ()> + Send + 'static,
) {
    let outcome = tokio::spawn(body).await;
    let (conn, _) = raw_channel(url).await;
    let mut names: Vec<String> = Vec::new();
    for q in &leftovers.queues {
        names.extend([q.clone(), dead_queue(q)]);
        names.extend(RETRY_TIERS.iter().map(|t| retry_queue(q, *t)));
    }
    for name in names {
        // A fresh channel each time: deleting what is not there may close it.
        let ch = conn.create_channel().await.unwrap();
        let _ = ch.queue_delete(name.into(), Default::default()).await;
    }
    for exchange in leftovers.exchanges {
        let ch = conn.create_channel().await.unwrap();
        let _ = ch
            .exchange_delete(exchange.into(), Default::default())
            .await;
    }
    let _ = conn.close(200, "done".into()).await;
    if let Err(panicked) = outcome {
        std::panic::resume_unwind(panicked.into_panic());
    }
}
