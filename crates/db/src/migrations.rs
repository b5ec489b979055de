//! The schema migrations of each engine, embedded in the binary.
//!
//! The SQL lives in `migrations/{sqlite,postgres,mysql}/NNNN_name.sql` (the sqlx-cli layout) and
//! is compiled in with `include_str!` rather than `sqlx::migrate!`: the macro would build sqlx's
//! proc-macro crate and all three drivers a second time. The result is the same `Migrator`, with
//! the same versions and checksums in `_sqlx_migrations`. A unit test checks that every file in
//! those directories is listed here.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::Engine;

/// `(file name, sqlite, postgres, mysql)` for each migration, oldest first.
macro_rules! migrations {
    ($($file:literal),* $(,)?) => {
        &[$((
            $file,
            include_str!(concat!("../migrations/sqlite/", $file)),
            include_str!(concat!("../migrations/postgres/", $file)),
            include_str!(concat!("../migrations/mysql/", $file)),
        )),*]
    };
}

const MIGRATIONS: &[(&str, &str, &str, &str)] = migrations![
    "0001_initial_schema.sql",
    "0002_outbox_claims.sql",
    "0003_retention.sql",
    "0004_binary_email_key.sql",
    "0005_token_revocation.sql",
    "0006_uploads.sql",
    "0007_source_size.sql",
    "0008_api_keys.sql",
    "0009_webhooks.sql",
    "0010_share_links_feeds.sql",
    "0011_dedup_quotas.sql",
    "0012_fair_share.sql",
    "0013_single_sign_on.sql",
    "0014_job_chunks.sql",
];

/// The migrator for `engine`.
pub(crate) fn migrator(engine: Engine) -> Migrator {
    let migrations = MIGRATIONS
        .iter()
        .map(|&(file, sqlite, postgres, mysql)| {
            let (version, description) = parse_file_name(file);
            let sql = match engine {
                Engine::Sqlite => sqlite,
                Engine::Postgres => postgres,
                Engine::MySql => mysql,
            };
            Migration::new(
                version,
                Cow::Owned(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

/// `0001_initial_schema.sql` -> `(1, "initial schema")`, as sqlx-cli names them.
fn parse_file_name(file: &str) -> (i64, String) {
    let stem = file.trim_end_matches(".sql");
    let (version, name) = stem.split_once('_').unwrap_or((stem, ""));
    (version.parse().unwrap_or(0), name.replace('_', " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded_for_every_engine() {
        let listed: Vec<&str> = MIGRATIONS.iter().map(|m| m.0).collect();
        for engine in ["sqlite", "postgres", "mysql"] {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/").to_owned() + engine;
            let mut files: Vec<String> = std::fs::read_dir(&dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            files.sort();
            assert_eq!(files, listed, "{dir} and MIGRATIONS disagree");
        }
    }

    #[test]
    fn versions_are_positive_and_increasing() {
        let m = migrator(Engine::Postgres);
        let versions: Vec<i64> = m.iter().map(|m| m.version).collect();
        assert!(versions.windows(2).all(|w| w[0] < w[1]));
        assert!(versions.iter().all(|&v| v > 0));
        assert_eq!(m.iter().next().unwrap().description, "initial schema");
    }
}
