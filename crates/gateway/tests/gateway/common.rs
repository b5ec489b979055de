//! The test harness: a gateway router over a temp SQLite database, fs storage in a temp dir, the
//! database queue, in-process events and a fake in-memory `Authenticator`.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use mp3converter_core::{Claims, Job, JobId, Role, UserId, now_millis};
use mp3converter_db::{AudioOutput, Database, MessageRoute, User};
use mp3converter_gateway::{
    ApiKeys, AuthFailure, Authenticator, GatewayConfig, GatewayState, UrlSigner, UserView,
};
use mp3converter_queue::{DatabaseQueue, InProcessEvents, JobQueue, wake_on_commit};
use mp3converter_storage::{StorageBackend, StorageConfig};
use tempfile::TempDir;
use tower::ServiceExt;

/// The gateway's `public_url` in tests: the base of share and feed URLs.
pub const PUBLIC_URL: &str = "https://mp3.example.test";

/// An account known to the fake authenticator; its token is `token-<id>`.
#[derive(Debug, Clone)]
pub struct FakeUser {
    pub view: UserView,
    pub password: String,
}

impl FakeUser {
    pub fn token(&self) -> String {
        format!("token-{}", self.view.id)
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token())
    }
}

/// In-memory users. `login` of `limited@example.com` is always rate limited; that of
/// `slow@example.com` takes 30 s.
#[derive(Debug, Default)]
pub struct FakeAuth {
    users: Mutex<Vec<FakeUser>>,
}

#[async_trait]
impl Authenticator for FakeAuth {
    async fn login(&self, email: &str, password: &str, _ip: IpAddr) -> Result<String, AuthFailure> {
        if email == "slow@example.com" {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        if email == "limited@example.com" {
            return Err(AuthFailure::rate_limited(Duration::from_millis(2500)));
        }
        let users = self.users.lock().unwrap();
        users
            .iter()
            .find(|u| u.view.email == email && u.password == password && !u.view.disabled)
            .map(FakeUser::token)
            .ok_or_else(AuthFailure::invalid_credentials)
    }

    async fn verify(&self, token: &str) -> Result<Claims, AuthFailure> {
        let id = token
            .strip_prefix("token-")
            .ok_or_else(AuthFailure::invalid_token)?;
        let users = self.users.lock().unwrap();
        let u = users
            .iter()
            .find(|u| u.view.id.as_str() == id && !u.view.disabled)
            .ok_or_else(AuthFailure::invalid_token)?;
        Ok(Claims {
            sub: u.view.id.to_string(),
            username: u.view.email.clone(),
            admin: u.view.admin,
            iat: 0,
            exp: i64::MAX,
            iss: "test".into(),
            aud: "test".into(),
            generation: 0,
        })
    }

    async fn recheck(&self, claims: &Claims) -> Result<(), AuthFailure> {
        let users = self.users.lock().unwrap();
        users
            .iter()
            .find(|u| u.view.id.as_str() == claims.sub && !u.view.disabled)
            .map(drop)
            .ok_or_else(AuthFailure::invalid_token)
    }

    /// Short, so that a test sees an event stream end soon after a user is disabled.
    fn recheck_interval(&self) -> Duration {
        Duration::from_millis(200)
    }

    async fn create_user(
        &self,
        email: &str,
        password: &str,
        admin: bool,
    ) -> Result<UserView, AuthFailure> {
        let mut users = self.users.lock().unwrap();
        if users.iter().any(|u| u.view.email == email) {
            return Err(AuthFailure::new(
                StatusCode::CONFLICT,
                "email-taken",
                "email taken",
            ));
        }
        let view = UserView {
            id: UserId::generate(),
            email: email.into(),
            admin,
            disabled: false,
            created_at: now_millis(),
        };
        users.push(FakeUser {
            view: view.clone(),
            password: password.into(),
        });
        Ok(view)
    }

    async fn list_users(&self) -> Result<Vec<UserView>, AuthFailure> {
        Ok(self
            .users
            .lock()
            .unwrap()
            .iter()
            .map(|u| u.view.clone())
            .collect())
    }

    async fn disable_user(&self, user_id: &UserId) -> Result<(), AuthFailure> {
        let mut users = self.users.lock().unwrap();
        let u = users.iter_mut().find(|u| &u.view.id == user_id);
        let u =
            u.ok_or_else(|| AuthFailure::new(StatusCode::NOT_FOUND, "not-found", "no such user"))?;
        u.view.disabled = true;
        Ok(())
    }

    async fn enable_user(&self, user_id: &UserId) -> Result<(), AuthFailure> {
        let mut users = self.users.lock().unwrap();
        let u = users.iter_mut().find(|u| &u.view.id == user_id);
        let u =
            u.ok_or_else(|| AuthFailure::new(StatusCode::NOT_FOUND, "not-found", "no such user"))?;
        u.view.disabled = false;
        Ok(())
    }

    async fn change_password(
        &self,
        user_id: &UserId,
        old: &str,
        new: &str,
    ) -> Result<(), AuthFailure> {
        let mut users = self.users.lock().unwrap();
        let u = users
            .iter_mut()
            .find(|u| &u.view.id == user_id)
            .ok_or_else(AuthFailure::invalid_token)?;
        if u.password != old {
            return Err(AuthFailure::new(
                StatusCode::UNAUTHORIZED,
                "wrong-password",
                "the old password is wrong",
            ));
        }
        u.password = new.into();
        Ok(())
    }
}

/// A gateway on temp backends with three users: `alice`, `bob` and `admin`.
pub struct TestApp {
    pub state: GatewayState,
    pub router: Router,
    pub alice: FakeUser,
    pub bob: FakeUser,
    pub admin: FakeUser,
    _dir: TempDir,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::with_config(GatewayConfig::default()).await
    }

