//! Queue message bodies, keeping the seed's JSON field names so its consumers still read them
//! (see docs/architecture.md, "Messages").
//!
//! * `video` queue: [`VideoUploaded`] —
//!   `{"video_fid": "...", "mp3_fid": null, "username": "...", "job_id": "...", "options": {...}}`;
//!   a long job's chunk tasks are the same body with a `task` ([`ChunkTask`]) added.
//! * `mp3` queue: [`AudioReady`] — the same fields with `mp3_fid` set, or, when the conversion
//!   failed for good, `mp3_fid: null` plus `"status": "failed", "error": {"code", "message"}`.

use serde::{Deserialize, Serialize};

use crate::{ConvertOptions, JobId};

/// Body of a `video` queue message: a video was stored and its job is queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoUploaded {
    /// Blob key of the video.
    pub video_fid: String,
    /// Always `null` here; kept because the seed's consumers expect the field.
    #[serde(default)]
    pub mp3_fid: Option<String>,
    /// The owner's email (the seed's name for it).
    pub username: String,
    /// The job this video belongs to.
    pub job_id: JobId,
    /// What the user asked for.
    #[serde(default)]
    pub options: ConvertOptions,
    /// Absent on the message announcing the job; set on the chunk tasks a converter plans for a
    /// long job (see docs/architecture.md, "Distributed chunks").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<ChunkTask>,
}

/// One piece of a job split into chunks: encode chunk `index` of `count`, join all `count`
/// encoded chunks into the job's audio, or — when the chunks turned out not to fit the input —
/// convert the job in one piece after all. In JSON: `{"kind": "chunk", "index": 3, "count": 60}`,
/// `{"kind": "join", "count": 60}`, `{"kind": "whole"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ChunkTask {
    /// Encode one chunk and store its frames.
    Chunk {
        /// Which chunk (0-based).
        index: u32,
        /// How many chunks the job has.
        count: u32,
    },
    /// Every chunk is stored: write the final file.
    Join {
        /// How many chunks the job has.
        count: u32,
    },
    /// The chunk plan was given up (the input decoded longer than it declared, or otherwise
    /// unlike what the plan was made from): convert the job in one piece.
    Whole,
}

impl ChunkTask {
    /// The queue message id of this task of `job`: `<job>.chunk-<index>`, `<job>.join` or
    /// `<job>.whole`, so operators can tell the tasks of one job apart in the queue and the dead
    /// letters.
    pub fn message_id(&self, job: &JobId) -> String {
        match self {
            ChunkTask::Chunk { index, .. } => format!("{job}.chunk-{index}"),
            ChunkTask::Join { .. } => format!("{job}.join"),
            ChunkTask::Whole => format!("{job}.whole"),
        }
    }
}

/// Why a job failed, as carried in a failure message and shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReason {
    /// Stable kebab-case code (`no-audio-track`, `unsupported-codec`, ...).
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
}

/// How a conversion ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AudioOutcome {
    /// The audio is stored under `mp3_fid`.
    Converted {
        /// Blob key of the audio.
        mp3_fid: String,
        /// The options the audio was made with (boxed: they are many times larger than a
        /// failure).
        options: Box<ConvertOptions>,
    },
    /// The job failed for good.
    Failed(FailureReason),
}

/// Body of an `mp3` queue message: a job finished, successfully or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AudioReadyWire", into = "AudioReadyWire")]
pub struct AudioReady {
    /// Blob key of the video.
    pub video_fid: String,
    /// The owner's email.
    pub username: String,
    /// The finished job.
    pub job_id: JobId,
    /// Success with the audio, or failure with a reason.
    pub outcome: AudioOutcome,
}

/// The flat JSON form of [`AudioReady`].
#[derive(Debug, Serialize, Deserialize)]
struct AudioReadyWire {
    video_fid: String,
    mp3_fid: Option<String>,
    username: String,
    job_id: JobId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    options: Option<ConvertOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<FailureReason>,
}

