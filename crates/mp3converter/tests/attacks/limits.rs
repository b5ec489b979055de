//! Oversized and slow requests: answered 4xx (never 5xx) or cut off, and the server keeps
//! serving everyone else.

use std::time::Duration;

use mp3converter_testkit::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::raw;

async fn healthy(app: &TestApp) {
    let res = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn oversized_headers_and_uris_are_4xx_and_the_server_stays_up() {
    let app = TestApp::spawn().await;
    let huge_value = "a".repeat(1024 * 1024);
    let many: String = (0..500).map(|i| format!("X-Filler-{i}: {i}\r\n")).collect();
    let cases = [
        (
            "one 1 MiB header",
            format!(
                "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: {huge_value}\r\nConnection: close\r\n\r\n"
            ),
        ),
        (
            "500 headers",
            format!("GET /healthz HTTP/1.1\r\nHost: t\r\n{many}Connection: close\r\n\r\n"),
        ),
        (
            "1 MiB URI",
            format!(
                "GET /api/v1/jobs/{huge_value} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
            ),
        ),
        (
            "1 MiB bearer token",
            format!(
                "GET /api/v1/jobs HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {huge_value}\r\nConnection: close\r\n\r\n"
            ),
        ),
    ];
    for (what, request) in &cases {
        let response = raw(app.addr, request.as_bytes()).await;
        assert!(
            matches!(response.status, 400 | 414 | 431),
            "{what}: {} {:?}",
            response.status,
            response.headers
        );
        healthy(&app).await;
    }
}

/// Writes `line` every 200 ms (at most `max` times) until the server closes the connection;
/// true when it did.
async fn drip_until_closed(mut stream: TcpStream, first: &[u8], line: &[u8], max: usize) -> bool {
    stream.write_all(first).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let closed = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        loop {
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {} // a 408 or 400 before closing is fine too
            }
        }
    });
    for _ in 0..max {
        if closed.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if writer.write_all(line).await.is_err() {
            break;
        }
    }
    writer.shutdown().await.ok();
    closed.is_finished() && closed.await.unwrap()
}

#[tokio::test]
async fn slowloris_headers_and_idle_connections_are_closed_after_the_request_timeout() {
    let app = TestApp::spawn_with(|c| c.gateway.request_timeout_secs = 2).await;
    // 600 lines * 200 ms = 2 minutes of dripping if nothing stops it.
    let slow = TcpStream::connect(app.addr).await.unwrap();
    let cut = drip_until_closed(
        slow,
        b"GET /healthz HTTP/1.1\r\nHost: t\r\n",
        b"X-a: b\r\n",
        600,
    )
    .await;
    assert!(cut, "a client dripping header lines kept its connection");

    let idle = TcpStream::connect(app.addr).await.unwrap();
    let cut = drip_until_closed(idle, b"", b"", 600).await;
    assert!(cut, "a client that sends nothing kept its connection");

    // A normal client is unaffected, also on a keep-alive connection between requests.
    healthy(&app).await;
    healthy(&app).await;
}
