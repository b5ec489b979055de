//! `mp3converter login [--server URL]` and `mp3converter logout`: get a token with the email and
//! password and store it, or forget it.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use clap::Args;
use reqwest::Url;

use super::api::Api;
use super::session::{self, Session};

/// The server when neither `--server` nor a previous login names one: `serve`'s default.
pub(super) const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The server's URL (default: the last server logged in to, else http://127.0.0.1:8080).
    #[arg(long, value_name = "URL")]
    server: Option<String>,
}

pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
    let stored = session::load()?;
    let server = match args.server {
        Some(url) => normalize_server(&url)?,
        None => stored
            .map(|s| s.server)
            .unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
    };
    let prompt_server = server.clone();
    let (email, password) =
        tokio::task::spawn_blocking(move || read_credentials(&prompt_server)).await??;
    let token = Api::new(&server, None)?.login(&email, &password).await?;
    let path = session::save(&Session {
        server: server.clone(),
        email: Some(email.clone()),
        token: Some(token),
    })?;
    println!("logged in to {server} as {email}");
    tracing::debug!(path = %path.display(), "session stored");
    Ok(())
}

pub fn logout() -> anyhow::Result<()> {
    match session::load()? {
        Some(session) if session.token.is_some() => {
            let server = session.server.clone();
            session::save(&Session {
                token: None,
                ..session
            })?;
            println!("logged out of {server}");
        }
        _ => println!("not logged in"),
    }
    Ok(())
}

/// `host:8080` → `http://host:8080`; refuses what is not an http(s) base URL.
pub(super) fn normalize_server(raw: &str) -> anyhow::Result<String> {
    let raw = raw.trim();
    let with_scheme = if raw.contains("://") {
        raw.to_owned()
    } else {
        format!("http://{raw}")
    };
    let bad = || format!("`{raw}` is not a server URL (like http://127.0.0.1:8080)");
    let url = Url::parse(&with_scheme).with_context(bad)?;
    if !matches!(url.scheme(), "http" | "https")
        || url.host_str().is_none()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        anyhow::bail!(bad());
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Prompts at a terminal (the password hidden); otherwise reads the email, then the password, as
/// two lines of stdin.
fn read_credentials(server: &str) -> anyhow::Result<(String, String)> {
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    if interactive {
        eprint!("Email for {server}: ");
        std::io::stderr().flush()?;
    }
    let mut lines = stdin.lock();
    let mut email = String::new();
    lines
        .read_line(&mut email)
        .context("cannot read the email")?;
    let email = email.trim().to_owned();
    anyhow::ensure!(!email.is_empty(), "no email given");
    let password = if interactive {
        drop(lines);
        rpassword::prompt_password("Password: ").context("cannot read the password")?
    } else {
        let mut line = String::new();
        lines
            .read_line(&mut line)
            .context("cannot read the password")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    };
    anyhow::ensure!(
        !password.is_empty(),
        "no password given (without a terminal, login reads the email and the password as two lines)"
    );
    Ok((email, password))
}

#[cfg(test)]
mod tests {
    use super::normalize_server;

    #[test]
    fn server_urls_are_normalized() {
        assert_eq!(
            normalize_server("127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            normalize_server(" https://mp3.example.com/ ").unwrap(),
            "https://mp3.example.com"
        );
        assert_eq!(
            normalize_server("https://example.com/mp3/").unwrap(),
            "https://example.com/mp3"
        );
        for bad in ["ftp://example.com", "http://", "http://h/?x=1", "a b"] {
            assert!(normalize_server(bad).is_err(), "{bad}");
        }
    }
}
