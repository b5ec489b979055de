//! `soak`: long fault and load runs of the distributed deployment, outside CI. Each scenario
//! starts a [`Cluster`] (the real binary as separate processes on RabbitMQ, MariaDB or
//! PostgreSQL, S3 and an SMTP capture), drives it, and prints the figures
//! `docs/reliability.md` reports.
//!
//! ```text
//! soak --bin target/release/mp3converter chaos    [--jobs 120] [--db mysql|postgres]
//! soak --bin target/release/mp3converter outages  [--outage-secs 40] [--only database,s3,smtp,rabbitmq]
//! soak --bin target/release/mp3converter load     [--jobs 500] [--clients 32]
//! soak --bin target/release/mp3converter chunks   [--jobs 60 (minutes of audio)] [--kill-at 0.8]
//! ```
//!
//! Needs the variables of the distributed tests (`MP3C_TEST_AMQP_URL`, `MP3C_TEST_MYSQL_URL` or
//! `MP3C_TEST_POSTGRES_URL`, `MP3C_TEST_S3_*`). Exits 1 when a check fails.

mod chaos;
mod check;
mod chunks;
mod client;
mod load;
mod outages;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

/// The command line.
#[derive(Debug, Clone)]
pub struct Args {
    /// The `mp3converter` binary to run.
    pub bin: PathBuf,
    /// `chaos`, `outages` or `load`.
    pub scenario: String,
    /// Jobs to submit.
    pub jobs: Option<usize>,
    /// Concurrent clients.
    pub clients: Option<usize>,
    /// `MP3C_TEST_MYSQL_URL` or `MP3C_TEST_POSTGRES_URL`.
    pub db_var: String,
    /// Converter processes.
    pub converters: usize,
    /// How long each outage lasts.
    pub outage: Duration,
    /// Which dependencies `outages` cuts.
    pub only: Vec<String>,
    /// `chunks`: the progress at which one converter is killed.
    pub kill_at: f64,
}

fn parse() -> anyhow::Result<Args> {
    let mut args = Args {
        bin: PathBuf::new(),
        scenario: String::new(),
        jobs: None,
        clients: None,
        db_var: "MP3C_TEST_MYSQL_URL".into(),
        converters: 2,
        outage: Duration::from_secs(40),
        only: vec![
            "database".into(),
            "s3".into(),
            "smtp".into(),
            "rabbitmq".into(),
        ],
        kill_at: 0.8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--bin" => args.bin = value()?.into(),
            "--jobs" => args.jobs = Some(value()?.parse()?),
            "--clients" => args.clients = Some(value()?.parse()?),
            "--converters" => args.converters = value()?.parse()?,
            "--outage-secs" => args.outage = Duration::from_secs(value()?.parse()?),
            "--kill-at" => args.kill_at = value()?.parse()?,
            "--only" => args.only = value()?.split(',').map(str::to_owned).collect(),
            "--db" => {
                args.db_var = match value()?.as_str() {
                    "mysql" | "mariadb" => "MP3C_TEST_MYSQL_URL".into(),
                    "postgres" => "MP3C_TEST_POSTGRES_URL".into(),
                    other => bail!("--db mysql|postgres, not {other}"),
                }
            }
            s if !s.starts_with('-') && args.scenario.is_empty() => args.scenario = s.into(),
            other => bail!("unknown argument {other}"),
        }
    }
    if args.bin.as_os_str().is_empty() || args.scenario.is_empty() {
        bail!(
            "usage: soak --bin PATH/mp3converter chaos|outages|load|chunks [--jobs N] [--clients N]"
        );
    }
    args.bin = std::fs::canonicalize(&args.bin)
        .with_context(|| format!("no binary at {}", args.bin.display()))?;
    Ok(args)
}

fn main() -> anyhow::Result<()> {
    let args = parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let ok = runtime.block_on(async {
        match args.scenario.as_str() {
            "chaos" => chaos::run(&args).await,
            "outages" => outages::run(&args).await,
            "load" => load::run(&args).await,
            "chunks" => chunks::run(&args).await,
            other => bail!("unknown scenario {other}: chaos, outages, load or chunks"),
        }
    })?;
    if !ok {
        eprintln!("soak {}: FAILED", args.scenario);
        std::process::exit(1);
    }
    println!("soak {}: OK", args.scenario);
    Ok(())
}
