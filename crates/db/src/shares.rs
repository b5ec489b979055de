//! The `shares` and `feeds` repositories: public share links to one job's audio, and each user's
//! private podcast feed. Only hashes of the links' secrets are stored (the gateway makes and
//! hashes them); a lookup by hash answers a job or a user only while it may still be served —
//! the share unexpired, the job done with audio, the owner not disabled — so revoking, deleting
//! the job, retention and disabling the account all take effect on the next request.

use mp3converter_core::{Job, JobId, UserId};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::jobs::{JOB_COLUMNS, job_from_row};
use crate::row::text;
use crate::{Database, DbError};

/// One share link (its token is not kept, only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Share {
    /// Its id (how the owner lists and revokes it).
    pub id: String,
    /// The shared job.
    pub job_id: JobId,
    /// The job's owner, who may list and revoke it.
    pub owner_id: UserId,
    /// When it was made, unix milliseconds.
    pub created_at: i64,
    /// When it stops working, unix milliseconds.
    pub expires_at: i64,
}

const SHARE_COLUMNS: &str = "id, job_id, owner_id, created_at, expires_at";

/// A live job for the public routes: done, with audio, of an owner who is not disabled.
const SERVABLE: &str = "state = 'done' AND audio_key IS NOT NULL \
     AND owner_id IN (SELECT id FROM users WHERE disabled = 0)";

fn share_from_row(row: &AnyRow) -> Result<Share, DbError> {
    Ok(Share {
        id: text(row, "id")?,
        job_id: text(row, "job_id")?.parse().map_err(DbError::corrupt)?,
        owner_id: text(row, "owner_id")?.parse().map_err(DbError::corrupt)?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

impl Database {
    /// Stores a share whose token hashes to `token_hash`.
    pub async fn create_share(&self, share: &Share, token_hash: &str) -> Result<(), DbError> {
        sqlx::query(&self.sql(&format!(
            "INSERT INTO shares ({SHARE_COLUMNS}, token_hash) VALUES ($1, $2, $3, $4, $5, $6)"
        )))
        .bind(&share.id)
        .bind(share.job_id.as_str())
        .bind(share.owner_id.as_str())
        .bind(share.created_at)
        .bind(share.expires_at)
        .bind(token_hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The shares of `job` not expired at `now`, newest first.
    pub async fn list_shares(&self, job: &JobId, now: i64) -> Result<Vec<Share>, DbError> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT {SHARE_COLUMNS} FROM shares WHERE job_id = $1 AND expires_at > $2 \
             ORDER BY created_at DESC, id DESC"
        )))
        .bind(job.as_str())
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(share_from_row).collect()
    }

    /// The share with this id (expired or not).
    pub async fn get_share(&self, id: &str) -> Result<Option<Share>, DbError> {
        let row =
            sqlx::query(&self.sql(&format!("SELECT {SHARE_COLUMNS} FROM shares WHERE id = $1")))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(share_from_row).transpose()
    }

    /// Revokes a share; false if there was none.
    pub async fn delete_share(&self, id: &str) -> Result<bool, DbError> {
        let done = sqlx::query(&self.sql("DELETE FROM shares WHERE id = $1"))
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes every share of `job` (when the job is deleted).
    pub async fn delete_shares_of_job(&self, job: &JobId) -> Result<(), DbError> {
        sqlx::query(&self.sql("DELETE FROM shares WHERE job_id = $1"))
            .bind(job.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The job of the share whose token hashes to `token_hash`, if the share is unexpired at
    /// `now` and the job may be served (done, with audio, owner not disabled).
    pub async fn shared_job(&self, token_hash: &str, now: i64) -> Result<Option<Job>, DbError> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = \
             (SELECT job_id FROM shares WHERE token_hash = $1 AND expires_at > $2) AND {SERVABLE}"
        )))
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }

    /// The nonce of `user`'s feed; when there is none yet, `make()` gives the nonce and the hash
    /// of the secret made from it, which are stored. Concurrent first calls agree on one.
    pub async fn feed_nonce(
        &self,
        user: &UserId,
        make: impl FnOnce() -> (String, String),
        now: i64,
    ) -> Result<String, DbError> {
        if let Some(nonce) = self.read_feed_nonce(user).await? {
            return Ok(nonce);
        }
        let (nonce, hash) = make();
        let inserted = sqlx::query(&self.sql(
            "INSERT INTO feeds (user_id, nonce, token_hash, created_at) VALUES ($1, $2, $3, $4)",
        ))
        .bind(user.as_str())
        .bind(&nonce)
        .bind(&hash)
        .bind(now)
        .execute(&self.pool)
        .await;
        match inserted.map_err(DbError::from) {
            Ok(_) | Err(DbError::Conflict(_)) => {}
            Err(e) => return Err(e),
        }
        self.read_feed_nonce(user)
            .await?
            .ok_or_else(|| DbError::corrupt("a feed row vanished"))
    }

    async fn read_feed_nonce(&self, user: &UserId) -> Result<Option<String>, DbError> {
        let row = sqlx::query(&self.sql("SELECT nonce FROM feeds WHERE user_id = $1"))
            .bind(user.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| text(r, "nonce")).transpose()
    }

    /// Replaces `user`'s feed secret (its nonce and hash), creating the feed if there was none:
    /// the old secret stops working at once.
    pub async fn rotate_feed(
        &self,
        user: &UserId,
        nonce: &str,
        token_hash: &str,
        now: i64,
    ) -> Result<(), DbError> {
        let updated = sqlx::query(
            &self.sql("UPDATE feeds SET nonce = $1, token_hash = $2 WHERE user_id = $3"),
        )
        .bind(nonce)
        .bind(token_hash)
        .bind(user.as_str())
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            self.feed_nonce(user, || (nonce.to_owned(), token_hash.to_owned()), now)
                .await?;
        }
        Ok(())
    }

    /// The user whose feed secret hashes to `token_hash`, unless that user is disabled.
    pub async fn feed_owner(&self, token_hash: &str) -> Result<Option<UserId>, DbError> {
        let row = sqlx::query(&self.sql(
            "SELECT user_id FROM feeds WHERE token_hash = $1 \
             AND user_id IN (SELECT id FROM users WHERE disabled = 0)",
        ))
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref()
            .map(|r| text(r, "user_id")?.parse().map_err(DbError::corrupt))
            .transpose()
    }

    /// `owner`'s servable jobs (done, with audio), most recently finished first, at most
    /// `limit`: the items of the feed.
    pub async fn feed_jobs(&self, owner: &UserId, limit: u32) -> Result<Vec<Job>, DbError> {
        let rows = sqlx::query(&self.sql(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE owner_id = $1 AND {SERVABLE} \
             ORDER BY finished_at DESC, id DESC LIMIT $2"
        )))
        .bind(owner.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(job_from_row).collect()
    }

    /// `owner`'s job `id` if it may be served (done, with audio, owner not disabled).
    pub async fn feed_job(&self, owner: &UserId, id: &JobId) -> Result<Option<Job>, DbError> {
        let row = sqlx::query(&self.sql(&format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND owner_id = $2 AND {SERVABLE}"
        )))
        .bind(id.as_str())
        .bind(owner.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(job_from_row).transpose()
    }
}
