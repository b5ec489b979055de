//! [`LocalAuth`]: the gateway's `Authenticator` when the auth role runs in the same process.

use std::net::IpAddr;

use async_trait::async_trait;
use mp3converter_auth::{AuthService, PendingLogin, SingleSignOn};
use mp3converter_core::{Claims, UserId};
use mp3converter_gateway::{AuthFailure, Authenticator, SsoStart, UserView};

use super::{TokenCache, accounts, failure, recheck};

/// The auth service running in this process, with a small cache of verified tokens: a token is
/// immutable, so once its signature checked out only its expiry needs checking again. This takes
/// a signature verification off every authenticated request of a client that reuses its token.
#[derive(Debug, Clone)]
pub struct LocalAuth {
    service: AuthService,
    verified: TokenCache,
    sso: Option<SingleSignOn>,
}

impl LocalAuth {
    /// Wraps the service.
    pub fn new(service: AuthService) -> Self {
        LocalAuth {
            service,
            verified: TokenCache::default(),
            sso: None,
        }
    }

    /// With single sign-on (when configured: `None` leaves it off).
    pub fn with_sso(mut self, sso: Option<SingleSignOn>) -> Self {
        self.sso = sso;
        self
    }

    fn sso(&self) -> Result<&SingleSignOn, AuthFailure> {
        self.sso.as_ref().ok_or_else(AuthFailure::sso_disabled)
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

    fn sso_name(&self) -> Option<String> {
        self.sso.as_ref().map(|s| s.display_name().to_string())
    }

    async fn sso_begin(&self) -> Result<SsoStart, AuthFailure> {
        let request = self.sso()?.begin().await.map_err(failure)?;
        Ok(SsoStart {
            authorize_url: request.url,
            state: request.pending.state.clone(),
            pending: serde_json::to_string(&request.pending).map_err(AuthFailure::internal)?,
        })
    }

    async fn sso_finish(&self, code: &str, pending: &str) -> Result<String, AuthFailure> {
        let sso = self.sso()?;
        let pending: PendingLogin = serde_json::from_str(pending).map_err(AuthFailure::internal)?;
        sso.finish(code, &pending).await.map_err(failure)
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
