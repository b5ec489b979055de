//! Share links: made by the owner (or an admin) of a done job only, listed without their secret,
//! revoked at once; the public page (HTML, escaped, no script) and audio (with `Range`) need no
//! account, and an unknown, expired or revoked link is the same 404.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::common::{
    FakeUser, Form, PUBLIC_URL, TestApp, body_bytes, body_json, body_text, fixture, get,
};

fn api(method: Method, uri: &str, user: &FakeUser, body: Option<Value>) -> Request<Body> {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, user.bearer());
    match body {
        Some(body) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
        None => builder.body(Body::empty()).unwrap(),
    }
}

fn ranged(uri: &str, range: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::RANGE, range)
        .body(Body::empty())
        .unwrap()
}

/// Makes a share of `job` as `user` and returns (its id, its URL's path).
async fn share(app: &TestApp, user: &FakeUser, job: &str, body: Option<Value>) -> (String, String) {
    let response = app
        .send(api(
            Method::POST,
            &format!("/api/v1/jobs/{job}/shares"),
            user,
            body,
        ))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let created = body_json(response).await;
    let url = created["url"].as_str().unwrap();
    let path = url
        .strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("absolute under public_url: {url}"));
    assert!(path.starts_with("/s/"), "{path}");
    assert!(path.len() >= "/s/".len() + 43, "256-bit token: {path}");
    (created["id"].as_str().unwrap().to_owned(), path.to_owned())
}

