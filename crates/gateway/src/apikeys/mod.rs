//! API keys on the request path: turning an `Authorization: Bearer mp3c_…` header into a caller
//! with scopes, and deciding which scope a route needs.
//!
//! A key is checked against a small in-memory cache (by the SHA-256 of the secret) that holds a
//! key for at most [`KEY_CACHE_TTL`]: so a busy key costs one database read per TTL, and a key
//! revoked (or a user disabled) on another gateway stops working there within the TTL. The
//! gateway that revokes a key or disables a user drops it from its own cache at once. Only keys
//! that exist are cached (a wrong key cannot fill the cache), and malformed keys (wrong shape or
//! checksum) are refused without touching the database. A use is recorded in `last_used_at` at
//! most once a minute per key.

pub(crate) mod secret;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{Method, StatusCode};
use mp3converter_core::{UserId, now_millis};
use mp3converter_db::{ApiKeyGrant, Database};

use crate::AuthFailure;

pub use secret::KEY_PREFIX;

/// How long a gateway trusts a key it has read without reading it again: the bound on how long a
/// key revoked on another gateway keeps working there.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(30);
/// `last_used_at` is written at most this often per key.
pub const LAST_USED_INTERVAL: Duration = Duration::from_secs(60);
const CACHE_CAPACITY: usize = 10_000;

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// `jobs:read`: read jobs, their audio and events, and `/api/v1/me`.
    JobsRead,
    /// `jobs:write`: create (upload, import, tus), delete and keep jobs; estimates.
    JobsWrite,
    /// `admin`: manage users (only for administrators' keys).
    Admin,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Scope; 3] = [Scope::JobsRead, Scope::JobsWrite, Scope::Admin];

    /// The scope's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::JobsRead => "jobs:read",
            Scope::JobsWrite => "jobs:write",
            Scope::Admin => "admin",
        }
    }

    /// The scope named `s`.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }
}

/// What a route needs from a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// A scope.
    Scope(Scope),
    /// No key may do it (managing keys, changing the password): a password login is needed.
    Login,
}

/// The scope the request `method path` needs: user management needs `admin`; managing keys and
/// the password need a login; reads (GET/HEAD, the course's `/download`, a signed audio URL)
/// need `jobs:read`; everything else (`/upload`, creating, deleting, keeping, tus, estimates)
/// needs `jobs:write`.
pub(crate) fn required(method: &Method, path: &str) -> Need {
    let under = |prefix: &str| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    if under("/api/v1/keys") || under("/api/v1/me/password") {
        Need::Login
    } else if under("/api/v1/users") {
        Need::Scope(Scope::Admin)
    } else if method == Method::GET
        || method == Method::HEAD
        || path == "/download"
        || (path.starts_with("/api/v1/jobs/") && path.ends_with("/audio-url"))
    {
        Need::Scope(Scope::JobsRead)
    } else {
        Need::Scope(Scope::JobsWrite)
    }
}

/// A key that authenticated: who it acts as and what it may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyAccess {
    /// The key's id.
    pub id: String,
    /// Its scopes.
    pub scopes: Vec<Scope>,
}

/// A key found in the database or the cache, with its user's state at that time.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub access: KeyAccess,
    pub user: UserId,
    pub email: String,
    pub user_admin: bool,
    pub disabled: bool,
    pub expires_at: Option<i64>,
    pub generation: i64,
}

impl Grant {
    fn from_row(row: ApiKeyGrant) -> Self {
        Grant {
            access: KeyAccess {
                id: row.key.id,
                scopes: row
                    .key
                    .scopes
                    .iter()
                    .filter_map(|s| Scope::parse(s))
                    .collect(),
            },
            user: row.key.user_id,
            email: row.email,
            user_admin: row.admin,
            disabled: row.disabled,
            expires_at: row.key.expires_at,
            generation: row.token_generation,
        }
    }
}

struct Cached {
    grant: Grant,
    read_at: Instant,
}

/// The gateway's API key checker and its cache. Cheap to clone (shared).
#[derive(Clone)]
pub struct ApiKeys {
    db: Database,
    ttl: Duration,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn refused(code: &'static str, message: &str) -> AuthFailure {
    AuthFailure::new(StatusCode::UNAUTHORIZED, code, message)
}

impl ApiKeys {
    /// Keys stored in `db`, cached for [`KEY_CACHE_TTL`].
    pub fn new(db: Database) -> Self {
        Self::with_ttl(db, KEY_CACHE_TTL)
    }

