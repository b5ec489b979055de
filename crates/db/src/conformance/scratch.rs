//! Scratch databases for tests: a temporary SQLite file, or a uniquely named database created on
//! a MySQL/PostgreSQL server and dropped by [`ScratchDatabase::cleanup`].

use std::path::PathBuf;

use std::sync::atomic::{AtomicBool, Ordering};

use mp3converter_core::now_millis;
use sqlx::{AnyConnection, Connection, Executor};

use crate::{Database, Engine};

/// Scratch databases are named `mp3c_test_<unix seconds>_<random>`.
const PREFIX: &str = "mp3c_test_";
/// Scratch databases older than this were left by a crashed run and are dropped.
const STALE_AFTER_SECS: i64 = 3600;
static SWEPT: AtomicBool = AtomicBool::new(false);

/// A migrated, empty database that belongs to one test.
#[derive(Debug)]
pub struct ScratchDatabase {
    /// The database to test.
    pub db: Database,
    /// The URL `db` was opened with.
    pub url: String,
    server: Option<(String, String)>,
    file: Option<PathBuf>,
}

impl ScratchDatabase {
    /// A fresh SQLite file in the system temp dir.
    pub async fn sqlite() -> ScratchDatabase {
        let path = std::env::temp_dir().join(format!("mp3c-test-{}.db", uuid::Uuid::now_v7()));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let db = open(&url).await;
        ScratchDatabase {
            db,
            url,
            server: None,
            file: Some(path),
        }
    }

    /// A fresh database on the server named by the env var `var` (a URL like
    /// `mysql://root@127.0.0.1:3306/test`), or `None` after printing how to enable it.
    pub async fn from_env(var: &str) -> Option<ScratchDatabase> {
        let Ok(base) = std::env::var(var) else {
            eprintln!("skipped: set {var} to run this test against a real server");
            return None;
        };
        let engine = Engine::from_url(&base).expect("a mysql:// or postgres:// url");
        let now = now_millis() / 1000;
        let name = format!(
            "{PREFIX}{now}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        sqlx::any::install_default_drivers();
        let mut admin = sqlx::AnyConnection::connect(&base)
            .await
            .unwrap_or_else(|e| panic!("connect to {var}: {e}"));
        if !SWEPT.swap(true, Ordering::SeqCst) {
            sweep_stale(&mut admin, engine, now).await;
        }
        admin
            .execute(&*format!("CREATE DATABASE {name}"))
            .await
            .expect("create scratch database");
        admin.close().await.ok();
        let url = with_database(&base, &name);
        let db = open(&url).await;
        Some(ScratchDatabase {
            db,
            url,
            server: Some((base, name)),
            file: None,
        })
    }

    /// Closes the pool and removes the database (file or server database).
    pub async fn cleanup(self) {
        self.db.close().await;
        if let Some((base, name)) = &self.server
            && let (Ok(engine), Ok(mut admin)) =
                (Engine::from_url(base), AnyConnection::connect(base).await)
        {
            drop_database(&mut admin, engine, name).await;
            admin.close().await.ok();
        }
        if let Some(path) = &self.file {
            for suffix in ["", "-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

async fn drop_database(admin: &mut AnyConnection, engine: Engine, name: &str) {
    let sql = match engine {
        Engine::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        _ => format!("DROP DATABASE IF EXISTS {name}"),
    };
    if let Err(e) = admin.execute(&*sql).await {
        eprintln!("could not drop scratch database {name}: {e}");
    }
}

/// Drops scratch databases that a crashed or killed run left behind (older than an hour, so
/// runs in progress elsewhere are untouched).
async fn sweep_stale(admin: &mut AnyConnection, engine: Engine, now: i64) {
    let list = match engine {
        Engine::Postgres => "SELECT CAST(datname AS TEXT) FROM pg_database",
        _ => "SELECT schema_name FROM information_schema.schemata",
    };
    let Ok(names) = sqlx::query_scalar::<_, String>(list)
        .fetch_all(&mut *admin)
        .await
    else {
        return;
    };
    for name in names {
        let created = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|secs| secs.parse::<i64>().ok());
        if created.is_some_and(|t| now - t > STALE_AFTER_SECS) {
            drop_database(admin, engine, &name).await;
        }
    }
}

async fn open(url: &str) -> Database {
    let db = Database::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect {url}: {e}"));
    db.migrate().await.expect("migrate scratch database");
    db
}

/// `base` with its database path replaced by `name`, keeping the query string.
fn with_database(base: &str, name: &str) -> String {
    let (head, query) = base
        .split_once('?')
        .map_or((base, None), |(h, q)| (h, Some(q)));
    let after_scheme = head.find("://").map_or(0, |i| i + 3);
    let host_end = head[after_scheme..]
        .find('/')
        .map_or(head.len(), |i| after_scheme + i);
    let mut url = format!("{}/{name}", &head[..host_end]);
    if let Some(q) = query {
        url.push('?');
        url.push_str(q);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn scratch_url_replaces_only_the_database_name() {
        assert_eq!(
            with_database("mysql://root@127.0.0.1:3306/test", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            with_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "x"),
            "postgres://u@h:5432/x"
        );
    }
}