#[tokio::test]
async fn a_share_link_plays_with_ranges_lists_and_revokes_at_once() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "Talk.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let audio: Vec<u8> = (0..6000u32).map(|i| (i % 253) as u8).collect();
    app.finish(&id, &audio).await;
    let before = mp3converter_core::now_millis();
    let (share_id, path) = share(&app, &app.alice, id.as_str(), None).await;

    // Public: no Authorization header.
    let audio_path = format!("{path}/audio");
    let whole = app.send(get(&audio_path, None)).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()[header::CONTENT_TYPE], "audio/mpeg");
    let disposition = whole.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(disposition.contains("Talk.mp3"), "{disposition}");
    assert!(whole.headers().contains_key(header::ETAG));
    assert_eq!(body_bytes(whole).await, audio);
    let part = app.send(ranged(&audio_path, "bytes=1000-1999")).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.headers()[header::CONTENT_RANGE],
        "bytes 1000-1999/6000"
    );
    assert_eq!(body_bytes(part).await, audio[1000..2000]);
    let head = app
        .send(Request::head(&audio_path).body(Body::empty()).unwrap())
        .await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(head.headers()[header::CONTENT_LENGTH], "6000");

    let page = app.send(get(&path, None)).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert_eq!(page.headers()[header::REFERRER_POLICY], "no-referrer");
    let html = body_text(page).await;
    assert!(html.contains(&format!("src=\"{audio_path}\"")), "{html}");
    assert!(html.contains("Talk"), "{html}");
    assert!(!html.contains("<script"), "no script: {html}");
    assert!(!html.contains("alice@"), "no owner email: {html}");

    // Listed without the secret; default expiry 7 days.
    let listed = body_json(
        app.send(api(
            Method::GET,
            &format!("/api/v1/jobs/{id}/shares"),
            &app.alice,
            None,
        ))
        .await,
    )
    .await;
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], share_id.as_str());
    assert!(
        !listed[0].to_string().contains(&path[3..]),
        "no secret listed"
    );
    let expires = listed[0]["expires_at"].as_i64().unwrap();
    let week = 7 * 24 * 3600 * 1000;
    assert!((before + week..=before + week + 60_000).contains(&expires));

    // Bob cannot list, make or revoke; the revocation by the owner is immediate.
    for request in [
        api(
            Method::GET,
            &format!("/api/v1/jobs/{id}/shares"),
            &app.bob,
            None,
        ),
        api(
            Method::POST,
            &format!("/api/v1/jobs/{id}/shares"),
            &app.bob,
            None,
        ),
        api(
            Method::DELETE,
            &format!("/api/v1/shares/{share_id}"),
            &app.bob,
            None,
        ),
    ] {
        assert_eq!(app.send(request).await.status(), StatusCode::NOT_FOUND);
    }
    let revoked = app
        .send(api(
            Method::DELETE,
            &format!("/api/v1/shares/{share_id}"),
            &app.alice,
            None,
        ))
        .await;
    assert_eq!(revoked.status(), StatusCode::NO_CONTENT);
    let gone = app.send(get(&audio_path, None)).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_json(gone).await["code"], "not-found");
    let page = app.send(get(&path, None)).await;
    assert_eq!(page.status(), StatusCode::NOT_FOUND);
    assert!(
        page.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(body_text(page).await.contains("does not work"));
    // A made-up token answers the same.
    let unknown = app
        .send(get(&format!("/s/{}/audio", "A".repeat(43)), None))
        .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let again = app
        .send(api(
            Method::DELETE,
            &format!("/api/v1/shares/{share_id}"),
            &app.alice,
            None,
        ))
        .await;
    assert_eq!(again.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn only_a_done_job_can_be_shared_and_expiry_is_bounded() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let queued = app
        .send(api(
            Method::POST,
            &format!("/api/v1/jobs/{id}/shares"),
            &app.alice,
            None,
        ))
        .await;
    assert_eq!(queued.status(), StatusCode::CONFLICT);
    assert_eq!(body_json(queued).await["code"], "not-ready");
    app.finish(&id, b"audio").await;
    for (body, code) in [
        (json!({"expires_in_secs": 0}), "invalid-expiry"),
        (json!({"expires_in_secs": 90 * 86400 + 1}), "invalid-expiry"),
        (json!({"expires_in_secs": "soon"}), "invalid-json"),
        (json!({"unknown": 1}), "invalid-json"),
    ] {
        let response = app
            .send(api(
                Method::POST,
                &format!("/api/v1/jobs/{id}/shares"),
                &app.alice,
                Some(body.clone()),
            ))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body_json(response).await["code"], code, "{body}");
    }
    // An admin may share anyone's job; the longest expiry is accepted.
    let (_, path) = share(
        &app,
        &app.admin,
        id.as_str(),
        Some(json!({"expires_in_secs": 90 * 86400})),
    )
    .await;
    assert_eq!(
        app.send(get(&format!("{path}/audio"), None)).await.status(),
        StatusCode::OK
    );
    // A JSON `null` body takes the defaults, like an empty one.
    share(&app, &app.alice, id.as_str(), Some(Value::Null)).await;
    // Deleting the job ends its shares.
    let deleted = app
        .send(api(
            Method::DELETE,
            &format!("/api/v1/jobs/{id}"),
            &app.alice,
            None,
        ))
        .await;
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.send(get(&format!("{path}/audio"), None)).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn an_expired_share_is_404() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    app.finish(&id, b"audio bytes").await;
    let (_, path) = share(
        &app,
        &app.alice,
        id.as_str(),
        Some(json!({"expires_in_secs": 1})),
    )
    .await;
    assert_eq!(
        app.send(get(&format!("{path}/audio"), None)).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        app.send(get(&format!("{path}/audio"), None)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(get(&path, None)).await.status(),
        StatusCode::NOT_FOUND
    );
    let listed = body_json(
        app.send(api(
            Method::GET,
            &format!("/api/v1/jobs/{id}/shares"),
            &app.alice,
            None,
        ))
        .await,
    )
    .await;
    assert_eq!(listed, json!([]), "expired shares are not listed");
}

#[tokio::test]
async fn the_share_page_escapes_a_hostile_title() {
    let app = TestApp::spawn().await;
    let hostile = r#"<script>alert("x")</script> & 'q'"#;
    let form = Form::new()
        .file("file", "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .text("title", hostile);
    let response = app
        .send(form.request("/api/v1/jobs", Some(&app.alice.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let id: mp3converter_core::JobId = body_json(response).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    app.finish(&id, b"audio").await;
    let (_, path) = share(&app, &app.alice, id.as_str(), None).await;
    let html = body_text(app.send(get(&path, None)).await).await;
    assert!(!html.contains("<script"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;"),
        "{html}"
    );
}
