//! Insecure direct object references: with real tokens, every route that takes a job id answers
//! another user's job exactly like a job that does not exist, and changes nothing.

use mp3converter_testkit::TestApp;
use reqwest::Method;

use crate::common::{file_form, finished, fixture, post_form, user};

#[tokio::test]
async fn another_users_job_is_404_on_every_route_that_takes_an_id() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    let alice = user(&app, &admin, "alice@example.com", "alice-password-1").await;
    let bob = user(&app, &admin, "bob@example.com", "bob-password-12").await;
    let body = file_form(r#"filename="a.mp4""#, &fixture("mp4-aac-faststart.mp4"));
    let created: serde_json::Value = post_form(&app, "/api/v1/jobs", &alice, body)
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(finished(&app, &alice, &id).await["state"], "done");
    let unknown = mp3converter_core::JobId::generate().to_string();

    let routes = |id: &str| {
        vec![
            (Method::GET, format!("/api/v1/jobs/{id}")),
            (Method::GET, format!("/api/v1/jobs/{id}/audio")),
            (Method::POST, format!("/api/v1/jobs/{id}/audio-url")),
            (Method::GET, format!("/api/v1/jobs/{id}/events")),
            (Method::GET, format!("/download?fid={id}")),
            (Method::GET, format!("/download?fid=audio/{id}.mp3")),
            (Method::PUT, format!("/api/v1/jobs/{id}/keep")),
            (Method::DELETE, format!("/api/v1/jobs/{id}/keep")),
            (Method::DELETE, format!("/api/v1/jobs/{id}")),
        ]
    };
    let send = |method: Method, path: String, token: String| {
        let app = &app;
        async move {
            let res = app
                .http
                .request(method, app.url(&path))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            (res.status().as_u16(), res.text().await.unwrap())
        }
    };
    for ((method, theirs), (_, missing)) in routes(&id).into_iter().zip(routes(&unknown)) {
        let as_bob = send(method.clone(), theirs.clone(), bob.clone()).await;
        let as_nobody = send(method.clone(), missing, bob.clone()).await;
        assert_eq!(as_bob.0, 404, "{method} {theirs}: {}", as_bob.1);
        assert_eq!(
            as_bob, as_nobody,
            "{method} {theirs}: someone else's job must look missing"
        );
    }
    // Nothing Bob tried changed Alice's job; she still downloads it.
    let job = finished(&app, &alice, &id).await;
    assert_eq!(
        (job["state"].as_str(), job["keep"].as_bool()),
        (Some("done"), Some(false))
    );
    let (status, _) = send(Method::GET, format!("/download?fid={id}"), alice.clone()).await;
    assert_eq!(status, 200);
    let listed: serde_json::Value = app
        .http
        .get(app.url("/api/v1/jobs"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed,
        serde_json::json!([]),
        "Bob lists none of Alice's jobs"
    );
}
