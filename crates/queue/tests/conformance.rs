//! Runs the queue conformance suite on the database adapter: SQLite always, MySQL/MariaDB and
//! PostgreSQL when `MP3C_TEST_MYSQL_URL` / `MP3C_TEST_POSTGRES_URL` are set. Every test gets its
//! own database, dropped even when the check fails.

use std::sync::Arc;

use mp3converter_db::conformance::ScratchDatabase;
use mp3converter_queue::conformance;
use mp3converter_queue::{DatabaseQueue, JobQueue};

/// Few attempts keep the dead-letter checks quick.
const MAX_ATTEMPTS: u32 = 3;

fn queue(scratch: &ScratchDatabase) -> Arc<dyn JobQueue> {
    Arc::new(DatabaseQueue::new(scratch.db.clone()).with_max_attempts(MAX_ATTEMPTS))
}

macro_rules! suite {
    ($engine:ident, $open:expr, [$($check:ident),*], [$($shared:ident),*]) => {
        mod $engine {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some(scratch) = $open else { return };
                    let q = queue(&scratch);
                    let outcome = tokio::spawn(async move { conformance::$check(&*q).await; }).await;
                    scratch.cleanup().await;
                    if let Err(panicked) = outcome {
                        std::panic::resume_unwind(panicked.into_panic());
                    }
                }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $shared() {
                    let Some(scratch) = $open else { return };
                    let q = queue(&scratch);
                    let outcome = tokio::spawn(async move { conformance::$shared(q).await; }).await;
                    scratch.cleanup().await;
                    if let Err(panicked) = outcome {
                        std::panic::resume_unwind(panicked.into_panic());
                    }
                }
            )*
        }
    };
}

macro_rules! all_engines {
    ($($t:tt)*) => {
        suite!(sqlite, Some(ScratchDatabase::sqlite().await), $($t)*);
        suite!(mysql, ScratchDatabase::from_env("MP3C_TEST_MYSQL_URL").await, $($t)*);
        suite!(postgres, ScratchDatabase::from_env("MP3C_TEST_POSTGRES_URL").await, $($t)*);
    };
}

mp3converter_queue::queue_checks!(all_engines);

/// The whole suite on one SQLite database, as `run_all` promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn whole_suite_passes_on_one_sqlite_database() {
    let scratch = ScratchDatabase::sqlite().await;
    conformance::run_all(queue(&scratch)).await;
    scratch.cleanup().await;
}
