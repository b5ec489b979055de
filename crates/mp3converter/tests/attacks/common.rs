//! Helpers: raw HTTP/1.1 over TCP (to send and read bytes no well-behaved client would), a
//! hand-built multipart body, users, and waiting for a job to finish.

use std::net::SocketAddr;
use std::time::Duration;

use mp3converter_testkit::TestApp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const BOUNDARY: &str = "attack-boundary-7d1f";

/// A raw response: status code and header lines as sent.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<String>,
}

impl Raw {
    /// Values of the header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect()
    }
}

/// Sends `request` as is (it should say `Connection: close`) and reads the whole answer.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // The server may answer (and close) before the whole request is written.
    let _ = stream.write_all(request).await;
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes).await;
    parse(&bytes)
}

fn parse(bytes: &[u8]) -> Raw {
    let split = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(bytes)));
    let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    Raw {
        status,
        headers: lines.map(str::to_owned).collect(),
    }
}

/// A GET with a bearer token.
pub fn get(path: &str, token: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .into_bytes()
}

/// A multipart body with one file part whose `Content-Disposition` parameters are given raw.
pub fn file_form(disposition_params: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; {disposition_params}\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// POSTs a multipart `body` to `path`.
/// `GET path` with `token` as the bearer token.
pub async fn get_as(app: &TestApp, path: &str, token: &str) -> reqwest::Response {
    app.http
        .get(app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

pub async fn post_form(app: &TestApp, path: &str, token: &str, body: Vec<u8>) -> reqwest::Response {
    app.http
        .post(app.url(path))
        .bearer_auth(token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Creates a user through the admin API and logs in as them.
pub async fn user(app: &TestApp, admin: &str, email: &str, password: &str) -> String {
    let res = app
        .http
        .post(app.url("/api/v1/users"))
        .bearer_auth(admin)
        .json(&serde_json::json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    app.login(email, password).await
}

/// Polls the job until it leaves `queued`/`converting`; returns its JSON.
pub async fn finished(app: &TestApp, token: &str, id: &str) -> serde_json::Value {
    for _ in 0..1200 {
        let job: serde_json::Value = app
            .http
            .get(app.url(&format!("/api/v1/jobs/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !matches!(job["state"].as_str(), Some("queued" | "converting")) {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not finish");
}

/// The fixture's bytes.
pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(mp3converter_testkit::fixture(name)).unwrap()
}

/// RFC 8187 percent-decoding of an ext-value's value part.
pub fn percent_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}
