//! Dedup: the same content, file name and options uploaded again by the same user is done at
//! once with the earlier job's audio (`reused_from`), announced on the `mp3` queue like a
//! conversion; the shared audio stays until the last job that uses it is deleted.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use mp3converter_core::JobState;

use crate::common::{FakeUser, Form, TestApp, body_bytes, body_json, fixture, get};

async fn upload_with(
    app: &TestApp,
    user: &FakeUser,
    name: &str,
    fields: &[(&str, &str)],
) -> String {
    let mut form = Form::new().file("file", name, &fixture("mp4-aac-faststart.mp4"));
    for (k, v) in fields {
        form = form.text(k, v);
    }
    let response = app
        .send(form.request("/api/v1/jobs", Some(&user.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    body_json(response).await["id"].as_str().unwrap().to_owned()
}

async fn audio(app: &TestApp, user: &FakeUser, id: &str) -> (StatusCode, bytes::Bytes) {
    let response = app
        .send(get(
            &format!("/api/v1/jobs/{id}/audio"),
            Some(&user.bearer()),
        ))
        .await;
    (response.status(), body_bytes(response).await)
}

fn delete(user: &FakeUser, id: &str) -> Request<Body> {
    Request::builder()
        .method("DELETE")
        .uri(format!("/api/v1/jobs/{id}"))
        .header("authorization", user.bearer())
        .body(Body::empty())
        .unwrap()
}

/// Every message waiting on `queue` (claimed, so read once).
async fn messages(app: &TestApp, queue: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let lease = std::time::Duration::from_secs(60);
    while let Some(m) = app.state.db.claim_message(queue, lease).await.unwrap() {
        out.push(serde_json::from_str(&m.payload).unwrap());
    }
    out
}

#[tokio::test]
async fn the_same_upload_again_is_done_at_once_with_the_earlier_audio() {
    let app = TestApp::spawn().await;
    let fields = [("bitrate", "128")];
    let first = upload_with(&app, &app.alice, "talk.mp4", &fields).await;
    let first_id = first.parse().unwrap();
    app.finish(&first_id, b"the converted audio").await;

    let second = upload_with(&app, &app.alice, "talk.mp4", &fields).await;
    let view = body_json(
        app.send(get(
            &format!("/api/v1/jobs/{second}"),
            Some(&app.alice.bearer()),
        ))
        .await,
    )
    .await;
    assert_eq!(view["state"], "done", "{view}");
    assert_eq!(view["reused_from"], first.as_str());
    assert_eq!(view["audio_size"], 19);
    assert_eq!(
        audio(&app, &app.alice, &second).await,
        (
            StatusCode::OK,
            bytes::Bytes::from_static(b"the converted audio")
        )
    );
    // Announced like a conversion (the notifier emails, webhooks fire), nothing to convert.
    let mp3 = messages(&app, "mp3").await;
    assert_eq!(mp3.len(), 1, "{mp3:?}");
    assert_eq!(mp3[0]["job_id"], second.as_str());
    assert_eq!(mp3[0]["mp3_fid"], format!("audio/{first}.mp3").as_str());
    assert_eq!(
        messages(&app, "video").await.len(),
        1,
        "only the first job was queued"
    );
    // The second upload's video is not kept.
    let second_job = app
        .state
        .db
        .get_job(&second.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(!app.blob_keys().await.contains(&second_job.video_key));

    // The shared audio outlives the first job, and goes with the last.
    let response = app.send(delete(&app.alice, &first)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(audio(&app, &app.alice, &second).await.0, StatusCode::OK);
    let response = app.send(delete(&app.alice, &second)).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert!(
        !app.blob_keys()
            .await
            .iter()
            .any(|k| k.starts_with("audio/")),
        "{:?}",
        app.blob_keys().await
    );
}

#[tokio::test]
async fn other_options_names_users_or_unfinished_jobs_are_converted_again() {
    let app = TestApp::spawn().await;
    let first = upload_with(&app, &app.alice, "talk.mp4", &[("bitrate", "128")]).await;
    // Not done yet: nothing to reuse.
    let pending = upload_with(&app, &app.alice, "talk.mp4", &[("bitrate", "128")]).await;
    app.finish(&first.parse().unwrap(), b"audio").await;

    let others = [
        upload_with(&app, &app.alice, "talk.mp4", &[("bitrate", "192")]).await,
        upload_with(&app, &app.alice, "Talk.mp4", &[("bitrate", "128")]).await,
        upload_with(&app, &app.bob, "talk.mp4", &[("bitrate", "128")]).await,
        upload_with(
            &app,
            &app.alice,
            "talk.mp4",
            &[("bitrate", "128"), ("title", "x")],
        )
        .await,
    ];
    for id in others.iter().chain([&pending]) {
        let job = app
            .state
            .db
            .get_job(&id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(job.state, JobState::Queued, "{id}");
        assert_eq!(job.reused_from, None);
    }
    // Bob cannot reach Alice's audio through a reuse.
    assert_eq!(
        audio(&app, &app.bob, &others[2]).await.0,
        StatusCode::CONFLICT
    );
}
