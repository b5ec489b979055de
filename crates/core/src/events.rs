//! Live job events: hints for the browser (SSE) that a job changed. The job row stays the truth.

use serde::{Deserialize, Serialize};

use crate::{JobId, JobState, UserId};

/// A job changed state or made progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEvent {
    /// The job.
    pub job_id: JobId,
    /// Its owner (subscribers filter on this).
    pub owner_id: UserId,
    /// The state after the change.
    pub state: JobState,
    /// Conversion progress, 0.0–1.0.
    pub progress: f64,
    /// Stable reason code when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Reason in words when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
}

impl JobEvent {
    /// The event describing a job row as it is now.
    pub fn of(job: &crate::Job) -> Self {
        JobEvent {
            job_id: job.id.clone(),
            owner_id: job.owner_id.clone(),
            state: job.state,
            progress: job.progress,
            error_code: job.error_code.clone(),
            error_message: job.error_message.clone(),
        }
    }
}
