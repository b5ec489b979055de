//! `ConverterConfig`: the `[converter]` section (workers, progress updates, temp files, engine)
//! and its commented reference text.

use std::path::PathBuf;
use std::time::Duration;

use mp3converter_media::EngineConfig;
use serde::{Deserialize, Serialize};

/// The `[converter]` config section (env: `MP3C_CONVERTER__<KEY>`,
/// `MP3C_CONVERTER__ENGINE__<KEY>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConverterConfig {
    /// Conversions this process runs at once; 0 means one per CPU core.
    pub concurrency: usize,
    /// Least milliseconds between two progress writes (job row and live event) of one job.
    pub progress_interval_ms: u64,
    /// Where each job gets its own temporary directory; `None` for the system temp dir.
    pub temp_dir: Option<PathBuf>,
    /// Jobs whose audio is at least this long (seconds) are split into chunk tasks that every
    /// converter may take; 0 turns splitting off.
    pub split_min_secs: f64,
    /// Length of one chunk task, seconds of audio.
    pub split_chunk_secs: f64,
    /// The conversion engine (`[converter.engine]`).
    pub engine: EngineConfig,
}

impl Default for ConverterConfig {
    fn default() -> Self {
        ConverterConfig {
            concurrency: 0,
            progress_interval_ms: 500,
            temp_dir: None,
            split_min_secs: 600.0,
            split_chunk_secs: 60.0,
            engine: EngineConfig::default(),
        }
    }
}

impl ConverterConfig {
    /// Conversions run at once, resolving 0 to the number of cores.
    pub fn effective_concurrency(&self) -> usize {
        match self.concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// Refuses values that cannot work, naming the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.split_min_secs.is_finite() && self.split_min_secs >= 0.0) {
            return Err("converter.split_min_secs must be 0 (off) or a positive number".into());
        }
        if !(self.split_chunk_secs.is_finite() && (10.0..=3600.0).contains(&self.split_chunk_secs))
        {
            return Err("converter.split_chunk_secs must be between 10 and 3600 seconds".into());
        }
        Ok(())
    }

    /// True when a job of `duration_secs` is split into chunk tasks.
    pub fn splits(&self, duration_secs: f64) -> bool {
        self.split_min_secs > 0.0 && duration_secs >= self.split_min_secs
    }

    /// `progress_interval_ms` as a duration.
    pub fn progress_interval(&self) -> Duration {
        Duration::from_millis(self.progress_interval_ms)
    }

    /// The directory job directories are created in.
    pub fn temp_root(&self) -> PathBuf {
        self.temp_dir.clone().unwrap_or_else(std::env::temp_dir)
    }
}

/// The `[converter]` and `[converter.engine]` sections of the reference configuration, every
/// key with its default.
pub const REFERENCE_TOML: &str = r#"[converter]
# Conversions this process runs at once; 0 means one per CPU core.
concurrency = 0
# Least milliseconds between two progress updates of a job (its row and the live event).
progress_interval_ms = 500
# Where each job gets its own temporary directory (removed afterwards). Default: the system's.
# temp_dir = "/var/tmp/mp3converter"
# Jobs whose audio is at least this long (seconds) are split into chunk tasks that any converter
# may take, so one long job uses every converter and a crash loses only the chunks in progress.
# 0 turns splitting off.
split_min_secs = 600.0
# Length of one chunk task, seconds of audio (10–3600).
split_chunk_secs = 60.0

[converter.engine]
# Conversion path: auto (native, ffmpeg only for what native cannot do), native or ffmpeg.
engine = "auto"
# Encoder threads per conversion (chunk-parallel encoding); 0 means one per core.
threads = 1
# Inputs shorter than this (seconds) are encoded in one pass even with threads > 1.
parallel_min_secs = 90.0
# Length of one parallel chunk, seconds.
chunk_secs = 30.0
# Inputs longer than this (seconds; 6 hours), declared or as decoded, fail with `too-long`.
max_duration_secs = 21600.0
# Inputs declaring more audio channels fail with `too-many-channels`.
max_channels = 16
# The ffmpeg binary for the fallback path: a name looked up in PATH, or a path.
ffmpeg_path = "ffmpeg"
# The ffprobe binary, to probe inputs the native demuxers cannot open.
ffprobe_path = "ffprobe"
# Time budget of one ffmpeg run: this many seconds + the media duration × the next key.
ffmpeg_timeout_base = 60.0
# Seconds of ffmpeg time budget per second of media.
ffmpeg_timeout_per_media_sec = 1.0
# Address-space limit of the ffmpeg process, bytes (2 GiB).
ffmpeg_max_memory_bytes = 2147483648
# Largest file the ffmpeg process may write, bytes (2 GiB).
ffmpeg_max_output_bytes = 2147483648
# Where the engine puts its temporary files. Default: the job's temporary directory.
# temp_dir = "/var/tmp/mp3converter"
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        converter: ConverterConfig,
    }

    #[test]
    fn reference_text_parses_to_the_defaults() {
        let file: File = toml::from_str(REFERENCE_TOML).unwrap();
        assert_eq!(file.converter, ConverterConfig::default());
    }

    #[test]
    fn reference_text_lists_every_engine_key() {
        let engine = REFERENCE_TOML.split_once("[converter.engine]").unwrap().1;
        let keys = serde_json::to_value(EngineConfig::default()).unwrap();
        for key in keys.as_object().unwrap().keys() {
            let listed = engine.lines().any(|l| {
                l.trim_start_matches(['#', ' '])
                    .starts_with(&format!("{key} ="))
            });
            assert!(listed, "[converter.engine] {key} is not in REFERENCE_TOML");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<File>("[converter]\nconcurency = 2\n").unwrap_err();
        assert!(err.to_string().contains("concurency"), "{err}");
    }

    #[test]
    fn split_settings_are_checked_and_zero_turns_splitting_off() {
        let config = ConverterConfig::default();
        assert!(config.validate().is_ok());
        assert!(config.splits(600.0) && !config.splits(599.9));
        let off = ConverterConfig {
            split_min_secs: 0.0,
            ..ConverterConfig::default()
        };
        assert!(!off.splits(36_000.0));
        let tiny = ConverterConfig {
            split_chunk_secs: 1.0,
            ..ConverterConfig::default()
        };
        assert!(tiny.validate().unwrap_err().contains("split_chunk_secs"));
        let negative = ConverterConfig {
            split_min_secs: -1.0,
            ..ConverterConfig::default()
        };
        assert!(negative.validate().unwrap_err().contains("split_min_secs"));
    }

    #[test]
    fn zero_concurrency_means_one_per_core() {
        assert!(ConverterConfig::default().effective_concurrency() >= 1);
        let two = ConverterConfig {
            concurrency: 2,
            ..ConverterConfig::default()
        };
        assert_eq!(two.effective_concurrency(), 2);
    }
}
