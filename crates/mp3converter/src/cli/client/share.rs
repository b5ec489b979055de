//! `mp3converter share JOB [--expires-in 7d]`, `share --list JOB`, `share --revoke SHARE`: public
//! links to a finished job's audio; and `mp3converter feed [--rotate]`: the address of the
//! caller's private podcast feed.

use anyhow::Context;
use clap::Args;
use reqwest::Method;
use serde_json::json;

use super::api::Api;
use super::session;

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The job to share (or, with --revoke, the share to revoke).
    #[arg(value_name = "ID")]
    id: String,
    /// How long the link works: seconds, or a number with s, m, h or d (at most 90d).
    #[arg(long, value_name = "DURATION", default_value = "7d", conflicts_with_all = ["list", "revoke"])]
    expires_in: String,
    /// List the job's live links instead of making one.
    #[arg(long)]
    list: bool,
    /// Revoke the share ID (from --list).
    #[arg(long, conflicts_with = "list")]
    revoke: bool,
}

#[derive(Debug, Args)]
pub struct FeedArgs {
    /// Make a new address: the old one (and every episode URL in it) stops at once.
    #[arg(long)]
    rotate: bool,
}

/// `90`, `90s`, `15m`, `12h`, `7d` in seconds.
fn seconds(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let n: u64 = number
        .parse()
        .with_context(|| format!("--expires-in {text:?}: expected e.g. 3600, 12h or 7d"))?;
    let unit = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        other => anyhow::bail!("--expires-in: unknown unit {other:?} (use s, m, h or d)"),
    };
    Ok(n.saturating_mul(unit))
}

pub async fn share(args: ShareArgs) -> anyhow::Result<()> {
    let api = Api::from_session(session::load()?)?;
    if args.revoke {
        api.call(Method::DELETE, &format!("/api/v1/shares/{}", args.id), None)
            .await?;
        eprintln!("revoked");
        return Ok(());
    }
    if args.list {
        let shares = api
            .call(
                Method::GET,
                &format!("/api/v1/jobs/{}/shares", args.id),
                None,
            )
            .await?;
        for share in shares.as_array().into_iter().flatten() {
            println!(
                "{}\texpires {}",
                share["id"].as_str().unwrap_or("?"),
                when(share["expires_at"].as_i64().unwrap_or(0))
            );
        }
        return Ok(());
    }
    let body = json!({ "expires_in_secs": seconds(&args.expires_in)? });
    let created = api
        .call(
            Method::POST,
            &format!("/api/v1/jobs/{}/shares", args.id),
            Some(&body),
        )
        .await?;
    println!("{}", created["url"].as_str().unwrap_or_default());
    eprintln!(
        "share {} works until {} (anyone with the link can listen)",
        created["id"].as_str().unwrap_or("?"),
        when(created["expires_at"].as_i64().unwrap_or(0))
    );
    Ok(())
}

fn when(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "-".to_owned())
}

pub async fn feed(args: FeedArgs) -> anyhow::Result<()> {
    let api = Api::from_session(session::load()?)?;
    let answer = if args.rotate {
        api.call(Method::POST, "/api/v1/me/feed/rotate", None)
            .await?
    } else {
        api.call(Method::GET, "/api/v1/me/feed", None).await?
    };
    println!("{}", answer["url"].as_str().unwrap_or_default());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit() {
        assert_eq!(seconds("90").unwrap(), 90);
        assert_eq!(seconds("15m").unwrap(), 900);
        assert_eq!(seconds("7d").unwrap(), 604_800);
        assert!(seconds("7w").is_err());
        assert!(seconds("soon").is_err());
    }
}
