//! Conformance checks of the typed operations that enqueue a job's next message: the body is
//! the core message type's JSON, the row goes where the configured route says, in the job's
//! transaction, and the wake hook hears of it only once something was committed.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mp3converter_core::{AudioOutcome, AudioReady, FailureReason};

use super::{create_sample_user, sample_job};
use crate::{AudioOutput, Database, MessageRoute, Transition, Wake};

/// Records the queues it was woken for.
#[derive(Debug, Default)]
struct Woken(Mutex<Vec<String>>);

impl Wake for Woken {
    fn wake(&self, queue: &str) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(queue.to_owned());
    }
}

impl Woken {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// With the queue-table route: the `video` message of a new job and the `mp3` message of a
/// finished one are in the queue table with the core types' JSON, each woken once; finishing
/// again writes and wakes nothing.
pub async fn typed_operations_enqueue_into_the_queue_table_and_wake(db: &Database) {
    let woken = Arc::new(Woken::default());
    let db = db
        .clone()
        .with_message_route(MessageRoute::QueueTable { max_attempts: 3 }, woken.clone());
    let owner = create_sample_user(&db, "typed-queue@example.com").await;
    let job = sample_job(&owner, 1_700_000_001_000);
    let (video_q, mp3_q) = (format!("video-{}", job.id), format!("mp3-{}", job.id));

    db.create_job_and_enqueue_video(&job, &video_q)
        .await
        .unwrap();
    assert_eq!(woken.take(), vec![video_q.clone()]);
    let claimed = db
        .claim_message(&video_q, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the video message is queued");
    let expected = crate::enqueue::video_uploaded(&job);
    assert_eq!(claimed.message_id, job.id.as_str());
    assert_eq!(claimed.payload, serde_json::to_string(&expected).unwrap());

    assert_eq!(
        db.mark_converting(&job.id).await.unwrap(),
        Transition::Applied
    );
    let audio = AudioOutput {
        key: format!("audio/{}.mp3", job.id),
        size: 1234,
        duration_secs: 61.5,
    };
    let done = db.finish_job_and_enqueue_mp3(&job, &audio, &mp3_q).await;
    assert_eq!(done.unwrap(), Transition::Applied);
    assert_eq!(woken.take(), vec![mp3_q.clone()]);
    let again = db.finish_job_and_enqueue_mp3(&job, &audio, &mp3_q).await;
    assert_eq!(again.unwrap(), Transition::AlreadyDone);
    assert!(woken.take().is_empty(), "nothing committed, nobody woken");
    assert_eq!(db.queue_depth(&mp3_q).await.unwrap(), 1);
    let claimed = db
        .claim_message(&mp3_q, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("the mp3 message is queued");
    let expected = AudioReady {
        video_fid: job.video_key.clone(),
        username: job.owner_email.clone(),
        job_id: job.id.clone(),
        outcome: AudioOutcome::Converted {
            mp3_fid: audio.key.clone(),
            options: Box::new(job.options.clone()),
        },
    };
    assert_eq!(claimed.payload, serde_json::to_string(&expected).unwrap());
}

/// With the outbox route: the messages go to the outbox, not the queue table; a failed job's
/// `mp3` message carries the reason.
pub async fn typed_operations_enqueue_into_the_outbox_and_wake(db: &Database) {
    let woken = Arc::new(Woken::default());
    let db = db
        .clone()
        .with_message_route(MessageRoute::Outbox, woken.clone());
    assert_eq!(db.message_route(), MessageRoute::Outbox);
    let owner = create_sample_user(&db, "typed-outbox@example.com").await;
    let job = sample_job(&owner, 1_700_000_002_000);
    let (video_q, mp3_q) = (format!("video-{}", job.id), format!("mp3-{}", job.id));

    db.create_job_and_enqueue_video(&job, &video_q)
        .await
        .unwrap();
    assert_eq!(woken.take(), vec![video_q.clone()]);
    assert_eq!(db.queue_depth(&video_q).await.unwrap(), 0);
    let video = crate::enqueue::video_uploaded(&job);
    let reason = FailureReason {
        code: "no-audio-track".into(),
        message: "The video has no audio track.".into(),
    };
    let failed = db.fail_job_and_enqueue_mp3(&video, &reason, &mp3_q).await;
    assert_eq!(failed.unwrap(), Transition::Applied);
    assert_eq!(woken.take(), vec![mp3_q.clone()]);
    assert_eq!(db.queue_depth(&mp3_q).await.unwrap(), 0);

    let outbox = db.outbox_batch(1000).await.unwrap();
    let of = |q: &str| {
        outbox
            .iter()
            .filter(|m| m.queue == q)
            .map(|m| (m.message_id.clone(), m.payload.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of(&video_q),
        vec![(job.id.to_string(), serde_json::to_string(&video).unwrap())]
    );
    let expected = AudioReady {
        video_fid: video.video_fid.clone(),
        username: video.username.clone(),
        job_id: job.id.clone(),
        outcome: AudioOutcome::Failed(reason),
    };
    assert_eq!(
        of(&mp3_q),
        vec![(
            job.id.to_string(),
            serde_json::to_string(&expected).unwrap()
        )]
    );
}
