//! Uploads at the edges: a large upload from a fast client, and a database failure after the
//! video was stored.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};

use crate::common::{BOUNDARY, Form, TestApp, body_json, fixture};

#[tokio::test]
async fn a_database_failure_after_storing_answers_503_and_leaves_no_orphan_blob() {
    let app = TestApp::spawn().await;
    app.state.db.close().await;
    let form = Form::new().file("file", "a.mp4", &fixture("mp4-aac-faststart.mp4"));
    let response = app
        .send(form.request("/api/v1/jobs", Some(&app.alice.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let error = body_json(response).await;
    assert_eq!(error["code"], "unavailable");
    assert!(
        !error["message"].as_str().unwrap().contains("pool"),
        "5xx bodies are opaque"
    );
    assert!(app.blob_keys().await.is_empty());
}

/// Peak resident memory of this process, KiB (Linux).
#[cfg(target_os = "linux")]
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_large_upload_from_a_fast_client_is_streamed_with_flat_memory() {
    let app = TestApp::spawn().await;
    const MIB: u64 = 1024 * 1024;
    let upload_mib = 256;
    let head = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.mp4\"\r\n\r\n"
    );
    // One shared 256 KiB buffer: the client side allocates nothing per chunk and is always ready.
    let chunk = bytes::Bytes::from(vec![7u8; 256 * 1024]);
    let parts = [
        bytes::Bytes::from(head),
        fixture("mp4-aac-faststart.mp4").into(),
    ]
    .into_iter()
    .chain((0..upload_mib * 4).map(move |_| chunk.clone()))
    .chain([bytes::Bytes::from(format!("\r\n--{BOUNDARY}--\r\n"))])
    .map(Ok::<_, std::io::Error>);
    let request = Request::post("/upload")
        .header(header::AUTHORIZATION, app.alice.bearer())
        .header(
            header::CONTENT_TYPE,
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(Body::from_stream(futures_util::stream::iter(parts)))
        .unwrap();
    let before = peak_rss_kib();
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    let grown_mib = (peak_rss_kib() - before) / 1024;
    assert!(
        grown_mib < 64,
        "peak memory grew by {grown_mib} MiB for a {upload_mib} MiB upload"
    );
    let id = response.headers()["x-job-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let job = app.state.db.get_job(&id).await.unwrap().unwrap();
    assert!(job.video_size > upload_mib * MIB);
}
