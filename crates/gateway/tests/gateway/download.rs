//! Downloads: the course's `/download?fid=` and `/api/v1/jobs/{id}/audio` with `Range`, `ETag`
//! and `Content-Disposition`.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::common::{Form, TestApp, body_bytes, body_json, body_text, fixture, get};

fn audio_bytes() -> Vec<u8> {
    (0..10_000u32).map(|i| (i % 251) as u8).collect()
}

#[tokio::test]
async fn download_before_done_is_409_and_without_fid_is_400() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let bearer = app.alice.bearer();

    let response = app
        .send(get(&format!("/download?fid={id}"), Some(&bearer)))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert!(body_text(response).await.contains("not ready"));
    let response = app
        .send(get(&format!("/api/v1/jobs/{id}/audio"), Some(&bearer)))
        .await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(body_json(response).await["code"], "not-ready");

    for uri in ["/download", "/download?fid=", "/download?other=1"] {
        let response = app.send(get(uri, Some(&bearer))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body_text(response).await, "fid is required");
    }
    let response = app.send(get("/download?fid=nonsense", Some(&bearer))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(body_text(response).await, "not found");
}

#[tokio::test]
async fn done_job_downloads_whole_by_job_id_and_by_audio_key() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "My Song.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let audio = audio_bytes();
    app.finish(&id, &audio).await;
    let bearer = app.alice.bearer();

    for fid in [id.to_string(), format!("audio/{id}.mp3")] {
        let response = app
            .send(get(&format!("/download?fid={fid}"), Some(&bearer)))
            .await;
        assert_eq!(response.status(), StatusCode::OK, "{fid}");
        let h = response.headers();
        assert_eq!(h[header::CONTENT_TYPE], "audio/mpeg");
        assert_eq!(h[header::CONTENT_LENGTH], audio.len().to_string());
        assert_eq!(
            h[header::CONTENT_DISPOSITION],
            "attachment; filename=\"My Song.mp3\"; filename*=UTF-8''My%20Song.mp3"
        );
        assert_eq!(body_bytes(response).await, audio);
    }
    let response = app
        .send(get(&format!("/api/v1/jobs/{id}/audio"), Some(&bearer)))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::ACCEPT_RANGES], "bytes");
    assert_eq!(body_bytes(response).await, audio);

    let job = body_json(
        app.send(get(&format!("/api/v1/jobs/{id}"), Some(&bearer)))
            .await,
    )
    .await;
    assert_eq!(job["state"], "done");
    assert_eq!(job["audio_size"], audio.len());
    assert_eq!(job["links"]["audio"], format!("/api/v1/jobs/{id}/audio"));
}