/// An `mp3` message whose fields contradict each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid mp3 message: {0}")]
pub struct MessageError(&'static str);

impl TryFrom<AudioReadyWire> for AudioReady {
    type Error = MessageError;

    fn try_from(w: AudioReadyWire) -> Result<Self, MessageError> {
        let outcome = match (w.status.as_deref(), w.mp3_fid, w.error) {
            (Some("failed"), _, Some(error)) => AudioOutcome::Failed(error),
            (Some("failed"), _, None) => return Err(MessageError("failed without an error")),
            (None | Some("done"), Some(mp3_fid), _) => AudioOutcome::Converted {
                mp3_fid,
                options: Box::new(w.options.unwrap_or_default()),
            },
            (None | Some("done"), None, _) => return Err(MessageError("mp3_fid is missing")),
            (Some(_), _, _) => return Err(MessageError("unknown status")),
        };
        Ok(AudioReady {
            video_fid: w.video_fid,
            username: w.username,
            job_id: w.job_id,
            outcome,
        })
    }
}

impl From<AudioReady> for AudioReadyWire {
    fn from(m: AudioReady) -> Self {
        let (mp3_fid, options, status, error) = match m.outcome {
            AudioOutcome::Converted { mp3_fid, options } => {
                (Some(mp3_fid), Some(*options), None, None)
            }
            AudioOutcome::Failed(e) => (None, None, Some("failed".to_owned()), Some(e)),
        };
        AudioReadyWire {
            video_fid: m.video_fid,
            mp3_fid,
            username: m.username,
            job_id: m.job_id,
            options,
            status,
            error,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const JOB: &str = "0190f5b2-7c4a-7d3e-8b1a-1234567890ab";

    fn job_id() -> JobId {
        JOB.parse().unwrap()
    }

    #[test]
    fn video_uploaded_has_the_seed_fields_with_a_null_mp3_fid() {
        let m = VideoUploaded {
            video_fid: "videos/abc".into(),
            mp3_fid: None,
            username: "a@example.com".into(),
            job_id: job_id(),
            options: ConvertOptions {
                bitrate: Some(128),
                ..Default::default()
            },
            task: None,
        };
        let v: Value = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            json!({"video_fid": "videos/abc", "mp3_fid": null, "username": "a@example.com",
                   "job_id": JOB, "options": {"bitrate": 128}})
        );
        assert_eq!(serde_json::from_value::<VideoUploaded>(v).unwrap(), m);
    }

    #[test]
    fn video_uploaded_accepts_a_seed_message_without_job_extras() {
        let m: VideoUploaded = serde_json::from_value(
            json!({"video_fid": "v", "mp3_fid": null, "username": "u", "job_id": JOB}),
        )
        .unwrap();
        assert_eq!(m.options, ConvertOptions::default());
        assert_eq!(m.task, None);
    }

    #[test]
    fn chunk_tasks_add_a_tagged_task_to_the_seed_fields() {
        let v = json!({"video_fid": "v", "mp3_fid": null, "username": "u", "job_id": JOB,
                       "options": {}, "task": {"kind": "chunk", "index": 3, "count": 60}});
        let m: VideoUploaded = serde_json::from_value(v.clone()).unwrap();
        let task = m.task.unwrap();
        assert_eq!(
            task,
            ChunkTask::Chunk {
                index: 3,
                count: 60
            }
        );
        assert_eq!(serde_json::to_value(&m).unwrap(), v);
        assert_eq!(task.message_id(&job_id()), format!("{JOB}.chunk-3"));
        let join: ChunkTask = serde_json::from_value(json!({"kind": "join", "count": 2})).unwrap();
        assert_eq!(join.message_id(&job_id()), format!("{JOB}.join"));
        let whole: ChunkTask = serde_json::from_value(json!({"kind": "whole"})).unwrap();
        assert_eq!(whole, ChunkTask::Whole);
        assert_eq!(
            serde_json::to_value(whole).unwrap(),
            json!({"kind": "whole"})
        );
        assert_eq!(whole.message_id(&job_id()), format!("{JOB}.whole"));
        assert!(serde_json::from_value::<ChunkTask>(json!({"kind": "merge"})).is_err());
    }

    #[test]
    fn audio_ready_success_is_the_seed_message_with_mp3_fid_set() {
        let m = AudioReady {
            video_fid: "videos/abc".into(),
            username: "a@example.com".into(),
            job_id: job_id(),
            outcome: AudioOutcome::Converted {
                mp3_fid: "audio/abc".into(),
                options: Box::default(),
            },
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            json!({"video_fid": "videos/abc", "mp3_fid": "audio/abc", "username": "a@example.com",
                   "job_id": JOB, "options": {}})
        );
        assert_eq!(serde_json::from_value::<AudioReady>(v).unwrap(), m);
    }

    #[test]
    fn audio_ready_failure_carries_status_and_error() {
        let m = AudioReady {
            video_fid: "videos/abc".into(),
            username: "a@example.com".into(),
            job_id: job_id(),
            outcome: AudioOutcome::Failed(FailureReason {
                code: "no-audio-track".into(),
                message: "the video has no audio track".into(),
            }),
        };
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(
            v,
            json!({"video_fid": "videos/abc", "mp3_fid": null, "username": "a@example.com",
                   "job_id": JOB, "status": "failed",
                   "error": {"code": "no-audio-track", "message": "the video has no audio track"}})
        );
        assert_eq!(serde_json::from_value::<AudioReady>(v).unwrap(), m);
    }

    #[test]
    fn contradictory_audio_ready_messages_are_refused() {
        let base = json!({"video_fid": "v", "mp3_fid": null, "username": "u", "job_id": JOB});
        assert!(serde_json::from_value::<AudioReady>(base.clone()).is_err());
        let mut failed_without_error = base.clone();
        failed_without_error["status"] = json!("failed");
        assert!(serde_json::from_value::<AudioReady>(failed_without_error).is_err());
        let mut odd = base;
        odd["status"] = json!("exploded");
        odd["mp3_fid"] = json!("a");
        assert!(serde_json::from_value::<AudioReady>(odd).is_err());
    }
}
