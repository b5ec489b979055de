//! Per-user quotas: the `[quotas]` config section (the defaults), an admin's overrides of them
//! (stored in the database), what a user uses, and the checks every way in runs before it
//! accepts a job: at the door (before a byte of the upload is read) and again when the job is
//! created.
//!
//! Refusals: 429 `quota-jobs-per-day` (with `Retry-After`: the next UTC midnight), 429
//! `quota-concurrent-jobs`, 413 `quota-storage`, 413 `quota-upload-size`; each message says the
//! limit in words.

use axum::http::{HeaderValue, StatusCode, header};
use mp3converter_core::{UserId, now_millis};
use mp3converter_db::{QuotaOverrides, QuotaUsage, utc_day};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::GatewayState;
use crate::error::{ApiError, human_size};

/// Seconds a client refused for too many jobs in progress is told to wait.
const BUSY_RETRY_SECS: u64 = 30;

/// One user's limits in force: `None` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Limits {
    /// Bytes of videos and audio the user may keep stored.
    pub storage_bytes: Option<u64>,
    /// Jobs the user may create per UTC day.
    pub jobs_per_day: Option<u64>,
    /// Jobs the user may have in progress at once.
    pub concurrent_jobs: Option<u64>,
    /// Largest single upload in bytes (never above the server's limit).
    pub max_upload_bytes: u64,
}

/// What a user uses, as the API shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    /// Bytes stored: videos not yet removed and audio (shared audio counted once).
    pub storage_bytes: u64,
    /// Jobs created since 00:00 UTC today.
    pub jobs_today: u64,
    /// Jobs queued, downloading or converting.
    pub concurrent_jobs: u64,
}

impl From<QuotaUsage> for Usage {
    fn from(u: QuotaUsage) -> Self {
        Usage {
            storage_bytes: u.storage_bytes,
            jobs_today: u.jobs_today,
            concurrent_jobs: u.concurrent_jobs,
        }
    }
}

/// An admin's overrides as the API reads and writes them: a missing or null field uses the
/// server's default, 0 is no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaOverridesView {
    /// Bytes of videos and audio the user may keep stored.
    #[serde(default)]
    pub storage_bytes: Option<u64>,
    /// Jobs the user may create per UTC day.
    #[serde(default)]
    pub jobs_per_day: Option<u64>,
    /// Jobs the user may have in progress at once.
    #[serde(default)]
    pub concurrent_jobs: Option<u64>,
    /// Largest single upload in bytes.
    #[serde(default)]
    pub max_upload_bytes: Option<u64>,
}

impl From<QuotaOverrides> for QuotaOverridesView {
    fn from(o: QuotaOverrides) -> Self {
        QuotaOverridesView {
            storage_bytes: o.storage_bytes,
            jobs_per_day: o.jobs_per_day,
            concurrent_jobs: o.concurrent_jobs,
            max_upload_bytes: o.max_upload_bytes,
        }
    }
}

impl From<QuotaOverridesView> for QuotaOverrides {
    fn from(o: QuotaOverridesView) -> Self {
        QuotaOverrides {
            storage_bytes: o.storage_bytes,
            jobs_per_day: o.jobs_per_day,
            concurrent_jobs: o.concurrent_jobs,
            max_upload_bytes: o.max_upload_bytes,
        }
    }
}

fn limit(value: u64) -> Option<u64> {
    (value > 0).then_some(value)
}

/// The limits in force for `user`: the admin's overrides over the `[quotas]` defaults.
pub(crate) async fn limits_of(state: &GatewayState, user: &UserId) -> Result<Limits, ApiError> {
    let o = state.db.quota_overrides(user).await?;
    let d = state.quotas;
    let server_max = state.config.max_upload_bytes;
    let max_upload = limit(o.max_upload_bytes.unwrap_or(d.max_upload_bytes));
    Ok(Limits {
        storage_bytes: limit(o.storage_bytes.unwrap_or(d.storage_bytes)),
        jobs_per_day: limit(o.jobs_per_day.unwrap_or(d.jobs_per_day)),
        concurrent_jobs: limit(o.concurrent_jobs.unwrap_or(d.concurrent_jobs)),
        max_upload_bytes: max_upload.map_or(server_max, |m| m.min(server_max)),
    })
}

/// `user`'s limits and usage.
pub(crate) async fn quota_of(
    state: &GatewayState,
    user: &UserId,
) -> Result<(Limits, Usage), ApiError> {
    let limits = limits_of(state, user).await?;
    let usage = state.db.quota_usage(user, now_millis()).await?;
    Ok((limits, usage.into()))
}

/// Whether `user` may create one more job: the day's jobs, then — for a job that will be
/// converted and stores `converts` bytes (`Some(0)` when not known yet) — the jobs in progress
/// and the storage. `None` is a job done at once from earlier audio (it stores nothing new and
/// converts nothing). Returns the limits in force, whose `max_upload_bytes` the caller applies
/// to the bytes it receives.
pub(crate) async fn admit_job(
    state: &GatewayState,
    user: &UserId,
    converts: Option<u64>,
) -> Result<Limits, ApiError> {
    let (limits, usage) = quota_of(state, user).await?;
    let bytes = converts.unwrap_or(0);
    if bytes > limits.max_upload_bytes {
        return Err(too_large_for(state, limits.max_upload_bytes));
    }
    if let Some(max) = limits.jobs_per_day
        && usage.jobs_today >= max
    {
        let now = now_millis();
        let next_day_ms = (utc_day(now) + 1) * 24 * 60 * 60 * 1000;
        let wait = u64::try_from((next_day_ms - now + 999) / 1000).unwrap_or(1);
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "quota-jobs-per-day",
            format!(
                "you have created {} jobs today, the most your account may create in one day \
                 ({max}); more can be created after 00:00 UTC",
                usage.jobs_today
            ),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(wait)));
    }
    if converts.is_none() {
        return Ok(limits);
    }
    if let Some(max) = limits.concurrent_jobs
        && usage.concurrent_jobs >= max
    {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "quota-concurrent-jobs",
            format!(
                "you have {} jobs in progress, the most your account may have at once ({max}); \
                 wait for one to finish",
                usage.concurrent_jobs
            ),
        )
        .with_header(header::RETRY_AFTER, HeaderValue::from(BUSY_RETRY_SECS)));
    }
    if let Some(max) = limits.storage_bytes
        && usage.storage_bytes.saturating_add(bytes) > max
    {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "quota-storage",
            format!(
                "your files use {} of your storage quota of {}{}; delete jobs you no longer \
                 need, or ask an admin for more",
                human_size(usage.storage_bytes),
                human_size(max),
                if bytes > 0 {
                    format!(", and this upload ({}) does not fit", human_size(bytes))
                } else {
                    String::new()
                }
            ),
        ));
    }
    Ok(limits)
}

/// 413 for an upload over `max` bytes: `too-large` when that is the server's limit,
/// `quota-upload-size` when it is this user's.
pub(crate) fn too_large_for(state: &GatewayState, max: u64) -> ApiError {
    if max >= state.config.max_upload_bytes {
        return crate::error::too_large(max);
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "quota-upload-size",
        format!(
            "the file is larger than your account's upload limit of {} ({max} bytes)",
            human_size(max)
        ),
    )
}
