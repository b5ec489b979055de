//! Unit tests of the login limiter's policy, on a manual clock.

use super::*;
use crate::clock::ManualClock;

const ALICE: &str = "alice@example.com";

fn policy() -> LoginPolicy {
    LoginPolicy {
        per_ip: 1_000,
        per_account: 5,
        window: Duration::from_secs(60),
        free_failures: 3,
        backoff_base: Duration::from_secs(1),
        backoff_max: Duration::from_secs(900),
    }
}

fn limiter(policy: LoginPolicy) -> (LoginLimiter, ManualClock) {
    let clock = ManualClock::new();
    (LoginLimiter::new(policy, Arc::new(clock.clone())), clock)
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn retry_after(result: Result<Reservation, AuthError>) -> Duration {
    match result {
        Err(AuthError::RateLimited { retry_after }) => retry_after,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// One failed attempt; panics when it is refused.
fn fail(limiter: &LoginLimiter, from: &str, account: &str) {
    let r = limiter.reserve(ip(from), account).expect("attempt allowed");
    limiter.failed(r);
}

#[test]
fn backoff_doubles_after_the_free_failures_up_to_the_cap() {
    let p = policy();
    let secs: Vec<u64> = [0, 1, 2, 3, 4, 5, 12, 13, 40, u32::MAX]
        .iter()
        .map(|&n| p.backoff(n).as_secs())
        .collect();
    assert_eq!(secs, [0, 0, 0, 1, 2, 4, 512, 900, 900, 900]);
}

#[test]
fn a_client_backs_off_exponentially_per_account() {
    let (limiter, clock) = limiter(policy());
    let attacker = "203.0.113.9";
    for _ in 0..3 {
        fail(&limiter, attacker, ALICE);
    }
    assert_eq!(
        retry_after(limiter.reserve(ip(attacker), ALICE)),
        Duration::from_secs(1)
    );
    // Another account from the same client is not held back by it.
    fail(&limiter, attacker, "bob@example.com");
    clock.advance(Duration::from_secs(1));
    fail(&limiter, attacker, ALICE);
    assert_eq!(
        retry_after(limiter.reserve(ip(attacker), ALICE)),
        Duration::from_secs(2)
    );
    clock.advance(Duration::from_secs(2));
    fail(&limiter, attacker, ALICE);
    assert_eq!(
        retry_after(limiter.reserve(ip(attacker), ALICE)),
        Duration::from_secs(4)
    );
    // Forgotten a day after the last failure.
    clock.advance(FAILURE_MEMORY);
    for _ in 0..3 {
        fail(&limiter, attacker, ALICE);
    }
}

#[test]
fn strangers_failing_never_lock_out_a_clean_client() {
    let (limiter, clock) = limiter(policy());
    // Two strangers fail five times together: the account is at its cap, and a stranger that
    // has failed is refused.
    for _ in 0..3 {
        fail(&limiter, "198.51.100.1", ALICE);
    }
    for _ in 0..2 {
        fail(&limiter, "198.51.100.2", ALICE);
    }
    retry_after(limiter.reserve(ip("198.51.100.2"), ALICE));
    // Alice, from an address that has not failed on her account, is checked and gets in.
    let r = limiter
        .reserve(ip("192.0.2.7"), ALICE)
        .expect("a clean client");
    limiter.succeeded(r);
    // A stranger that already failed is refused until the window ends, even past its back-off.
    clock.advance(Duration::from_secs(30));
    assert_eq!(
        retry_after(limiter.reserve(ip("198.51.100.1"), ALICE)),
        Duration::from_secs(30)
    );
    // A new stranger gets exactly one check, then it is a client that failed.
    fail(&limiter, "198.51.100.99", ALICE);
    retry_after(limiter.reserve(ip("198.51.100.99"), ALICE));
    // Other accounts are untouched.
    fail(&limiter, "198.51.100.1", "bob@example.com");
    clock.advance(Duration::from_secs(30));
    fail(&limiter, "198.51.100.1", ALICE);
}

#[test]
fn attempts_are_counted_before_their_password_is_checked() {
    let (limiter, _clock) = limiter(policy());
    let from = ip("203.0.113.1");
    let held: Vec<Reservation> = (0..3)
        .map(|_| limiter.reserve(from, ALICE).unwrap())
        .collect();
    retry_after(limiter.reserve(from, ALICE));
    // Attempts that could not be checked are given back.
    for r in held {
        limiter.not_checked(r);
    }
    assert_eq!(limiter.sizes()[1], 0);
    fail(&limiter, "203.0.113.1", ALICE);
}

#[test]
fn a_success_forgets_the_clients_failures_on_the_account() {
    let (limiter, _clock) = limiter(policy());
    fail(&limiter, "192.0.2.7", ALICE);
    fail(&limiter, "192.0.2.7", ALICE);
    let r = limiter.reserve(ip("192.0.2.7"), ALICE).unwrap();
    limiter.succeeded(r);
    for _ in 0..3 {
        fail(&limiter, "192.0.2.7", ALICE);
    }
}

#[test]
fn a_client_is_limited_per_window_across_accounts() {
    let (limiter, clock) = limiter(LoginPolicy {
        per_ip: 2,
        ..policy()
    });
    let from = ip("203.0.113.5");
    limiter.attempt_without_account(from).unwrap();
    clock.advance(Duration::from_secs(10));
    fail(&limiter, "203.0.113.5", ALICE);
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        retry_after(limiter.reserve(from, "bob@example.com")),
        Duration::from_secs(45)
    );
    assert!(limiter.attempt_without_account(from).is_err());
    limiter.attempt_without_account(ip("203.0.113.6")).unwrap();
    clock.advance(Duration::from_secs(45));
    fail(&limiter, "203.0.113.5", "bob@example.com");
}

#[test]
fn memory_stays_bounded_under_a_key_spray() {
    let (mut limiter, clock) = limiter(policy());
    limiter.max_keys = 100;
    for i in 0..1_000u32 {
        let from = IpAddr::from(i.to_be_bytes());
        if let Ok(r) = limiter.reserve(from, &format!("u{i}@example.com")) {
            limiter.failed(r);
        }
        clock.advance(Duration::from_millis(1));
    }
    assert!(
        limiter.sizes().iter().all(|&n| n <= 100),
        "{:?}",
        limiter.sizes()
    );
    // The newest keys are kept.
    let newest = IpAddr::from(999u32.to_be_bytes());
    for _ in 0..2 {
        fail(&limiter, &newest.to_string(), "u999@example.com");
    }
    retry_after(limiter.reserve(newest, "u999@example.com"));
}

#[test]
fn ipv6_clients_are_counted_per_64_prefix_and_mapped_ipv4_as_ipv4() {
    let a = ip("2001:db8:1:2::1");
    let b = ip("2001:db8:1:2:ffff::9");
    let c = ip("2001:db8:1:3::1");
    assert_eq!(client_key(a), client_key(b));
    assert_ne!(client_key(a), client_key(c));
    assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
}
