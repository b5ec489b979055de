//! `AuthService`: logins (rate-limited, timing-safe), token checks, and the user management the
//! API and the CLI need (create, passwords, disable, list, the first admin).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use mp3converter_core::{Claims, Role, UserId};
use mp3converter_db::{Database, User};
use secrecy::ExposeSecret;

use crate::clock::{Clock, SystemClock};
use crate::directory::UserDirectory;
use crate::email::{canonical_email, loggable};
use crate::keys::SigningKey;
use crate::password::{MAX_PASSWORD_CHARS, Passwords};
use crate::rate_limit::LoginLimiter;
use crate::revocation::Revocations;
use crate::{Algorithm, AuthConfig, AuthError, TokenIssuer, TokenVerifier};

/// Users, logins and tokens. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone)]
pub struct AuthService {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    config: AuthConfig,
    issuer: TokenIssuer,
    verifier: TokenVerifier,
    limiter: LoginLimiter,
    passwords: Passwords,
    users: UserDirectory,
}

impl fmt::Debug for AuthService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthService")
            .field("config", &self.inner.config)
            .field("verifier", &self.inner.verifier)
            .finish_non_exhaustive()
    }
}

impl AuthService {
    /// Validates `config`, loads (or creates) the signing key and starts computing the dummy
    /// password hash in the background.
    pub fn new(db: Database, config: AuthConfig) -> Result<AuthService, AuthError> {
        AuthService::with_clock(db, config, Arc::new(SystemClock))
    }

