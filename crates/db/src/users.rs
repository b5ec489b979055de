//! The `users` repository: accounts, their password hashes, roles, the disabled flag and the
//! token generation (bumped by every change that must revoke the tokens already issued).
//!
//! Emails are unique case-insensitively: `email_key` holds the canonical email ([`email_key`]:
//! ASCII whitespace trimmed, ASCII letters lowercased) under a unique index, while `email` keeps
//! the spelling the user gave. `email_key` is compared byte for byte on every engine (SQLite's
//! `BINARY`, PostgreSQL's `"C"` collation, MySQL/MariaDB `VARBINARY`): a collation that equates
//! `á` with `a` or ignores trailing spaces would let other spellings reach an account.

use std::fmt;

use mp3converter_core::{Role, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::row::text;
use crate::{Database, DbError};

/// A user account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// The account's id.
    pub id: UserId,
    /// The email as given (also the seed's `username`).
    pub email: String,
    /// The argon2id PHC string.
    pub password_hash: String,
    /// Admin or user.
    pub role: Role,
    /// A disabled account cannot log in.
    pub disabled: bool,
    /// Unix ms.
    pub created_at: i64,
    /// Written into every token issued (`gen`); a token of an older generation is revoked.
    /// Bumped by [`Database::set_password`] and [`Database::set_disabled`].
    pub token_generation: i64,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password_hash", &"[redacted]")
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("created_at", &self.created_at)
            .field("token_generation", &self.token_generation)
            .finish()
    }
}

/// The canonical form of an email, unique per account: ASCII whitespace trimmed, ASCII letters
/// lowercased, everything else kept as is (no Unicode case folding: `K` (U+212A) must not
/// become `k`).
pub fn email_key(email: &str) -> String {
    email
        .trim_matches(|c: char| c.is_ascii_whitespace())
        .to_ascii_lowercase()
}

const USER_COLUMNS: &str = "id, email, password_hash, role, disabled, created_at, token_generation";

fn user_from_row(row: &AnyRow) -> Result<User, DbError> {
    let id = text(row, "id")?;
    let role = text(row, "role")?;
    Ok(User {
        id: id.parse().map_err(DbError::corrupt)?,
        email: text(row, "email")?,
        password_hash: text(row, "password_hash")?,
        role: role.parse().map_err(DbError::corrupt)?,
        disabled: row.try_get::<i64, _>("disabled")? != 0,
        created_at: row.try_get("created_at")?,
        token_generation: row.try_get("token_generation")?,
    })
}

impl Database {
    /// Stores a new user. Another user with the same email (in any letter case) is a
    /// [`DbError::Conflict`].
    pub async fn create_user(&self, user: &User) -> Result<(), DbError> {
        sqlx::query(&self.sql(
            "INSERT INTO users (id, email, email_key, password_hash, role, disabled, created_at, \
             token_generation) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        ))
        .bind(user.id.as_str())
        .bind(user.email.trim())
        .bind(email_key(&user.email))
        .bind(&user.password_hash)
        .bind(user.role.as_str())
        .bind(i64::from(user.disabled))
        .bind(user.created_at)
        .bind(user.token_generation)
        .execute(&self.pool)
        .await
        .map_err(|e| match DbError::from(e) {
            DbError::Conflict(_) => {
                DbError::Conflict(format!("a user with email {} exists", user.email.trim()))
            }
            other => other,
        })?;
        Ok(())
    }

    /// The user with this email, in any ASCII letter case; exactly this email otherwise.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, DbError> {
        let key = email_key(email);
        if key.contains('\0') {
            // No account has one, and PostgreSQL refuses NUL in text parameters.
            return Ok(None);
        }
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE email_key = $1");
        let row = sqlx::query(&self.sql(&sql))
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// The user with this id.
    pub async fn user_by_id(&self, id: &UserId) -> Result<Option<User>, DbError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        let row = sqlx::query(&self.sql(&sql))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// Every user, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>, DbError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users ORDER BY created_at, id");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// How many users exist (zero on first start, when the admin is created).
    pub async fn count_users(&self) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?;
        u64::try_from(n).map_err(DbError::corrupt)
    }

    /// Replaces a user's password hash and bumps the token generation (the tokens issued
    /// before are revoked); [`DbError::NotFound`] if there is no such user.
    pub async fn set_password(&self, id: &UserId, password_hash: &str) -> Result<(), DbError> {
        let done = sqlx::query(&self.sql(
            "UPDATE users SET password_hash = $1, token_generation = token_generation + 1 \
             WHERE id = $2",
        ))
        .bind(password_hash)
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        found(done.rows_affected())
    }

    /// Disables or re-enables a user and bumps the token generation (the tokens issued before
    /// are revoked, so a re-enabled user logs in again); [`DbError::NotFound`] if there is no
    /// such user.
    pub async fn set_disabled(&self, id: &UserId, disabled: bool) -> Result<(), DbError> {
        let done = sqlx::query(&self.sql(
            "UPDATE users SET disabled = $1, token_generation = token_generation + 1 \
             WHERE id = $2",
        ))
        .bind(i64::from(disabled))
        .bind(id.as_str())
        .execute(&self.pool)
        .await?;
        found(done.rows_affected())
    }
}

fn found(rows: u64) -> Result<(), DbError> {
    if rows == 0 {
        Err(DbError::NotFound)
    } else {
        Ok(())
    }
}
