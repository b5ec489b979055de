//! Conformance checks of distributed chunks: a plan is written once with one task per chunk,
//! each chunk finishes once, exactly one finisher writes the join task (also when they race),
//! a bad chunk can be redone, progress is the average over the chunks, plans of finished jobs
//! are found for the janitor, and a plan that does not fit is given up once for a whole task.

use std::time::Duration;

use mp3converter_core::{ChunkTask, FailureReason, Job, VideoUploaded};

use super::queued_job;
use crate::{ChunkFinish, Database, StoredChunk, Transition};

const PLAN: &str = r#"{"engine":"plan","chunks":3}"#;

fn stored(job: &Job, index: u32) -> StoredChunk {
    StoredChunk {
        blob_key: format!("chunks/{}/{index}.mp3", job.id),
        sha256: format!("{index:02x}").repeat(32),
        bytes: 400_000 + u64::from(index),
        frames: 2_450,
        samples: 2_822_400,
        ends_audio: index == 2,
    }
}

async fn finish(db: &Database, job: &Job, index: u32, queue: &str) -> ChunkFinish {
    db.finish_chunk(job, index, &stored(job, index), queue)
        .await
        .unwrap()
}

/// Takes every visible message of `queue` and returns their (message id, task).
async fn take_tasks(db: &Database, queue: &str) -> Vec<(String, ChunkTask)> {
    let mut tasks = Vec::new();
    while let Some(m) = db
        .claim_message(queue, Duration::from_secs(30))
        .await
        .unwrap()
    {
        let body: VideoUploaded = serde_json::from_str(&m.payload).unwrap();
        tasks.push((m.message_id, body.task.expect("a chunk task")));
    }
    tasks.sort_by(|a, b| a.0.cmp(&b.0));
    tasks
}

/// Planning writes the plan, its chunks and one task each, once; chunks finish once; the last
/// one writes the join task; a redone chunk gets a new task; progress averages the chunks;
/// the janitor's queries see the plan until the job finishes.
pub async fn chunk_plans_are_written_once_and_joined_once(db: &Database) {
    let job = queued_job(db, "chunks@example.com", 1_700_000_000_000).await;
    assert_eq!(
        db.mark_converting(&job.id).await.unwrap(),
        Transition::Applied
    );
    let queue = format!("chunks-{}", job.id);
    assert!(
        db.plan_chunks_and_enqueue(&job, PLAN, 3, &queue)
            .await
            .unwrap()
    );
    assert!(
        !db.plan_chunks_and_enqueue(&job, PLAN, 3, &queue)
            .await
            .unwrap(),
        "a second plan of the same job is refused"
    );
    let tasks = take_tasks(db, &queue).await;
    let expected: Vec<_> = (0..3)
        .map(|index| {
            let task = ChunkTask::Chunk { index, count: 3 };
            (task.message_id(&job.id), task)
        })
        .collect();
    assert_eq!(tasks, expected);
    let plan = db.chunk_plan(&job.id).await.unwrap().expect("the plan");
    assert_eq!((plan.plan.as_str(), plan.chunks, plan.done), (PLAN, 3, 0));
    assert!(
        db.chunks_of(&job.id)
            .await
            .unwrap()
            .iter()
            .all(|c| c.stored.is_none())
    );

    let overall = db
        .update_chunk_progress(&job.id, 1, 0.6)
        .await
        .unwrap()
        .expect("a pending chunk of a converting job");
    assert!((overall - 0.2).abs() < 1e-9, "{overall}");
    let row = db.get_job(&job.id).await.unwrap().unwrap();
    assert!((row.progress - 0.2).abs() < 1e-9, "{}", row.progress);

    assert_eq!(finish(db, &job, 0, &queue).await, ChunkFinish::Remaining(2));
    let overall = db.refresh_chunked_progress(&job.id).await.unwrap().unwrap();
    assert!(
        (overall - 1.6 / 3.0).abs() < 1e-9,
        "a done chunk counts 1: {overall}"
    );
    assert_eq!(finish(db, &job, 0, &queue).await, ChunkFinish::AlreadyDone);
    assert_eq!(
        db.update_chunk_progress(&job.id, 0, 0.1).await.unwrap(),
        None,
        "a done chunk keeps its progress"
    );
    assert!(db.redo_chunk(&job, 0, &queue).await.unwrap());
    assert!(!db.redo_chunk(&job, 0, &queue).await.unwrap());
    assert_eq!(
        take_tasks(db, &queue).await,
        vec![(
            format!("{}.chunk-0", job.id),
            ChunkTask::Chunk { index: 0, count: 3 }
        )]
    );
    assert_eq!(finish(db, &job, 0, &queue).await, ChunkFinish::Remaining(2));
    assert_eq!(finish(db, &job, 2, &queue).await, ChunkFinish::Remaining(1));
    assert!(take_tasks(db, &queue).await.is_empty(), "no join yet");
    assert_eq!(finish(db, &job, 1, &queue).await, ChunkFinish::Last);
    assert_eq!(
        take_tasks(db, &queue).await,
        vec![(format!("{}.join", job.id), ChunkTask::Join { count: 3 })]
    );
    let chunks = db.chunks_of(&job.id).await.unwrap();
    let found: Vec<_> = chunks.iter().map(|c| c.stored.clone()).collect();
    let wanted: Vec<_> = (0..3).map(|i| Some(stored(&job, i))).collect();
    assert_eq!(found, wanted);
    assert_eq!(
        db.chunk(&job.id, 2).await.unwrap().unwrap().stored,
        Some(stored(&job, 2))
    );
    assert_eq!(db.chunk(&job.id, 3).await.unwrap(), None);

    let ids = vec![job.id.to_string(), "not-a-job".to_owned()];
    let live = db.jobs_with_live_chunks(&ids).await.unwrap();
    assert!(live.contains(job.id.as_str()) && live.len() == 1);
    assert_eq!(db.delete_finished_chunk_plans().await.unwrap(), 0);
    let reason = FailureReason {
        code: "gave-up".into(),
        message: "m".into(),
    };
    db.mark_failed(&job.id, &reason, None).await.unwrap();
    assert!(db.jobs_with_live_chunks(&ids).await.unwrap().is_empty());
    assert_eq!(db.delete_finished_chunk_plans().await.unwrap(), 1);
    assert_eq!(db.chunk_plan(&job.id).await.unwrap(), None);
    assert!(db.chunks_of(&job.id).await.unwrap().is_empty());
    assert_eq!(finish(db, &job, 1, &queue).await, ChunkFinish::NoPlan);
}

