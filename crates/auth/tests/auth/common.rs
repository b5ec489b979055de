//! Shared fixtures: a migrated SQLite database in a temp dir and a service with a manual clock.

use std::sync::Arc;

use mp3converter_auth::{AuthConfig, AuthService, ManualClock};
use mp3converter_core::Role;
use mp3converter_db::{Database, User};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery";

pub struct Fixture {
    pub service: Arc<AuthService>,
    pub clock: ManualClock,
    pub db: Database,
    pub dir: TempDir,
}

impl Fixture {
    /// EdDSA with the key in the temp dir and the default limits.
    pub async fn new() -> Fixture {
        Fixture::with(|_| {}).await
    }

    /// Like [`Fixture::new`] with `change` applied to the config.
    pub async fn with(change: impl FnOnce(&mut AuthConfig)) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/t.db?mode=rwc", dir.path().display());
        let db = Database::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        Fixture::on(db, dir, change)
    }

    /// A service over `db` (migrated), its key in `dir`.
    pub fn on(db: Database, dir: TempDir, change: impl FnOnce(&mut AuthConfig)) -> Fixture {
        let mut config = AuthConfig {
            key_path: Some(dir.path().join("jwt-ed25519.pem")),
            ..AuthConfig::default()
        };
        change(&mut config);
        let clock = ManualClock::new();
        let service = AuthService::with_clock(db.clone(), config, Arc::new(clock.clone())).unwrap();
        Fixture {
            service: Arc::new(service),
            clock,
            db,
            dir,
        }
    }

    /// A service over the same database and key file (a restart).
    pub fn restart(&self) -> AuthService {
        AuthService::new(self.db.clone(), self.service.config().clone()).unwrap()
    }

    pub async fn user(&self, email: &str) -> User {
        self.service
            .create_user(email, PASSWORD, Role::User)
            .await
            .unwrap()
    }

    pub async fn admin(&self, email: &str) -> User {
        self.service
            .create_user(email, PASSWORD, Role::Admin)
            .await
            .unwrap()
    }
}

/// A config for HS256 with a 32-byte secret.
pub fn hs256(config: &mut AuthConfig) {
    config.algorithm = mp3converter_auth::Algorithm::Hs256;
    config.jwt_secret = Some("0123456789abcdef0123456789abcdef".into());
}
