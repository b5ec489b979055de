//! The gateway's [`Authenticator`](mp3converter_gateway::Authenticator) port, implemented by the
//! auth service in this process ([`LocalAuth`]) or in another one ([`RemoteAuth`]), and what
//! both share: the cache of verified tokens, the revocation re-check, error mapping and account
//! management through the user directory.

mod local;
mod remote;

pub use local::LocalAuth;
pub use remote::RemoteAuth;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mp3converter_auth::AuthError;
use mp3converter_core::{Claims, Role};
use mp3converter_db::User;
use mp3converter_gateway::{AuthFailure, UserView};

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