    /// [`AuthService::new`] with the clock the rate limiter reads (tests use a `ManualClock`).
    pub fn with_clock(
        db: Database,
        config: AuthConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<AuthService, AuthError> {
        config.validate()?;
        let ttl = Duration::from_secs(config.token_ttl_secs);
        let (iss, aud) = (config.issuer.as_str(), config.audience.as_str());
        let (issuer, verifier) = match (config.algorithm, &config.jwt_secret, &config.key_path) {
            (Algorithm::Hs256, Some(secret), _) => {
                let secret = secret.expose_secret().as_bytes();
                (
                    TokenIssuer::hs256(secret, ttl, iss, aud),
                    TokenVerifier::hs256(secret, iss, aud),
                )
            }
            (Algorithm::EdDsa, _, Some(path)) => {
                let key = SigningKey::load_or_create(path)?;
                (
                    TokenIssuer::eddsa(&key, ttl, iss, aud),
                    TokenVerifier::for_key(&key, iss, aud),
                )
            }
            _ => return Err(AuthError::Config("auth: no key for the algorithm".into())),
        };
        let limiter = LoginLimiter::new(config.login_policy(), clock.clone());
        let passwords = Passwords::new();
        let revocations = Revocations::new(db.clone(), config.revocation_check(), clock.clone());
        let users = UserDirectory::with_passwords(db.clone(), passwords.clone(), revocations);
        Ok(AuthService {
            inner: Arc::new(Inner {
                db,
                config,
                issuer,
                verifier,
                limiter,
                passwords,
                users,
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &AuthConfig {
        &self.inner.config
    }

    /// Checks `email`/`password` and returns a signed token. Unknown email, wrong password and
    /// disabled account are all [`AuthError::InvalidCredentials`] and take the same time; an
    /// email no account can have (not ASCII, control characters, …) is the same error without a
    /// lookup; too many attempts are [`AuthError::RateLimited`] (the policy is in
    /// [`crate::rate_limit`]); a database outage is [`AuthError::Unavailable`].
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client_ip: IpAddr,
    ) -> Result<String, AuthError> {
        let inner = &self.inner;
        let Some(account) = canonical_email(email) else {
            inner.limiter.attempt_without_account(client_ip)?;
            tracing::info!(email = ?loggable(email), ip = %client_ip, "login failed: not an email");
            return Err(AuthError::InvalidCredentials);
        };
        // Counted before the password is checked, so parallel attempts cannot all get through.
        let attempt = inner.limiter.reserve(client_ip, &account)?;
        if password.is_empty() || password.chars().count() > MAX_PASSWORD_CHARS {
            inner.limiter.failed(attempt);
            tracing::info!(email = ?account, ip = %client_ip, "login failed");
            return Err(AuthError::InvalidCredentials);
        }
        let checked = async {
            let user = inner.db.user_by_email(&account).await?;
            let user = user.filter(|u| !u.disabled);
            let hash = user.as_ref().map(|u| u.password_hash.clone());
            let matches = inner.passwords.verify(password, hash).await?;
            Ok::<_, AuthError>(user.filter(|_| matches))
        };
        match checked.await {
            Ok(Some(user)) => {
                inner.limiter.succeeded(attempt);
                tracing::debug!(user = %user.id, "login succeeded");
                inner.issuer.issue(&user)
            }
            Ok(None) => {
                inner.limiter.failed(attempt);
                tracing::info!(email = ?account, ip = %client_ip, "login failed");
                Err(AuthError::InvalidCredentials)
            }
            Err(e) => {
                inner.limiter.not_checked(attempt);
                Err(e)
            }
        }
    }

    /// The claims of a validly signed, unexpired token — without the revocation check (see
    /// [`AuthService::verify_current`]).
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        self.inner.verifier.verify(token)
    }

    /// The claims of a valid token whose account still stands: [`AuthService::verify`] plus
    /// [`UserDirectory::check_token`] (a disabled account, a changed password or a reset make
    /// the token [`AuthError::InvalidToken`]).
    pub async fn verify_current(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.verify(token)?;
        self.inner.users.check_token(&claims).await?;
        Ok(claims)
    }

    /// A verifier for this service's tokens (for an in-process gateway).
    pub fn verifier(&self) -> TokenVerifier {
        self.inner.verifier.clone()
    }

    /// The issuer of this service's tokens.
    pub fn issuer(&self) -> &TokenIssuer {
        &self.inner.issuer
    }

    /// The JWKS document with the public signing key (`{"keys":[]}` in HS256 mode).
    pub fn jwks_json(&self) -> String {
        self.inner.verifier.jwks_json()
    }

    /// The user accounts.
    pub fn users(&self) -> &UserDirectory {
        &self.inner.users
    }

    /// Creates an account (see [`UserDirectory::create_user`]).
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        role: Role,
    ) -> Result<User, AuthError> {
        self.inner.users.create_user(email, password, role).await
    }

    /// The user with this email (any letter case) or id.
    pub async fn find_user(&self, email_or_id: &str) -> Result<User, AuthError> {
        self.inner.users.find_user(email_or_id).await
    }

    /// A user changes their own password; `old` must be right.
    pub async fn change_password(
        &self,
        user_id: &UserId,
        old: &str,
        new: &str,
    ) -> Result<(), AuthError> {
        self.inner.users.change_password(user_id, old, new).await
    }

    /// Sets a password without knowing the old one (admins, the CLI).
    pub async fn set_password(&self, email: &str, new: &str) -> Result<(), AuthError> {
        self.inner.users.set_password(email, new).await
    }

    /// Disables an account (by email or id).
    pub async fn disable_user(&self, email_or_id: &str) -> Result<User, AuthError> {
        self.inner.users.disable_user(email_or_id).await
    }

    /// Re-enables a disabled account (by email or id).
    pub async fn enable_user(&self, email_or_id: &str) -> Result<User, AuthError> {
        self.inner.users.enable_user(email_or_id).await
    }

    /// Every account, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>, AuthError> {
        self.inner.users.list_users().await
    }

    /// On first start creates an admin (see [`UserDirectory::ensure_admin`]).
    pub async fn ensure_admin(
        &self,
        email: Option<&str>,
        password: Option<&str>,
        keep: impl FnOnce(&str, &str) -> Result<(), AuthError>,
    ) -> Result<Option<(String, String)>, AuthError> {
        self.inner.users.ensure_admin(email, password, keep).await
    }
}
