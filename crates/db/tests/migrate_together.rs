//! Processes that start together migrate one MySQL/MariaDB database once (the compose stack's
//! four roles do, as do the Kubernetes dev overlay's): each `migrate` waits for the one holding
//! the lock instead of running the same migration beside it. Needs `MP3C_TEST_MYSQL_URL`.

use mp3converter_db::Database;
use sqlx::{Connection, Executor};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_starting_together_migrate_a_mysql_database_once() {
    let Ok(base) = std::env::var("MP3C_TEST_MYSQL_URL") else {
        eprintln!("skipped: set MP3C_TEST_MYSQL_URL to run this test against a real server");
        return;
    };
    sqlx::any::install_default_drivers();
    let name = format!(
        "mp3c_test_{}_together{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        std::process::id()
    );
    let mut admin = sqlx::AnyConnection::connect(&base).await.unwrap();
    admin
        .execute(&*format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let (server, _) = base.rsplit_once('/').unwrap();
    let url = format!("{server}/{name}");

    // Four pools, as four processes would have, all migrating the empty database at once.
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let db = Database::connect(&url).await.unwrap();
            let result = db.migrate().await;
            db.close().await;
            result
        }));
    }
    let mut failures = Vec::new();
    for task in tasks {
        if let Err(e) = task.await.unwrap() {
            failures.push(e.to_string());
        }
    }
    let applied: Vec<(i64, i64)> = sqlx::query_as(&format!(
        "SELECT version, CAST(success AS SIGNED) FROM {name}._sqlx_migrations ORDER BY version"
    ))
    .fetch_all(&mut admin)
    .await
    .unwrap();
    admin
        .execute(&*format!("DROP DATABASE {name}"))
        .await
        .unwrap();
    assert!(failures.is_empty(), "{failures:?}");
    assert!(
        !applied.is_empty() && applied.iter().all(|(_, ok)| *ok == 1),
        "{applied:?}"
    );
}
