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
    ($($check:ident),* $(,)?) => {
        suite!(sqlite, Some(ScratchDatabase::sqlite().await), [$($check),*]);
        suite!(mysql, ScratchDatabase::from_env("MP3C_TEST_MYSQL_URL").await, [$($check),*]);
        suite!(postgres, ScratchDatabase::from_env("MP3C_TEST_POSTGRES_URL").await, [$($check),*]);
    };
}

all_engines![
    users_have_case_insensitively_unique_emails,
    users_can_be_found_listed_and_changed,
    user_lookups_match_the_canonical_email_only,
    job_and_its_message_are_stored_together,
    job_for_an_unknown_owner_is_refused_without_a_message,
    jobs_are_visible_to_their_owner_only_newest_first,
    done_job_writes_one_mp3_message_even_when_finished_twice,
    racing_finishers_write_one_mp3_message,
    done_requires_a_converting_job,
    failed_job_is_announced_once,
    transitions_of_a_missing_job_are_not_found,
    jobs_expire_and_can_be_deleted,
    keep_flag_is_stored_and_can_be_changed,
    retention_finds_due_jobs_by_age_and_respects_keep,
    referenced_blob_keys_are_what_live_jobs_need,
    notification_is_recorded_once_per_job,
    outbox_rows_come_oldest_first_and_are_deleted_once,
    outbox_claims_are_exclusive_until_released_or_expired,
    jobs_updated_since_follows_changes,
    migrations_can_run_again,
    closed_database_is_unavailable_and_retryable,
];

/// The whole suite in one go on one SQLite database, as `run_all` promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_suite_passes_on_one_sqlite_database() {
    let scratch = ScratchDatabase::sqlite().await;
    conformance::run_all(&scratch.db).await;
    scratch.cleanup().await;
}
