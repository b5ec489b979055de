//! The upload path on arbitrary bytes: a multipart request (the first input line is the
//! `Content-Type`, the rest the body) through the real gateway router — multipart parsing, form
//! fields and options, file-name sanitising, sniffing, streaming into storage, the job row.
//! Storage and the database are real (files and SQLite on tmpfs); only tokens are faked.
//!
//! Invariants: never a 5xx; an accepted upload has a safe stored name and a safe download
//! header; a refused one leaves no blob, no job and no message behind.

#![no_main]

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use libfuzzer_sys::fuzz_target;
use mp3converter_core::{Claims, Role, UserId};
use mp3converter_db::{Database, User};
use mp3converter_gateway::{
    ApiKeys, AuthFailure, Authenticator, GatewayConfig, GatewayState, UrlSigner, UserView,
    content_disposition,
};
use mp3converter_queue::{DatabaseQueue, InProcessEvents};
use mp3converter_storage::{BlobStore, StorageBackend, StorageConfig};
use tower::ServiceExt;

const TOKEN: &str = "fuzz-token";

/// One user, whose token is always valid.
#[derive(Debug)]
struct OneUser(UserId);

#[async_trait]
impl Authenticator for OneUser {
    async fn login(&self, _: &str, _: &str, _: IpAddr) -> Result<String, AuthFailure> {
        Err(AuthFailure::invalid_credentials())
    }
    async fn verify(&self, token: &str) -> Result<Claims, AuthFailure> {
        if token != TOKEN {
            return Err(AuthFailure::invalid_token());
        }
        Ok(Claims {
            sub: self.0.to_string(),
            username: "fuzz@example.com".into(),
            admin: false,
            iat: 0,
            exp: i64::MAX,
            iss: "fuzz".into(),
            aud: "fuzz".into(),
            generation: 0,
        })
    }
    async fn recheck(&self, _: &Claims) -> Result<(), AuthFailure> {
        Ok(())
    }
    fn recheck_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(30)
    }
    async fn create_user(&self, _: &str, _: &str, _: bool) -> Result<UserView, AuthFailure> {
        Err(AuthFailure::invalid_token())
    }
    async fn list_users(&self) -> Result<Vec<UserView>, AuthFailure> {
        Ok(Vec::new())
    }
    async fn disable_user(&self, _: &UserId) -> Result<(), AuthFailure> {
        Ok(())
    }
    async fn enable_user(&self, _: &UserId) -> Result<(), AuthFailure> {
        Ok(())
    }
    async fn change_password(&self, _: &UserId, _: &str, _: &str) -> Result<(), AuthFailure> {
        Ok(())
    }
}

struct World {
    runtime: tokio::runtime::Runtime,
    state: GatewayState,
    router: axum::Router,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        sweep_stale(&base);
        let dir = base.join(format!("mp3c-fuzz-upload-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let state = runtime.block_on(async {
            let url = format!("sqlite://{}?mode=rwc", dir.join("fuzz.db").display());
            let db = Database::connect(&url).await.unwrap();
            db.migrate().await.unwrap();
            let user = User {
                id: UserId::generate(),
                email: "fuzz@example.com".into(),
                password_hash: "unused".into(),
                role: Role::User,
                disabled: false,
                created_at: 0,
                token_generation: 0,
            };
            db.create_user(&user).await.unwrap();
            let storage = mp3converter_storage::build(&StorageConfig {
                backend: StorageBackend::Fs,
                path: dir.join("blobs"),
                ..StorageConfig::default()
            })
            .unwrap();
            GatewayState {
                queue: Arc::new(DatabaseQueue::new(db.clone())),
                signer: UrlSigner::new(db.clone()),
                keys: ApiKeys::new(db.clone()),
                db,
                storage,
                events: Arc::new(InProcessEvents::default()),
                auth: Arc::new(OneUser(user.id)),
                config: GatewayConfig {
                    max_upload_bytes: 1024 * 1024,
                    ..GatewayConfig::default()
                },
                video_queue: "video".into(),
                shutdown: tokio_util::sync::CancellationToken::new(),
            }
        });
        let router = mp3converter_gateway::router(state.clone());
        World {
            runtime,
            state,
            router,
        }
    })
}

/// Removes the directories of earlier fuzzing processes that are gone (a process never cleans
/// up after itself: libFuzzer exits without running destructors, and fork mode starts many).
fn sweep_stale(base: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("mp3c-fuzz-upload-")
            && !std::path::Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A name that is safe to store, show and put in a header.
fn assert_safe_name(name: &str) {
    assert!(!name.is_empty() && name.chars().count() <= 200, "{name:?}");
    assert!(!name.contains(['/', '\\', '"']), "{name:?}");
    assert!(!name.chars().any(char::is_control), "{name:?}");
    assert!(!name.starts_with('.'), "{name:?}");
    let value = content_disposition(name);
    let text = value.to_str().expect("an ASCII header");
    assert!(text.starts_with("attachment; filename=\""), "{text}");
    assert!(text.contains("; filename*=UTF-8''"), "{text}");
    assert_eq!(text.matches('"').count(), 2, "{text}");
}

async fn blobs(storage: &dyn BlobStore) -> usize {
    use futures_util::TryStreamExt;
    storage
        .list("")
        .try_collect::<Vec<_>>()
        .await
        .unwrap()
        .len()
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (content_type, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) if i < 256 => (&rest[..i], &rest[i + 1..]),
        _ => (&b"multipart/form-data; boundary=X"[..], rest),
    };
    let path = if selector & 1 == 0 {
        "/upload"
    } else {
        "/api/v1/jobs"
    };
    let mut request = Request::post(path).header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
    if let Ok(value) = header::HeaderValue::from_bytes(content_type) {
        request = request.header(header::CONTENT_TYPE, value);
    }
    if selector & 2 == 0 {
        request = request.header(header::CONTENT_LENGTH, body.len());
    }
    let request = request.body(Body::from(body.to_vec())).unwrap();

    let w = world();
    w.runtime.block_on(async {
        let response = w.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        assert!(!status.is_server_error(), "{status} for {path}");
        let jobs = w.state.db.list_jobs(10).await.unwrap();
        if status.is_success() {
            assert_eq!(jobs.len(), 1, "one job per accepted upload");
            let job = &jobs[0];
            assert_safe_name(&job.original_name);
            assert_eq!(
                blobs(w.state.storage.as_ref()).await,
                1,
                "the video is stored"
            );
            let delete = Request::delete(format!("/api/v1/jobs/{}", job.id))
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap();
            let deleted = w.router.clone().oneshot(delete).await.unwrap();
            assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
            sqlx::query("DELETE FROM queue_messages")
                .execute(w.state.db.pool())
                .await
                .unwrap();
        } else {
            assert!(jobs.is_empty(), "{status} but a job was created");
            assert_eq!(
                w.state.db.queue_depth("video").await.unwrap(),
                0,
                "{status} but a message was queued"
            );
        }
        assert_eq!(
            blobs(w.state.storage.as_ref()).await,
            0,
            "{status} left a blob behind"
        );
    });
});
