//! The download of one import, run as a task owned by the gateway: follow redirects (each hop
//! checked by the address policy), refuse what is not found, too large or not media, stream
//! the body into storage with progress, then queue the job with its `video` message in one
//! transaction — or fail it with a reason a person understands and delete the partial video.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::{StatusCode, header};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt, stream};
use mp3converter_core::{FailureReason, Job, JobEvent, JobState};
use mp3converter_db::{DbError, Transition};
use mp3converter_sniff::SNIFF_LEN;
use mp3converter_storage::StorageError;
use url::Url;

use super::file_name;
use crate::GatewayState;
use crate::egress::ssrf::UrlRefusal;
use crate::error::human_size;
use crate::upload::{StoredBlob, refuse_non_media};

/// How often progress is recorded and published while the body streams.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Why an import failed.
#[derive(Debug)]
enum Failure {
    /// 404 or 410 at the origin.
    NotFound(StatusCode),
    /// Another non-success status.
    Status(StatusCode),
    /// The body is not media (the sniffer's words).
    NotMedia(String),
    /// An empty body.
    Empty,
    /// Over `max_upload_bytes` (by `Content-Length` or counted).
    TooLarge(u64),
    /// The total timeout passed.
    Timeout(Duration),
    /// The connection (or the DNS answer) failed to come in time.
    ConnectTimeout(String),
    /// More redirects than allowed.
    TooManyRedirects(u8),
    /// A hop's URL or address was refused by the policy.
    Refused(UrlRefusal),
    /// Connecting or reading failed.
    Network(String),
    /// Storage failed (logged).
    Storage,
    /// The gateway is shutting down.
    Interrupted,
    /// The job is gone (deleted, or failed by someone else): stop quietly.
    Gone,
}

impl Failure {
    fn reason(&self) -> Option<FailureReason> {
        let (code, message) = match self {
            Failure::NotFound(status) => (
                "import-not-found",
                format!("there is no file at the URL: the server answered {status}"),
            ),
            Failure::Status(status) => (
                "import-failed",
                format!("the server of the URL answered {status}"),
            ),
            Failure::NotMedia(why) => (
                "import-not-media",
                format!("the URL does not lead to a video or audio file: {why}"),
            ),
            Failure::Empty => ("import-not-media", "the file at the URL is empty".into()),
            Failure::TooLarge(limit) => (
                "import-too-large",
                format!(
                    "the file is larger than the limit of {} ({limit} bytes)",
                    human_size(*limit)
                ),
            ),
            Failure::Timeout(limit) => (
                "import-timeout",
                format!(
                    "the download took longer than the limit of {} seconds",
                    limit.as_secs()
                ),
            ),
            Failure::ConnectTimeout(host) => (
                "import-timeout",
                format!("the server {host} did not answer in time"),
            ),
            Failure::TooManyRedirects(max) => (
                "import-too-many-redirects",
                format!("the URL redirects more than {max} times"),
            ),
            Failure::Refused(refusal) => (refusal.code(), refusal.to_string()),
            Failure::Network(why) => ("import-failed", why.clone()),
            Failure::Storage => (
                "import-failed",
                "the downloaded file could not be stored; try again later".into(),
            ),
            Failure::Interrupted => (
                "import-interrupted",
                "the server restarted during the download; import the URL again".into(),
            ),
            Failure::Gone => return None,
        };
        Some(FailureReason {
            code: code.to_owned(),
            message,
        })
    }

    /// A failed request to `url`, in words (a refusal by the resolver keeps its own).
    fn of_request(e: &reqwest::Error, url: &Url) -> Failure {
        if let Some(refusal) = UrlRefusal::find_in(e) {
            return Failure::Refused(refusal.clone());
        }
        let host = url.host_str().unwrap_or_default().to_owned();
        if e.is_timeout() {
            Failure::ConnectTimeout(host)
        } else if e.is_connect() {
            Failure::Network(format!("could not connect to {host}"))
        } else {
            Failure::Network(format!("the request to {host} failed"))
        }
    }
}

/// What was stored.
struct Fetched {
    name: Option<String>,
    size: u64,
    sha256: String,
}

/// Runs the import of `job` from `url` to its end (queued, failed, or gone).
pub(super) async fn run(state: GatewayState, mut job: Job, url: Url) {
    let timeout = state.import.timeout();
    let mut blob = StoredBlob::new(state.storage.clone(), job.video_key.clone());
    let result = tokio::select! {
        r = tokio::time::timeout(timeout, download(&state, &job, url, &mut blob)) => {
            r.unwrap_or(Err(Failure::Timeout(timeout)))
        }
        () = state.shutdown.cancelled() => Err(Failure::Interrupted),
    };
    let fetched = match result {
        Ok(fetched) => fetched,
        Err(failure) => {
            blob.delete().await;
            fail(&state, &job, &failure).await;
            return;
        }
    };
    if let Some(name) = fetched.name {
        job.original_name = name;
    }
    job.video_size = fetched.size;
    job.video_sha256 = fetched.sha256;
    match state
        .db
        .finish_download_and_enqueue_video(&job, &state.video_queue)
        .await
    {
        Ok(Transition::Applied) => {
            blob.keep();
            job.state = JobState::Queued;
            job.progress = 0.0;
            state.events.publish(JobEvent::of(&job));
            metrics::counter!("jobs_created_total").increment(1);
            metrics::counter!("import_bytes_total").increment(job.video_size);
            tracing::info!(job_id = %job.id, size = job.video_size, "import downloaded");
        }
        Ok(_) | Err(DbError::NotFound) => {
            // Deleted or failed meanwhile: the video is nobody's.
            blob.delete().await;
        }
        Err(error) => {
            tracing::error!(job_id = %job.id, %error, "could not queue an imported video");
            blob.delete().await;
            fail(&state, &job, &Failure::Storage).await;
        }
    }
}

