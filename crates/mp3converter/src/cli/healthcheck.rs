//! `mp3converter healthcheck URL`: one HTTP GET for container health checks, so the image needs
//! no curl. Exit 0 on a 2xx answer; otherwise exit 1 with a one-line reason.
//!
//! Plain HTTP/1.1 over a TCP stream: it is meant for loopback probes
//! (`http://127.0.0.1:8080/healthz`), so `https://` is refused rather than half-supported.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest status line read before giving up (a real one is ~20 bytes).
const MAX_STATUS_LINE: usize = 1024;

#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to GET, e.g. http://127.0.0.1:8080/healthz (http only).
    url: String,
    /// Seconds allowed for connecting, sending and reading the status line.
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
}

/// An `http://host[:port][/path]` URL, split for the request.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    /// Host as written, without brackets for IPv6 (`127.0.0.1`, `localhost`, `::1`).
    host: String,
    port: u16,
    /// Path and query, starting with `/`.
    path: String,
}

impl Target {
    fn parse(url: &str) -> anyhow::Result<Target> {
        let Some(rest) = url.strip_prefix("http://") else {
            match url.split_once("://") {
                Some((scheme, _)) => bail!("only http:// URLs are supported, not {scheme}://"),
                None => bail!("not an http:// URL"),
            }
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        let path = path.split('#').next().unwrap_or("/").to_string();
        if authority.contains('@') {
            bail!("credentials in the URL are not supported");
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (host, after) = v6.split_once(']').context("unterminated [ in the host")?;
            (host, after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            bail!("no host in the URL");
        }
        let port = match port {
            None => 80,
            Some(p) => p.parse().with_context(|| format!("bad port `{p}`"))?,
        };
        Ok(Target {
            host: host.to_string(),
            port,
            path,
        })
    }

    /// The `Host` header value.
    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Sends the request and returns the status code and reason phrase.
async fn probe(target: &Target) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect((target.host.as_str(), target.port))
        .await
        .with_context(|| format!("cannot connect to {}", target.host_header()))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: mp3converter-healthcheck\r\nConnection: close\r\n\r\n",
        target.path,
        target.host_header()
    );
    stream
        .write_all(request.as_bytes())
        .await
        .context("cannot send the request")?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') {
        let n = stream
            .read(&mut buf)
            .await
            .context("cannot read the answer")?;
        if n == 0 {
            bail!("the connection closed before an HTTP status line");
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > MAX_STATUS_LINE {
            bail!("no HTTP status line in the first {MAX_STATUS_LINE} bytes");
        }
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or_default();
    parse_status_line(line)
}

/// `HTTP/1.1 200 OK` → `(200, "OK")`.
fn parse_status_line(line: &str) -> anyhow::Result<(u16, String)> {
    let mut parts = line.trim_end().splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") || code.len() != 3 {
        bail!("not an HTTP status line: {:?}", truncate(line, 80));
    }
    let code: u16 = code
        .parse()
        .with_context(|| format!("bad status code in {:?}", truncate(line, 80)))?;
    Ok((code, parts.next().unwrap_or_default().to_string()))
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let target = Target::parse(&args.url).with_context(|| args.url.clone())?;
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds");
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let answer = runtime
        .block_on(async { tokio::time::timeout(timeout, probe(&target)).await })
        .map_err(|_| anyhow::anyhow!("no answer within {}s", args.timeout))
        .and_then(|r| r)
        .with_context(|| args.url.clone())?;
    match answer {
        (code @ 200..=299, reason) => {
            println!("{}: HTTP {code} {reason}", args.url);
            Ok(())
        }
        (code, reason) => bail!("{}: HTTP {code} {reason}", args.url),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(host: &str, port: u16, path: &str) -> Target {
        Target {
            host: host.into(),
            port,
            path: path.into(),
        }
    }

    #[test]
    fn urls_split_into_host_port_and_path() {
        assert_eq!(
            Target::parse("http://127.0.0.1:8080/healthz").unwrap(),
            target("127.0.0.1", 8080, "/healthz")
        );
        assert_eq!(
            Target::parse("http://localhost").unwrap(),
            target("localhost", 80, "/")
        );
        assert_eq!(
            Target::parse("http://[::1]:9000/readyz?x=1#frag").unwrap(),
            target("::1", 9000, "/readyz?x=1")
        );
        assert_eq!(
            Target::parse("http://auth:8080?probe").unwrap(),
            target("auth", 8080, "/?probe")
        );
        assert_eq!(target("::1", 9000, "/").host_header(), "[::1]:9000");
        assert_eq!(target("gateway", 80, "/").host_header(), "gateway");
    }

    #[test]
    fn unsupported_urls_are_refused_with_the_reason() {
        let err = |url: &str| Target::parse(url).unwrap_err().to_string();
        assert!(err("https://127.0.0.1/healthz").contains("only http://"));
        assert!(err("127.0.0.1:8080/healthz").contains("not an http:// URL"));
        assert!(err("http://:8080/").contains("no host"));
        assert!(err("http://host:99999/").contains("bad port"));
        assert!(err("http://u:p@host/").contains("credentials"));
    }

    #[test]
    fn status_lines_parse_and_garbage_does_not() {
        assert_eq!(
            parse_status_line("HTTP/1.1 503 Service Unavailable\r").unwrap(),
            (503, "Service Unavailable".to_string())
        );
        assert_eq!(
            parse_status_line("HTTP/1.0 204").unwrap(),
            (204, String::new())
        );
        assert!(parse_status_line("SSH-2.0-OpenSSH_9.2").is_err());
        assert!(parse_status_line("HTTP/1.1 2x0 OK").is_err());
    }
}
