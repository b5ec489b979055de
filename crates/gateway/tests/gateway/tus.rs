//! Resumable uploads (tus 1.0.0) under `/api/v1/uploads`: the protocol's headers, an upload in
//! several PATCHes becoming the same job a form upload makes, resuming after a body broke off,
//! checksums, limits, owner-only access, termination and expiry.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use mp3converter_core::JobState;
use mp3converter_gateway::GatewayConfig;
use sha2::{Digest, Sha256};

use crate::common::{FakeUser, TestApp, body_json, fixture};

pub(crate) const TUS: &str = "1.0.0";

pub(crate) fn meta(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k} {}", STANDARD.encode(v)))
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn create(user: &FakeUser, length: u64, metadata: &str) -> Request<Body> {
    Request::post("/api/v1/uploads")
        .header("tus-resumable", TUS)
        .header(header::AUTHORIZATION, user.bearer())
        .header("upload-length", length.to_string())
        .header("upload-metadata", metadata)
        .body(Body::empty())
        .unwrap()
}

pub(crate) fn patch(
    user: &FakeUser,
    url: &str,
    offset: u64,
    body: impl Into<Body>,
) -> Request<Body> {
    Request::patch(url)
        .header("tus-resumable", TUS)
        .header(header::AUTHORIZATION, user.bearer())
        .header(header::CONTENT_TYPE, "application/offset+octet-stream")
        .header("upload-offset", offset.to_string())
        .body(body.into())
        .unwrap()
}

pub(crate) fn head(user: &FakeUser, url: &str) -> Request<Body> {
    Request::head(url)
        .header("tus-resumable", TUS)
        .header(header::AUTHORIZATION, user.bearer())
        .body(Body::empty())
        .unwrap()
}

pub(crate) fn header_of(response: &Response<Body>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

fn offset_of(response: &Response<Body>) -> u64 {
    header_of(response, "upload-offset")
        .expect("Upload-Offset")
        .parse()
        .unwrap()
}

pub(crate) async fn start(app: &TestApp, user: &FakeUser, length: u64, metadata: &str) -> String {
    let response = app.send(create(user, length, metadata)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(header_of(&response, "tus-resumable").as_deref(), Some(TUS));
    assert!(header_of(&response, "upload-expires").is_some());
    header_of(&response, "location").expect("Location")
}

#[tokio::test]
async fn options_advertise_the_version_extensions_limit_and_checksums() {
    let app = TestApp::spawn().await;
    let response = app
        .send(
            Request::options("/api/v1/uploads")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_of(&response, "tus-version").as_deref(), Some(TUS));
    let extensions = header_of(&response, "tus-extension").unwrap();
    for ext in [
        "creation",
        "creation-with-upload",
        "expiration",
        "checksum",
        "termination",
    ] {
        assert!(extensions.split(',').any(|e| e == ext), "{extensions}");
    }
    assert_eq!(
        header_of(&response, "tus-max-size"),
        Some(GatewayConfig::default().max_upload_bytes.to_string())
    );
    assert_eq!(
        header_of(&response, "tus-checksum-algorithm").as_deref(),
        Some("sha1,sha256,sha512")
    );

    // Without Tus-Resumable: 412 with the versions spoken.
    let response = app
        .send(
            Request::post("/api/v1/uploads")
                .header(header::AUTHORIZATION, app.alice.bearer())
                .header("upload-length", "10")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), StatusCode::PRECONDITION_FAILED);
    assert_eq!(header_of(&response, "tus-version").as_deref(), Some(TUS));
    assert_eq!(body_json(response).await["code"], "tus-version");
}

#[tokio::test]
async fn an_upload_in_pieces_becomes_the_job_a_form_upload_makes() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let total = video.len() as u64;
    let metadata = meta(&[
        ("filename", "talk (final).mp4"),
        ("filetype", "video/mp4"),
        ("bitrate", "128"),
        ("keep", "true"),
    ]);
    let url = start(&app, &app.alice, total, &metadata).await;
    assert!(url.starts_with("/api/v1/uploads/"), "{url}");

    let cuts = [0, 1000, video.len() / 2, video.len()];
    for pair in cuts.windows(2) {
        let response = app
            .send(patch(
                &app.alice,
                &url,
                pair[0] as u64,
                video[pair[0]..pair[1]].to_vec(),
            ))
            .await;
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
        assert_eq!(offset_of(&response), pair[1] as u64);
        let last = pair[1] == video.len();
        assert_eq!(header_of(&response, "x-job-id").is_some(), last);
        if !last {
            let response = app.send(head(&app.alice, &url)).await;
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(offset_of(&response), pair[1] as u64);
            assert_eq!(
                header_of(&response, "upload-length"),
                Some(total.to_string())
            );
            assert_eq!(
                header_of(&response, "upload-metadata"),
                Some(metadata.clone())
            );
            assert_eq!(
                header_of(&response, "cache-control").as_deref(),
                Some("no-store")
            );
        }
    }
    let response = app.send(head(&app.alice, &url)).await;
    let id = header_of(&response, "x-job-id").expect("the job");
    assert_eq!(offset_of(&response), total);

    let (job, stored) = job_and_video(&app, &id).await;
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.owner_id, app.alice.view.id);
    assert_eq!(job.original_name, "talk (final).mp4");
    assert_eq!(job.video_size, total);
    assert_eq!(job.video_sha256, hex(&Sha256::digest(&video)));
    assert_eq!(job.options.bitrate, Some(128));
    assert!(job.keep);
    assert_eq!(stored, Bytes::from(video));
    assert_eq!(app.state.queue.depth("video").await.unwrap(), 1);
    // The segments go once the job has the video.
    for _ in 0..100 {
        if app.blob_keys().await == vec![job.video_key.clone()] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.blob_keys().await, vec![job.video_key.clone()]);
    // The finished PATCH repeated (a client that missed the answer) gets the same job.
    let response = app.send(patch(&app.alice, &url, total, Vec::new())).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(header_of(&response, "x-job-id"), Some(id.clone()));
    assert_eq!(app.state.queue.depth("video").await.unwrap(), 1);
}

