//! One canonical email per account, on every database engine: spellings that a collation or
//! Unicode case folding would equate with an account's email never log in as it, and the
//! spellings that are the same account (ASCII case, surrounding spaces) share its limits.
//! SQLite always; MySQL/MariaDB and PostgreSQL when `MP3C_TEST_MYSQL_URL` /
//! `MP3C_TEST_POSTGRES_URL` are set.

use mp3converter_db::conformance::ScratchDatabase;

use crate::common::{Fixture, PASSWORD};
use crate::routes::{login, text};

/// Spellings of `admin@example.com` / `kelvin@example.com` that are not those addresses.
const OTHER_SPELLINGS: &[&str] = &[
    "ádmin@example.com",
    "Ádmin@example.com",
    "admin@exámple.com",
    "a\u{301}dmin@example.com",
    "ａdmin@example.com",
    "admin@example.com\u{0}",
    "admin@example.com\u{a0}",
    "admin@example.com\u{200b}",
    "\u{212a}elvin@example.com",
];

async fn email_variants_neither_log_in_nor_get_a_fresh_counter(scratch: Option<ScratchDatabase>) {
    let Some(scratch) = scratch else { return };
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::on(scratch.db.clone(), dir, |_| {});
    let outcome = tokio::spawn(async move {
        fx.admin("admin@example.com").await;
        fx.user("kelvin@example.com").await;
        // Even with the right password, another spelling is not the account: the same 401 as
        // any wrong login, without a database lookup.
        for (n, spelling) in OTHER_SPELLINGS.iter().enumerate() {
            let from = format!("192.0.2.{}:1", n + 1);
            let (status, response) = login(&fx, spelling, PASSWORD, Some(&from)).await;
            assert_eq!(status, 401, "{spelling:?} logged in");
            assert_eq!(text(response).await, "invalid credentials", "{spelling:?}");
        }
        // The spellings that are the account share its counter: after three wrong guesses,
        // no other spelling gets a fresh one.
        let attacker = Some("203.0.113.50:1");
        for _ in 0..3 {
            let (status, _) = login(&fx, "admin@example.com", "wrong password", attacker).await;
            assert_eq!(status, 401);
        }
        for spelling in [
            "ADMIN@example.com ",
            " Admin@Example.COM",
            "admin@example.com\t",
        ] {
            let (status, _) = login(&fx, spelling, "wrong password", attacker).await;
            assert_eq!(status, 429, "{spelling:?} got a fresh counter");
        }
        for spelling in OTHER_SPELLINGS {
            let (status, _) = login(&fx, spelling, PASSWORD, attacker).await;
            assert_ne!(status, 200, "{spelling:?} logged in");
        }
        // The owner still logs in, in any ASCII case.
        let (status, _) = login(&fx, " ADMIN@example.com", PASSWORD, Some("192.0.2.99:1")).await;
        assert_eq!(status, 200);
    })
    .await;
    scratch.cleanup().await;
    if let Err(panicked) = outcome {
        std::panic::resume_unwind(panicked.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_variants_neither_log_in_nor_get_a_fresh_counter_on_sqlite() {
    email_variants_neither_log_in_nor_get_a_fresh_counter(Some(ScratchDatabase::sqlite().await))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_variants_neither_log_in_nor_get_a_fresh_counter_on_mysql() {
    let scratch = ScratchDatabase::from_env("MP3C_TEST_MYSQL_URL").await;
    email_variants_neither_log_in_nor_get_a_fresh_counter(scratch).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_variants_neither_log_in_nor_get_a_fresh_counter_on_postgres() {
    let scratch = ScratchDatabase::from_env("MP3C_TEST_POSTGRES_URL").await;
    email_variants_neither_log_in_nor_get_a_fresh_counter(scratch).await;
}