    pub async fn with_config(config: GatewayConfig) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        let db = Database::connect(&url).await.unwrap();
        db.migrate().await.unwrap();
        let storage = mp3converter_storage::build(&StorageConfig {
            backend: StorageBackend::Fs,
            path: dir.path().join("blobs"),
            ..StorageConfig::default()
        })
        .unwrap();
        let auth = Arc::new(FakeAuth::default());
        let mut users = Vec::new();
        for (name, admin) in [("alice", false), ("bob", false), ("admin", true)] {
            let email = format!("{name}@example.com");
            let view = auth
                .create_user(&email, &format!("{name}-pw"), admin)
                .await
                .unwrap();
            db.create_user(&User {
                id: view.id.clone(),
                email,
                password_hash: "unused".into(),
                role: if admin { Role::Admin } else { Role::User },
                disabled: false,
                created_at: view.created_at,
                token_generation: 0,
            })
            .await
            .unwrap();
            users.push(FakeUser {
                view,
                password: format!("{name}-pw"),
            });
        }
        let queue: Arc<dyn JobQueue> = Arc::new(DatabaseQueue::new(db.clone()));
        let db = db.with_message_route(
            MessageRoute::QueueTable { max_attempts: 5 },
            wake_on_commit(queue.clone()),
        );
        let state = GatewayState {
            queue,
            signer: UrlSigner::new(db.clone()),
            keys: ApiKeys::new(db.clone()),
            db,
            storage,
            events: Arc::new(InProcessEvents::default()),
            auth,
            config,
            video_queue: "video".into(),
            mp3_queue: "mp3".into(),
            quotas: Default::default(),
            shutdown: tokio_util::sync::CancellationToken::new(),
            import: mp3converter_gateway::Importer::new(Default::default()).unwrap(),
            webhooks: mp3converter_gateway::WebhookSettings::default(),
            public_url: PUBLIC_URL.into(),
        };
        let router = mp3converter_gateway::router(state.clone());
        let admin = users.pop().unwrap();
        let bob = users.pop().unwrap();
        let alice = users.pop().unwrap();
        TestApp {
            state,
            router,
            alice,
            bob,
            admin,
            _dir: dir,
        }
    }

    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.router.clone().oneshot(request).await.unwrap()
    }

    /// Keys of every stored blob.
    pub async fn blob_keys(&self) -> Vec<String> {
        use futures_util::TryStreamExt;
        let mut keys: Vec<String> = self
            .state
            .storage
            .list("")
            .map_ok(|l| l.key)
            .try_collect()
            .await
            .unwrap();
        keys.sort();
        keys
    }

    /// Uploads `bytes` as `name` for `user` through the course route; returns the job id.
    pub async fn upload(&self, user: &FakeUser, name: &str, bytes: &[u8]) -> JobId {
        let form = Form::new().file("file", name, bytes);
        let response = self
            .send(form.request("/upload", Some(&user.bearer())))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.headers()["x-job-id"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Moves a job to done with `audio` stored as its audio (at the converter's key:
    /// `audio/<id>.<the format's extension>`).
    pub async fn finish(&self, id: &JobId, audio: &[u8]) -> Job {
        let job = self.state.db.get_job(id).await.unwrap().unwrap();
        let key = format!("audio/{id}.{}", job.options.format().extension());
        let body = futures_util::StreamExt::boxed(futures_util::stream::iter([Ok(
            bytes::Bytes::copy_from_slice(audio),
        )]));
        let put = self
            .state
            .storage
            .put_stream(&key, body, None)
            .await
            .unwrap();
        self.state.db.mark_converting(id).await.unwrap();
        let output = AudioOutput {
            key,
            size: put.size,
            duration_secs: 1.0,
        };
        self.state.db.mark_done(id, &output, None).await.unwrap();
        self.state.db.get_job(id).await.unwrap().unwrap()
    }
}

pub use crate::http::*;
