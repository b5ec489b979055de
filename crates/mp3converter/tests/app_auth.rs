//! The running service's auth surface: the course's login and validate, JWKS, ops endpoints.

use mp3converter_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp};

#[tokio::test]
async fn the_course_login_and_validate_flow_works() {
    let app = TestApp::spawn().await;
    let token = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert_eq!(token.split('.').count(), 3, "a JWT");

    let res = app
        .http
        .post(app.url("/validate"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let claims: serde_json::Value = res.json().await.unwrap();
    assert_eq!(claims["username"], ADMIN_EMAIL);
    assert_eq!(claims["admin"], true);

    let wrong = app
        .http
        .post(app.url("/login"))
        .basic_auth(ADMIN_EMAIL, Some("nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.text().await.unwrap(), "invalid credentials");
    let missing = app.http.post(app.url("/validate")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    let garbled = app
        .http
        .post(app.url("/validate"))
        .header("Authorization", "Bearer")
        .send()
        .await
        .unwrap();
    assert_eq!(garbled.status(), 401);
    let forged = app
        .http
        .post(app.url("/validate"))
        .bearer_auth("a.b.c")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    app.stop().await;
}

#[tokio::test]
async fn ops_endpoints_report_health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: serde_json::Value = app
        .http
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["database"], "ok");
    let jwks: serde_json::Value = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    let metrics = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    let text = metrics.text().await.unwrap();
    assert!(text.contains("queue_depth{queue=\"video\"}"), "{text}");
    assert!(text.contains("jobs{state=\"queued\"}"), "{text}");
    assert_eq!(ready["checks"]["queue"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.backends.db.close().await;
    let res = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_ne!(body["checks"]["database"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_disables_a_user_and_enables_them_again_over_the_api() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let created: serde_json::Value = app
        .http
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&serde_json::json!({"email": "carol@example.com", "password": "carol-password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    let carol = app.login("carol@example.com", "carol-password-1").await;
    let post = |path: String, token: String| {
        let req = app.http.post(app.url(&path)).bearer_auth(token);
        async move { req.send().await.unwrap().status().as_u16() }
    };
    let can_log_in = || async {
        app.http
            .post(app.url("/login"))
            .basic_auth("carol@example.com", Some("carol-password-1"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };

    assert_eq!(
        post(format!("/api/v1/users/{id}/disable"), admin.clone()).await,
        204
    );
    assert_eq!(can_log_in().await, 401, "a disabled account cannot log in");
    assert_eq!(
        post(format!("/api/v1/users/{id}/enable"), carol.clone()).await,
        401,
        "the disable revoked carol's token: she cannot enable herself with it"
    );
    assert_eq!(
        post(format!("/api/v1/users/{id}/enable"), admin.clone()).await,
        204
    );
    assert_eq!(can_log_in().await, 200, "enabled again, it logs in");
    let users: serde_json::Value = app
        .http
        .get(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["email"] == "carol@example.com")
        .unwrap();
    assert_eq!(listed["disabled"], false);
    let unknown = "/api/v1/users/01930000-0000-7000-8000-000000000000/enable".to_owned();
    assert_eq!(post(unknown, admin.clone()).await, 404);
    app.stop().await;
}
