//! SQL injection strings in login and user creation are data: they never log anyone in, never
//! cause a 500, change nothing, and a user whose email or password contains them is stored and
//! logs in with exactly that text.

use mp3converter_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

use crate::common::user;

const PAYLOADS: &[&str] = &[
    "' OR '1'='1",
    "' OR 1=1 --",
    "admin@example.com' --",
    "admin@example.com'/*",
    "\"; DROP TABLE users; --",
    "'; DELETE FROM jobs; --",
    "' UNION SELECT id, password_hash FROM users --",
    "\\'; SELECT pg_sleep(5); --",
    "admin@example.com\0",
    "%27%20OR%20%271%27%3D%271",
];

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, String) {
    let res = app
        .http
        .post(app.url("/login"))
        .basic_auth(email, Some(password))
        .send()
        .await
        .unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

async fn users(app: &TestApp, admin: &str) -> Vec<String> {
    let list: serde_json::Value = app
        .http
        .get(app.url("/api/v1/users"))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut emails: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    emails
}

#[tokio::test]
async fn injection_strings_in_login_are_refused_as_plain_wrong_credentials() {
    let app = TestApp::spawn_with(|c| {
        c.auth.login_limit_per_ip = 10_000;
        c.auth.login_limit_per_account = 10_000;
        c.auth.login_backoff_free_failures = 10_000;
    })
    .await;
    let admin = app.admin_token().await;
    let before = users(&app, &admin).await;
    for payload in PAYLOADS {
        for (email, password) in [
            (*payload, "anything"),
            (ADMIN_EMAIL, *payload),
            (*payload, *payload),
        ] {
            let (status, body) = login(&app, email, password).await;
            assert_eq!(status, 401, "{email:?} / {password:?}: {body}");
            assert_eq!(body, "invalid credentials", "{email:?} / {password:?}");
        }
    }
    assert_eq!(users(&app, &admin).await, before, "no user changed");
    assert_eq!(login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await.0, 200);
}

#[tokio::test]
async fn injection_strings_in_new_users_are_stored_as_data() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    // Valid addresses that carry SQL (quotes are legal in an address's local part).
    let email = "o'brien'--@example.com";
    let password = "x' OR '1'='1'; DROP TABLE users; --";
    let token = user(&app, &admin, email, password).await;
    assert!(!token.is_empty());
    assert!(users(&app, &admin).await.contains(&email.to_owned()));
    // Only the exact password works; the classic bypasses do not.
    assert_eq!(login(&app, email, "' OR '1'='1").await.0, 401);
    assert_eq!(
        login(&app, "o'brien'--@example.com' --", password).await.0,
        401
    );
    let me: serde_json::Value = app
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], email);
    assert_eq!(me["admin"], false, "the new user is not an admin");

    // Hostile emails that are not addresses are refused as input, never a server error.
    for payload in PAYLOADS {
        let res = app
            .http
            .post(app.url("/api/v1/users"))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"email": payload, "password": "long-enough-password"}))
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        assert!(status == 400 || status == 201, "{payload:?}: {status}");
        if status == 201 {
            assert!(users(&app, &admin).await.contains(&(*payload).to_owned()));
        }
    }
    assert_eq!(login(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await.0, 200);
}