/// Two converters finishing the last two chunks at the same moment: exactly one of them sees
/// the last chunk arrive, and exactly one join task is written.
pub async fn racing_chunk_finishers_write_one_join_task(db: &Database) {
    for round in 0..5 {
        let job = queued_job(db, &format!("chunk-race{round}@example.com"), 1_000).await;
        db.mark_converting(&job.id).await.unwrap();
        let queue = format!("chunk-race-{}", job.id);
        db.plan_chunks_and_enqueue(&job, PLAN, 2, &queue)
            .await
            .unwrap();
        take_tasks(db, &queue).await;
        let joins = format!("chunk-race-joins-{}", job.id);
        let (a, b) = super::join(
            db.finish_chunk(&job, 0, &stored(&job, 0), &joins),
            db.finish_chunk(&job, 1, &stored(&job, 1), &joins),
        )
        .await;
        let mut outcomes = [a.unwrap(), b.unwrap()];
        outcomes.sort_by_key(|o| *o != ChunkFinish::Last);
        assert_eq!(
            outcomes,
            [ChunkFinish::Last, ChunkFinish::Remaining(1)],
            "round {round}"
        );
        assert_eq!(db.queue_depth(&joins).await.unwrap(), 1, "round {round}");
        assert!(db.delete_job(&job.id).await.unwrap());
        assert_eq!(db.chunk_plan(&job.id).await.unwrap(), None);
    }
}

/// Two tasks that find the plan wrong at the same moment: exactly one gives it up and queues
/// the job whole; a chunk finishing afterwards finds no plan and writes nothing.
pub async fn an_unfit_plan_is_given_up_once_for_one_whole_task(db: &Database) {
    for round in 0..3 {
        let job = queued_job(db, &format!("chunk-unfit{round}@example.com"), 1_000).await;
        db.mark_converting(&job.id).await.unwrap();
        let queue = format!("chunk-unfit-{}", job.id);
        db.plan_chunks_and_enqueue(&job, PLAN, 3, &queue)
            .await
            .unwrap();
        take_tasks(db, &queue).await;
        let (a, b) = super::join(
            db.abandon_chunk_plan(&job, &queue),
            db.abandon_chunk_plan(&job, &queue),
        )
        .await;
        let mut outcomes = [a.unwrap(), b.unwrap()];
        outcomes.sort();
        assert_eq!(outcomes, [false, true], "round {round}");
        assert_eq!(
            take_tasks(db, &queue).await,
            vec![(format!("{}.whole", job.id), ChunkTask::Whole)],
            "round {round}"
        );
        assert_eq!(db.chunk_plan(&job.id).await.unwrap(), None);
        assert!(db.chunks_of(&job.id).await.unwrap().is_empty());
        assert_eq!(finish(db, &job, 0, &queue).await, ChunkFinish::NoPlan);
        assert!(!db.abandon_chunk_plan(&job, &queue).await.unwrap());
        assert!(take_tasks(db, &queue).await.is_empty(), "round {round}");
    }
}
