//! Multipart bodies built to exhaust memory: a part whose header section never ends, a preamble
//! that never reaches the first boundary, a chunked body (no `Content-Length`) far over
//! `max_upload_bytes`. Each is answered 4xx with a code, on both upload routes, while the real
//! server's peak memory (`VmHWM` of the child process) stays flat.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use mp3converter_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, fixture, login_at};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const BOUNDARY: &str = "door-boundary-5c2e";
const MIB: usize = 1024 * 1024;
/// The server's upload limit in these tests.
const LIMIT: usize = MIB;
/// Most the server's peak memory may grow while it is attacked.
const MAX_GROWTH_KIB: u64 = 32 * 1024;

/// `mp3converter serve` as a child process (so its memory is its own), 1 MiB upload limit.
struct Server {
    addr: SocketAddr,
    child: tokio::process::Child,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mp3converter"))
            .args(["serve", "--listen", &addr.to_string(), "--data-dir"])
            .arg(dir.path())
            .env("MP3C_ADMIN_EMAIL", ADMIN_EMAIL)
            .env("MP3C_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("MP3C_GATEWAY__MAX_UPLOAD_BYTES", LIMIT.to_string())
            .env("MP3C_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let server = Server {
            addr,
            child,
            _dir: dir,
        };
        let http = reqwest::Client::new();
        for _ in 0..600 {
            let ready = http
                .get(format!("http://{addr}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the server did not become ready");
    }

    /// Peak resident memory so far, KiB.
    fn peak_kib(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

/// What the server answered: status and the `code` of its JSON error body.
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    code: String,
}

/// POSTs to `path` with a chunked body: `head` then `filler` bytes of `fill`, then `tail`,
/// written by a separate task while the answer is read (the server answers and closes early).
async fn post_chunked(
    addr: SocketAddr,
    path: &str,
    token: &str,
    head: Vec<u8>,
    fill: u8,
    filler: usize,
    tail: Vec<u8>,
) -> Answer {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut read, mut write) = stream.into_split();
    let request_head = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    let writer = tokio::spawn(async move {
        let chunk = |data: &[u8]| {
            let mut c = format!("{:x}\r\n", data.len()).into_bytes();
            c.extend_from_slice(data);
            c.extend_from_slice(b"\r\n");
            c
        };
        write.write_all(request_head.as_bytes()).await?;
        write.write_all(&chunk(&head)).await?;
        let block = vec![fill; 256 * 1024];
        let mut left = filler;
        while left > 0 {
            let n = left.min(block.len());
            write.write_all(&chunk(&block[..n])).await?;
            left -= n;
        }
        write.write_all(&chunk(&tail)).await?;
        write.write_all(b"0\r\n\r\n").await?;
        std::io::Result::Ok(())
    });
    let mut bytes = Vec::new();
    let mut buf = vec![0; 64 * 1024];
    let answer = loop {
        let n = read.read(&mut buf).await.unwrap_or(0);
        bytes.extend_from_slice(&buf[..n]);
        if let Some(answer) = parse_answer(&bytes) {
            break answer;
        }
        assert!(
            n > 0,
            "closed without a full answer: {:?}",
            String::from_utf8_lossy(&bytes)
        );
    };
    writer.abort();
    answer
}

/// The answer, once the head and the whole (`Content-Length`) body are in `bytes`.
fn parse_answer(bytes: &[u8]) -> Option<Answer> {
    let split = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())?;
    let body = bytes.get(split + 4..split + 4 + length)?;
    let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    Some(Answer {
        status,
        code: json["code"].as_str().unwrap_or_default().to_owned(),
    })
}

fn part_head(name: &str, file_name: Option<&str>) -> String {
    let file = file_name
        .map(|f| format!("; filename=\"{f}\""))
        .unwrap_or_default();
    format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n")
}

#[tokio::test]
async fn hostile_multipart_bodies_are_refused_and_memory_stays_flat() {
    let server = Server::start().await;
    let http = reqwest::Client::new();
    let token = login_at(
        &http,
        &format!("http://{}", server.addr),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
    let video = std::fs::read(fixture("mp4-aac-faststart.mp4")).unwrap();
    let before = server.peak_kib();

    for path in ["/api/v1/jobs", "/upload"] {
        // The API answers `{code, message}`; the course's route answers in plain text (no code).
        let code = |code: &str| {
            if path == "/upload" {
                String::new()
            } else {
                code.to_owned()
            }
        };
        // Two requests at once, each with a 64 MiB header section in one part (a header line
        // that never ends).
        let header_bomb = || {
            let mut head = part_head("file", Some("a.mp4")).into_bytes();
            head.extend_from_slice(b"X-Filler: ");
            post_chunked(
                server.addr,
                path,
                &token,
                head,
                b'a',
                64 * MIB,
                b"\r\n\r\n".to_vec(),
            )
        };
        let (a, b) = tokio::join!(header_bomb(), header_bomb());
        for answer in [a, b] {
            assert_eq!(
                answer,
                Answer {
                    status: 400,
                    code: code("multipart-headers-too-large")
                },
                "{path}: a 64 MiB part header"
            );
        }

        // A 64 MiB preamble: the first boundary never comes.
        let answer = post_chunked(
            server.addr,
            path,
            &token,
            Vec::new(),
            b'p',
            64 * MIB,
            Vec::new(),
        )
        .await;
        assert_eq!(answer.status, 400, "{path}: a 64 MiB preamble: {answer:?}");

        // A 200 MiB chunked file over the 1 MiB limit: 413 like one with Content-Length.
        let mut head = part_head("file", Some("a.mp4")).into_bytes();
        head.extend_from_slice(b"Content-Type: video/mp4\r\n\r\n");
        head.extend_from_slice(&video);
        let tail = format!("\r\n--{BOUNDARY}--\r\n").into_bytes();
        let answer = post_chunked(server.addr, path, &token, head, 0, 200 * MIB, tail).await;
        assert_eq!(
            answer,
            Answer {
                status: 413,
                code: code("too-large")
            },
            "{path}: a 200 MiB chunked upload"
        );
    }

    let growth = server.peak_kib().saturating_sub(before);
    assert!(
        growth < MAX_GROWTH_KIB,
        "the server's peak memory grew by {growth} KiB while it was attacked"
    );
    // And it still serves.
    let res = http
        .get(format!("http://{}/healthz", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_chunked_form_with_too_many_text_bytes_is_refused() {
    let server = Server::start().await;
    let http = reqwest::Client::new();
    let token = login_at(
        &http,
        &format!("http://{}", server.addr),
        ADMIN_EMAIL,
        ADMIN_PASSWORD,
    )
    .await;
    // Five text fields of 15 KiB each: every one under its own limit, too much together.
    let mut head = Vec::new();
    for _ in 0..5 {
        head.extend_from_slice(part_head("title", None).as_bytes());
        head.extend_from_slice(b"\r\n");
        head.extend(std::iter::repeat_n(b't', 15 * 1024));
        head.extend_from_slice(b"\r\n");
    }
    let tail = format!("--{BOUNDARY}--\r\n").into_bytes();
    let answer = post_chunked(server.addr, "/api/v1/jobs", &token, head, b'x', 0, tail).await;
    assert_eq!(
        answer,
        Answer {
            status: 400,
            code: "fields-too-large".into()
        }
    );
}
