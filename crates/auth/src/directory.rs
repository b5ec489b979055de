//! `UserDirectory`: the accounts themselves — create, find, passwords, disable, list, the first
//! admin — and whether a token's account still stands ([`UserDirectory::check_token`]). It needs
//! only the database, so a gateway running without the auth role (and without the signing key)
//! manages users and checks revocation through it too.

use mp3converter_core::{Claims, Role, UserId, now_millis};
use mp3converter_db::{Database, User};

use crate::AuthError;
use crate::email::validate_email;
use crate::password::{Passwords, random_password};
use crate::revocation::Revocations;

/// Email of the admin created on first start when none is configured.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

/// Length of a generated admin password.
const GENERATED_PASSWORD_CHARS: usize = 20;

/// The user accounts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UserDirectory {
    db: Database,
    passwords: Passwords,
    revocations: Revocations,
}

impl UserDirectory {
    /// The accounts stored in `db`; starts computing the dummy password hash in the background.
    /// Account states for [`UserDirectory::check_token`] are trusted for 30 s (see
    /// [`UserDirectory::with_revocations`]).
    pub fn new(db: Database) -> Self {
        let revocations = Revocations::with_defaults(db.clone());
        UserDirectory::with_passwords(db, Passwords::new(), revocations)
    }

    pub(crate) fn with_passwords(
        db: Database,
        passwords: Passwords,
        revocations: Revocations,
    ) -> Self {
        if tokio::runtime::Handle::try_current().is_ok() {
            let warm = passwords.clone();
            tokio::spawn(async move { warm.warm_up().await });
        }
        UserDirectory {
            db,
            passwords,
            revocations,
        }
    }

    /// The same directory with another revocation cache (e.g. the configured check interval).
    pub fn with_revocations(mut self, revocations: Revocations) -> Self {
        self.revocations = revocations;
        self
    }

    /// The revocation cache: how often long-lived streams should call
    /// [`UserDirectory::check_token`] again.
    pub fn revocations(&self) -> &Revocations {
        &self.revocations
    }

    /// `Ok` when the account of verified `claims` still stands (see [`Revocations::check`]):
    /// not disabled, not deleted, the token's generation current. One database read per user
    /// per check interval, not per call.
    pub async fn check_token(&self, claims: &Claims) -> Result<(), AuthError> {
        self.revocations.check(claims).await
    }

    /// Creates an account. The email is checked and stored lowercased; the password must meet
    /// the policy.
    pub async fn create_user(
        &self,
        email: &str,
        password: &str,
        role: Role,
    ) -> Result<User, AuthError> {
        let email = validate_email(email)?;
        let password_hash = self.passwords.hash(password).await?;
        let user = User {
            id: UserId::generate(),
            email,
            password_hash,
            role,
            disabled: false,
            created_at: now_millis(),
            token_generation: 0,
        };
        self.db.create_user(&user).await?;
        tracing::info!(user = %user.id, email = ?user.email, role = %user.role, "user created");
        Ok(user)
    }

    /// The user with this email (any letter case) or id.
    pub async fn find_user(&self, email_or_id: &str) -> Result<User, AuthError> {
        let found = match email_or_id.parse::<UserId>() {
            Ok(id) => self.db.user_by_id(&id).await?,
            Err(_) => self.db.user_by_email(email_or_id).await?,
        };
        found.ok_or(AuthError::NotFound)
    }

    /// A user changes their own password; `old` must be right.
    pub async fn change_password(
        &self,
        user_id: &UserId,
        old: &str,
        new: &str,
    ) -> Result<(), AuthError> {
        let user = self
            .db
            .user_by_id(user_id)
            .await?
            .ok_or(AuthError::NotFound)?;
        if user.disabled
            || !self
                .passwords
                .verify(old, Some(user.password_hash.clone()))
                .await?
        {
            return Err(AuthError::InvalidCredentials);
        }
        let hash = self.passwords.hash(new).await?;
        self.db.set_password(&user.id, &hash).await?;
        self.revocations.forget(&user.id);
        tracing::info!(user = %user.id, "password changed");
        Ok(())
    }

    /// Sets a password without knowing the old one (admins, the CLI).
    pub async fn set_password(&self, email: &str, new: &str) -> Result<(), AuthError> {
        let user = self
            .db
            .user_by_email(email)
            .await?
            .ok_or(AuthError::NotFound)?;
        let hash = self.passwords.hash(new).await?;
        self.db.set_password(&user.id, &hash).await?;
        self.revocations.forget(&user.id);
        tracing::info!(user = %user.id, "password set");
        Ok(())
    }

    /// Disables an account (by email or id): it can no longer log in, and the tokens already
    /// issued are revoked (here at once, in other processes within the check interval).
    pub async fn disable_user(&self, email_or_id: &str) -> Result<User, AuthError> {
        self.set_disabled(email_or_id, true).await
    }

    /// Re-enables a disabled account (by email or id). Tokens issued before it was disabled stay
    /// revoked: the user logs in again.
    pub async fn enable_user(&self, email_or_id: &str) -> Result<User, AuthError> {
        self.set_disabled(email_or_id, false).await
    }

    async fn set_disabled(&self, email_or_id: &str, disabled: bool) -> Result<User, AuthError> {
        let mut user = self.find_user(email_or_id).await?;
        self.db.set_disabled(&user.id, disabled).await?;
        self.revocations.forget(&user.id);
        user.disabled = disabled;
        user.token_generation += 1;
        tracing::info!(user = %user.id, disabled, "account state changed");
        Ok(user)
    }

    /// Every account, oldest first.
    pub async fn list_users(&self) -> Result<Vec<User>, AuthError> {
        Ok(self.db.list_users().await?)
    }

    /// On first start (no users at all) creates an admin: `email` or `admin@localhost`, with
    /// `password`, or with a random 20-character one. A generated password is first handed to
    /// `keep` (with the canonical email) to be stored where the operator will find it — if that
    /// fails, no account is created, so a password nobody has never becomes the only way in —
    /// and is then returned as `Some((email, password))`. Returns `None` when users exist or the
    /// password was given.
    pub async fn ensure_admin(
        &self,
        email: Option<&str>,
        password: Option<&str>,
        keep: impl FnOnce(&str, &str) -> Result<(), AuthError>,
    ) -> Result<Option<(String, String)>, AuthError> {
        if self.db.count_users().await? > 0 {
            return Ok(None);
        }
        let email = validate_email(email.unwrap_or(DEFAULT_ADMIN_EMAIL))?;
        let (password, generated) = match password {
            Some(p) => (p.to_owned(), false),
            None => {
                let password = random_password(GENERATED_PASSWORD_CHARS)?;
                keep(&email, &password)?;
                (password, true)
            }
        };
        match self.create_user(&email, &password, Role::Admin).await {
            Ok(user) => {
                tracing::info!(email = ?user.email, "created the first admin");
                Ok(generated.then_some((user.email, password)))
            }
            // Another process created the first users at the same moment.
            Err(AuthError::EmailTaken) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
