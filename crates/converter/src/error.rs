//! `JobError`: how handling one `video` message can end badly, and what the worker does about
//! it (retry with backoff, fail the job for good, hand the message back, or let it go).

use mp3converter_core::FailureReason;
use mp3converter_db::DbError;
use mp3converter_media::MediaError;
use mp3converter_queue::QueueError;
use mp3converter_storage::StorageError;

/// Code of a job that failed transiently on every attempt.
pub(crate) const GAVE_UP: &str = "gave-up";

/// Why a delivery was not finished.
#[derive(Debug)]
pub(crate) enum JobError {
    /// Transient (storage, database, local I/O): deliver the message again after a backoff.
    Retry {
        /// What went wrong, in words fit for the user (used when the job finally gives up).
        reason: String,
        /// The full error, for logs and the queue's `last_error`.
        detail: String,
    },
    /// Permanent: the job fails with this reason, no retry.
    Abort(FailureReason),
    /// The worker is shutting down: hand the message back untouched.
    ShuttingDown,
    /// Another consumer holds the message now; it will finish the job.
    LeaseLost,
}

impl JobError {
    pub(crate) fn retry(reason: impl Into<String>, detail: impl std::fmt::Display) -> JobError {
        JobError::Retry {
            reason: reason.into(),
            detail: detail.to_string(),
        }
    }

    /// The engine's verdict: permanent errors fail the job with their plain-words message.
    pub(crate) fn from_media(e: MediaError) -> JobError {
        if e.is_permanent() {
            JobError::Abort(FailureReason {
                code: e.code().to_owned(),
                message: e.to_string(),
            })
        } else {
            let text = e.to_string();
            JobError::retry(text.clone(), text)
        }
    }

    /// Reading the video from storage. A missing video will not come back: fail the job.
    pub(crate) fn from_fetch(e: StorageError) -> JobError {
        match e {
            StorageError::NotFound { .. } => JobError::Abort(FailureReason {
                code: "video-missing".to_owned(),
                message: "the uploaded video is no longer stored".to_owned(),
            }),
            e => JobError::from_storage(e),
        }
    }

    /// Any other storage failure; even a refusal (credentials, bucket) is retried, as an
    /// operator can fix it, and attempts are bounded.
    pub(crate) fn from_storage(e: StorageError) -> JobError {
        JobError::retry("the file storage could not be reached", error_chain(&e))
    }

    pub(crate) fn from_temp_io(e: std::io::Error) -> JobError {
        JobError::retry("the converter could not write its temporary files", e)
    }
}

impl From<DbError> for JobError {
    fn from(e: DbError) -> Self {
        JobError::retry("the database could not be reached", error_chain(&e))
    }
}

impl From<QueueError> for JobError {
    fn from(e: QueueError) -> Self {
        match e {
            QueueError::LeaseLost(_) => JobError::LeaseLost,
            e => JobError::retry("the queue could not be reached", error_chain(&e)),
        }
    }
}

pub(crate) use mp3converter_core::error_chain;

/// The reason a job gives up with after `attempts` transient failures.
pub(crate) fn gave_up(attempts: u32, reason: &str) -> FailureReason {
    let times = if attempts == 1 {
        "once".to_owned()
    } else {
        format!("{attempts} times")
    };
    FailureReason {
        code: GAVE_UP.to_owned(),
        message: format!("the conversion failed {times} and was given up: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permanent_media_errors_fail_the_job_with_their_code_and_words() {
        match JobError::from_media(MediaError::NoAudioTrack) {
            JobError::Abort(r) => {
                assert_eq!(r.code, "no-audio-track");
                assert_eq!(r.message, "this video has no audio track");
            }
            other => panic!("{other:?}"),
        }
        let io = MediaError::Io(std::io::Error::other("disk full"));
        assert!(matches!(JobError::from_media(io), JobError::Retry { .. }));
    }

    #[test]
    fn missing_video_is_permanent_and_unreachable_storage_is_retried() {
        let missing = StorageError::NotFound { key: "v".into() };
        assert!(
            matches!(JobError::from_fetch(missing), JobError::Abort(r) if r.code == "video-missing")
        );
        let down = StorageError::Unavailable("connection refused".into());
        assert!(
            matches!(JobError::from_fetch(down), JobError::Retry { detail, .. } if detail.contains("connection refused"))
        );
    }

    #[test]
    fn giving_up_says_how_often_and_why() {
        let r = gave_up(3, "the file storage could not be reached");
        assert_eq!(r.code, "gave-up");
        assert_eq!(
            r.message,
            "the conversion failed 3 times and was given up: the file storage could not be reached"
        );
    }
}
