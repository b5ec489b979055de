//! SQLite specifics of the embedded default: WAL journaling, foreign keys, busy timeout, and a
//! bad URL refused with a clear error.

use mp3converter_db::conformance::ScratchDatabase;
use mp3converter_db::{Database, DbError, Engine};

#[tokio::test]
async fn sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout() {
    let scratch = ScratchDatabase::sqlite().await;
    assert_eq!(scratch.db.engine(), Engine::Sqlite);
    let pool = scratch.db.pool();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(fk, 1);
    let busy: i64 = sqlx::query_scalar("PRAGMA busy_timeout")
        .fetch_one(pool)
        .await
        .unwrap();
    assert!(busy >= 1000, "busy_timeout {busy} ms");
    scratch.cleanup().await;
}

#[tokio::test]
async fn unknown_url_scheme_is_refused_without_leaking_the_password() {
    let err = Database::connect("mongodb://user:hunter2@localhost/db")
        .await
        .expect_err("mongodb is not supported");
    assert!(matches!(err, DbError::UnsupportedUrl(_)), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}
