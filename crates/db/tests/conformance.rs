//! Runs the repository conformance suite on SQLite always, and on MySQL/MariaDB and PostgreSQL
//! when `MP3C_TEST_MYSQL_URL` / `MP3C_TEST_POSTGRES_URL` are set. Every test gets its own
//! database, dropped even when the check fails.

use mp3converter_db::conformance::{self, ScratchDatabase};

macro_rules! suite {
    ($engine:ident, $open:expr, [$($check:ident),* $(,)?]) => {
        mod $engine {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some(scratch) = $open else { return };
                    let db = scratch.db.clone();
                    let outcome = tokio::spawn(async move { conformance::$check(&db).await }).await;
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
    ([$($check:ident),* $(,)?]) => {
        suite!(sqlite, Some(ScratchDatabase::sqlite().await), [$($check),*]);
        suite!(mysql, ScratchDatabase::from_env("MP3C_TEST_MYSQL_URL").await, [$($check),*]);
        suite!(postgres, ScratchDatabase::from_env("MP3C_TEST_POSTGRES_URL").await, [$($check),*]);
    };
}

mp3converter_db::db_checks!(all_engines);

/// The whole suite in one go on one SQLite database, as `run_all` promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_passes_on_one_sqlite_database() {
    let scratch = ScratchDatabase::sqlite().await;
    conformance::run_all(&scratch.db).await;
    scratch.cleanup().await;
}
