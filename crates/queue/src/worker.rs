//! One shape for every background loop (the consumers, the outbox relay, the job event poller,
//! the janitor): a [`Worker`] does some work when asked and says whether more is waiting;
//! [`run_worker`] repeats that until shutdown, waiting for work in between and pausing (with a
//! doubling delay) after an error.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::BoxError;

/// What a worker reports after a round of work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkState {
    /// There may be more to do: call [`Worker::work`] again at once.
    Busy,
    /// Nothing to do for now: wait with [`Worker::wait_for_work`] first.
    Idle,
}

/// A background loop, written as its steps; [`run_worker`] is the loop.
#[async_trait]
pub trait Worker: Send {
    /// Short name for logs (`converter`, `outbox relay`, ...).
    fn name(&self) -> &'static str;

    /// Does one round of work. `stop` is cancelled at shutdown; a round that may take long
    /// should watch it and return early. An error is logged by the runner, which pauses
    /// ([`Worker::error_pause`]) before the next round.
    async fn work(&mut self, stop: &CancellationToken) -> Result<WorkState, BoxError>;

    /// Waits until there may be work again (a timer, a wake-up). The runner stops waiting at
    /// shutdown.
    async fn wait_for_work(&mut self);

    /// The first pause after a failed round and the longest one (the pause doubles while
    /// rounds keep failing).
    fn error_pause(&self) -> (Duration, Duration) {
        (Duration::from_millis(250), Duration::from_secs(30))
    }

    /// Called once after shutdown was requested, before the runner returns: finish or hand
    /// back what is in flight.
    async fn drain(&mut self) {}
}

impl fmt::Debug for dyn Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// Runs `worker` until `stop` is cancelled, then lets it [drain](Worker::drain).
pub async fn run_worker(mut worker: Box<dyn Worker>, stop: CancellationToken) {
    let name = worker.name();
    let (first_pause, max_pause) = worker.error_pause();
    let mut pause = first_pause;
    tracing::info!(worker = name, "worker started");
    while !stop.is_cancelled() {
        match worker.work(&stop).await {
            Ok(WorkState::Busy) => pause = first_pause,
            Ok(WorkState::Idle) => {
                pause = first_pause;
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = worker.wait_for_work() => {}
                }
            }
            Err(error) => {
                tracing::warn!(worker = name, %error, retry_in = ?pause, "worker round failed");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(pause) => pause = (pause * 2).min(max_pause),
                }
            }
        }
    }
    worker.drain().await;
    tracing::info!(worker = name, "worker stopped");
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    struct Counting {
        rounds: Arc<AtomicUsize>,
        drained: Arc<AtomicUsize>,
        fail: bool,
    }

    #[async_trait]
    impl Worker for Counting {
        fn name(&self) -> &'static str {
            "counting"
        }
        async fn work(&mut self, _stop: &CancellationToken) -> Result<WorkState, BoxError> {
            let n = self.rounds.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err("refused".into());
            }
            Ok(if n.is_multiple_of(2) {
                WorkState::Busy
            } else {
                WorkState::Idle
            })
        }
        async fn wait_for_work(&mut self) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        fn error_pause(&self) -> (Duration, Duration) {
            (Duration::from_millis(5), Duration::from_millis(20))
        }
        async fn drain(&mut self) {
            self.drained.fetch_add(1, Ordering::SeqCst);
        }
    }

    async fn run(fail: bool) -> (usize, usize) {
        let (rounds, drained) = (Arc::default(), Arc::default());
        let worker = Counting {
            rounds: Arc::clone(&rounds),
            drained: Arc::clone(&drained),
            fail,
        };
        let stop = CancellationToken::new();
        let task = tokio::spawn(run_worker(Box::new(worker), stop.clone()));
        tokio::time::sleep(Duration::from_millis(100)).await;
        stop.cancel();
        task.await.unwrap();
        let (rounds, drained): (Arc<AtomicUsize>, Arc<AtomicUsize>) = (rounds, drained);
        (
            rounds.load(Ordering::SeqCst),
            drained.load(Ordering::SeqCst),
        )
    }

    #[tokio::test]
    async fn rounds_repeat_until_stop_then_the_worker_drains_once() {
        let (rounds, drained) = run(false).await;
        assert!(rounds >= 4, "{rounds}");
        assert_eq!(drained, 1);
    }

    #[tokio::test]
    async fn failing_rounds_are_paused_and_still_stop() {
        let (rounds, drained) = run(true).await;
        // 5 + 10 + 20 + 20 + ... ms pauses: a handful of rounds in 100 ms, not thousands.
        assert!((2..=10).contains(&rounds), "{rounds}");
        assert_eq!(drained, 1);
    }
}