/// Job `id` and its stored video.
pub(crate) async fn job_and_video(app: &TestApp, id: &str) -> (mp3converter_core::Job, Bytes) {
    let job = app.state.db.get_job(&id.parse().unwrap()).await.unwrap();
    let job = job.expect("the job");
    let video = app.state.storage.get(&job.video_key).await.unwrap();
    (job, video.bytes().await.unwrap())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn creation_with_upload_and_a_broken_body_keep_what_arrived() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let total = video.len() as u64;
    let mut request = create(&app.alice, total, &meta(&[("filename", "a.mp4")]));
    request.headers_mut().insert(
        header::CONTENT_TYPE,
        "application/offset+octet-stream".parse().unwrap(),
    );
    *request.body_mut() = Body::from(video[..700].to_vec());
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(offset_of(&response), 700);
    let url = header_of(&response, "location").unwrap();

    // The connection drops after 900 more bytes: they are kept, the client resumes after them.
    let sent = Bytes::copy_from_slice(&video[700..1600]);
    let broken = futures_util::stream::iter(vec![
        Ok(sent),
        Err(std::io::Error::other("connection reset")),
    ]);
    let response = app
        .send(patch(&app.alice, &url, 700, Body::from_stream(broken)))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app.send(head(&app.alice, &url)).await;
    assert_eq!(offset_of(&response), 1600);

    // A PATCH at a stale offset is refused with the real one.
    let response = app
        .send(patch(&app.alice, &url, 700, video[700..].to_vec()))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(offset_of(&response), 1600);
    assert_eq!(body_json(response).await["code"], "offset-mismatch");

    let response = app
        .send(patch(&app.alice, &url, 1600, video[1600..].to_vec()))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let id = header_of(&response, "x-job-id").unwrap();
    let (_, stored) = job_and_video(&app, &id).await;
    assert_eq!(stored, Bytes::from(video));
}

