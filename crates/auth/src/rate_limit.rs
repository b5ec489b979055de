//! Login rate limiting in memory, the policy of docs/reliability.md ("Login limits"):
//!
//! * per client (an IPv4 address or an IPv6 /64): at most `per_ip` attempts per window, every
//!   attempt counts;
//! * per (client, account): exponential back-off — the first `free_failures` failures are free,
//!   then each further attempt must wait `backoff_base × 2^(failures − free_failures)`, at most
//!   `backoff_max`; a success from that client forgets them;
//! * per account: at most `per_account` failures per window from all clients together; past it,
//!   clients that have already failed on the account are refused until the window ends, while a
//!   client with no failure on it still has its password checked. A stranger can slow down an
//!   account's attackers but never lock its owner out.
//!
//! An attempt is counted (reserved) *before* its password is checked, so parallel requests
//! cannot all slip through; a success or an attempt that could not be checked (the database
//! was down) gives the reservation back. Memory is bounded ([`MAX_KEYS`] per table, accounts
//! stored as keyed 64-bit hashes) and the clock is injectable.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::AuthError;
use crate::clock::Clock;

/// Most keys one table keeps; past this, expired entries are pruned and then the older half.
const MAX_KEYS: usize = 65_536;

/// How long the failures of a client on an account are remembered after the last one.
pub(crate) const FAILURE_MEMORY: Duration = Duration::from_secs(24 * 60 * 60);

/// The numbers of the policy (from `[auth]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LoginPolicy {
    /// Attempts per client per window.
    pub per_ip: u32,
    /// Failures per account per window before clients that failed on it are refused.
    pub per_account: u32,
    /// The fixed window of `per_ip` and `per_account`.
    pub window: Duration,
    /// Failures of a client on an account before its back-off starts.
    pub free_failures: u32,
    /// The first back-off delay; it doubles with each further failure.
    pub backoff_base: Duration,
    /// The longest back-off delay.
    pub backoff_max: Duration,
}

impl LoginPolicy {
    /// How long a client must wait after its `failures`-th failure on an account.
    fn backoff(&self, failures: u32) -> Duration {
        if failures < self.free_failures {
            return Duration::ZERO;
        }
        let factor = 1u32
            .checked_shl(failures - self.free_failures)
            .unwrap_or(u32::MAX);
        self.backoff_base
            .saturating_mul(factor)
            .min(self.backoff_max)
    }
}

/// A fixed-window counter.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    count: u32,
}

/// The failures of one client on one account.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// An attempt counted before its password is checked; hand it back with
/// [`LoginLimiter::succeeded`], [`LoginLimiter::failed`] or [`LoginLimiter::not_checked`].
#[derive(Debug)]
#[must_use = "a reservation must be resolved"]
pub(crate) struct Reservation {
    client: IpAddr,
    account: u64,
    account_window: Instant,
}

#[derive(Debug, Default)]
struct State {
    clients: HashMap<IpAddr, Window>,
    pairs: HashMap<(IpAddr, u64), Failures>,
    accounts: HashMap<u64, Window>,
}

/// Per-client, per-(client, account) and per-account login limits.
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    policy: LoginPolicy,
    state: Mutex<State>,
    /// Keys account hashes with a per-process random key, so collisions cannot be aimed.
    hasher: RandomState,
    clock: Arc<dyn Clock>,
    max_keys: usize,
}

impl LoginLimiter {
    pub(crate) fn new(policy: LoginPolicy, clock: Arc<dyn Clock>) -> Self {
        LoginLimiter {
            policy,
            state: Mutex::default(),
            hasher: RandomState::new(),
            clock,
            max_keys: MAX_KEYS,
        }
    }

    /// Counts an attempt with an email no account can have against the client only.
    pub(crate) fn attempt_without_account(&self, ip: IpAddr) -> Result<(), AuthError> {
        let now = self.clock.now();
        let mut state = self.lock();
        self.count_client(&mut state, client_key(ip), now)
    }

