//! Token revocation without a database call per request: [`Revocations`] remembers, per user,
//! what the database said about the account (token generation, disabled flag, role) for at most
//! `auth.revocation_check_secs`, and refuses a token whose `gen` is not the account's current
//! generation, whose account is disabled or gone, or that claims an admin role the account no
//! longer has.
//!
//! Every change that must end sessions (disable, enable, password change or reset) bumps the
//! generation in the database; the process that made the change forgets its cached entry at
//! once, every other process sees it when its entry is older than the check interval. So a
//! revoked token stops working within that interval (30 s at most) everywhere, and one query per
//! user per interval is the whole cost. A token with a *newer* generation than the cached one
//! (a login after a password change made elsewhere) reloads the entry at once instead of being
//! refused.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use mp3converter_core::{Claims, Role, UserId};
use mp3converter_db::Database;

use crate::AuthError;
use crate::clock::{Clock, SystemClock};

/// The longest (and default) time an account's state is trusted without reading it again.
pub const MAX_REVOCATION_CHECK: Duration = Duration::from_secs(30);
/// Accounts remembered at most; the table is emptied when it fills up.
const MAX_ACCOUNTS: usize = 100_000;

/// What the database said about an account, and when.
#[derive(Debug, Clone, Copy)]
struct Seen {
    /// `None`: no such account.
    account: Option<Account>,
    read_at: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Account {
    generation: i64,
    disabled: bool,
    admin: bool,
}

/// One slot per user; its async lock makes concurrent requests of one user share one query.
type Slot = Arc<tokio::sync::Mutex<Option<Seen>>>;

/// The per-user cache of account states. Cheap to clone (clones share the cache).
#[derive(Clone)]
pub struct Revocations {
    db: Database,
    check_every: Duration,
    clock: Arc<dyn Clock>,
    slots: Arc<Mutex<HashMap<UserId, Slot>>>,
}

impl fmt::Debug for Revocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Revocations")
            .field("check_every", &self.check_every)
            .finish_non_exhaustive()
    }
}

impl Revocations {
    /// Account states read from `db`, trusted for `check_every` (at most
    /// [`MAX_REVOCATION_CHECK`]), timed by `clock`.
    pub fn new(db: Database, check_every: Duration, clock: Arc<dyn Clock>) -> Revocations {
        Revocations {
            db,
            check_every: check_every.min(MAX_REVOCATION_CHECK),
            clock,
            slots: Arc::default(),
        }
    }

    /// With the default interval and the system clock.
    pub fn with_defaults(db: Database) -> Revocations {
        Revocations::new(db, MAX_REVOCATION_CHECK, Arc::new(SystemClock))
    }

    /// How long an account's state is trusted: long-lived streams re-check this often.
    pub fn check_every(&self) -> Duration {
        self.check_every
    }

    /// `Ok` when the verified `claims` still stand: the account exists, is enabled, has the
    /// token's generation, and is an admin if the token says so. Otherwise
    /// [`AuthError::InvalidToken`] ("revoked"); a database failure is passed on (the token is
    /// then neither accepted nor called revoked).
    pub async fn check(&self, claims: &Claims) -> Result<(), AuthError> {
        let revoked = || AuthError::InvalidToken("revoked".into());
        let id: UserId = claims.sub.parse().map_err(|_| revoked())?;
        let slot = self.slot(&id);
        let mut seen = slot.lock().await;
        let now = self.clock.now();
        let fresh = match *seen {
            Some(s) => {
                let young = now.saturating_duration_since(s.read_at) < self.check_every;
                // A newer generation than we know of: a login after a change made elsewhere.
                let behind = s.account.is_some_and(|a| a.generation < claims.generation);
                young && !behind
            }
            None => false,
        };
        if !fresh {
            let user = self.db.user_by_id(&id).await?;
            *seen = Some(Seen {
                account: user.map(|u| Account {
                    generation: u.token_generation,
                    disabled: u.disabled,
                    admin: u.role == Role::Admin,
                }),
                read_at: now,
            });
        }
        match seen.and_then(|s| s.account) {
            Some(a)
                if !a.disabled
                    && a.generation == claims.generation
                    && (a.admin || !claims.admin) =>
            {
                Ok(())
            }
            _ => Err(revoked()),
        }
    }

    /// Forgets `user`'s state (this process just changed it), so the next check reads it.
    pub fn forget(&self, user: &UserId) {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(user);
    }

    fn slot(&self, id: &UserId) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(id) {
            return slot.clone();
        }
        if slots.len() >= MAX_ACCOUNTS {
            slots.clear();
        }
        slots.entry(id.clone()).or_default().clone()
    }
}