    /// Keys stored in `db`, cached for `ttl` (at most a minute: revocation must reach every
    /// gateway within 60 s).
    pub fn with_ttl(db: Database, ttl: Duration) -> Self {
        ApiKeys {
            db,
            ttl: ttl.min(Duration::from_secs(60)),
            cache: Arc::default(),
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The grant of `token` (a `mp3c_…` bearer token): 401 `invalid-token` when it is malformed,
    /// unknown, revoked or its user is disabled, 401 `key-expired` after its expiry.
    pub(crate) async fn authenticate(&self, token: &str) -> Result<Grant, AuthFailure> {
        let invalid = || refused("invalid-token", "the API key is invalid or revoked");
        let hash = secret::parse(token).ok_or_else(invalid)?;
        let cached = self
            .cache()
            .get(&hash)
            .and_then(|c| (c.read_at.elapsed() < self.ttl).then(|| c.grant.clone()));
        let grant = match cached {
            Some(grant) => grant,
            None => self.read(&hash).await?.ok_or_else(invalid)?,
        };
        if grant.disabled {
            return Err(invalid());
        }
        if grant.expires_at.is_some_and(|exp| exp <= now_millis()) {
            return Err(refused("key-expired", "the API key has expired"));
        }
        Ok(grant)
    }

    /// Reads the key from the database, caches it and records its use.
    async fn read(&self, hash: &str) -> Result<Option<Grant>, AuthFailure> {
        let row = self
            .db
            .api_key_by_hash(hash)
            .await
            .map_err(AuthFailure::internal)?;
        let Some(row) = row else {
            self.cache().remove(hash);
            return Ok(None);
        };
        let grant = Grant::from_row(row);
        {
            let mut cache = self.cache();
            if cache.len() >= CACHE_CAPACITY {
                let ttl = self.ttl;
                cache.retain(|_, c| c.read_at.elapsed() < ttl);
                if cache.len() >= CACHE_CAPACITY {
                    cache.clear();
                }
            }
            cache.insert(
                hash.to_owned(),
                Cached {
                    grant: grant.clone(),
                    read_at: Instant::now(),
                },
            );
        }
        if !grant.disabled {
            let interval = i64::try_from(LAST_USED_INTERVAL.as_millis()).unwrap_or(i64::MAX);
            if let Err(e) = self
                .db
                .touch_api_key(&grant.access.id, now_millis(), interval)
                .await
            {
                tracing::warn!(error = %e, key_id = %grant.access.id, "cannot record an API key's use");
            }
        }
        Ok(Some(grant))
    }

    /// Drops the key `id` from this gateway's cache (it was revoked here).
    pub(crate) fn forget_key(&self, id: &str) {
        self.cache().retain(|_, c| c.grant.access.id != id);
    }

    /// Drops `user`'s keys from this gateway's cache (the account was disabled here).
    pub(crate) fn forget_user(&self, user: &UserId) {
        self.cache().retain(|_, c| &c.grant.user != user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_the_documented_scopes() {
        use Need::{Login, Scope as S};
        let cases = [
            (Method::GET, "/api/v1/jobs", S(Scope::JobsRead)),
            (Method::GET, "/api/v1/jobs/x/audio", S(Scope::JobsRead)),
            (Method::GET, "/api/v1/events", S(Scope::JobsRead)),
            (Method::GET, "/api/v1/me", S(Scope::JobsRead)),
            (Method::GET, "/download", S(Scope::JobsRead)),
            (Method::POST, "/api/v1/jobs/x/audio-url", S(Scope::JobsRead)),
            (Method::POST, "/upload", S(Scope::JobsWrite)),
            (Method::POST, "/api/v1/jobs", S(Scope::JobsWrite)),
            (Method::DELETE, "/api/v1/jobs/x", S(Scope::JobsWrite)),
            (Method::PUT, "/api/v1/jobs/x/keep", S(Scope::JobsWrite)),
            (Method::PATCH, "/api/v1/uploads/x", S(Scope::JobsWrite)),
            (Method::POST, "/api/v1/estimate", S(Scope::JobsWrite)),
            (Method::GET, "/api/v1/users", S(Scope::Admin)),
            (Method::POST, "/api/v1/users/x/disable", S(Scope::Admin)),
            (Method::GET, "/api/v1/keys", Login),
            (Method::DELETE, "/api/v1/keys/x", Login),
            (Method::PUT, "/api/v1/me/password", Login),
            (Method::GET, "/api/v1/usersx", S(Scope::JobsRead)),
        ];
        for (method, path, need) in cases {
            assert_eq!(required(&method, path), need, "{method} {path}");
        }
    }

    #[test]
    fn scopes_round_trip_by_name() {
        for s in Scope::ALL {
            assert_eq!(Scope::parse(s.as_str()), Some(s));
        }
        assert_eq!(Scope::parse("jobs:delete"), None);
    }
}
