//! The `api_keys` repository: the long-lived bearer keys users create for scripts. Only the
//! SHA-256 of a secret is stored (the caller hashes; lookups go by that hash), with a short
//! public prefix and the last four characters so the owner can tell keys apart. Revoking deletes
//! the row; `last_used_at` is written at most once per interval, never once per request.

use mp3converter_core::{Role, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::row::text;
use crate::{Database, DbError};

/// One API key as stored (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// Its id (a UUID string), used to revoke it.
    pub id: String,
    /// Whose key it is: it acts as this user.
    pub user_id: UserId,
    /// A name the owner chose.
    pub name: String,
    /// What it may do (`jobs:read`, `jobs:write`, `admin`), in the order given.
    pub scopes: Vec<String>,
    /// The public beginning of the secret (`mp3c_` and a few characters), for recognition.
    pub prefix: String,
    /// The last four characters of the secret, for recognition.
    pub last4: String,
    /// SHA-256 of the whole secret, lowercase hex.
    pub secret_hash: String,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms after which the key no longer works; `None`: never expires.
    pub expires_at: Option<i64>,
    /// Unix ms of the last recorded use (at most once a minute is recorded).
    pub last_used_at: Option<i64>,
}

/// A key found by its hash, with what authentication needs to know about its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyGrant {
    /// The key.
    pub key: ApiKey,
    /// The user's email.
    pub email: String,
    /// Whether the user is an administrator now.
    pub admin: bool,
    /// A disabled user's keys do not work.
    pub disabled: bool,
    /// The user's current token generation (for signed URLs and stream re-checks).
    pub token_generation: i64,
}

const COLUMNS: &str = "k.id, k.user_id, k.name, k.scopes, k.prefix, k.last4, k.secret_hash, \
                       k.created_at, k.expires_at, k.last_used_at";

fn key_from_row(row: &AnyRow) -> Result<ApiKey, DbError> {
    Ok(ApiKey {
        id: text(row, "id")?,
        user_id: text(row, "user_id")?.parse().map_err(DbError::corrupt)?,
        name: text(row, "name")?,
        scopes: text(row, "scopes")?
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect(),
        prefix: text(row, "prefix")?,
        last4: text(row, "last4")?,
        secret_hash: text(row, "secret_hash")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get::<Option<i64>, _>("expires_at")?,
        last_used_at: row.try_get::<Option<i64>, _>("last_used_at")?,
    })
}

impl Database {
    /// Stores a new key (its `id` must be fresh; its user must exist). A second key with the
    /// same `secret_hash` is a [`DbError::Conflict`].
    pub async fn create_api_key(&self, key: &ApiKey) -> Result<(), DbError> {
        sqlx::query(&self.sql(
            "INSERT INTO api_keys (id, user_id, name, scopes, prefix, last4, secret_hash, \
             created_at, expires_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        ))
        .bind(&key.id)
        .bind(key.user_id.as_str())
        .bind(&key.name)
        .bind(key.scopes.join(" "))
        .bind(&key.prefix)
        .bind(&key.last4)
        .bind(&key.secret_hash)
        .bind(key.created_at)
        .bind(key.expires_at)
        .bind(key.last_used_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// `user`'s keys, oldest first (expired ones included).
    pub async fn list_api_keys(&self, user: &UserId) -> Result<Vec<ApiKey>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM api_keys k WHERE k.user_id = $1 ORDER BY k.created_at, k.id"
        );
        let rows = sqlx::query(&self.sql(&sql))
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// How many keys `user` has (expired ones included).
    pub async fn count_api_keys(&self, user: &UserId) -> Result<u64, DbError> {
        let row = sqlx::query(&self.sql("SELECT COUNT(*) AS n FROM api_keys WHERE user_id = $1"))
            .bind(user.as_str())
            .fetch_one(&self.pool)
            .await?;
        crate::jobs::unsigned(&row, "n")
    }

    /// Deletes the key `id` if it is `user`'s; `false` when there is no such key of theirs.
    pub async fn delete_api_key(&self, id: &str, user: &UserId) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql("DELETE FROM api_keys WHERE id = $1 AND user_id = $2"))
            .bind(id)
            .bind(user.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Whether the key `id` still exists (not revoked); an open event stream asks this.
    pub async fn api_key_exists(&self, id: &str) -> Result<bool, DbError> {
        let row = sqlx::query(&self.sql("SELECT 1 FROM api_keys WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    /// The key whose secret hashes to `secret_hash`, with its user's current state.
    pub async fn api_key_by_hash(&self, secret_hash: &str) -> Result<Option<ApiKeyGrant>, DbError> {
        let sql = format!(
            "SELECT {COLUMNS}, u.email, u.role, u.disabled, u.token_generation \
             FROM api_keys k JOIN users u ON u.id = k.user_id WHERE k.secret_hash = $1"
        );
        let row = sqlx::query(&self.sql(&sql))
            .bind(secret_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let role: Role = text(&row, "role")?.parse().map_err(DbError::corrupt)?;
        Ok(Some(ApiKeyGrant {
            key: key_from_row(&row)?,
            email: text(&row, "email")?,
            admin: role == Role::Admin,
            disabled: row.try_get::<i64, _>("disabled")? != 0,
            token_generation: row.try_get("token_generation")?,
        }))
    }

    /// Records a use of the key `id` at `now` unless one was recorded less than `interval_ms`
    /// before; `true` when it wrote. Many gateways may call it at once: at most one writes per
    /// interval.
    pub async fn touch_api_key(
        &self,
        id: &str,
        now: i64,
        interval_ms: i64,
    ) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql(
            "UPDATE api_keys SET last_used_at = $1 \
             WHERE id = $2 AND (last_used_at IS NULL OR last_used_at <= $3)",
        ))
        .bind(now)
        .bind(id)
        .bind(now.saturating_sub(interval_ms))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }
}
