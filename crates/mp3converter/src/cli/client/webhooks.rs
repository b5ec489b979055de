//! `mp3converter webhooks create URL --event job.done …|list|delete ID|rotate ID|deliveries ID|
//! replay ID DELIVERY`: the caller's webhook endpoints and their deliveries
//! (`/api/v1/webhooks`, see docs/webhooks.md).

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{Value, json};

use super::api::Api;
use super::session;

#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Register an endpoint; prints its id and its signing secret (shown only now).
    Create(CreateArgs),
    /// List your endpoints.
    List,
    /// Delete an endpoint and its delivery history.
    Delete {
        /// The endpoint id.
        id: String,
    },
    /// Replace an endpoint's secret (the old one also signs for 24 hours); prints the new one.
    Rotate {
        /// The endpoint id.
        id: String,
    },
    /// An endpoint's recent deliveries, newest first.
    Deliveries {
        /// The endpoint id.
        id: String,
    },
    /// Send a delivery again now, with the same webhook-id.
    Replay {
        /// The endpoint id.
        id: String,
        /// The delivery id (`msg_…`).
        delivery: String,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Where deliveries are POSTed (http or https).
    #[arg(value_name = "URL")]
    url: String,
    /// An event to send: job.done or job.failed (repeat for both; default both).
    #[arg(long = "event", value_name = "EVENT")]
    events: Vec<String>,
    /// A note for yourself.
    #[arg(long)]
    description: Option<String>,
}

pub async fn run(command: WebhooksCommand) -> anyhow::Result<()> {
    let api = Api::from_session(session::load()?)?;
    match command {
        WebhooksCommand::Create(args) => {
            let events = if args.events.is_empty() {
                vec!["job.done".to_owned(), "job.failed".to_owned()]
            } else {
                args.events
            };
            let mut body = json!({ "url": args.url, "events": events });
            if let Some(d) = args.description {
                body["description"] = Value::String(d);
            }
            let created = api
                .call(Method::POST, "/api/v1/webhooks", Some(&body))
                .await?;
            print_secret(&created);
        }
        WebhooksCommand::List => {
            let list = api.call(Method::GET, "/api/v1/webhooks", None).await?;
            let rows = rows(&list, |e| {
                vec![
                    text(&e["id"]),
                    e["events"]
                        .as_array()
                        .map(|a| a.iter().map(text).collect::<Vec<_>>().join(","))
                        .unwrap_or_default(),
                    if e["enabled"] == true { "on" } else { "off" }.to_owned(),
                    text(&e["url"]),
                ]
            });
            print!("{}", table(&["ID", "EVENTS", "ENABLED", "URL"], &rows));
        }
        WebhooksCommand::Delete { id } => {
            api.call(Method::DELETE, &format!("/api/v1/webhooks/{id}"), None)
                .await?;
            eprintln!("deleted {id}");
        }
        WebhooksCommand::Rotate { id } => {
            let rotated = api
                .call(Method::POST, &format!("/api/v1/webhooks/{id}/rotate"), None)
                .await?;
            print_secret(&rotated);
        }
        WebhooksCommand::Deliveries { id } => {
            let path = format!("/api/v1/webhooks/{id}/deliveries");
            let list = api.call(Method::GET, &path, None).await?;
            let rows = rows(&list, |d| {
                vec![
                    text(&d["id"]),
                    text(&d["event"]),
                    text(&d["status"]),
                    text(&d["attempts"]),
                    text(&d["response_code"]),
                    text(&d["latency_ms"]),
                    text(&d["last_error"]),
                ]
            });
            let header = ["ID", "EVENT", "STATUS", "ATTEMPTS", "CODE", "MS", "ERROR"];
            print!("{}", table(&header, &rows));
        }
        WebhooksCommand::Replay { id, delivery } => {
            let path = format!("/api/v1/webhooks/{id}/deliveries/{delivery}/replay");
            api.call(Method::POST, &path, None).await?;
            eprintln!("{delivery} is being sent again");
        }
    }
    Ok(())
}

fn print_secret(endpoint: &Value) {
    println!("{}", text(&endpoint["id"]));
    println!("{}", text(&endpoint["secret"]));
    eprintln!("keep the secret (the second line) with your receiver: it is not shown again");
}

/// A JSON value as a table cell: strings bare, null as `-`.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn rows(list: &Value, row: impl Fn(&Value) -> Vec<String>) -> Vec<Vec<String>> {
    list.as_array()
        .map(|a| a.iter().map(row).collect())
        .unwrap_or_default()
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
    let mut widths = vec![0usize; header.len()];
    for row in std::iter::once(&header).chain(rows) {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_show_null_as_a_dash() {
        let rows = vec![vec!["msg_1".to_owned(), text(&Value::Null)]];
        assert_eq!(table(&["ID", "CODE"], &rows), "ID     CODE\nmsg_1  -\n");
    }
}
