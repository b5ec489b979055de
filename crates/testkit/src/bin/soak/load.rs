//! `load`: N uploads (default 500) of the short clips from C concurrent clients (default 32);
//! every job converted and notified; upload latency percentiles; each role's peak RSS.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use mp3converter_testkit::cluster::{Cluster, Process};

use crate::Args;
use crate::check::verify;
use crate::client::{SharedTally, Tally, clips, quantile_ms, upload_until_accepted};

pub async fn run(args: &Args) -> anyhow::Result<bool> {
    let jobs = args.jobs.unwrap_or(500);
    let clients = args.clients.unwrap_or(32);
    let since = SystemTime::now() - Duration::from_secs(1);
    let Some(cluster) = Cluster::start(&args.bin, &args.db_var, args.converters).await else {
        anyhow::bail!("the environment lacks a service (see above)");
    };
    let token = cluster.user("load@example.com").await;
    let gateway = Arc::new(RwLock::new(cluster.gateway.url.clone()));
    let tally: SharedTally = Arc::new(Mutex::new(Tally::default()));
    let clips = Arc::new(clips());
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()?;
    println!("load: {jobs} uploads from {clients} clients");
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients {
        let (http, gateway, token, tally, clips, next) = (
            http.clone(),
            gateway.clone(),
            token.clone(),
            tally.clone(),
            clips.clone(),
            next.clone(),
        );
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if n >= jobs {
                    return;
                }
                let clip = &clips[n % clips.len()];
                upload_until_accepted(&http, &gateway, &token, clip, &tally).await;
            }
        });
    }
    tasks.join_all().await;
    let upload_secs = started.elapsed().as_secs_f64();
    let accepted = tally.lock().unwrap().accepted.clone();
    let verdict = verify(&cluster, &accepted, since, Duration::from_secs(900)).await;
    let all_done_secs = started.elapsed().as_secs_f64();
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    println!(
        "uploads: {} accepted in {upload_secs:.1} s ({:.1}/s); attempts {:?}",
        accepted.len(),
        accepted.len() as f64 / upload_secs,
        tally.attempts
    );
    println!(
        "upload latency: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        quantile_ms(&tally.latencies, 0.5),
        quantile_ms(&tally.latencies, 0.99),
        quantile_ms(&tally.latencies, 1.0),
    );
    println!(
        "all converted and notified after {all_done_secs:.1} s ({:.1} jobs/s)",
        accepted.len() as f64 / all_done_secs
    );
    verdict.print();
    let mut processes: Vec<&Process> = vec![&cluster.auth, &cluster.gateway];
    processes.extend(cluster.converters.iter().flatten());
    processes.push(&cluster.notifier);
    for p in processes {
        println!(
            "peak RSS {:<10} {:>7.1} MiB",
            p.roles,
            p.peak_rss_kib().unwrap_or(0) as f64 / 1024.0
        );
    }
    let ok = verdict.ok() && verdict.orphans.is_empty() && tally.failed_attempts() == 0;
    cluster.shutdown().await;
    Ok(ok)
}
