//! `mp3converter healthcheck URL`: one HTTP GET for container health checks, so the image needs
//! no curl. Exit 0 on a 2xx answer; otherwise exit 1 with a one-line reason.
//!
//! It is meant for loopback probes (`http://127.0.0.1:8080/healthz`): `https://` is refused, and
//! so are redirects and proxies (a probe asks the process it names, nothing else).

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use reqwest::Url;

/// Arguments of `mp3converter healthcheck`.
#[derive(Debug, Args)]
pub struct HealthcheckArgs {
    /// The URL to GET, e.g. http://127.0.0.1:8080/healthz (http only).
    url: String,
    /// Seconds allowed for connecting, sending and reading the status line.
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
}

/// The URL, checked: `http://`, a host, no credentials.
fn target(url: &str) -> anyhow::Result<Url> {
    let parsed = Url::parse(url).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => anyhow::anyhow!("not an http:// URL"),
        url::ParseError::EmptyHost => anyhow::anyhow!("no host in the URL"),
        url::ParseError::InvalidPort => anyhow::anyhow!("bad port in the URL"),
        other => anyhow::anyhow!("not a URL: {other}"),
    })?;
    if parsed.scheme() != "http" {
        bail!(
            "only http:// URLs are supported, not {}://",
            parsed.scheme()
        );
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        bail!("no host in the URL");
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        bail!("credentials in the URL are not supported");
    }
    Ok(parsed)
}

/// GETs `url` and returns the status code and reason phrase.
async fn probe(url: Url) -> anyhow::Result<(u16, String)> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("mp3converter-healthcheck")
        .build()
        .context("cannot set up the HTTP client")?;
    let authority = match (url.host_str(), url.port_or_known_default()) {
        (Some(host), Some(port)) => format!("{host}:{port}"),
        _ => url.to_string(),
    };
    let response = client.get(url).send().await.map_err(|e| {
        if e.is_connect() {
            anyhow::anyhow!("cannot connect to {authority}")
        } else {
            anyhow::anyhow!("no HTTP answer from {authority}: {e}")
        }
    })?;
    let status = response.status();
    Ok((
        status.as_u16(),
        status.canonical_reason().unwrap_or_default().to_string(),
    ))
}

/// Runs `mp3converter healthcheck`.
pub fn run(args: HealthcheckArgs) -> anyhow::Result<()> {
    let url = target(&args.url).with_context(|| args.url.clone())?;
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        bail!("--timeout must be a positive number of seconds");
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let answer = runtime
        .block_on(async { tokio::time::timeout(timeout, probe(url)).await })
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

    #[test]
    fn http_urls_with_a_host_are_accepted() {
        let url = target("http://127.0.0.1:8080/healthz").unwrap();
        assert_eq!(url.port(), Some(8080));
        assert_eq!(url.path(), "/healthz");
        assert_eq!(
            target("http://[::1]:9000/readyz?x=1#frag").unwrap().query(),
            Some("x=1")
        );
        assert_eq!(
            target("http://localhost").unwrap().port_or_known_default(),
            Some(80)
        );
    }

    #[test]
    fn unsupported_urls_are_refused_with_the_reason() {
        let err = |url: &str| target(url).unwrap_err().to_string();
        assert!(err("https://127.0.0.1/healthz").contains("only http://"));
        assert!(
            err("127.0.0.1:8080/healthz").contains("not an http:// URL"),
            "{}",
            err("127.0.0.1:8080/healthz")
        );
        assert!(err("http://:8080/").contains("no host"));
        assert!(err("http://host:99999/").contains("bad port"));
        assert!(err("http://u:p@host/").contains("credentials"));
    }
}
