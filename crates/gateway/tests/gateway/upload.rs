//! The upload pipeline: the course's `/upload` and `POST /api/v1/jobs`, and every refusal leaving
//! nothing behind.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use mp3converter_core::JobState;
use mp3converter_gateway::GatewayConfig;
use serde_json::{Value, json};

use crate::common::{BOUNDARY, Form, TestApp, body_json, body_text, fixture};

#[tokio::test]
async fn course_upload_creates_a_queued_job_and_one_video_message_with_the_course_fields() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let form = Form::new().file("file", "holiday clip.mp4", &video);
    let response = app
        .send(form.request("/upload", Some(&app.alice.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()["x-job-id"].to_str().unwrap().to_owned();
    assert_eq!(
        response.headers()[header::LOCATION],
        format!("/api/v1/jobs/{id}")
    );
    assert_eq!(body_text(response).await, "success!");

    let job = app
        .state
        .db
        .get_job(&id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.state, JobState::Queued);
    assert_eq!(job.owner_id, app.alice.view.id);
    assert_eq!(job.original_name, "holiday clip.mp4");
    assert_eq!(job.video_key, format!("video/{id}"));
    assert_eq!(job.video_size, video.len() as u64);
    assert_eq!(app.blob_keys().await, vec![format!("video/{id}")]);

    assert_eq!(app.state.queue.depth("video").await.unwrap(), 1);
    let delivery = app
        .state
        .queue
        .receive("video", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(delivery.message_id, id);
    let payload: Value = serde_json::from_str(&delivery.payload).unwrap();
    assert_eq!(
        payload,
        json!({"video_fid": format!("video/{id}"), "mp3_fid": null,
               "username": "alice@example.com", "job_id": id, "options": {}})
    );
}

#[tokio::test]
async fn v1_create_answers_201_with_the_job_and_its_options() {
    let app = TestApp::spawn().await;
    let form = Form::new()
        .text("bitrate", "128")
        .text("mono", "true")
        .file("file", "talk.mkv", &fixture("mkv-aac.mkv"))
        .text("title", "My talk");
    let response = app
        .send(form.request("/api/v1/jobs", Some(&app.alice.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned();
    let job = body_json(response).await;
    assert_eq!(
        location,
        format!("/api/v1/jobs/{}", job["id"].as_str().unwrap())
    );
    assert_eq!(job["state"], "queued");
    assert_eq!(job["original_name"], "talk.mkv");
    assert_eq!(
        job["options"],
        json!({"bitrate": 128, "mono": true, "title": "My talk"})
    );
    assert_eq!(job["links"]["audio"], Value::Null);
    assert_eq!(job["error"], Value::Null);
}

#[tokio::test]
async fn options_json_field_is_accepted_on_the_course_route() {
    let app = TestApp::spawn().await;
    let form = Form::new()
        .file("file", "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .text("options", r#"{"vbr": 2, "start": 1.0}"#);
    let response = app
        .send(form.request("/upload", Some(&app.alice.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let id = response.headers()["x-job-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let job = app.state.db.get_job(&id).await.unwrap().unwrap();
    assert_eq!((job.options.vbr, job.options.start), (Some(2), Some(1.0)));
}

#[tokio::test]
async fn empty_file_two_files_and_no_file_are_400_and_store_nothing() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let cases = [
        (
            Form::new().file("file", "empty.mp4", b""),
            "the file is empty",
        ),
        (
            Form::new()
                .file("file", "a.mp4", &video)
                .file("file2", "b.mp4", &video),
            "exactly 1 file required",
        ),
        (
            Form::new().text("bitrate", "128"),
            "exactly 1 file required",
        ),
        (Form::new(), "exactly 1 file required"),
    ];
    for (form, message) in cases {
        let response = app
            .send(form.request("/upload", Some(&app.alice.bearer())))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{message}");
        assert_eq!(body_text(response).await, message);
    }
    let not_multipart = Request::post("/upload")
        .header(header::AUTHORIZATION, app.alice.bearer())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    let response = app.send(not_multipart).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_text(response).await, "exactly 1 file required");

    let form = Form::new()
        .file("file", "a.mp4", &video)
        .file("file", "b.mp4", &video);
    let response = app
        .send(form.request("/api/v1/jobs", Some(&app.alice.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body_json(response).await["code"], "exactly-one-file");

    assert!(app.blob_keys().await.is_empty());
    assert_eq!(app.state.queue.depth("video").await.unwrap(), 0);
    assert!(app.state.db.list_jobs(10).await.unwrap().is_empty());
}

async fn assert_413_and_nothing_stored(app: &TestApp, request: Request<Body>) {
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        response.headers()[header::CONNECTION],
        "close",
        "a keep-alive client must not reuse a connection with an unread body on it"
    );
    assert_eq!(body_json(response).await["code"], "too-large");
    assert!(app.blob_keys().await.is_empty());
    assert!(app.state.db.list_jobs(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn over_the_limit_is_413_and_nothing_is_stored() {
    let app = TestApp::with_config(GatewayConfig {
        max_upload_bytes: 10_000,
        ..Default::default()
    })
    .await;
    let video = fixture("mp4-aac-faststart.mp4");
    assert!(video.len() > 10_000 + 64 * 1024 || video.len() > 10_000);

    // Declared length far over the limit: refused before reading.
    let huge = Request::post("/api/v1/jobs")
        .header(header::AUTHORIZATION, app.alice.bearer())
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .header(header::CONTENT_LENGTH, "10000000000")
        .body(Body::empty())
        .unwrap();
    assert_413_and_nothing_stored(&app, huge).await;

    // No length given, streamed in small chunks: refused while storing.
    let body = Form::new().file("file", "a.mp4", &video).bytes();
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = body
        .chunks(1000)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let streamed = Request::post("/api/v1/jobs")
        .header(header::AUTHORIZATION, app.alice.bearer())
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap();
    assert_413_and_nothing_stored(&app, streamed).await;

    // The course route answers the same status.
    let form = Form::new().file("file", "a.mp4", &video);
    let response = app
        .send(form.request("/upload", Some(&app.alice.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(response.headers()[header::CONNECTION], "close");
    assert!(app.blob_keys().await.is_empty());

    // A refusal for the token, before any of the body is read: the same.
    let form = Form::new().file("file", "a.mp4", &video);
    let response = app
        .send(form.request("/upload", Some("Bearer not-a-token")))
        .await;
    assert!(response.status().is_client_error());
    assert_eq!(response.headers()[header::CONNECTION], "close");
}

#[tokio::test]
async fn pdf_and_text_are_415_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    for (name, bytes) in [
        ("doc.pdf", fixture("not-media.pdf")),
        (
            "notes.mp4",
            b"just some plain text pretending to be a video\n".repeat(10),
        ),
    ] {
        let form = Form::new().file("file", name, &bytes);
        let response = app
            .send(form.request("/api/v1/jobs", Some(&app.alice.bearer())))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{name}"
        );
        assert_eq!(body_json(response).await["code"], "unsupported-media-type");
        let form = Form::new().file("file", name, &bytes);
        let response = app
            .send(form.request("/upload", Some(&app.alice.bearer())))
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{name}"
        );
    }
    assert!(app.blob_keys().await.is_empty());
    assert_eq!(app.state.queue.depth("video").await.unwrap(), 0);
}

#[tokio::test]
async fn bad_options_are_400_with_the_reason_and_the_stored_video_is_removed() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    // Options after the file: the video was already stored when they are refused.
    let cases = [
        (
            Form::new()
                .file("file", "a.mp4", &video)
                .text("bitrate", "999"),
            "999",
        ),
        (
            Form::new()
                .text("vbr", "2")
                .text("bitrate", "128")
                .file("file", "a.mp4", &video),
            "not both",
        ),
        (
            Form::new()
                .file("file", "a.mp4", &video)
                .text("start", "5")
                .text("end", "2"),
            "end",
        ),
        (
            Form::new()
                .file("file", "a.mp4", &video)
                .text("options", "{\"bitrat\": 1}"),
            "bitrat",
        ),
        (
            Form::new()
                .file("file", "a.mp4", &video)
                .text("colour", "red"),
            "colour",
        ),
    ];
    for (form, reason) in cases {
        let response = app
            .send(form.request("/api/v1/jobs", Some(&app.alice.bearer())))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{reason}");
        let error = body_json(response).await;
        assert!(
            error["message"].as_str().unwrap().contains(reason),
            "{error}"
        );
    }
    assert!(app.blob_keys().await.is_empty());
    assert!(app.state.db.list_jobs(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn uploaded_file_names_are_sanitised() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let id = app
        .upload(&app.alice, "C:\\Users\\me\\..\\Fête 🎉.mp4", &video)
        .await;
    let job = app.state.db.get_job(&id).await.unwrap().unwrap();
    assert_eq!(job.original_name, "Fête 🎉.mp4");
    let id = app.upload(&app.alice, "", &video).await;
    let job = app.state.db.get_job(&id).await.unwrap().unwrap();
    assert_eq!(job.original_name, "upload");
}

#[tokio::test]
async fn a_cover_part_is_stored_beside_the_video_and_a_non_picture_is_400_and_nothing_kept() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let refused = [
        (
            Form::new().file("file", "a.mp4", &video).file(
                "cover",
                "cover.jpg",
                b"MZ\x90\0not a picture at all",
            ),
            "not a JPEG, PNG or WebP",
        ),
        (
            Form::new()
                .file("cover", "a.png", b"\x89PNG\r\n\x1a\n0000000000")
                .file("cover", "b.png", b"\x89PNG\r\n\x1a\n0000000000")
                .file("file", "a.mp4", &video),
            "at most one cover",
        ),
        (
            Form::new()
                .file("file", "a.mp4", &video)
                .text("options", r#"{"cover": true}"#),
            "file part named cover",
        ),
    ];
    for (form, reason) in refused {
        let response = app
            .send(form.request("/api/v1/jobs", Some(&app.alice.bearer())))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{reason}");
        let error = body_json(response).await;
        assert_eq!(error["code"], "bad-cover", "{error}");
        assert!(
            error["message"].as_str().unwrap().contains(reason),
            "{error}"
        );
    }
    assert!(app.blob_keys().await.is_empty(), "nothing kept");
    assert!(app.state.db.list_jobs(10).await.unwrap().is_empty());

    let form = Form::new()
        .file("cover", "c.jpg", b"\xFF\xD8\xFF\xE0 a JPEG's start")
        .file("file", "a.mp4", &video);
    let response = app
        .send(form.request("/api/v1/jobs", Some(&app.alice.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let job = body_json(response).await;
    assert_eq!(job["options"]["cover"], true);
    let mut keys = app.blob_keys().await;
    keys.sort();
    let id = job["id"].as_str().unwrap();
    assert_eq!(keys, [format!("video/{id}"), format!("video/{id}.cover")]);
}
