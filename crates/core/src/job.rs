//! A conversion job, its life cycle (`JobState` and the allowed transitions) and user roles.
//!
//! The database row of a job is the source of truth (queue messages and events are only hints
//! that may repeat; see docs/architecture.md, "Roles and data flow"); these types are that row
//! in Rust.
//! Timestamps are unix milliseconds (`i64`), the form every database engine stores as `BIGINT`.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::{ConvertOptions, JobId, UserId};

/// The current time as unix milliseconds, the timestamp form used throughout.
pub fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Blob key of the cover image a job was uploaded with (`options.cover`): beside its video,
/// so it lives and is swept with it.
pub fn cover_key(video_key: &str) -> String {
    format!("{video_key}.cover")
}

/// A text value that is not one of an enum's stored names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownVariant {
    /// Which enum ("role", "job state").
    pub kind: &'static str,
    /// The refused text.
    pub value: String,
}

/// What a user may do: admins see and manage everything, users only their own jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Manages users and every job.
    Admin,
    /// Owns and sees only their own jobs.
    User,
}

impl Role {
    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, UnknownVariant> {
        match s {
            "admin" => Ok(Role::Admin),
            "user" => Ok(Role::User),
            _ => Err(UnknownVariant {
                kind: "role",
                value: s.to_owned(),
            }),
        }
    }
}

/// Where a job is in its life.
///
/// ```text
/// downloading ──> queued ──> converting ──> done ──> expired
///      │             │          │  ↺ (redelivery)
///      └─────────────┴──────────┴──> failed ──> expired
/// ```
/// `downloading` is a URL import still fetching its video (no `video` message yet);
/// `converting -> queued` hands a job back (worker shutdown); `expired` means the files were
/// removed by retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// A URL import: the server is still fetching the video (`progress` is the part fetched,
    /// when the size is known).
    Downloading,
    /// Uploaded, waiting for a converter.
    Queued,
    /// A converter is working on it (possibly again, after a redelivery).
    Converting,
    /// The audio is stored and downloadable.
    Done,
    /// Conversion failed for good; `error_code`/`error_message` say why.
    Failed,
    /// Its files were removed by retention.
    Expired,
}

impl JobState {
    /// Every state, in life-cycle order.
    pub const ALL: [JobState; 6] = [
        JobState::Downloading,
        JobState::Queued,
        JobState::Converting,
        JobState::Done,
        JobState::Failed,
        JobState::Expired,
    ];

    /// The stored and serialized name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Downloading => "downloading",
            JobState::Queued => "queued",
            JobState::Converting => "converting",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Expired => "expired",
        }
    }

    /// True when no converter will touch the job again.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed | JobState::Expired)
    }

    /// Whether a job in `self` may move to `next`. `converting -> converting` is allowed: a
    /// redelivered message restarts the conversion.
    pub fn can_transition_to(self, next: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, next),
            (Downloading, Queued | Failed)
                | (Queued, Converting | Failed)
                | (Converting, Converting | Queued | Done | Failed)
                | (Done | Failed, Expired)
        )
    }

    /// The states from which `target` may be reached (what a guarded `UPDATE … WHERE state IN`
    /// checks).
    pub fn sources_of(target: JobState) -> Vec<JobState> {
        JobState::ALL
            .into_iter()
            .filter(|s| s.can_transition_to(target))
            .collect()
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = UnknownVariant;

    fn from_str(s: &str) -> Result<Self, UnknownVariant> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| UnknownVariant {
                kind: "job state",
                value: s.to_owned(),
            })
    }
}

