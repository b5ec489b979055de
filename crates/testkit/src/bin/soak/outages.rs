//! `outages`: each dependency — the database, S3, SMTP, RabbitMQ — made unreachable in turn for
//! `--outage-secs` by cutting a [`Proxy`] the whole cluster reaches it through, while uploads
//! continue. Records what the gateway answered meanwhile (it must be 200 or 503, never 500 and
//! never slower than its request timeout) and how long after the return every job was done
//! and notified.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use mp3converter_testkit::cluster::Cluster;
use mp3converter_testkit::proxy::{Proxy, host_port};

use crate::Args;
use crate::check::verify;
use crate::client::{Tally, clips, upload};

/// The gateway's `request_timeout_secs` (its default).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Which variable reaches which dependency.
const ROUTED: [(&str, &str); 4] = [
    ("MP3C_DATABASE__URL", "database"),
    ("MP3C_STORAGE__ENDPOINT", "s3"),
    ("MP3C_MAIL__URL", "smtp"),
    ("MP3C_QUEUE__URL", "rabbitmq"),
];

pub async fn run(args: &Args) -> anyhow::Result<bool> {
    let since = SystemTime::now() - Duration::from_secs(1);
    let mut proxies: BTreeMap<&'static str, Proxy> = BTreeMap::new();
    let started = Cluster::start_with(&args.bin, &args.db_var, args.converters, |key, value| {
        let (_, name) = ROUTED.iter().find(|(var, _)| *var == key)?;
        let proxy = Proxy::start(&host_port(value)?);
        let url = proxy.rewrite(value);
        proxies.insert(name, proxy);
        Some(url)
    })
    .await;
    let Some(cluster) = started else {
        anyhow::bail!("the environment lacks a service (see above)");
    };
    let token = cluster.user("outages@example.com").await;
    let gateway = Arc::new(RwLock::new(cluster.gateway.url.clone()));
    // A client gives up a little after the gateway's own timeout: longer is a hang.
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT + Duration::from_secs(5))
        .build()?;
    let clips = Arc::new(clips());
    let mut accepted = Vec::new();
    let mut ok = true;
    for name in &args.only {
        let Some(proxy) = proxies.get(name.as_str()) else {
            anyhow::bail!("no dependency {name}: database, s3, smtp or rabbitmq");
        };
        println!("--- {name} unreachable for {:?}", args.outage);
        proxy.down();
        let tally = Arc::new(Mutex::new(Tally::default()));
        let until = Instant::now() + args.outage;
        let mut clients = tokio::task::JoinSet::new();
        for client in 0..2usize {
            let (http, gateway, token, tally, clips) = (
                http.clone(),
                gateway.clone(),
                token.clone(),
                tally.clone(),
                clips.clone(),
            );
            clients.spawn(async move {
                let mut n = client;
                while Instant::now() < until {
                    let (attempt, took) = upload(&http, &gateway, &token, &clips[n % 2]).await;
                    tally.lock().unwrap().record(&attempt, took);
                    n += 1;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            });
        }
        clients.join_all().await;
        proxy.up();
        let restored = Instant::now();
        let tally = std::mem::take(&mut *tally.lock().unwrap());
        accepted.extend(tally.accepted.iter().cloned());
        let verdict = verify(&cluster, &accepted, since, Duration::from_secs(420)).await;
        let bad: usize = tally
            .attempts
            .iter()
            .filter(|(label, _)| !matches!(label.as_str(), "200" | "503"))
            .map(|(_, n)| n)
            .sum();
        println!(
            "answers during the outage: {:?}; slowest {:.1} s",
            tally.attempts,
            tally.slowest.as_secs_f64()
        );
        println!(
            "all {} jobs so far done and notified {:.1} s after it returned (lost {}, duplicate emails {})",
            verdict.accepted,
            restored.elapsed().as_secs_f64() - 3.0,
            verdict.lost.len(),
            verdict.duplicate_emails.len()
        );
        if bad > 0 || !verdict.ok() || tally.slowest > REQUEST_TIMEOUT {
            println!("{name}: FAILED (an answer other than 200/503, a hang, or a lost job)");
            verdict.print();
            ok = false;
        }
    }
    let verdict = verify(&cluster, &accepted, since, Duration::from_secs(60)).await;
    verdict.print();
    cluster.shutdown().await;
    drop(proxies);
    Ok(ok && verdict.ok())
}
