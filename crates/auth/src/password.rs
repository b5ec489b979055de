//! Passwords: the policy, argon2id hashing to PHC strings, constant-time verification (with a
//! dummy hash for accounts that do not exist), and random passwords for the first admin.
//!
//! Hashing costs ~19 MiB and tens of milliseconds (argon2's defaults, the OWASP recommendation
//! m=19456 KiB, t=2, p=1), so the async wrappers run it on the blocking pool and bound how many
//! run at once.

use std::sync::{Arc, LazyLock};

use argon2::password_hash::SaltString;
use argon2::{Argon2, PasswordHash, PasswordHasher as _, PasswordVerifier as _};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::AuthError;

/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in characters (bounds the hashing work an attacker can ask for).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Characters of generated passwords (no look-alike-prone punctuation, shell-safe).
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Checks the password policy; the error says which rule failed.
pub fn check_policy(password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword(format!(
            "at least {MIN_PASSWORD_CHARS} characters are required"
        )));
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword(format!(
            "at most {MAX_PASSWORD_CHARS} characters are allowed"
        )));
    }
    Ok(())
}

pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], AuthError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| AuthError::Internal("the system random source failed".into()))?;
    Ok(bytes)
}

/// The argon2id PHC string of `password` with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt = SaltString::encode_b64(&random_bytes::<16>()?)
        .map_err(|e| AuthError::Internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Internal(format!("argon2: {e}")))
}

/// True when `password` matches the PHC string (compared in constant time). A malformed hash
/// never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of an unknown random password with the current parameters: verified against when the
/// account does not exist or is disabled, so that answer takes as long as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let pw = random_password(32).unwrap_or_else(|_| "dummy-password-never-matches".into());
    hash_password(&pw).unwrap_or_default()
});

/// A random password of `len` letters and digits (~5.95 bits each).
pub fn random_password(len: usize) -> Result<String, AuthError> {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes::<32>()? {
            // 248 = 4 × 62: rejecting larger bytes keeps every character equally likely.
            if b < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// Runs hashing and verification on the blocking pool, at most one per core at a time.
#[derive(Debug, Clone)]
pub(crate) struct Passwords {
    permits: Arc<Semaphore>,
}

impl Passwords {
    pub(crate) fn new() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Passwords {
            permits: Arc::new(Semaphore::new(cores)),
        }
    }

    /// Computes the dummy hash now, so the first unknown-user login is not slower than others.
    pub(crate) async fn warm_up(&self) -> Result<(), AuthError> {
        self.run(|| {
            LazyLock::force(&DUMMY_HASH);
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, AuthError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| AuthError::Internal("password hasher closed".into()))?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| AuthError::Internal(format!("password hashing task: {e}")))
    }

    /// [`hash_password`] off the async executor (the policy is checked first).
    pub(crate) async fn hash(&self, password: &str) -> Result<String, AuthError> {
        check_policy(password)?;
        let password = SecretString::from(password.to_owned());
        self.run(move || hash_password(password.expose_secret()))
            .await?
    }

    /// [`verify_password`] off the async executor; `None` verifies against the dummy hash and
    /// returns false.
    pub(crate) async fn verify(
        &self,
        password: &str,
        phc: Option<String>,
    ) -> Result<bool, AuthError> {
        let password = SecretString::from(password.to_owned());
        self.run(move || match phc {
            Some(phc) => verify_password(password.expose_secret(), &phc),
            None => {
                let _ = verify_password(password.expose_secret(), &DUMMY_HASH);
                false
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_salted_argon2id_phc_strings_that_verify() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "salts differ");
        assert!(!a.contains("correct horse"));
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("correct horsE", &a));
        assert!(!verify_password("correct horse", "not a phc string"));
    }

    #[test]
    fn the_policy_bounds_the_length_in_characters() {
        assert!(matches!(
            check_policy("1234567"),
            Err(AuthError::WeakPassword(_))
        ));
        check_policy("12345678").unwrap();
        check_policy("äöüäöüäö").unwrap();
        check_policy(&"x".repeat(MAX_PASSWORD_CHARS)).unwrap();
        assert!(check_policy(&"x".repeat(MAX_PASSWORD_CHARS + 1)).is_err());
    }

    #[test]
    fn random_passwords_have_the_length_and_alphabet() {
        let a = random_password(20).unwrap();
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|b| ALPHABET.contains(&b)));
        assert_ne!(a, random_password(20).unwrap());
    }

    #[tokio::test]
    async fn verifying_an_unknown_account_runs_the_dummy_hash_and_fails() {
        let passwords = Passwords::new();
        passwords.warm_up().await.unwrap();
        assert!(DUMMY_HASH.starts_with("$argon2id$"));
        assert!(!passwords.verify("anything", None).await.unwrap());
    }
}
