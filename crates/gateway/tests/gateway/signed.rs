//! Short-lived signed audio URLs (no token in any URL) and event streams that end with the
//! session.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use futures_util::StreamExt;
use mp3converter_core::now_millis;

use crate::common::{FakeUser, TestApp, body_bytes, body_json, fixture, get};

fn post(uri: &str, user: &FakeUser) -> Request<Body> {
    Request::post(uri)
        .header(header::AUTHORIZATION, user.bearer())
        .body(Body::empty())
        .unwrap()
}

fn ranged(uri: &str, range: &str) -> Request<Body> {
    Request::get(uri)
        .header(header::RANGE, range)
        .body(Body::empty())
        .unwrap()
}

/// A signed URL of `job` for `user` (asserting the mint succeeded).
async fn signed_url(app: &TestApp, user: &FakeUser, job: &str) -> String {
    let response = app
        .send(post(&format!("/api/v1/jobs/{job}/audio-url"), user))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let body = body_json(response).await;
    let expires = body["expires_at"].as_i64().unwrap();
    let left = expires - now_millis();
    assert!(
        (290_000..=300_000).contains(&left),
        "five minutes: {left} ms"
    );
    let url = body["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("/api/v1/jobs/{job}/audio?")),
        "{url}"
    );
    assert!(!url.contains(&user.token()), "no token in the URL: {url}");
    url
}

#[tokio::test]
async fn a_signed_audio_url_plays_with_ranges_for_that_job_only() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let other = app
        .upload(&app.alice, "b.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let audio: Vec<u8> = (0..5000u32).map(|i| (i % 251) as u8).collect();
    app.finish(&id, &audio).await;
    app.finish(&other, b"other audio").await;
    let url = signed_url(&app, &app.alice, id.as_str()).await;

    let whole = app.send(get(&url, None)).await;
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.headers()[header::CONTENT_TYPE], "audio/mpeg");
    assert_eq!(body_bytes(whole).await, audio);
    let part = app.send(ranged(&url, "bytes=100-199")).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()[header::CONTENT_RANGE], "bytes 100-199/5000");
    assert_eq!(body_bytes(part).await, audio[100..200]);

    // The same signature on another job's URL.
    let swapped = url.replace(id.as_str(), other.as_str());
    let refused = app.send(get(&swapped, None)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(refused).await["code"], "invalid-signature");

    // A changed signature, a changed expiry, a changed generation.
    let (head, sig) = url.rsplit_once("sig=").unwrap();
    let mut flipped = sig.as_bytes().to_vec();
    flipped[0] = if flipped[0] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{head}sig={}", String::from_utf8(flipped).unwrap());
    let exp: i64 = url
        .split('&')
        .find_map(|p| p.strip_prefix("exp="))
        .unwrap()
        .parse()
        .unwrap();
    let later = url.replace(&format!("exp={exp}"), &format!("exp={}", exp + 86_400));
    let older = url.replace("&g=0&", "&g=-1&");
    assert_ne!(older, url);
    for bad in [tampered, later, older] {
        let refused = app.send(get(&bad, None)).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{bad}");
    }

    // A genuine signature whose time is up.
    let expired = app
        .state
        .signer
        .sign(
            id.as_str(),
            app.alice.view.id.as_str(),
            0,
            now_millis() / 1000 - 1,
        )
        .await
        .unwrap();
    let refused = app.send(get(&expired, None)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);

    // No signature and no header: missing credentials.
    let bare = app
        .send(get(&format!("/api/v1/jobs/{id}/audio"), None))
        .await;
    assert_eq!(bare.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(bare).await["code"], "missing-credentials");
}

#[tokio::test]
async fn audio_urls_are_signed_only_for_visible_finished_jobs() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let uri = format!("/api/v1/jobs/{id}/audio-url");
    let not_yet = app.send(post(&uri, &app.alice)).await;
    assert_eq!(not_yet.status(), StatusCode::CONFLICT);
    app.finish(&id, b"mp3").await;
    let stranger = app.send(post(&uri, &app.bob)).await;
    assert_eq!(stranger.status(), StatusCode::NOT_FOUND);
    let anonymous = app
        .send(Request::post(&uri).body(Body::empty()).unwrap())
        .await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // An admin may sign any job's audio.
    let url = signed_url(&app, &app.admin, id.as_str()).await;
    assert_eq!(app.send(get(&url, None)).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_disabled_users_signed_url_and_event_stream_stop_working() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    app.finish(&id, b"mp3").await;
    let url = signed_url(&app, &app.alice, id.as_str()).await;
    let stream = app
        .send(get("/api/v1/events", Some(&app.alice.bearer())))
        .await;
    assert_eq!(stream.status(), StatusCode::OK);

    let disable = app
        .send(post(
            &format!("/api/v1/users/{}/disable", app.alice.view.id),
            &app.admin,
        ))
        .await;
    assert_eq!(disable.status(), StatusCode::NO_CONTENT);

    assert_eq!(
        app.send(get(&url, None)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The stream's last message says why, then it ends.
    let mut body = stream.into_body().into_data_stream();
    let mut text = String::new();
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = body.next().await {
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream did not end: {text}");
    assert!(
        text.contains("event: session-ended\ndata: {\"reason\":\"revoked\"}"),
        "{text}"
    );
}
