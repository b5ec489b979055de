//! A resumable upload's cover picture (`PUT /api/v1/uploads/{id}/cover`): stored under the
//! upload's prefix, copied beside the job's video when the last byte arrives (the job's
//! `options.cover` is true), refused when it is no picture, for someone else's upload or once
//! the upload is a job, and removed with the upload.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use bytes::Bytes;
use mp3converter_gateway::GatewayConfig;

use crate::common::{FakeUser, TestApp, body_json, fixture};
use crate::tus::{TUS, head, header_of, job_and_video, meta, patch, start};

/// The first bytes of a PNG, then filler: enough for the gateway's look at the magic bytes.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR a tiny picture";

fn put_cover(user: &FakeUser, url: &str, body: impl Into<Body>) -> Request<Body> {
    Request::put(format!("{url}/cover"))
        .header(header::AUTHORIZATION, user.bearer())
        .header(header::CONTENT_TYPE, "image/png")
        .body(body.into())
        .unwrap()
}

fn upload_id(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

async fn stored(app: &TestApp, key: &str) -> Option<Bytes> {
    match app.state.storage.get(key).await {
        Ok(blob) => Some(blob.bytes().await.unwrap()),
        Err(_) => None,
    }
}

/// Waits until the finished upload's leftovers (segments, picture) are removed.
async fn settle(app: &TestApp, expected: &[String]) {
    for _ in 0..100 {
        if app.blob_keys().await == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.blob_keys().await, expected);
}

#[tokio::test]
async fn a_cover_sent_before_the_last_byte_becomes_the_jobs_cover() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let url = start(
        &app,
        &app.alice,
        video.len() as u64,
        &meta(&[("filename", "talk.mp4")]),
    )
    .await;
    let key = format!("uploads/{}/cover", upload_id(&url));

    // Some bytes first, then a picture, then a second picture that replaces it.
    let response = app
        .send(patch(&app.alice, &url, 0, video[..5000].to_vec()))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let first = b"\xFF\xD8\xFF\xE0 a JPEG's start".to_vec();
    let response = app.send(put_cover(&app.alice, &url, first.clone())).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(stored(&app, &key).await, Some(Bytes::from(first)));
    let response = app.send(put_cover(&app.alice, &url, PNG)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(stored(&app, &key).await, Some(Bytes::from_static(PNG)));

    // The cover key is no segment: the upload still completes with exactly the video's bytes.
    let response = app
        .send(patch(&app.alice, &url, 5000, video[5000..].to_vec()))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let id = header_of(&response, "x-job-id").expect("the job");
    let (job, video_stored) = job_and_video(&app, &id).await;
    assert_eq!(video_stored, Bytes::from(video));
    assert!(job.options.cover);
    let cover = mp3converter_core::cover_key(&job.video_key);
    assert_eq!(cover, format!("video/{id}.cover"));
    assert_eq!(stored(&app, &cover).await, Some(Bytes::from_static(PNG)));

    let response = app
        .send(
            Request::get(format!("/api/v1/jobs/{id}"))
                .header(header::AUTHORIZATION, app.alice.bearer())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(body_json(response).await["options"]["cover"], true);

    // The upload's own picture goes with its segments; the job keeps its copy.
    settle(&app, &[format!("video/{id}"), cover.clone()]).await;

    // Once the upload is a job its cover cannot change.
    let response = app.send(put_cover(&app.alice, &url, PNG)).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(body_json(response).await["code"], "upload-complete");
    assert_eq!(stored(&app, &key).await, None);
}

#[tokio::test]
async fn a_cover_that_is_no_picture_is_400_bad_cover_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let url = start(&app, &app.alice, video.len() as u64, "").await;
    let key = format!("uploads/{}/cover", upload_id(&url));
    let refused: [(&[u8], &str); 3] = [
        (b"", "empty"),
        (b"MZ\x90\0not a picture at all", "not a JPEG, PNG or WebP"),
        (
            b"<svg xmlns='http://www.w3.org/2000/svg'/>",
            "not a JPEG, PNG or WebP",
        ),
    ];
    for (body, reason) in refused {
        let response = app.send(put_cover(&app.alice, &url, body.to_vec())).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{reason}");
        let error = body_json(response).await;
        assert_eq!(error["code"], "bad-cover", "{error}");
        assert!(
            error["message"].as_str().unwrap().contains(reason),
            "{error}"
        );
    }
    assert!(app.blob_keys().await.is_empty(), "nothing stored");

    // A picture, then a non-picture: the picture already accepted stays.
    let response = app.send(put_cover(&app.alice, &url, PNG)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = app
        .send(put_cover(&app.alice, &url, b"GIF89a not allowed".to_vec()))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(stored(&app, &key).await, Some(Bytes::from_static(PNG)));

    // Over 16 MiB: refused as in a form upload, by Content-Length and while streaming.
    let mut big = PNG.to_vec();
    big.resize((16 << 20) + 1, 0);
    let mut declared = put_cover(&app.alice, &url, big.clone());
    declared
        .headers_mut()
        .insert(header::CONTENT_LENGTH, big.len().into());
    let response = app.send(declared).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = body_json(response).await;
    assert_eq!(error["code"], "bad-cover");
    assert!(
        error["message"].as_str().unwrap().contains("16 MiB"),
        "{error}"
    );
    let chunks = big
        .chunks(1 << 20)
        .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
        .collect::<Vec<_>>();
    let response = app
        .send(put_cover(
            &app.alice,
            &url,
            Body::from_stream(futures_util::stream::iter(chunks)),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response).await["code"], "bad-cover");
    assert_eq!(stored(&app, &key).await, Some(Bytes::from_static(PNG)));
}

#[tokio::test]
async fn a_cover_for_someone_elses_or_an_unknown_upload_is_404() {
    let app = TestApp::spawn().await;
    let url = start(&app, &app.alice, 1000, "").await;
    let response = app.send(put_cover(&app.bob, &url, PNG)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    for unknown in [
        "/api/v1/uploads/0123456789abcdef0123456789abcdef",
        "/api/v1/uploads/..%2F..%2Fetc",
    ] {
        let response = app.send(put_cover(&app.alice, unknown, PNG)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{unknown}");
    }
    let response = app
        .send(
            Request::put(format!("{url}/cover"))
                .body(Body::from(PNG))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(app.blob_keys().await.is_empty());
}

#[tokio::test]
async fn a_cover_with_cover_from_video_is_refused_before_the_file_is_sent() {
    let app = TestApp::spawn().await;
    let url = start(&app, &app.alice, 1000, &meta(&[("cover_from_video", "3")])).await;
    let response = app.send(put_cover(&app.alice, &url, PNG)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = body_json(response).await;
    assert!(
        error["message"].as_str().unwrap().contains("not both"),
        "{error}"
    );
    assert!(app.blob_keys().await.is_empty());
}

#[tokio::test]
async fn an_upload_without_a_cover_makes_a_job_without_one() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let url = start(&app, &app.alice, video.len() as u64, "").await;
    let response = app.send(patch(&app.alice, &url, 0, video)).await;
    let id = header_of(&response, "x-job-id").expect("the job");
    let (job, _) = job_and_video(&app, &id).await;
    assert!(!job.options.cover);
    settle(&app, &[format!("video/{id}")]).await;
}

#[tokio::test]
async fn a_terminated_or_refused_upload_takes_its_cover_along() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");

    // Terminated.
    let url = start(&app, &app.alice, video.len() as u64, "").await;
    app.send(put_cover(&app.alice, &url, PNG)).await;
    assert_eq!(app.blob_keys().await.len(), 1);
    let response = app
        .send(
            Request::delete(&url)
                .header("tus-resumable", TUS)
                .header(header::AUTHORIZATION, app.alice.bearer())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(app.blob_keys().await.is_empty());

    // Refused: the file is no media.
    let html = b"<!DOCTYPE html><html><body>not a video</body></html>".repeat(40);
    let url = start(&app, &app.alice, html.len() as u64, "").await;
    app.send(put_cover(&app.alice, &url, PNG)).await;
    let response = app.send(patch(&app.alice, &url, 0, html)).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert!(app.blob_keys().await.is_empty());
}

#[tokio::test]
async fn a_cover_for_an_expired_upload_is_410() {
    let app = TestApp::with_config(GatewayConfig {
        upload_expiry_secs: 1,
        ..GatewayConfig::default()
    })
    .await;
    let url = start(&app, &app.alice, 1000, "").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = app.send(put_cover(&app.alice, &url, PNG)).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert_eq!(body_json(response).await["code"], "upload-expired");
    assert_eq!(
        app.send(head(&app.alice, &url)).await.status(),
        StatusCode::GONE
    );
    assert!(app.blob_keys().await.is_empty());
}
