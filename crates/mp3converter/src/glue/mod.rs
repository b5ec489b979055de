//! Adapters between crates that do not know each other: the gateway's `Authenticator` port,
//! implemented by the auth service in this process ([`LocalAuth`]) or in another one
//! ([`RemoteAuth`]).

mod remote;

pub use remote::RemoteAuth;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use mp3converter_auth::{AuthError, AuthService};
use mp3converter_core::{Claims, Role, UserId};
use mp3converter_db::User;
use mp3converter_gateway::{AuthFailure, Authenticator, UserView};

/// The auth service running in this process, with a small cache of verified tokens: a token is
/// immutable, so once its signature checked out only its expiry needs checking again. This takes
/// a signature verification off every authenticated request of a client that reuses its token.
#[derive(Debug, Clone)]
pub struct LocalAuth {
    service: AuthService,
    verified: TokenCache,
}

/// Verified tokens remembered at most (the cache is emptied when it fills up).
const VERIFIED_CACHE: usize = 4096;

/// Tokens whose signature checked out, with their claims: a token is immutable, so only its
/// expiry needs checking again. Emptied when it fills up.
#[derive(Debug, Clone, Default)]
pub(crate) struct TokenCache {
    verified: Arc<Mutex<HashMap<String, Claims>>>,
}

impl TokenCache {
    /// The cached claims of `token` if it has not expired, else `verify(token)` (remembered when
    /// it succeeds).
    pub(crate) fn get_or_verify(
        &self,
        token: &str,
        verify: impl FnOnce(&str) -> Result<Claims, AuthFailure>,
    ) -> Result<Claims, AuthFailure> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(claims) = cache.get(token) {
            if claims.exp > now {
                return Ok(claims.clone());
            }
            cache.remove(token);
        }
        drop(cache);
        let claims = verify(token)?;
        let mut cache = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= VERIFIED_CACHE {
            cache.clear();
        }
        cache.insert(token.to_string(), claims.clone());
        Ok(claims)
    }

    #[cfg(test)]
    fn insert(&self, token: &str, claims: Claims) {
        self.verified.lock().unwrap().insert(token.into(), claims);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.verified.lock().unwrap().len()
    }
}

impl LocalAuth {
    /// Wraps the service.
    pub fn new(service: AuthService) -> Self {
        LocalAuth {
            service,
            verified: TokenCache::default(),
        }
    }
}

pub(crate) fn failure(e: AuthError) -> AuthFailure {
    let status = e.status();
    let message = if status.is_server_error() {
        tracing::error!("auth failed: {e}");
        "the service is unavailable, try again later".to_string()
    } else {
        e.to_string()
    };
    let retry_after = match e {
        AuthError::RateLimited { retry_after } => Some(retry_after),
        _ => None,
    };
    AuthFailure {
        status,
        code: e.code(),
        message,
        retry_after,
    }
}

/// Unexpired (no leeway: a stream ends when its token does) and not revoked.
pub(crate) async fn recheck(
    users: &mp3converter_auth::UserDirectory,
    claims: &Claims,
) -> Result<(), AuthFailure> {
    if claims.exp <= mp3converter_core::now_millis().div_euclid(1000) {
        return Err(AuthFailure::invalid_token());
    }
    users.check_token(claims).await.map_err(failure)
}

pub(crate) fn view(u: User) -> UserView {
    UserView {
        id: u.id,
        email: u.email,
        admin: u.role == Role::Admin,
        disabled: u.disabled,
        created_at: u.created_at,
    }
}

#[async_trait]
impl Authenticator for LocalAuth {
    async fn login(
        &self,
        email: &str,
        password: &str,
        client_ip: IpAddr,
    ) -> Result<String, AuthFailure> {
        self.service
            .login(email, password, client_ip)
            .await
            .map_err(failure)
    }

    async fn verify(&self, token: &str) -> Result<Claims, AuthFailure> {
        let claims = self
            .verified
            .get_or_verify(token, |t| self.service.verify(t).map_err(failure))?;
        self.recheck(&claims).await?;
        Ok(claims)
    }

