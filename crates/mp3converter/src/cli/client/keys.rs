//! `mp3converter keys create|list|revoke`: the caller's API keys (managed with a login session:
//! the server refuses a key managing keys), and `MP3CONVERTER_API_KEY`, which every client
//! command uses instead of the stored session when it is set.

use chrono::{DateTime, Local};
use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::json;

use super::api::{Api, ClientError};
use super::session;

/// The environment variable holding an API key (`mp3c_…`) to use instead of `login`.
pub const API_KEY_ENV: &str = "MP3CONVERTER_API_KEY";
/// The server to use with an API key (default: the stored session's, else
/// http://127.0.0.1:8080).
pub const SERVER_ENV: &str = "MP3CONVERTER_SERVER";

/// The API key of [`API_KEY_ENV`], if set and not empty.
pub(super) fn key_from_env() -> Option<String> {
    std::env::var(API_KEY_ENV)
        .ok()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
}

/// The server for a key: [`SERVER_ENV`], else `stored`, else the default.
pub(super) fn server_from_env(stored: Option<String>) -> anyhow::Result<String> {
    match std::env::var(SERVER_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        Some(url) => super::login::normalize_server(&url),
        None => Ok(stored.unwrap_or_else(|| super::login::DEFAULT_SERVER.to_owned())),
    }
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create an API key and print its secret (shown only this once) on stdout.
    Create {
        /// A name to recognise the key by.
        #[arg(long)]
        name: String,
        /// What the key may do: jobs:read, jobs:write, admin (administrators only). Repeat for
        /// several; default: jobs:read and jobs:write.
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// The key stops working after this many days (default: never).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// List your API keys (never their secrets).
    List,
    /// Revoke an API key by its id: it stops working at once.
    Revoke {
        /// The key's id (from `keys list`).
        id: String,
    },
}

/// A key as the server lists it.
#[derive(Debug, Deserialize)]
struct KeyInfo {
    id: String,
    name: String,
    scopes: Vec<String>,
    prefix: String,
    last4: String,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Created {
    key: String,
    #[serde(flatten)]
    info: KeyInfo,
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    let api = Api::from_session(session::load()?)?;
    match args.command {
        KeysCommand::Create {
            name,
            scopes,
            expires_in_days,
        } => {
            let scopes = if scopes.is_empty() {
                vec!["jobs:read".to_owned(), "jobs:write".to_owned()]
            } else {
                scopes
            };
            let mut body = json!({"name": name, "scopes": scopes});
            if let Some(days) = expires_in_days {
                body["expires_in_days"] = json!(days);
            }
            let req = api
                .request(reqwest::Method::POST, "/api/v1/keys")
                .json(&body);
            let created: Created = api.json(api.send(req).await?).await?;
            eprintln!(
                "created API key {:?} ({}), scopes {}, expires {}; the secret below is shown only now:",
                created.info.name,
                created.info.id,
                created.info.scopes.join(","),
                time(created.info.expires_at, "never"),
            );
            println!("{}", created.key);
        }
        KeysCommand::List => {
            let res = api
                .send(api.request(reqwest::Method::GET, "/api/v1/keys"))
                .await?;
            let keys: Vec<KeyInfo> = api.json(res).await?;
            if keys.is_empty() {
                eprintln!("no API keys: `mp3converter keys create --name NAME` makes one");
            } else {
                print!("{}", table(&keys));
            }
        }
        KeysCommand::Revoke { id } => {
            let path = format!("/api/v1/keys/{}", urlencode(&id));
            match api.send(api.request(reqwest::Method::DELETE, &path)).await {
                Ok(_) => println!("revoked API key {id}"),
                Err(ClientError::Server { status, .. })
                    if status == reqwest::StatusCode::NOT_FOUND =>
                {
                    anyhow::bail!("no API key {id} of yours: `mp3converter keys list` shows them")
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn time(ms: Option<i64>, none: &str) -> String {
    ms.and_then(DateTime::from_timestamp_millis).map_or_else(
        || none.to_owned(),
        |t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string(),
    )
}

/// Columns: id, name, scopes, the key's recognisable ends, created, expires, last used.
fn table(keys: &[KeyInfo]) -> String {
    let header = [
        "ID",
        "NAME",
        "SCOPES",
        "KEY",
        "CREATED",
        "EXPIRES",
        "LAST USED",
    ]
    .map(str::to_owned);
    let rows: Vec<[String; 7]> = keys
        .iter()
        .map(|k| {
            [
                k.id.clone(),
                k.name.chars().filter(|c| !c.is_control()).collect(),
                k.scopes.join(","),
                format!("{}…{}", k.prefix, k.last4),
                time(Some(k.created_at), "-"),
                time(k.expires_at, "never"),
                time(k.last_used_at, "never"),
            ]
        })
        .collect();
    let mut widths = [0usize; 7];
    for row in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell}{}", " ".repeat(w - cell.chars().count())))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