#[tokio::test]
async fn a_checksum_mismatch_stores_nothing_and_a_match_is_kept() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let url = start(&app, &app.alice, video.len() as u64, "").await;
    let piece = video[..4096].to_vec();
    let digest = |b: &[u8]| format!("sha256 {}", STANDARD.encode(Sha256::digest(b)));

    let mut wrong = patch(&app.alice, &url, 0, piece.clone());
    wrong
        .headers_mut()
        .insert("upload-checksum", digest(b"other").parse().unwrap());
    let response = app.send(wrong).await;
    assert_eq!(response.status().as_u16(), 460);
    assert_eq!(body_json(response).await["code"], "checksum-mismatch");
    assert_eq!(offset_of(&app.send(head(&app.alice, &url)).await), 0);

    let mut unknown = patch(&app.alice, &url, 0, piece.clone());
    unknown
        .headers_mut()
        .insert("upload-checksum", "crc32 AAAA".parse().unwrap());
    let response = app.send(unknown).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response).await["code"], "checksum-algorithm");

    let mut right = patch(&app.alice, &url, 0, piece.clone());
    right
        .headers_mut()
        .insert("upload-checksum", digest(&piece).parse().unwrap());
    let response = app.send(right).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(offset_of(&response), 4096);
}

#[tokio::test]
async fn limits_are_enforced_at_creation_and_on_every_patch() {
    let config = GatewayConfig {
        max_upload_bytes: 100_000,
        max_open_uploads: 2,
        ..GatewayConfig::default()
    };
    let app = TestApp::with_config(config).await;
    let response = app.send(create(&app.alice, 100_001, "")).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_json(response).await["code"], "too-large");
    let response = app.send(create(&app.alice, 0, "")).await;
    assert_eq!(body_json(response).await["code"], "empty-file");
    let mut deferred = create(&app.alice, 10, "");
    deferred.headers_mut().remove("upload-length");
    deferred
        .headers_mut()
        .insert("upload-defer-length", "1".parse().unwrap());
    assert_eq!(
        body_json(app.send(deferred).await).await["code"],
        "length-required"
    );
    let response = app
        .send(create(&app.alice, 10, &meta(&[("bitrate", "999")])))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response).await["code"], "invalid-options");
    let response = app
        .send(create(&app.alice, 10, &meta(&[("colour", "red")])))
        .await;
    assert_eq!(body_json(response).await["code"], "unknown-field");

    // A body past Upload-Length is refused.
    let url = start(&app, &app.alice, 1000, "").await;
    let response = app.send(patch(&app.alice, &url, 0, vec![0u8; 1001])).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body_json(response).await["code"], "beyond-upload-length");

    // Two unfinished uploads at once, not three; another user has their own allowance.
    start(&app, &app.alice, 1000, "").await;
    let response = app.send(create(&app.alice, 1000, "")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body_json(response).await["code"], "too-many-uploads");
    start(&app, &app.bob, 1000, "").await;
}