#[tokio::test]
async fn another_format_downloads_with_its_type_name_and_fid() {
    let app = TestApp::spawn().await;
    let bearer = app.alice.bearer();
    for (format, content_type) in [
        ("flac", "audio/flac"),
        ("opus", "audio/ogg"),
        ("wav", "audio/wav"),
        ("m4a", "audio/mp4"),
    ] {
        let form = Form::new().text("format", format).file(
            "file",
            "Talk.mp4",
            &fixture("mp4-aac-faststart.mp4"),
        );
        let response = app.send(form.request("/upload", Some(&bearer))).await;
        assert_eq!(response.status(), StatusCode::OK, "{format}");
        let id: mp3converter_core::JobId = response.headers()["x-job-id"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        let job = app.finish(&id, &audio_bytes()).await;
        assert_eq!(job.options.format().extension(), format);
        let fid = format!("audio/{id}.{format}");
        assert_eq!(job.audio_key.as_deref(), Some(fid.as_str()));
        for uri in [
            format!("/download?fid={fid}"),
            format!("/api/v1/jobs/{id}/audio"),
        ] {
            let response = app.send(get(&uri, Some(&bearer))).await;
            assert_eq!(response.status(), StatusCode::OK, "{uri}");
            let h = response.headers();
            assert_eq!(h[header::CONTENT_TYPE], content_type, "{uri}");
            assert_eq!(
                h[header::CONTENT_DISPOSITION],
                format!("attachment; filename=\"Talk.{format}\"; filename*=UTF-8''Talk.{format}"),
                "{uri}"
            );
            assert_eq!(body_bytes(response).await, audio_bytes());
        }
        let view = body_json(
            app.send(get(&format!("/api/v1/jobs/{id}"), Some(&bearer)))
                .await,
        )
        .await;
        assert_eq!(view["options"]["format"], format);
    }
    // A format the service does not write is refused with the list of those it does.
    let form = Form::new().text("format", "aiff").file(
        "file",
        "Talk.mp4",
        &fixture("mp4-aac-faststart.mp4"),
    );
    let response = app.send(form.request("/api/v1/jobs", Some(&bearer))).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = body_json(response).await;
    assert_eq!(body["code"], "invalid-options");
    assert_eq!(
        body["message"],
        "unknown format \"aiff\": choose mp3, opus, flac, wav or m4a"
    );
}

fn with_headers(uri: &str, bearer: &str, headers: &[(header::HeaderName, &str)]) -> Request<Body> {
    let mut b = Request::get(uri).header(header::AUTHORIZATION, bearer);
    for (name, value) in headers {
        b = b.header(name, *value);
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn ranges_answer_206_with_the_right_bytes_and_content_range() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let audio = audio_bytes();
    app.finish(&id, &audio).await;
    let uri = format!("/api/v1/jobs/{id}/audio");
    let bearer = app.alice.bearer();

    for (range, expected, content_range) in [
        ("bytes=0-99", 0..100, "bytes 0-99/10000"),
        ("bytes=9990-", 9990..10_000, "bytes 9990-9999/10000"),
        ("bytes=-10", 9990..10_000, "bytes 9990-9999/10000"),
        ("bytes=5000-20000", 5000..10_000, "bytes 5000-9999/10000"),
    ] {
        let response = app
            .send(with_headers(&uri, &bearer, &[(header::RANGE, range)]))
            .await;
        assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(response.headers()[header::CONTENT_RANGE], content_range);
        assert_eq!(
            response.headers()[header::CONTENT_LENGTH],
            expected.len().to_string()
        );
        assert_eq!(body_bytes(response).await, audio[expected]);
    }
    // Seed route too.
    let course = format!("/download?fid={id}");
    let response = app
        .send(with_headers(
            &course,
            &bearer,
            &[(header::RANGE, "bytes=1-2")],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(body_bytes(response).await, audio[1..3]);

    let response = app
        .send(with_headers(
            &uri,
            &bearer,
            &[(header::RANGE, "bytes=10000-")],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(response.headers()[header::CONTENT_RANGE], "bytes */10000");

    // Several ranges, or an If-Range that does not match: the whole file.
    for headers in [
        vec![(header::RANGE, "bytes=0-1,5-6")],
        vec![
            (header::RANGE, "bytes=0-1"),
            (header::IF_RANGE, "\"other\""),
        ],
    ] {
        let response = app.send(with_headers(&uri, &bearer, &headers)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body_bytes(response).await.len(), audio.len());
    }
}

#[tokio::test]
async fn etag_is_strong_and_if_none_match_answers_304() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    app.finish(&id, &audio_bytes()).await;
    let uri = format!("/api/v1/jobs/{id}/audio");
    let bearer = app.alice.bearer();

    let response = app.send(get(&uri, Some(&bearer))).await;
    let etag = response.headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(etag, format!("\"{id}-10000\""));

    let response = app
        .send(with_headers(
            &uri,
            &bearer,
            &[(header::IF_NONE_MATCH, &etag)],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(response.headers()[header::ETAG], etag.as_str());
    assert!(body_bytes(response).await.is_empty());

    let response = app
        .send(with_headers(
            &uri,
            &bearer,
            &[(header::IF_NONE_MATCH, "\"stale\"")],
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);

    let ranged = [
        (header::RANGE, "bytes=0-9"),
        (header::IF_RANGE, etag.as_str()),
    ];
    let response = app.send(with_headers(&uri, &bearer, &ranged)).await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
}

#[tokio::test]
async fn content_disposition_of_a_nasty_name_is_safe() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    app.finish(&id, &audio_bytes()).await;
    // Stored names are sanitised on upload; this one bypasses that, as an old row might.
    sqlx_set_name(
        &app,
        &id,
        "evil\"; filename=\"x.exe\r\nSet-Cookie: a=b; Ünïcode ☃.mp4",
    )
    .await;

    let response = app
        .send(get(
            &format!("/download?fid={id}"),
            Some(&app.alice.bearer()),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cd = response.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap();
    assert_eq!(
        cd,
        "attachment; filename=\"evil_ filename=x.exeSet-Cookie: a=b_ _n_code _.mp3\"; \
         filename*=UTF-8''evil%3B%20filename%3Dx.exeSet-Cookie%3A%20a%3Db%3B%20%C3%9Cn%C3%AFcode%20%E2%98%83.mp3"
    );
    assert!(!cd.contains('\r') && !cd.contains('\n'));
    assert_eq!(cd.matches('"').count(), 2);
}

/// Writes a raw `original_name`, bypassing upload sanitising.
async fn sqlx_set_name(app: &TestApp, id: &mp3converter_core::JobId, name: &str) {
    sqlx::query("UPDATE jobs SET original_name = $1 WHERE id = $2")
        .bind(name)
        .bind(id.as_str())
        .execute(app.state.db.pool())
        .await
        .unwrap();
}