/// One conversion job: a video uploaded by a user and, once converted, its audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// The job's id, also the queue `message_id`.
    pub id: JobId,
    /// The user who uploaded the video.
    pub owner_id: UserId,
    /// The owner's email at upload time (the seed's `username`; where notifications go).
    pub owner_email: String,
    /// Where the job is in its life.
    pub state: JobState,
    /// The uploaded file's name, for the download's `Content-Disposition`.
    pub original_name: String,
    /// Blob key of the video (the seed's `video_fid`).
    pub video_key: String,
    /// Size of the video in bytes.
    pub video_size: u64,
    /// Hex SHA-256 of the video.
    pub video_sha256: String,
    /// Blob key of the audio (the seed's `mp3_fid`) once done.
    pub audio_key: Option<String>,
    /// Size of the audio in bytes once done.
    pub audio_size: Option<u64>,
    /// What the user asked for.
    pub options: ConvertOptions,
    /// Conversion progress, 0.0–1.0.
    pub progress: f64,
    /// Duration of the audio in seconds, once known.
    pub duration_secs: Option<f64>,
    /// Stable kebab-case reason when failed (`no-audio-track`, ...).
    pub error_code: Option<String>,
    /// Human-readable reason when failed.
    pub error_message: Option<String>,
    /// How many times a converter started on it.
    pub attempts: u32,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms of the last change.
    pub updated_at: i64,
    /// Unix ms when it became done or failed.
    pub finished_at: Option<i64>,
    /// Unix ms when the owner was notified.
    pub notified_at: Option<i64>,
    /// Retention leaves this job and its files alone (set by the owner or an admin).
    #[serde(default)]
    pub keep: bool,
    /// Size in bytes of the file the user chose, when the client sent only its audio track
    /// (then `video_size` is the audio's size); `None` when the whole file was sent.
    #[serde(default)]
    pub source_size: Option<u64>,
    /// Set when the job was done at once by reusing the audio of this earlier job of the same
    /// owner (same content, file name and options): the two jobs share one audio blob.
    #[serde(default)]
    pub reused_from: Option<JobId>,
}

/// What is known about a job when its upload has been stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// The uploader.
    pub owner_id: UserId,
    /// The uploader's email.
    pub owner_email: String,
    /// The uploaded file's name.
    pub original_name: String,
    /// Blob key of the stored video.
    pub video_key: String,
    /// Its size in bytes.
    pub video_size: u64,
    /// Its hex SHA-256.
    pub video_sha256: String,
    /// The requested options (already validated).
    pub options: ConvertOptions,
}

impl Job {
    /// A fresh job in `Queued` with a new id, created at `now` (unix ms).
    pub fn queued(new: NewJob, now: i64) -> Job {
        Job {
            id: JobId::generate(),
            owner_id: new.owner_id,
            owner_email: new.owner_email,
            state: JobState::Queued,
            original_name: new.original_name,
            video_key: new.video_key,
            video_size: new.video_size,
            video_sha256: new.video_sha256,
            audio_key: None,
            audio_size: None,
            options: new.options,
            progress: 0.0,
            duration_secs: None,
            error_code: None,
            error_message: None,
            attempts: 0,
            created_at: now,
            updated_at: now,
            finished_at: None,
            notified_at: None,
            keep: false,
            source_size: None,
            reused_from: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_life_cycle() {
        use JobState::*;
        assert!(Queued.can_transition_to(Converting));
        assert!(Converting.can_transition_to(Converting));
        assert!(Converting.can_transition_to(Done));
        assert!(Converting.can_transition_to(Failed));
        assert!(!Queued.can_transition_to(Done));
        assert!(!Done.can_transition_to(Converting));
        assert!(!Done.can_transition_to(Failed));
        assert!(!Failed.can_transition_to(Done));
        assert!(!Expired.can_transition_to(Queued));
        assert_eq!(JobState::sources_of(Done), vec![Converting]);
        assert!(Downloading.can_transition_to(Queued));
        assert!(Downloading.can_transition_to(Failed));
        assert!(!Downloading.can_transition_to(Converting));
        assert!(!Queued.can_transition_to(Downloading));
        assert_eq!(
            JobState::sources_of(Failed),
            vec![Downloading, Queued, Converting]
        );
        assert_eq!(JobState::sources_of(Queued), vec![Downloading, Converting]);
    }

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for s in JobState::ALL {
            assert_eq!(s.as_str().parse::<JobState>().unwrap(), s);
            assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{s}\""));
        }
        assert_eq!("admin".parse::<Role>().unwrap(), Role::Admin);
        assert!("root".parse::<Role>().is_err());
        assert!("Done".parse::<JobState>().is_err());
    }

    #[test]
    fn a_new_job_is_queued_with_nothing_done() {
        let job = Job::queued(
            NewJob {
                owner_id: UserId::generate(),
                owner_email: "a@example.com".into(),
                original_name: "clip.mp4".into(),
                video_key: "videos/x".into(),
                video_size: 10,
                video_sha256: "00".repeat(32),
                options: ConvertOptions::default(),
            },
            1_700_000_000_000,
        );
        assert_eq!(job.state, JobState::Queued);
        assert_eq!((job.attempts, job.progress), (0, 0.0));
        assert_eq!(job.created_at, job.updated_at);
        assert!(job.audio_key.is_none() && job.finished_at.is_none());
        assert!(!job.keep, "retention applies unless asked otherwise");
        assert!(now_millis() > 1_700_000_000_000);
    }
}
