//! The end-of-run checks: every accepted job finished, exactly one email per job, and no blob
//! in storage without a job.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime};

use futures_util::StreamExt;
use mp3converter_core::{Job, JobState};
use mp3converter_storage::{StorageBackend, StorageConfig};
use mp3converter_testkit::cluster::Cluster;

/// What the checks found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Jobs answered 200.
    pub accepted: usize,
    /// Accepted jobs that are not `done` (missing, failed or unfinished).
    pub lost: Vec<String>,
    /// Jobs in the database the client never saw accepted (a gateway killed after the commit,
    /// before its answer): converted and emailed like any other, and not an error.
    pub unacknowledged: usize,
    /// Jobs with more than one email.
    pub duplicate_emails: Vec<String>,
    /// Finished jobs with no email.
    pub missing_emails: Vec<String>,
    /// Emails in total.
    pub emails: usize,
    /// Blobs written during the run whose job is not in the database.
    pub orphans: Vec<String>,
    /// Blobs written during the run.
    pub blobs: usize,
}

impl Verdict {
    /// True when nothing was lost or sent twice.
    pub fn ok(&self) -> bool {
        self.lost.is_empty() && self.duplicate_emails.is_empty() && self.missing_emails.is_empty()
    }

    /// Prints the figures.
    pub fn print(&self) {
        println!("accepted jobs:            {}", self.accepted);
        println!(
            "lost (accepted, not done): {} {:?}",
            self.lost.len(),
            self.lost
        );
        println!("jobs without a 200:       {}", self.unacknowledged);
        println!("emails:                   {}", self.emails);
        println!(
            "duplicate emails:         {} {:?}",
            self.duplicate_emails.len(),
            self.duplicate_emails
        );
        println!(
            "jobs without an email:    {} {:?}",
            self.missing_emails.len(),
            self.missing_emails
        );
        println!("blobs written:            {}", self.blobs);
        println!(
            "orphan blobs (no job):    {} {:?}",
            self.orphans.len(),
            self.orphans
        );
    }
}

/// Every job of the cluster's database.
pub async fn jobs(cluster: &Cluster) -> Vec<Job> {
    let db = &cluster.scratch.as_ref().expect("scratch database").db;
    db.list_jobs(1_000_000).await.unwrap_or_default()
}

/// The `X-Job-Id` header of each captured email.
pub fn emailed_job_ids(cluster: &Cluster) -> Vec<String> {
    cluster
        .smtp
        .messages()
        .iter()
        .filter_map(|m| {
            let text = String::from_utf8_lossy(&m.data);
            text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("x-job-id")
                    .then(|| value.trim().to_owned())
            })
        })
        .collect()
}

/// Waits up to `within` until every job in the database is finished and emailed, then checks.
/// `since` bounds the blobs looked at (those written by this run).
pub async fn verify(
    cluster: &Cluster,
    accepted: &[String],
    since: SystemTime,
    within: Duration,
) -> Verdict {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let all = jobs(cluster).await;
        let settled = all.iter().all(|j| {
            matches!(j.state, JobState::Done | JobState::Failed) && j.notified_at.is_some()
        });
        let emails = emailed_job_ids(cluster).len();
        if (settled && emails >= all.len() && all.len() >= accepted.len())
            || tokio::time::Instant::now() > deadline
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Stragglers: a duplicate would come within a moment.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let all = jobs(cluster).await;
    let by_id: BTreeMap<String, &Job> = all.iter().map(|j| (j.id.to_string(), j)).collect();
    let accepted_set: HashSet<&String> = accepted.iter().collect();
    let mut per_job: BTreeMap<String, usize> = BTreeMap::new();
    let emailed = emailed_job_ids(cluster);
    for id in &emailed {
        *per_job.entry(id.clone()).or_default() += 1;
    }
    let (orphans, blobs) = orphan_blobs(cluster, &by_id, since).await;
    Verdict {
        accepted: accepted.len(),
        lost: accepted
            .iter()
            .filter(|id| by_id.get(*id).is_none_or(|j| j.state != JobState::Done))
            .cloned()
            .collect(),
        unacknowledged: all
            .iter()
            .filter(|j| !accepted_set.contains(&j.id.to_string()))
            .count(),
        duplicate_emails: per_job
            .iter()
            .filter(|(_, n)| **n > 1)
            .map(|(id, n)| format!("{id} x{n}"))
            .collect(),
        missing_emails: all
            .iter()
            .map(|j| j.id.to_string())
            .filter(|id| !per_job.contains_key(id))
            .collect(),
        emails: emailed.len(),
        orphans,
        blobs,
    }
}

/// Blobs under `video/` and `audio/` written since `since` whose job id is not in `jobs`.
/// Counts blobs of other runs writing to the same bucket meanwhile too: give the soak its
/// own bucket (see `docs/reliability.md`).
async fn orphan_blobs(
    cluster: &Cluster,
    jobs: &BTreeMap<String, &Job>,
    since: SystemTime,
) -> (Vec<String>, usize) {
    let env: BTreeMap<&str, &str> = cluster
        .env()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let config = StorageConfig {
        backend: StorageBackend::S3,
        endpoint: env.get("MP3C_STORAGE__ENDPOINT").map(|s| s.to_string()),
        bucket: env.get("MP3C_STORAGE__BUCKET").map(|s| s.to_string()),
        access_key_id: env
            .get("MP3C_STORAGE__ACCESS_KEY_ID")
            .map(|s| s.to_string()),
        secret_access_key: env
            .get("MP3C_STORAGE__SECRET_ACCESS_KEY")
            .map(|s| s.to_string().into()),
        ..StorageConfig::default()
    };
    let store = mp3converter_storage::build(&config).expect("storage");
    let (mut orphans, mut blobs) = (Vec::new(), 0);
    for prefix in ["video", "audio"] {
        let mut listing = store.list(prefix);
        while let Some(entry) = listing.next().await {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) => {
                    eprintln!("listing {prefix}: {e}");
                    break;
                }
            };
            if entry.meta.last_modified < since {
                continue;
            }
            blobs += 1;
            let id = entry.key[prefix.len() + 1..].trim_end_matches(".mp3");
            if !jobs.contains_key(id) {
                orphans.push(entry.key.clone());
            }
        }
    }
    (orphans, blobs)
}
