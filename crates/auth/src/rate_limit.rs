//! Login rate limiting in memory: fixed windows per client IP (every attempt counts) and per
//! account (failures count, a success resets), with bounded memory and an injectable clock.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::AuthError;

/// Where the limiter (and anything else time-based in this crate) reads the time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that only moves when told to (tests). Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<Instant>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(Instant::now())),
        }
    }
}

impl ManualClock {
    /// A clock standing at the real current instant.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Most keys one table keeps; past this, finished windows are pruned and then the oldest half.
const MAX_KEYS: usize = 65_536;

#[derive(Debug, Clone, Copy)]
struct Counter {
    started: Instant,
    count: u32,
}

/// One fixed-window counter per key.
#[derive(Debug)]
struct Table<K> {
    counters: Mutex<HashMap<K, Counter>>,
    limit: u32,
    window: Duration,
    max_keys: usize,
}

impl<K: Eq + Hash + Clone> Table<K> {
    fn new(limit: u32, window: Duration) -> Self {
        Table {
            counters: Mutex::new(HashMap::new()),
            limit,
            window,
            max_keys: MAX_KEYS,
        }
    }

    /// `Err(retry_after)` when `key` has used up its window.
    fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(key) {
            Some(c) if c.count >= self.limit && now < c.started + self.window => {
                Err(c.started + self.window - now)
            }
            _ => Ok(()),
        }
    }

    /// Counts one event for `key`, opening a new window when the last one is over.
    fn hit(&self, key: &K, now: Instant) {
        let mut map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        if !map.contains_key(key) && map.len() >= self.max_keys {
            self.prune(&mut map, now);
        }
        let counter = map.entry(key.clone()).or_insert(Counter {
            started: now,
            count: 0,
        });
        if now >= counter.started + self.window {
            *counter = Counter {
                started: now,
                count: 0,
            };
        }
        counter.count = counter.count.saturating_add(1);
    }

    /// Check and hit as one step: `Err(retry_after)` (and nothing counted) when over the limit.
    fn check_and_hit(&self, key: &K, now: Instant) -> Result<(), Duration> {
        self.check(key, now)?;
        self.hit(key, now);
        Ok(())
    }

    fn reset(&self, key: &K) {
        self.counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    fn prune(&self, map: &mut HashMap<K, Counter>, now: Instant) {
        map.retain(|_, c| now < c.started + self.window);
        if map.len() >= self.max_keys {
            let mut starts: Vec<Instant> = map.values().map(|c| c.started).collect();
            let mid = starts.len() / 2;
            let (_, median, _) = starts.select_nth_unstable(mid);
            let median = *median;
            map.retain(|_, c| c.started > median);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
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

/// Per-IP and per-account login limits.
#[derive(Debug)]
pub(crate) struct LoginLimiter {
    per_ip: Table<IpAddr>,
    per_account: Table<String>,
    clock: Arc<dyn Clock>,
}

impl LoginLimiter {
    pub(crate) fn new(
        per_ip: u32,
        per_account: u32,
        window: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        LoginLimiter {
            per_ip: Table::new(per_ip, window),
            per_account: Table::new(per_account, window),
            clock,
        }
    }

    /// Called before checking a password: counts the attempt against the IP and refuses it when
    /// the IP or the account (`key`, the lowercased email) is over its limit.
    pub(crate) fn before_attempt(&self, ip: IpAddr, account: &str) -> Result<(), AuthError> {
        let now = self.clock.now();
        let limited = |retry_after| AuthError::RateLimited { retry_after };
        self.per_ip
            .check_and_hit(&client_key(ip), now)
            .map_err(limited)?;
        self.per_account
            .check(&account.to_owned(), now)
            .map_err(limited)
    }

    /// Records a failed login of `account`.
    pub(crate) fn failed(&self, account: &str) {
        self.per_account.hit(&account.to_owned(), self.clock.now());
    }

    /// Records a successful login of `account`: its failures are forgotten.
    pub(crate) fn succeeded(&self, account: &str) {
        self.per_account.reset(&account.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_limited_until_its_window_ends() {
        let t0 = Instant::now();
        let table = Table::new(2, Duration::from_secs(60));
        table.check_and_hit(&1, t0).unwrap();
        table
            .check_and_hit(&1, t0 + Duration::from_secs(10))
            .unwrap();
        let wait = table
            .check_and_hit(&1, t0 + Duration::from_secs(15))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(45));
        table.check_and_hit(&2, t0).unwrap();
        table
            .check_and_hit(&1, t0 + Duration::from_secs(60))
            .unwrap();
    }

    #[test]
    fn memory_stays_bounded_under_a_key_spray() {
        let t0 = Instant::now();
        let mut table = Table::new(1, Duration::from_secs(60));
        table.max_keys = 100;
        for i in 0..1_000u32 {
            table.hit(&i, t0 + Duration::from_millis(u64::from(i)));
        }
        assert!(table.len() <= 100, "{}", table.len());
        // The newest keys are kept.
        assert!(table.check(&999, t0 + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_prefix_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        assert_ne!(client_key(a), client_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(client_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn account_failures_lock_and_a_success_resets_them() {
        let clock = ManualClock::new();
        let limiter = LoginLimiter::new(100, 2, Duration::from_secs(60), Arc::new(clock.clone()));
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        limiter.before_attempt(ip, "a@x").unwrap();
        limiter.failed("a@x");
        limiter.before_attempt(ip, "a@x").unwrap();
        limiter.succeeded("a@x");
        limiter.failed("a@x");
        limiter.before_attempt(ip, "a@x").unwrap();
        limiter.failed("a@x");
        assert!(matches!(
            limiter.before_attempt(ip, "a@x"),
            Err(AuthError::RateLimited { .. })
        ));
        limiter.before_attempt(ip, "b@x").unwrap();
        clock.advance(Duration::from_secs(60));
        limiter.before_attempt(ip, "a@x").unwrap();
    }
}
