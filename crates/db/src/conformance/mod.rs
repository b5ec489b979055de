//! The repository conformance suite: every check any engine must pass, plus scratch databases.
//!
//! Tests call each check with a fresh [`ScratchDatabase`]: a temporary SQLite file always, and
//! a uniquely named database on the MySQL/PostgreSQL server named by `MP3C_TEST_MYSQL_URL` /
//! `MP3C_TEST_POSTGRES_URL` when set, so parallel runs never share tables.

mod api_keys;
mod chunks;
mod enqueue;
mod fair;
mod imports;
mod jobs;
mod quotas;
mod records;
mod retention;
mod scratch;
mod shares;
mod sso;
mod transitions;
mod uploads;
mod users;
mod webhooks;

pub use api_keys::*;
pub use chunks::*;
pub use enqueue::*;
pub use fair::*;
pub use imports::*;
pub use jobs::*;
pub use quotas::*;
pub use records::*;
pub use retention::*;
pub use scratch::ScratchDatabase;
pub use shares::*;
pub use sso::*;
pub use transitions::*;
pub use uploads::*;
pub use users::*;
pub use webhooks::*;

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use crate::Database;

/// Polls two futures concurrently until both finish (the suite has no runtime of its own).
pub(crate) async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut out_a, mut out_b) = (None, None);
    std::future::poll_fn(|cx| {
        if out_a.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            out_a = Some(v);
        }
        if out_b.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            out_b = Some(v);
        }
        if out_a.is_some() && out_b.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    match (out_a, out_b) {
        (Some(a), Some(b)) => (a, b),
        _ => unreachable!("poll_fn returned before both finished"),
    }
}

/// The suite's one list of checks, in the order [`run_all`] runs them (the last one closes the
/// database): calls `$callback! { $($arg,)* [check, ...] }`. Each engine's test file passes a
/// macro that turns the names into tests, so a new check is added here only.
#[macro_export]
macro_rules! db_checks {
    ($callback:ident $(, $arg:tt)*) => {
        $callback! {
            $($arg,)*
            [
                users_have_case_insensitively_unique_emails,
                users_can_be_found_listed_and_changed,
                user_lookups_match_the_canonical_email_only,
                server_secrets_are_created_once_and_shared,
                job_and_its_message_are_stored_together,
                job_for_an_unknown_owner_is_refused_without_a_message,
                typed_operations_enqueue_into_the_queue_table_and_wake,
                typed_operations_enqueue_into_the_outbox_and_wake,
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
                uploads_advance_once_and_become_one_job,
                api_keys_are_found_by_hash_listed_and_revoked_by_their_owner,
                downloading_job_is_queued_with_its_message_once,
                failed_or_deleted_download_gets_no_message,
                stale_downloads_are_failed_and_fresh_ones_kept,
                quota_overrides_are_stored_per_user_and_cleared,
                quota_usage_counts_storage_jobs_today_and_jobs_in_progress,
                reusable_jobs_match_owner_content_name_and_options,
                claims_share_the_queue_between_owners,
                fair_outbox_claims_the_owner_with_nothing_running_first,
                webhook_endpoints_belong_to_their_owner,
                finished_jobs_get_one_delivery_per_subscribed_endpoint,
                shares_serve_their_job_until_expired_revoked_or_deleted,
                feed_secret_is_made_once_and_rotation_replaces_it,
                chunk_plans_are_written_once_and_joined_once,
                racing_chunk_finishers_write_one_join_task,
                an_unfit_plan_is_given_up_once_for_one_whole_task,
                sso_links_map_a_provider_subject_to_one_account,
                sso_tickets_are_taken_once_and_only_before_they_expire,
                migrations_can_run_again,
                closed_database_is_unavailable_and_retryable
            ]
        }
    };
}

macro_rules! define_run_all {
    ([$($check:ident),*]) => {
        /// Runs every check against `db`, which must be freshly migrated and empty except that
        /// the last check closes it.
        pub async fn run_all(db: &Database) {
            $($check(db).await;)*
        }
    };
}

crate::db_checks!(define_run_all);

/// Running the migrations again changes nothing and succeeds.
pub async fn migrations_can_run_again(db: &Database) {
    db.migrate().await.expect("second migrate");
    db.health_check().await.expect("health check");
}

/// After `close`, calls fail with a retryable `Unavailable`. Closes `db`.
pub async fn closed_database_is_unavailable_and_retryable(db: &Database) {
    db.close().await;
    let err = db.health_check().await.expect_err("closed pool must fail");
    assert!(err.is_retryable(), "{err:?} should be retryable");
}
