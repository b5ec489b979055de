//! How the engine runs: which path, how many threads, limits, the ffmpeg sandbox.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which decoding path to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineChoice {
    /// Native when it handles the input correctly, ffmpeg otherwise.
    #[default]
    Auto,
    /// Native only; inputs that need ffmpeg fail with `UnsupportedInput`.
    Native,
    /// Always ffmpeg.
    Ffmpeg,
}

impl std::str::FromStr for EngineChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(EngineChoice::Auto),
            "native" => Ok(EngineChoice::Native),
            "ffmpeg" => Ok(EngineChoice::Ffmpeg),
            other => Err(format!(
                "unknown engine `{other}` (expected auto, native or ffmpeg)"
            )),
        }
    }
}

/// Engine settings. `Default` suits a service worker: one encoder thread per job (the worker
/// pool provides the parallelism), limits on, ffmpeg from `PATH`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Which path to use.
    pub engine: EngineChoice,
    /// Encoder threads for chunk-parallel encoding; 0 means one per core.
    pub threads: usize,
    /// Inputs shorter than this (seconds) are encoded in one pass even with threads > 1.
    pub parallel_min_secs: f64,
    /// Length of one parallel chunk, in seconds (rounded to whole MP3 frames).
    pub chunk_secs: f64,
    /// Refuse inputs longer than this (seconds), whether the header says so or the decoded
    /// audio passes it (ffmpeg: `-t` just past it); `None` for no limit.
    pub max_duration_secs: Option<f64>,
    /// Refuse inputs that declare more channels.
    pub max_channels: u32,
    /// The ffmpeg binary (a name looked up in `PATH`, or a path).
    pub ffmpeg_path: PathBuf,
    /// The ffprobe binary, used to probe inputs the native demuxers cannot open.
    pub ffprobe_path: PathBuf,
    /// Time budget for one ffmpeg run: `timeout_base + duration × timeout_per_media_sec`.
    #[serde(with = "secs")]
    pub ffmpeg_timeout_base: Duration,
    /// See `ffmpeg_timeout_base`.
    pub ffmpeg_timeout_per_media_sec: f64,
    /// Address-space limit for the ffmpeg child, bytes.
    pub ffmpeg_max_memory_bytes: u64,
    /// Largest file the ffmpeg child may write, bytes.
    pub ffmpeg_max_output_bytes: u64,
    /// Where temporary files go; `None` for the system temp dir.
    pub temp_dir: Option<PathBuf>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            engine: EngineChoice::Auto,
            threads: 1,
            parallel_min_secs: 90.0,
            chunk_secs: 30.0,
            max_duration_secs: Some(6.0 * 3600.0),
            max_channels: 16,
            ffmpeg_path: PathBuf::from("ffmpeg"),
            ffprobe_path: PathBuf::from("ffprobe"),
            ffmpeg_timeout_base: Duration::from_secs(60),
            ffmpeg_timeout_per_media_sec: 1.0,
            ffmpeg_max_memory_bytes: 2 << 30,
            ffmpeg_max_output_bytes: 2 << 30,
            temp_dir: None,
        }
    }
}

impl EngineConfig {
    /// The number of encoder threads to use, resolving 0 to the number of cores.
    pub fn effective_threads(&self) -> usize {
        match self.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The time budget for an ffmpeg run over `duration_secs` of media (unknown: one hour).
    pub fn ffmpeg_timeout(&self, duration_secs: Option<f64>) -> Duration {
        let media = duration_secs.unwrap_or(3600.0).max(0.0);
        self.ffmpeg_timeout_base
            + Duration::from_secs_f64(media * self.ffmpeg_timeout_per_media_sec)
    }
}

mod secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}
