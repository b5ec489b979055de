//! `Database`: a connection pool to SQLite, MySQL/MariaDB or PostgreSQL, chosen by URL.
//!
//! Built on `sqlx::Any`, so every repository is written once. SQL in this crate uses PostgreSQL's
//! `$1, $2, …` placeholders, each used once and in order; [`Database::sql`] rewrites them to `?`
//! for MySQL. The few statements that differ per engine (claiming a queue message,
//! insert-or-ignore) branch on [`Engine`].

use std::borrow::Cow;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::DbError;
use crate::engine::{Engine, redact_url};

/// Pool settings; `Default` suits a service.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Most connections held open (SQLite: 4, others: 10 by default).
    pub max_connections: Option<u32>,
    /// How long a call waits for a free connection before failing as `Unavailable`.
    pub acquire_timeout: Duration,
    /// SQLite only: how long a writer waits for the file lock before failing as `Contention`.
    pub sqlite_busy_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: None,
            acquire_timeout: Duration::from_secs(10),
            sqlite_busy_timeout: Duration::from_secs(10),
        }
    }
}

/// A pool of connections to one database, cheap to clone.
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) pool: AnyPool,
    pub(crate) engine: Engine,
    /// Where the typed operations' messages go (see `enqueue`).
    pub(crate) messages: crate::route::Messages,
}

impl Database {
    /// Connects with default pool settings. URLs: `sqlite://path/to/file.db?mode=rwc`,
    /// `mysql://user:pass@host:3306/db`, `postgres://user:pass@host:5432/db`.
    pub async fn connect(url: &str) -> Result<Database, DbError> {
        Database::connect_with(url, &PoolSettings::default()).await
    }

    /// Connects with the given pool settings. SQLite connections get WAL journaling, a busy
    /// timeout, `synchronous = NORMAL` and foreign keys on.
    pub async fn connect_with(url: &str, settings: &PoolSettings) -> Result<Database, DbError> {
        sqlx::any::install_default_drivers();
        let engine = Engine::from_url(url)?;
        let in_memory =
            engine == Engine::Sqlite && (url.contains(":memory:") || url.contains("mode=memory"));
        let options: AnyConnectOptions = url
            .parse::<AnyConnectOptions>()
            .map_err(|_| DbError::UnsupportedUrl(redact_url(url)))?;
        let max = settings.max_connections.unwrap_or(match engine {
            Engine::Sqlite => 4,
            _ => 10,
        });
        let busy_ms = settings.sqlite_busy_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            // An in-memory SQLite database exists once per connection: keep exactly one.
            .max_connections(if in_memory { 1 } else { max })
            .acquire_timeout(settings.acquire_timeout)
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if engine == Engine::Sqlite {
                        conn.execute(&*format!("PRAGMA busy_timeout = {busy_ms}"))
                            .await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        Ok(Database {
            pool,
            engine,
            messages: crate::route::Messages::default(),
        })
    }

    /// Applies the pending schema migrations of this engine (safe to run from several processes
    /// at once: PostgreSQL and MySQL/MariaDB take a lock).
    pub async fn migrate(&self) -> Result<(), DbError> {
        let mut migrator = crate::migrations::migrator(self.engine);
        if self.engine != Engine::MySql {
            migrator.run(&self.pool).await?;
            return Ok(());
        }
        // sqlx's MySQL lock is GET_LOCK(name, -1): "wait forever" to MySQL, but MariaDB answers
        // NULL at once without taking it, so processes starting together ran the same migration
        // ("migration 1 is partially applied"). The lock is taken here instead, with a finite
        // wait both understand, on the connection that then migrates.
        let mut conn = self.pool.acquire().await?;
        let lock = "mp3converter-migrate";
        let locked: Option<i64> = sqlx::query_scalar("SELECT GET_LOCK(?, 600)")
            .bind(lock)
            .fetch_one(&mut *conn)
            .await?;
        if locked != Some(1) {
            return Err(DbError::Migrate(sqlx::migrate::MigrateError::Execute(
                sqlx::Error::Protocol(format!(
                    "could not take the migration lock {lock:?} in 600 s"
                )),
            )));
        }
        migrator.set_locking(false);
        // run_direct: `run` with a connection makes the future not Send (sqlx's "Acquire is not
        // general enough"), and callers spawn it.
        let result = migrator.run_direct(&mut *conn).await;
        sqlx::query("SELECT RELEASE_LOCK(?)")
            .bind(lock)
            .execute(&mut *conn)
            .await?;
        result?;
        Ok(())
    }

    /// Which engine this is.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The underlying pool, for callers that need a statement this crate does not offer.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Succeeds when a connection can be taken and answers `SELECT 1` (for `/readyz`).
    pub async fn health_check(&self) -> Result<(), DbError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection; later calls fail as `Unavailable`.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// `sql` with its `$n` placeholders in this engine's syntax.
    pub(crate) fn sql<'a>(&self, sql: &'a str) -> Cow<'a, str> {
        match self.engine {
            Engine::MySql => Cow::Owned(question_marks(sql)),
            Engine::Sqlite | Engine::Postgres => Cow::Borrowed(sql),
        }
    }
}

/// Rewrites `$1, $2, …` to `?`. Placeholders must appear once each, in order (checked in debug
/// builds), since `?` binds by position.
fn question_marks(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut expected = 1u32;
    while let Some(c) = chars.next() {
        if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
            let mut n = 0u32;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = n * 10 + d;
                chars.next();
            }
            debug_assert_eq!(n, expected, "placeholders out of order in: {sql}");
            expected += 1;
            out.push('?');
        } else {
            out.push(c);
        }
    }
    out
}

/// The URL without its password, for error messages.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_question_marks_for_mysql() {
        assert_eq!(
            question_marks("UPDATE t SET a = $1, b = $2 WHERE id = $3 AND x IN ('$')"),
            "UPDATE t SET a = ?, b = ? WHERE id = ? AND x IN ('$')"
        );
    }

    #[test]
    fn engine_comes_from_the_url_scheme() {
        assert_eq!(Engine::from_url("sqlite://a.db").unwrap(), Engine::Sqlite);
        assert_eq!(
            Engine::from_url("postgresql://u@h/db").unwrap(),
            Engine::Postgres
        );
        assert_eq!(
            Engine::from_url("mysql://root@h/db").unwrap(),
            Engine::MySql
        );
        let err = Engine::from_url("mongodb://u:secret@h/db").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
