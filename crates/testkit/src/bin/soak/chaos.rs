//! `chaos`: jobs uploaded steadily while a loop SIGKILLs one role process at a chosen moment of
//! a job's life and starts a replacement: the gateway during an upload and right after it
//! answered 200 (before the relay published), a converter while a job is converting and right
//! after one finished (before the ack), the notifier while an email is due, and auth. At the
//! end every accepted job must be done with exactly one email.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use mp3converter_core::JobState;
use mp3converter_testkit::cluster::Cluster;
use tokio::sync::Notify;

use crate::Args;
use crate::check::{jobs, verify};
use crate::client::{Attempt, SharedTally, Tally, clips, upload};

/// The moments the kills aim at.
const TARGETS: [&str; 6] = [
    "gateway-mid-upload",
    "gateway-after-200",
    "converter-converting",
    "converter-after-done",
    "notifier-email-due",
    "auth",
];

/// Signals from the clients to the chaos loop.
#[derive(Debug, Default)]
struct Signals {
    in_flight: AtomicUsize,
    accepted: Notify,
    uploads_done: AtomicBool,
}

pub async fn run(args: &Args) -> anyhow::Result<bool> {
    let jobs_wanted = args.jobs.unwrap_or(120);
    let clients = args.clients.unwrap_or(2);
    let since = SystemTime::now() - Duration::from_secs(1);
    let Some(mut cluster) = Cluster::start(&args.bin, &args.db_var, args.converters).await else {
        anyhow::bail!("the environment lacks a service (see above)");
    };
    let token = cluster.user("chaos@example.com").await;
    let gateway = Arc::new(RwLock::new(cluster.gateway.url.clone()));
    let tally: SharedTally = Arc::new(Mutex::new(Tally::default()));
    let signals = Arc::new(Signals::default());
    let started = Instant::now();
    println!("chaos: {jobs_wanted} jobs from {clients} clients, kills at {TARGETS:?}");

    let mut uploads = tokio::task::JoinSet::new();
    let next = Arc::new(AtomicUsize::new(0));
    let clips = Arc::new(clips());
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    for client in 0..clients {
        let (http, gateway, token, tally, signals, next, clips) = (
            http.clone(),
            gateway.clone(),
            token.clone(),
            tally.clone(),
            signals.clone(),
            next.clone(),
            clips.clone(),
        );
        uploads.spawn(async move {
            let mut rng = Rng::new(client as u64);
            while next.fetch_add(1, Ordering::Relaxed) < jobs_wanted {
                let clip = &clips[rng.below(clips.len() as u64) as usize];
                loop {
                    signals.in_flight.fetch_add(1, Ordering::SeqCst);
                    let (attempt, took) = upload(&http, &gateway, &token, clip).await;
                    signals.in_flight.fetch_sub(1, Ordering::SeqCst);
                    tally.lock().unwrap().record(&attempt, took);
                    if matches!(attempt, Attempt::Accepted(_)) {
                        signals.accepted.notify_waiters();
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                tokio::time::sleep(Duration::from_millis(500 + rng.below(2000))).await;
            }
        });
    }
    let waiter = {
        let signals = signals.clone();
        tokio::spawn(async move {
            uploads.join_all().await;
            signals.uploads_done.store(true, Ordering::SeqCst);
        })
    };

    // The chaos loop: until the uploads are over and every job is finished and notified.
    let mut rng = Rng::new(7);
    let mut kills: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let settle_by = Duration::from_secs(600);
    let mut round = 0;
    loop {
        if signals.uploads_done.load(Ordering::SeqCst) && settled(&cluster).await {
            break;
        }
        if started.elapsed() > settle_by {
            println!("chaos: stopped after {settle_by:?} without settling");
            break;
        }
        let target = TARGETS[round % TARGETS.len()];
        round += 1;
        let aimed = aim(&cluster, target, &signals).await;
        kill_and_replace(&mut cluster, target, &gateway, &mut rng).await;
        let entry = kills.entry(target.to_owned()).or_default();
        entry.0 += 1;
        entry.1 += usize::from(aimed);
        tokio::time::sleep(Duration::from_millis(500 + rng.below(1500))).await;
    }
    waiter.await?;
    let elapsed = started.elapsed().as_secs_f64();
    let accepted = tally.lock().unwrap().accepted.clone();
    let verdict = verify(&cluster, &accepted, since, Duration::from_secs(300)).await;
    println!("run: {elapsed:.0} s");
    for (target, (n, aimed)) in &kills {
        println!("kills {target:<22} {n:>3} ({aimed} at the aimed moment)");
    }
    let tally = std::mem::take(&mut *tally.lock().unwrap());
    println!(
        "upload attempts: {:?} ({} retried after a failure)",
        tally.attempts,
        tally.failed_attempts()
    );
    verdict.print();
    let ok = verdict.ok();
    cluster.shutdown().await;
    Ok(ok)
}

/// True when every job is finished and notified.
async fn settled(cluster: &Cluster) -> bool {
    jobs(cluster)
        .await
        .iter()
        .all(|j| matches!(j.state, JobState::Done | JobState::Failed) && j.notified_at.is_some())
}

/// Waits (up to 10 s) for the moment `target` aims at; false if it did not come.
async fn aim(cluster: &Cluster, target: &str, signals: &Signals) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    match target {
        "gateway-after-200" => {
            tokio::time::timeout(Duration::from_secs(10), signals.accepted.notified())
                .await
                .is_ok()
        }
        "gateway-mid-upload" => {
            while tokio::time::Instant::now() < deadline {
                if signals.in_flight.load(Ordering::SeqCst) > 0 {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            false
        }
        "converter-converting" | "converter-after-done" | "notifier-email-due" => {
            while tokio::time::Instant::now() < deadline {
                let found = jobs(cluster).await.iter().any(|j| match target {
                    "converter-converting" => j.state == JobState::Converting,
                    // Finished but not yet notified: the converter may not have acked, and
                    // the notifier has the email to send.
                    _ => j.state == JobState::Done && j.notified_at.is_none(),
                });
                if found {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            false
        }
        _ => true,
    }
}

/// SIGKILLs the process `target` names, waits a moment, and starts its replacement.
async fn kill_and_replace(
    cluster: &mut Cluster,
    target: &str,
    gateway: &Arc<RwLock<String>>,
    rng: &mut Rng,
) {
    let role = target.split('-').next().unwrap_or(target);
    let converter = rng.below(cluster.converters.len() as u64) as usize;
    match role {
        "gateway" => cluster.gateway.kill(),
        "auth" => cluster.auth.kill(),
        "notifier" => cluster.notifier.kill(),
        _ => {
            if let Some(c) = cluster.converters[converter].as_mut() {
                c.kill();
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(200 + rng.below(1800))).await;
    match role {
        "gateway" => {
            cluster.gateway = cluster.replace(&cluster.gateway).await;
            *gateway.write().unwrap() = cluster.gateway.url.clone();
        }
        "auth" => {
            let new = cluster.replace(&cluster.auth).await;
            if new.url != cluster.auth.url {
                // The gateway forwards logins to auth's URL: it needs the new one.
                cluster.set_auth_url(&new.url);
                cluster.gateway.kill();
                cluster.gateway = cluster.replace(&cluster.gateway).await;
                *gateway.write().unwrap() = cluster.gateway.url.clone();
            }
            cluster.auth = new;
        }
        "notifier" => cluster.notifier = cluster.replace(&cluster.notifier).await,
        _ => {
            let old = cluster.converters[converter].take().expect("converter");
            cluster.converters[converter] = Some(cluster.replace(&old).await);
        }
    }
}

/// A small xorshift generator: random enough for choosing moments, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(salt: u64) -> Rng {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Rng((nanos ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if n == 0 { 0 } else { self.0 % n }
    }
}