/// Marks the job failed (if it is still downloading) and tells the live views.
async fn fail(state: &GatewayState, job: &Job, failure: &Failure) {
    let Some(reason) = failure.reason() else {
        return;
    };
    metrics::counter!("imports_failed_total", "code" => reason.code.clone()).increment(1);
    tracing::info!(job_id = %job.id, code = %reason.code, reason = %reason.message,
        "import failed");
    match state.db.fail_download(&job.id, &reason).await {
        Ok(true) => {
            let mut failed = job.clone();
            failed.state = JobState::Failed;
            failed.error_code = Some(reason.code);
            failed.error_message = Some(reason.message);
            state.events.publish(JobEvent::of(&failed));
        }
        Ok(false) => {}
        Err(error) => {
            // The reaper fails it once it is stale.
            tracing::error!(job_id = %job.id, %error, "could not mark a failed import");
        }
    }
}

/// Follows redirects to the file, checks it and streams it into `blob`.
async fn download(
    state: &GatewayState,
    job: &Job,
    mut url: Url,
    blob: &mut StoredBlob,
) -> Result<Fetched, Failure> {
    let importer = &state.import;
    let max_redirects = importer.config().max_redirects;
    // The owner's upload limit (a DB failure here fails the import's next steps anyway).
    let limit = crate::quota::limits_of(state, &job.owner_id)
        .await
        .map_or(state.config.max_upload_bytes, |l| l.max_upload_bytes);
    let mut redirects = 0;
    let response = loop {
        importer
            .policy()
            .check_url(&url)
            .map_err(Failure::Refused)?;
        let response = importer
            .client()
            .get(url.clone())
            .send()
            .await
            .map_err(|e| Failure::of_request(&e, &url))?;
        let location = response
            .headers()
            .get(header::LOCATION)
            .filter(|_| is_redirect(response.status()));
        let Some(location) = location else {
            break response;
        };
        redirects += 1;
        if redirects > max_redirects {
            return Err(Failure::TooManyRedirects(max_redirects));
        }
        url = location
            .to_str()
            .ok()
            .and_then(|l| url.join(l).ok())
            .ok_or_else(|| Failure::Network("the server sent an unreadable redirect".into()))?;
    };

    let status = response.status();
    if matches!(status, StatusCode::NOT_FOUND | StatusCode::GONE) {
        return Err(Failure::NotFound(status));
    }
    if !status.is_success() {
        return Err(Failure::Status(status));
    }
    let total = response.content_length();
    if total.is_some_and(|len| len > limit) {
        return Err(Failure::TooLarge(limit));
    }
    let name = file_name(&url);
    let mut body = response.bytes_stream();

    // The first bytes, held alone in memory, decide whether this is media at all.
    let mut head: Vec<Bytes> = Vec::new();
    let mut head_len = 0;
    while head_len < SNIFF_LEN {
        match body.next().await {
            Some(Ok(chunk)) => {
                head_len += chunk.len();
                head.push(chunk);
            }
            Some(Err(e)) => return Err(Failure::of_request(&e, &url)),
            None => break,
        }
    }
    if head_len == 0 {
        return Err(Failure::Empty);
    }
    let mut start = Vec::with_capacity(head_len.min(SNIFF_LEN));
    for chunk in &head {
        let room = SNIFF_LEN - start.len();
        start.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    refuse_non_media(&start).map_err(|refused| Failure::NotMedia(refused.message))?;
    drop(start);

    let received = Arc::new(AtomicU64::new(0));
    let counter = received.clone();
    let counted = stream::iter(head.into_iter().map(Ok))
        .chain(body.map_err(io::Error::other))
        .inspect_ok(move |chunk| {
            counter.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        })
        .boxed();
    let put = state.storage.put_stream(&blob.key, counted, Some(limit));
    tokio::pin!(put);
    let mut ticker = tokio::time::interval(PROGRESS_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let put = loop {
        tokio::select! {
            put = &mut put => break put,
            _ = ticker.tick() => {
                report(state, job, received.load(Ordering::Relaxed), total).await?;
            }
        }
    };
    let put = put.map_err(|e| match e {
        StorageError::TooLarge { limit } => Failure::TooLarge(limit),
        StorageError::Body(_) => Failure::Network(format!(
            "the download from {} broke off",
            url.host_str().unwrap_or_default()
        )),
        error => {
            tracing::error!(job_id = %job.id, %error, "could not store an imported video");
            Failure::Storage
        }
    })?;
    blob.stored = true;
    Ok(Fetched {
        name,
        size: put.size,
        sha256: put.sha256_hex,
    })
}

fn is_redirect(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    )
}

/// Records and publishes the share downloaded; [`Failure::Gone`] when the job is no longer
/// downloading (deleted by its owner): the download stops.
async fn report(
    state: &GatewayState,
    job: &Job,
    received: u64,
    total: Option<u64>,
) -> Result<(), Failure> {
    #[allow(clippy::cast_precision_loss)] // a share for display
    let progress = match total {
        Some(total) if total > 0 => received as f64 / total as f64,
        _ => 0.0,
    };
    match state.db.update_download_progress(&job.id, progress).await {
        Ok(true) => {
            let mut event = JobEvent::of(job);
            event.progress = progress.clamp(0.0, 1.0);
            state.events.publish(event);
            Ok(())
        }
        Ok(false) => Err(Failure::Gone),
        Err(error) => {
            tracing::warn!(job_id = %job.id, %error, "could not record import progress");
            Ok(())
        }
    }
}