    async fn recheck(&self, claims: &Claims) -> Result<(), AuthFailure> {
        recheck(self.service.users(), claims).await
    }

    fn recheck_interval(&self) -> std::time::Duration {
        self.service.users().revocations().check_every()
    }

    async fn create_user(
        &self,
        email: &str,
        password: &str,
        admin: bool,
    ) -> Result<UserView, AuthFailure> {
        accounts::create(self.service.users(), email, password, admin).await
    }

    async fn list_users(&self) -> Result<Vec<UserView>, AuthFailure> {
        accounts::list(self.service.users()).await
    }

    async fn disable_user(&self, user_id: &UserId) -> Result<(), AuthFailure> {
        accounts::disable(self.service.users(), user_id).await
    }

    async fn enable_user(&self, user_id: &UserId) -> Result<(), AuthFailure> {
        accounts::enable(self.service.users(), user_id).await
    }

    async fn change_password(
        &self,
        user_id: &UserId,
        old: &str,
        new: &str,
    ) -> Result<(), AuthFailure> {
        accounts::change_password(self.service.users(), user_id, old, new).await
    }
}

/// Account management through the user directory, as both authenticators do it.
pub(crate) mod accounts {
    use mp3converter_auth::UserDirectory;
    use mp3converter_core::{Role, UserId};
    use mp3converter_gateway::{AuthFailure, UserView};

    use super::{failure, view};

    pub(crate) async fn create(
        users: &UserDirectory,
        email: &str,
        password: &str,
        admin: bool,
    ) -> Result<UserView, AuthFailure> {
        let role = if admin { Role::Admin } else { Role::User };
        users
            .create_user(email, password, role)
            .await
            .map(view)
            .map_err(failure)
    }

    pub(crate) async fn list(users: &UserDirectory) -> Result<Vec<UserView>, AuthFailure> {
        let all = users.list_users().await.map_err(failure)?;
        Ok(all.into_iter().map(view).collect())
    }

    pub(crate) async fn disable(users: &UserDirectory, id: &UserId) -> Result<(), AuthFailure> {
        users
            .disable_user(id.as_ref())
            .await
            .map(drop)
            .map_err(failure)
    }

    pub(crate) async fn enable(users: &UserDirectory, id: &UserId) -> Result<(), AuthFailure> {
        users
            .enable_user(id.as_ref())
            .await
            .map(drop)
            .map_err(failure)
    }

    pub(crate) async fn change_password(
        users: &UserDirectory,
        id: &UserId,
        old: &str,
        new: &str,
    ) -> Result<(), AuthFailure> {
        users.change_password(id, old, new).await.map_err(failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn auth() -> (LocalAuth, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = mp3converter_db::Database::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let config = mp3converter_auth::AuthConfig {
            key_path: Some(dir.path().join("key.pem")),
            ..Default::default()
        };
        (LocalAuth::new(AuthService::new(db, config).unwrap()), dir)
    }

    #[tokio::test]
    async fn cached_verification_still_refuses_bad_and_expired_tokens() {
        let (auth, _dir) = auth().await;
        auth.create_user("u@example.com", "password-123", false)
            .await
            .unwrap();
        let token = auth
            .login("u@example.com", "password-123", [127, 0, 0, 1].into())
            .await
            .unwrap();
        let first = auth.verify(&token).await.unwrap();
        assert_eq!(
            auth.verify(&token).await.unwrap(),
            first,
            "served from the cache"
        );
        assert_eq!(auth.verified.len(), 1);

        // A tampered token is never in the cache and still fails.
        let mut tampered = token.clone();
        tampered.pop();
        assert!(auth.verify(&tampered).await.is_err());

        // An entry whose token has expired is dropped and the token refused.
        let expired = Claims { exp: 1, ..first };
        auth.verified.insert(&token, expired);
        let fresh = auth.verify(&token).await.unwrap();
        assert!(
            fresh.exp > 1,
            "re-verified from the signature, not from the stale entry"
        );
    }
}