    /// Called before checking a password of `account` (the canonical email): refuses the attempt
    /// when the client, the (client, account) pair or the account is over its limit, and
    /// otherwise counts it as a failure until told otherwise.
    pub(crate) fn reserve(&self, ip: IpAddr, account: &str) -> Result<Reservation, AuthError> {
        let now = self.clock.now();
        let (client, account) = (client_key(ip), self.hasher.hash_one(account));
        let policy = &self.policy;
        let mut state = self.lock();
        self.count_client(&mut state, client, now)?;

        let failures = state
            .pairs
            .get(&(client, account))
            .filter(|f| now < f.last + FAILURE_MEMORY)
            .copied();
        if let Some(f) = failures {
            let until = f.last + policy.backoff(f.count);
            if now < until {
                return Err(limited(until - now));
            }
        }
        let window = state
            .accounts
            .get(&account)
            .filter(|w| now < w.started + policy.window)
            .copied()
            .unwrap_or(Window {
                started: now,
                count: 0,
            });
        if failures.is_some() && window.count >= policy.per_account {
            return Err(limited(window.started + policy.window - now));
        }

        let failures = failures.map_or(0, |f| f.count);
        let max = self.max_keys;
        insert_bounded(
            &mut state.pairs,
            (client, account),
            Failures {
                count: failures.saturating_add(1),
                last: now,
            },
            max,
            |f| f.last + FAILURE_MEMORY,
            now,
        );
        insert_bounded(
            &mut state.accounts,
            account,
            Window {
                started: window.started,
                count: window.count.saturating_add(1),
            },
            max,
            |w| w.started + policy.window,
            now,
        );
        Ok(Reservation {
            client,
            account,
            account_window: window.started,
        })
    }

    /// The password was right: the client's failures on the account are forgotten and the
    /// attempt no longer counts against the account.
    pub(crate) fn succeeded(&self, reservation: Reservation) {
        let mut state = self.lock();
        state
            .pairs
            .remove(&(reservation.client, reservation.account));
        Self::uncount_account(&mut state, &reservation);
    }

    /// The password was wrong (or the account does not exist): the attempt stays counted.
    pub(crate) fn failed(&self, reservation: Reservation) {
        drop(reservation);
    }

    /// The password could not be checked (database outage): the attempt is given back.
    pub(crate) fn not_checked(&self, reservation: Reservation) {
        let mut state = self.lock();
        let key = (reservation.client, reservation.account);
        if let Some(f) = state.pairs.get_mut(&key) {
            f.count = f.count.saturating_sub(1);
            if f.count == 0 {
                state.pairs.remove(&key);
            }
        }
        Self::uncount_account(&mut state, &reservation);
    }

    fn uncount_account(state: &mut State, reservation: &Reservation) {
        if let Some(w) = state.accounts.get_mut(&reservation.account)
            && w.started == reservation.account_window
        {
            w.count = w.count.saturating_sub(1);
        }
    }

    /// Counts one attempt of `client`, or refuses it when the client's window is used up.
    fn count_client(
        &self,
        state: &mut State,
        client: IpAddr,
        now: Instant,
    ) -> Result<(), AuthError> {
        let window = self.policy.window;
        let current = state
            .clients
            .get(&client)
            .filter(|w| now < w.started + window)
            .copied()
            .unwrap_or(Window {
                started: now,
                count: 0,
            });
        if current.count >= self.policy.per_ip {
            return Err(limited(current.started + window - now));
        }
        insert_bounded(
            &mut state.clients,
            client,
            Window {
                started: current.started,
                count: current.count + 1,
            },
            self.max_keys,
            |w| w.started + window,
            now,
        );
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn sizes(&self) -> [usize; 3] {
        let state = self.lock();
        [state.clients.len(), state.pairs.len(), state.accounts.len()]
    }
}

fn limited(retry_after: Duration) -> AuthError {
    AuthError::RateLimited { retry_after }
}

/// Inserts `key`; when that would pass `max` keys, first drops the entries that have expired
/// (`expires(v) <= now`), then, if still full, the older half by expiry.
fn insert_bounded<K: Eq + Hash, V>(
    map: &mut HashMap<K, V>,
    key: K,
    value: V,
    max: usize,
    expires: impl Fn(&V) -> Instant,
    now: Instant,
) {
    if !map.contains_key(&key) && map.len() >= max {
        map.retain(|_, v| now < expires(v));
        if map.len() >= max {
            let mut ends: Vec<Instant> = map.values().map(&expires).collect();
            let mid = ends.len() / 2;
            let (_, median, _) = ends.select_nth_unstable(mid);
            let median = *median;
            map.retain(|_, v| expires(v) > median);
        }
    }
    map.insert(key, value);
}

/// The key of a client: its IPv4 address, or the /64 prefix of an IPv6 address (one host
/// usually owns the whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

#[cfg(test)]
mod tests;
