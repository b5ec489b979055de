//! `RetentionConfig`: the `[retention]` config section and its commented reference text.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Smallest accepted `sweep_min_age_secs` (when the sweep is on): the time between an upload's
/// last byte and its job row is milliseconds, but the storage server's clock may differ from
/// ours.
pub const MIN_SWEEP_AGE_SECS: u64 = 300;

/// The `[retention]` section (env: `MP3C_RETENTION__<KEY>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Run the janitor (with the gateway role). Default true.
    pub enabled: bool,
    /// Seconds after a successful conversion before the source video is removed; 0 keeps
    /// sources. Default 86400 (24 h).
    pub source_grace_secs: u64,
    /// Seconds after a job finished before its audio is removed and the job expires; 0 keeps
    /// audio. Default 604800 (7 days).
    pub audio_retention_secs: u64,
    /// Blobs no job references are removed once older than this; 0 turns the sweep off.
    /// Default 86400.
    pub sweep_min_age_secs: u64,
    /// Seconds between two passes. Default 3600.
    pub interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            enabled: true,
            source_grace_secs: 24 * 3600,
            audio_retention_secs: 7 * 24 * 3600,
            sweep_min_age_secs: 24 * 3600,
            interval_secs: 3600,
        }
    }
}

impl RetentionConfig {
    /// Checks the values once at start; the error names the key and the reason.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval_secs == 0 {
            return Err("retention.interval_secs must be greater than 0".into());
        }
        if self.sweep_min_age_secs != 0 && self.sweep_min_age_secs < MIN_SWEEP_AGE_SECS {
            return Err(format!(
                "retention.sweep_min_age_secs must be 0 (no sweep) or at least {MIN_SWEEP_AGE_SECS}"
            ));
        }
        if self.source_grace_secs != 0
            && self.audio_retention_secs != 0
            && self.audio_retention_secs < self.source_grace_secs
        {
            return Err(
                "retention.audio_retention_secs must not be shorter than source_grace_secs".into(),
            );
        }
        Ok(())
    }

    /// `interval_secs` as a duration.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval_secs)
    }
}

/// The `[retention]` section of the reference configuration, every key with its default.
pub const REFERENCE_TOML: &str = r#"[retention]
# Remove old files (runs with the gateway role). Jobs marked "keep"
# (PUT /api/v1/jobs/{id}/keep) are never touched.
enabled = true
# Seconds after a successful conversion before the source video is removed (24 h); 0 keeps them.
source_grace_secs = 86400
# Seconds after a job finished before its audio is removed and the job becomes `expired`
# (7 days; failed jobs lose their video then); 0 keeps audio forever.
audio_retention_secs = 604800
# Blobs under video/ and audio/ that no job references are removed once older than this
# (a safety delay, at least 300); 0 turns the sweep off.
sweep_min_age_secs = 86400
# Seconds between two retention passes.
interval_secs = 3600
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_text_is_the_default() {
        #[derive(Deserialize)]
        struct File {
            retention: RetentionConfig,
        }
        let file: File = toml::from_str(REFERENCE_TOML).unwrap();
        assert_eq!(file.retention, RetentionConfig::default());
        assert_eq!(RetentionConfig::default().validate(), Ok(()));
    }

    #[test]
    fn unsafe_values_are_refused_with_the_key() {
        let bad = |c: RetentionConfig| c.validate().unwrap_err();
        let base = RetentionConfig::default();
        assert!(
            bad(RetentionConfig {
                interval_secs: 0,
                ..base.clone()
            })
            .contains("interval_secs")
        );
        assert!(
            bad(RetentionConfig {
                sweep_min_age_secs: 10,
                ..base.clone()
            })
            .contains("sweep_min_age_secs")
        );
        assert!(
            bad(RetentionConfig {
                audio_retention_secs: 60,
                ..base.clone()
            })
            .contains("audio_retention_secs")
        );
        let off = RetentionConfig {
            sweep_min_age_secs: 0,
            source_grace_secs: 0,
            audio_retention_secs: 60,
            ..base
        };
        assert_eq!(off.validate(), Ok(()));
    }
}
