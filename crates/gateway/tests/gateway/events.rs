//! Live job events (SSE): the current state first, then published events; filtered per caller.

use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::http::{Response, StatusCode, header};
use futures_util::StreamExt;
use mp3converter_core::{JobEvent, JobId, JobState};
use serde_json::Value;

use crate::common::{TestApp, fixture, get};

/// Reads the body until one whole SSE message with `data:` has arrived; returns its JSON.
async fn next_data(body: &mut BodyDataStream, buffer: &mut String) -> Option<Value> {
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let message: String = buffer.drain(..end + 2).collect();
            if let Some(data) = message.lines().find_map(|l| l.strip_prefix("data:")) {
                return Some(serde_json::from_str(data.trim()).unwrap());
            }
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), body.next())
            .await
            .expect("no event within 5 s")?
            .unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

fn event(app: &TestApp, id: &JobId, state: JobState, progress: f64) -> JobEvent {
    JobEvent {
        job_id: id.clone(),
        owner_id: app.alice.view.id.clone(),
        state,
        progress,
        error_code: None,
        error_message: None,
    }
}

fn open(response: Response<Body>) -> BodyDataStream {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    response.into_body().into_data_stream()
}

#[tokio::test]
async fn job_events_start_with_the_current_state_then_follow_until_terminal() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let other = app
        .upload(&app.alice, "b.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let response = app
        .send(get(
            &format!("/api/v1/jobs/{id}/events"),
            Some(&app.alice.bearer()),
        ))
        .await;
    let mut body = open(response);
    let mut buffer = String::new();

    let first = next_data(&mut body, &mut buffer).await.unwrap();
    assert_eq!(
        (first["job_id"].as_str(), first["state"].as_str()),
        (Some(id.as_str()), Some("queued"))
    );

    app.state
        .events
        .publish(event(&app, &other, JobState::Converting, 0.1));
    app.state
        .events
        .publish(event(&app, &id, JobState::Converting, 0.5));
    let second = next_data(&mut body, &mut buffer).await.unwrap();
    assert_eq!(
        second["job_id"],
        id.as_str(),
        "events of other jobs are filtered out"
    );
    assert_eq!(
        (second["state"].as_str(), second["progress"].as_f64()),
        (Some("converting"), Some(0.5))
    );

    app.state
        .events
        .publish(event(&app, &id, JobState::Done, 1.0));
    assert_eq!(
        next_data(&mut body, &mut buffer).await.unwrap()["state"],
        "done"
    );
    assert!(
        next_data(&mut body, &mut buffer).await.is_none(),
        "the stream ends after done"
    );
}

#[tokio::test]
async fn events_of_a_finished_job_are_its_state_alone() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    app.finish(&id, b"ID3").await;
    let response = app
        .send(get(
            &format!("/api/v1/jobs/{id}/events"),
            Some(&app.alice.bearer()),
        ))
        .await;
    let mut body = open(response);
    let mut buffer = String::new();
    assert_eq!(
        next_data(&mut body, &mut buffer).await.unwrap()["state"],
        "done"
    );
    assert!(next_data(&mut body, &mut buffer).await.is_none());
}

#[tokio::test]
async fn all_events_show_only_the_callers_jobs_and_everything_to_an_admin() {
    let app = TestApp::spawn().await;
    let mut bob = open(
        app.send(get("/api/v1/events", Some(&app.bob.bearer())))
            .await,
    );
    let mut admin = open(
        app.send(get("/api/v1/events", Some(&app.admin.bearer())))
            .await,
    );
    let (mut bob_buf, mut admin_buf) = (String::new(), String::new());

    // Alice's upload publishes a `queued` event: the admin sees it, Bob does not.
    let alices = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let seen = next_data(&mut admin, &mut admin_buf).await.unwrap();
    assert_eq!(
        (seen["job_id"].as_str(), seen["state"].as_str()),
        (Some(alices.as_str()), Some("queued"))
    );

    let bobs = app
        .upload(&app.bob, "b.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let seen = next_data(&mut bob, &mut bob_buf).await.unwrap();
    assert_eq!(
        seen["job_id"],
        bobs.as_str(),
        "Bob's first event is his own job, not Alice's"
    );
    assert_eq!(
        next_data(&mut admin, &mut admin_buf).await.unwrap()["job_id"],
        bobs.as_str()
    );
}
