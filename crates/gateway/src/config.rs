//! `GatewayConfig`: the `[gateway]` config section (upload limit, timeouts, list sizes), and
//! `QuotaConfig`: the `[quotas]` section (every user's limits unless an admin set others).

use serde::Deserialize;

/// The `[gateway]` section. Key names are fixed (env: `MP3C_GATEWAY__<KEY>`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Largest accepted upload in bytes; bigger ones are refused with 413. Default 2 GiB.
    pub max_upload_bytes: u64,
    /// Seconds a request may take before it is answered 503. Not applied to uploads, downloads
    /// and event streams, which last as long as the transfer. Also the time a client has to send
    /// a request's headers before its connection is closed. Default 30.
    pub request_timeout_secs: u64,
    /// Seconds between keep-alive comments on event streams (SSE). Default 15.
    pub sse_keepalive_secs: u64,
    /// Most jobs one `GET /api/v1/jobs` returns (newest first). Default 100.
    pub max_jobs_listed: u32,
    /// Seconds an unfinished resumable upload may rest between two PATCHes before it expires
    /// and its bytes are removed (`Upload-Expires`). Default 86400 (a day).
    pub upload_expiry_secs: u64,
    /// Most unfinished resumable uploads one user may have at once. Default 5.
    pub max_open_uploads: u32,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_upload_bytes: 2 * 1024 * 1024 * 1024,
            request_timeout_secs: 30,
            sse_keepalive_secs: 15,
            max_jobs_listed: 100,
            upload_expiry_secs: 24 * 60 * 60,
            max_open_uploads: 5,
        }
    }
}

impl GatewayConfig {
    /// Checks the values once at start; the error names the key and the reason.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("gateway.max_upload_bytes", self.max_upload_bytes),
            ("gateway.request_timeout_secs", self.request_timeout_secs),
            ("gateway.sse_keepalive_secs", self.sse_keepalive_secs),
            ("gateway.max_jobs_listed", u64::from(self.max_jobs_listed)),
            ("gateway.upload_expiry_secs", self.upload_expiry_secs),
            ("gateway.max_open_uploads", u64::from(self.max_open_uploads)),
        ];
        match positive.iter().find(|(_, v)| *v == 0) {
            Some((key, _)) => Err(format!("{key} must be greater than 0")),
            None => Ok(()),
        }
    }
}

/// The `[gateway]` section of the reference configuration: every key with its default.
pub const REFERENCE_TOML: &str = r#"[gateway]
# Largest accepted upload in bytes (2 GiB); a bigger upload is refused with 413.
max_upload_bytes = 2147483648
# Seconds before a request is answered 503 (not applied to uploads, downloads and event streams);
# also how long a client may take to send a request's headers before its connection is closed.
request_timeout_secs = 30
# Seconds between keep-alive comments on live event streams (SSE), so proxies keep them open.
sse_keepalive_secs = 15
# Most jobs returned by one GET /api/v1/jobs, newest first.
max_jobs_listed = 100
# Seconds an unfinished resumable (tus) upload may rest between two requests before it expires
# and its stored bytes are removed (announced as Upload-Expires).
upload_expiry_secs = 86400
# Most unfinished resumable uploads one user may have at once (429 beyond).
max_open_uploads = 5
"#;

/// The `[quotas]` section: every user's limits unless an admin set others. 0 means no limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QuotaConfig {
    /// Bytes of videos and audio one user may keep stored. Default 0 (no limit).
    pub storage_bytes: u64,
    /// Jobs one user may create per UTC day (deleted jobs count). Default 0 (no limit).
    pub jobs_per_day: u64,
    /// Jobs one user may have queued, downloading or converting at once. Default 0 (no limit).
    pub concurrent_jobs: u64,
    /// Largest single upload of one user in bytes, below `gateway.max_upload_bytes`. Default 0
    /// (`gateway.max_upload_bytes` alone applies).
    pub max_upload_bytes: u64,
}

/// The `[quotas]` section of the reference configuration.
pub const QUOTAS_REFERENCE_TOML: &str = r#"[quotas]
# Every user's limits unless an admin set others for that user (PUT /api/v1/users/{id}/quotas).
# 0 means no limit.
# Bytes of videos and audio one user may keep stored (413 quota-storage beyond).
storage_bytes = 0
# Jobs one user may create per UTC day, deleted ones included (429 quota-jobs-per-day beyond).
jobs_per_day = 0
# Jobs one user may have queued, downloading or converting at once (429 quota-concurrent-jobs).
concurrent_jobs = 0
# Largest single upload of one user in bytes; gateway.max_upload_bytes applies to everyone
# (413 quota-upload-size beyond).
max_upload_bytes = 0
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_values_are_refused_with_the_key() {
        assert_eq!(GatewayConfig::default().validate(), Ok(()));
        let bad = GatewayConfig {
            sse_keepalive_secs: 0,
            ..Default::default()
        };
        assert!(bad.validate().unwrap_err().contains("sse_keepalive_secs"));
    }
}
