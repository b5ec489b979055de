//! The single sign-on repositories: `sso_links` (which account a provider's user logs in to,
//! by issuer and subject) and `sso_tickets` (the short-lived, single-use server side of a login
//! in progress and of the token handoff after it, found by the SHA-256 of a browser cookie).

use mp3converter_core::UserId;
use sqlx::Row;

use crate::row::text;
use crate::{Database, DbError};

/// What a ticket is for: a ticket of one kind is never taken as the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoTicketPurpose {
    /// A login between the redirect to the provider and its callback (state, nonce, PKCE
    /// verifier).
    Login,
    /// A token waiting for the page to fetch it after the callback.
    Handoff,
}

impl SsoTicketPurpose {
    fn as_str(self) -> &'static str {
        match self {
            SsoTicketPurpose::Login => "login",
            SsoTicketPurpose::Handoff => "handoff",
        }
    }
}

impl Database {
    /// The account `subject` at `issuer` is linked to, if any.
    pub async fn sso_link(&self, issuer: &str, subject: &str) -> Result<Option<UserId>, DbError> {
        let row = sqlx::query(
            &self.sql("SELECT user_id FROM sso_links WHERE issuer = $1 AND subject = $2"),
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some(
                text(&r, "user_id")?
                    .parse::<UserId>()
                    .map_err(DbError::corrupt)?,
            )),
            None => Ok(None),
        }
    }

    /// Links `subject` at `issuer` to `user`. A link that exists already (a concurrent first
    /// login) is a [`DbError::Conflict`].
    pub async fn create_sso_link(
        &self,
        issuer: &str,
        subject: &str,
        user: &UserId,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query(&self.sql(
            "INSERT INTO sso_links (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)",
        ))
        .bind(issuer)
        .bind(subject)
        .bind(user.as_str())
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Stores a ticket found by `key_hash` until `expires_at` (unix ms), and removes the tickets
    /// that expired before `now` (logins abandoned at the provider leave theirs behind).
    pub async fn put_sso_ticket(
        &self,
        key_hash: &str,
        purpose: SsoTicketPurpose,
        payload: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), DbError> {
        sqlx::query(&self.sql("DELETE FROM sso_tickets WHERE expires_at < $1"))
            .bind(now)
            .execute(&self.pool)
            .await?;
        sqlx::query(&self.sql(
            "INSERT INTO sso_tickets (key_hash, purpose, payload, expires_at) \
             VALUES ($1, $2, $3, $4)",
        ))
        .bind(key_hash)
        .bind(purpose.as_str())
        .bind(payload)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How many `purpose` tickets are unexpired at `now` (the gateway caps logins in progress,
    /// which anyone can start).
    pub async fn count_sso_tickets(
        &self,
        purpose: SsoTicketPurpose,
        now: i64,
    ) -> Result<u64, DbError> {
        let n: i64 = sqlx::query_scalar(
            &self.sql("SELECT COUNT(*) FROM sso_tickets WHERE purpose = $1 AND expires_at >= $2"),
        )
        .bind(purpose.as_str())
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        u64::try_from(n).map_err(DbError::corrupt)
    }

    /// The payload of the `purpose` ticket found by `key_hash`, deleting it: of concurrent
    /// takers only one gets it. An expired ticket is deleted and answers `None`.
    pub async fn take_sso_ticket(
        &self,
        key_hash: &str,
        purpose: SsoTicketPurpose,
        now: i64,
    ) -> Result<Option<String>, DbError> {
        let row = sqlx::query(&self.sql(
            "SELECT payload, expires_at FROM sso_tickets WHERE key_hash = $1 AND purpose = $2",
        ))
        .bind(key_hash)
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let payload = text(&row, "payload")?;
        let expires_at: i64 = row.try_get("expires_at")?;
        let deleted = sqlx::query(&self.sql("DELETE FROM sso_tickets WHERE key_hash = $1"))
            .bind(key_hash)
            .execute(&self.pool)
            .await?;
        // Whoever deleted the row took the ticket; a concurrent taker deletes nothing.
        Ok((deleted.rows_affected() == 1 && expires_at >= now).then_some(payload))
    }
}
