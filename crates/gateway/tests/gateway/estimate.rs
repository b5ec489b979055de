//! `POST /api/v1/estimate`: a size and a time for a duration and options, validated like a job's
//! options, for signed-in callers only; the speed comes from recent jobs once there are enough.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use mp3converter_db::AudioOutput;

use crate::common::{TestApp, body_json, fixture};

fn estimate(body: &str, authorization: Option<&str>) -> Request<Body> {
    let mut b = Request::post("/api/v1/estimate").header(header::CONTENT_TYPE, "application/json");
    if let Some(a) = authorization {
        b = b.header(header::AUTHORIZATION, a);
    }
    b.body(Body::from(body.to_owned())).unwrap()
}

#[tokio::test]
async fn estimate_predicts_size_and_time_from_the_reference_table() {
    let app = TestApp::spawn().await;
    let bearer = app.alice.bearer();
    let response = app
        .send(estimate(
            r#"{"duration_secs": 3600, "format": "opus", "bitrate": 64}"#,
            Some(&bearer),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let e = body_json(response).await;
    assert_eq!(e["format"], "opus");
    assert_eq!(e["duration_secs"], 3600.0);
    assert_eq!(e["bytes_approximate"], true);
    assert_eq!(e["speed_source"], "reference machine");
    assert!(e.get("route").is_none(), "{e}");
    let bytes = e["bytes"].as_f64().unwrap();
    assert!((28_800_000.0..29_700_000.0).contains(&bytes), "{e}");
    let seconds = e["seconds"].as_f64().unwrap();
    assert!(seconds > 10.0 && seconds < 600.0, "{e}");

    // A preset and a trim, as the upload form sends them; CBR MP3 is not approximate.
    let e = body_json(
        app.send(estimate(
            r#"{"duration_secs": 600, "preset": "podcast", "options": {"end": 60}}"#,
            Some(&bearer),
        ))
        .await,
    )
    .await;
    assert_eq!(e["format"], "mp3");
    assert_eq!(e["duration_secs"], 60.0);
    assert_eq!(e["bytes_approximate"], false);
    let bytes = e["bytes"].as_f64().unwrap();
    assert!((720_000.0..725_000.0).contains(&bytes), "{e}");
}

#[tokio::test]
async fn estimate_refuses_bad_options_with_the_house_codes() {
    let app = TestApp::spawn().await;
    let bearer = app.alice.bearer();
    for (body, code) in [
        (
            r#"{"duration_secs": 60, "format": "wav", "bitrate": 128}"#,
            "invalid-options",
        ),
        (
            r#"{"duration_secs": 60, "bitrate": 999}"#,
            "invalid-options",
        ),
        (r#"{"format": "mp3"}"#, "invalid-options"),
        (r#"{"duration_secs": -5}"#, "invalid-options"),
        (r#"{"duration_secs": 60, "bitrat": 128}"#, "unknown-field"),
        ("not json", "invalid-json"),
    ] {
        let response = app.send(estimate(body, Some(&bearer))).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body_json(response).await["code"], code, "{body}");
    }
}

#[tokio::test]
async fn estimate_needs_a_token() {
    let app = TestApp::spawn().await;
    let response = app.send(estimate(r#"{"duration_secs": 60}"#, None)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .send(estimate(r#"{"duration_secs": 60}"#, Some("Bearer nope")))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn estimate_uses_recent_jobs_once_there_are_enough() {
    let app = TestApp::spawn().await;
    let bearer = app.alice.bearer();
    let video = fixture("mp4-aac-faststart.mp4");
    for i in 0..5 {
        let id = app.upload(&app.alice, &format!("{i}.mp4"), &video).await;
        app.state.db.mark_converting(&id).await.unwrap();
        let output = AudioOutput {
            key: format!("audio/{id}.mp3"),
            size: 1000,
            duration_secs: 600.0,
        };
        app.state.db.mark_done(&id, &output, None).await.unwrap();
        let body = r#"{"duration_secs": 600}"#;
        let e = body_json(app.send(estimate(body, Some(&bearer))).await).await;
        let want = if i < 4 {
            "reference machine"
        } else {
            "recent jobs"
        };
        assert_eq!(e["speed_source"], want, "after {} jobs", i + 1);
    }
    // Another format has no recent jobs yet.
    let e = body_json(
        app.send(estimate(
            r#"{"duration_secs": 600, "format": "flac"}"#,
            Some(&bearer),
        ))
        .await,
    )
    .await;
    assert_eq!(e["speed_source"], "reference machine");
}