#[tokio::test]
async fn not_media_is_refused_at_the_first_bytes_and_the_upload_removed() {
    let app = TestApp::spawn().await;
    let html = b"<!DOCTYPE html><html><body>not a video</body></html>".repeat(40);
    let url = start(&app, &app.alice, html.len() as u64, "").await;
    let response = app.send(patch(&app.alice, &url, 0, html.clone())).await;
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(body_json(response).await["code"], "unsupported-media-type");
    assert_eq!(
        app.send(head(&app.alice, &url)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(app.blob_keys().await.is_empty());
}

#[tokio::test]
async fn uploads_are_their_owners_only_and_can_be_terminated() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let url = start(&app, &app.alice, video.len() as u64, "").await;
    let response = app
        .send(patch(&app.alice, &url, 0, video[..2000].to_vec()))
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(!app.blob_keys().await.is_empty());

    for request in [
        head(&app.bob, &url),
        patch(&app.bob, &url, 2000, video[2000..].to_vec()),
    ] {
        assert_eq!(app.send(request).await.status(), StatusCode::NOT_FOUND);
    }
    let delete = |user: &FakeUser| {
        Request::delete(&url)
            .header("tus-resumable", TUS)
            .header(header::AUTHORIZATION, user.bearer())
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        app.send(delete(&app.bob)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.send(delete(&app.alice)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.send(head(&app.alice, &url)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert!(app.blob_keys().await.is_empty());
    // Malformed ids are plain 404s.
    let response = app
        .send(head(&app.alice, "/api/v1/uploads/..%2F..%2Fetc"))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_expired_upload_is_gone() {
    let config = GatewayConfig {
        upload_expiry_secs: 1,
        ..GatewayConfig::default()
    };
    let app = TestApp::with_config(config).await;
    let url = start(&app, &app.alice, 1000, "").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = app.send(head(&app.alice, &url)).await;
    assert_eq!(response.status(), StatusCode::GONE);
    let response = app.send(patch(&app.alice, &url, 0, vec![0u8; 10])).await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert_eq!(body_json(response).await["code"], "upload-expired");
    // It no longer counts against the open-upload allowance.
    assert_eq!(
        app.state
            .db
            .count_open_uploads(&app.alice.view.id, mp3converter_core::now_millis())
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn a_complete_upload_whose_job_was_not_made_gets_it_on_head() {
    // The gateway stopped between storing the last segment and making the job: the client sees
    // the full offset on HEAD and will not PATCH again, so HEAD makes the job.
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let total = video.len() as u64;
    let url = start(&app, &app.alice, total, &meta(&[("filename", "late.mp4")])).await;
    let id = url.rsplit('/').next().unwrap().to_owned();
    let body = futures_util::StreamExt::boxed(futures_util::stream::iter([Ok(
        Bytes::copy_from_slice(&video),
    )]));
    app.state
        .storage
        .put_stream(&format!("uploads/{id}/{:020}", 0), body, None)
        .await
        .unwrap();
    assert!(
        app.state
            .db
            .advance_upload(&id, 0, total, i64::MAX / 2)
            .await
            .unwrap()
    );
    let response = app.send(head(&app.alice, &url)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(offset_of(&response), total);
    let job = header_of(&response, "x-job-id").expect("HEAD made the job");
    let (job, _) = job_and_video(&app, &job).await;
    assert_eq!(job.original_name, "late.mp4");
    assert_eq!(job.video_size, total);
}

#[tokio::test]
async fn source_size_says_only_the_audio_was_sent_and_is_checked() {
    let app = TestApp::spawn().await;
    // What a client that extracted the audio track sends: the small file, the video's name, and
    // the size of the file the user chose.
    let audio = fixture("mp4-aac-faststart.mp4");
    let total = audio.len() as u64;
    let metadata = meta(&[("filename", "talk.mp4"), ("source_size", "1000000000")]);
    let url = start(&app, &app.alice, total, &metadata).await;
    let response = app.send(patch(&app.alice, &url, 0, audio)).await;
    let id = header_of(&response, "x-job-id").expect("the job");
    let (job, _) = job_and_video(&app, &id).await;
    assert_eq!(job.original_name, "talk.mp4");
    assert_eq!(job.video_size, total);
    assert_eq!(job.source_size, Some(1_000_000_000));
    let response = app
        .send(
            Request::get(format!("/api/v1/jobs/{id}"))
                .header(header::AUTHORIZATION, app.alice.bearer())
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(body_json(response).await["source_size"], 1_000_000_000);

    // A "source" no bigger than what was sent left nothing out: not shown.
    let metadata = meta(&[("filename", "a.mp4"), ("source_size", "10")]);
    let url = start(&app, &app.alice, total, &metadata).await;
    let response = app
        .send(patch(&app.alice, &url, 0, fixture("mp4-aac-faststart.mp4")))
        .await;
    let id = header_of(&response, "x-job-id").expect("the job");
    assert_eq!(job_and_video(&app, &id).await.0.source_size, None);

    // Not a byte count: refused at creation, before any byte is sent.
    for bad in ["0", "-1", "big", "9007199254740992"] {
        let metadata = meta(&[("filename", "a.mp4"), ("source_size", bad)]);
        let response = app.send(create(&app.alice, total, &metadata)).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(
            body_json(response).await["code"],
            "invalid-options",
            "{bad}"
        );
    }
}
