//! `SingleSignOn`: logins through an OpenID Connect provider. The provider vouches for a user
//! (a verified ID token, see the `mp3converter-oidc` crate); this decides which account that
//! is and issues our usual token for it.
//!
//! Which account (in this order):
//! 1. the one linked to the provider's `(iss, sub)` by an earlier single sign-on login — the
//!    link survives a change of email at the provider;
//! 2. otherwise, with `oidc.match_email`, the account whose email is the provider's email, and
//!    only if the provider says `email_verified: true` (an unverified address would let anyone
//!    who types a victim's email at a lax provider take over the victim's account);
//! 3. otherwise, with `oidc.create_users`, a new account with that verified email (and a random
//!    password nobody knows: password login stays off until an admin sets one).
//!
//! A found or created account is linked to `(iss, sub)`. A disabled account cannot log in by
//! single sign-on either.

use std::fmt;
use std::sync::Arc;

use mp3converter_core::{Role, UserId, now_millis};
use mp3converter_db::{Database, DbError, User};
use mp3converter_oidc::{AuthorizationRequest, Identity, OidcClient, OidcSettings, PendingLogin};
use secrecy::ExposeSecret;

use crate::email::validate_email;
use crate::password::random_password;
use crate::{AuthError, AuthService, OidcConfig};

/// Single sign-on with one OpenID provider. Cheap to clone.
#[derive(Clone)]
pub struct SingleSignOn {
    inner: Arc<Inner>,
}

struct Inner {
    client: OidcClient,
    config: OidcConfig,
    db: Database,
    service: AuthService,
}

impl fmt::Debug for SingleSignOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SingleSignOn")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl SingleSignOn {
    /// Single sign-on as `config` says, with the provider sending browsers back to
    /// `redirect_url`; `None` when no issuer is configured. Fetches nothing yet (discovery
    /// happens on the first login, and again after a failure).
    pub fn new(
        config: &OidcConfig,
        redirect_url: String,
        db: Database,
        service: AuthService,
    ) -> Result<Option<SingleSignOn>, AuthError> {
        config.validate()?;
        let (Some(issuer), Some(client_id), Some(secret)) =
            (&config.issuer_url, &config.client_id, &config.client_secret)
        else {
            return Ok(None);
        };
        let client = OidcClient::new(OidcSettings {
            issuer_url: issuer.clone(),
            client_id: client_id.clone(),
            client_secret: secret.expose_secret().to_string(),
            redirect_url,
            scopes: vec!["email".into()],
        })
        .map_err(|e| AuthError::Config(e.to_string()))?;
        Ok(Some(SingleSignOn {
            inner: Arc::new(Inner {
                client,
                config: config.clone(),
                db,
                service,
            }),
        }))
    }

    /// What the login button names ("Sign in with <display_name>").
    pub fn display_name(&self) -> &str {
        self.inner.config.display_name.trim()
    }

    /// Fetches the provider's metadata and keys (readiness check).
    pub async fn discover(&self) -> Result<(), AuthError> {
        Ok(self.inner.client.discover().await?)
    }

    /// Starts a login: where to send the browser and the secrets to keep until it is back.
    pub async fn begin(&self) -> Result<AuthorizationRequest, AuthError> {
        Ok(self.inner.client.begin().await?)
    }

    /// Ends a login whose callback brought `code` and the right state: the verified identity
    /// becomes an account (see the module documentation) and a token for it.
    pub async fn finish(&self, code: &str, pending: &PendingLogin) -> Result<String, AuthError> {
        let identity = self.inner.client.finish(code, pending).await?;
        let user = self.account(&identity).await?;
        if user.disabled {
            tracing::info!(user = %user.id, "single sign-on refused: account disabled");
            return Err(AuthError::SsoAccountDisabled);
        }
        tracing::info!(user = %user.id, issuer = %identity.issuer, "single sign-on login");
        self.inner.service.issuer().issue(&user)
    }

    /// The account of `identity`: linked, matched by verified email, or created.
    async fn account(&self, identity: &Identity) -> Result<User, AuthError> {
        let db = &self.inner.db;
        if let Some(id) = db.sso_link(&identity.issuer, &identity.subject).await? {
            return self.user(&id).await;
        }
        let email = match (&identity.email, identity.email_verified) {
            (Some(email), true) => email.clone(),
            _ => {
                tracing::info!(issuer = %identity.issuer, "single sign-on refused: no verified email");
                return Err(AuthError::SsoEmailUnverified);
            }
        };
        let config = &self.inner.config;
        let existing = db.user_by_email(&email).await?;
        let user = match existing {
            Some(user) if config.match_email => user,
            Some(_) => return Err(AuthError::SsoEmailTaken),
            None if config.create_users => self.create(&email).await?,
            None => return Err(AuthError::SsoNoAccount),
        };
        match db
            .create_sso_link(&identity.issuer, &identity.subject, &user.id, now_millis())
            .await
        {
            Ok(()) => Ok(user),
            // A concurrent first login linked the subject already: that link decides.
            Err(DbError::Conflict(_)) => {
                match db.sso_link(&identity.issuer, &identity.subject).await? {
                    Some(id) => self.user(&id).await,
                    None => Err(AuthError::Internal("an account link vanished".into())),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn user(&self, id: &UserId) -> Result<User, AuthError> {
        self.inner
            .db
            .user_by_id(id)
            .await?
            .ok_or_else(|| AuthError::Internal(format!("account {id} of a link is missing")))
    }

    /// A new account for a verified `email` with a random password nobody is told.
    async fn create(&self, email: &str) -> Result<User, AuthError> {
        let email = validate_email(email).map_err(|_| AuthError::SsoEmailUnverified)?;
        let password = random_password(32)?;
        match self
            .inner
            .service
            .create_user(&email, &password, Role::User)
            .await
        {
            Ok(user) => Ok(user),
            // Created by a concurrent login of the same person: use it.
            Err(AuthError::EmailTaken) => self
                .inner
                .db
                .user_by_email(&email)
                .await?
                .ok_or(AuthError::SsoNoAccount),
            Err(e) => Err(e),
        }
    }
}
