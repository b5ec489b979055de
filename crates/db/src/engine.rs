//! [`Engine`]: which database a URL names (SQLite, PostgreSQL, MySQL/MariaDB), and URLs
//! redacted for errors.

use crate::DbError;

/// Which database engine a `Database` talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Engine {
    /// Embedded SQLite file (the single-node default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    MySql,
}

impl Engine {
    /// The engine a URL names, from its scheme.
    pub fn from_url(url: &str) -> Result<Engine, DbError> {
        let scheme = url.split_once(':').map_or("", |(s, _)| s);
        match scheme {
            "sqlite" => Ok(Engine::Sqlite),
            "postgres" | "postgresql" => Ok(Engine::Postgres),
            "mysql" | "mariadb" => Ok(Engine::MySql),
            _ => Err(DbError::UnsupportedUrl(redact_url(url))),
        }
    }
}

/// `url` with its password replaced by `***`, for errors and logs.
pub(crate) fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start => {
            let userinfo = &url[start + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:***@{}", &url[..start], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}
