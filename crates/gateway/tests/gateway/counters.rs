//! The gateway's metrics: request counts by route template and status, bytes and jobs.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::StatusCode;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};

use crate::common::{TestApp, fixture, get};

#[derive(Debug, Default)]
struct Cell(AtomicU64);

impl CounterFn for Cell {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.0.store(value, Ordering::Relaxed);
    }
}

/// Counters by `name{label=value,...}`.
#[derive(Debug, Default)]
struct Counters(Mutex<BTreeMap<String, Arc<Cell>>>);

impl Counters {
    fn get(&self, key: &str) -> u64 {
        let map = self.0.lock().unwrap();
        map.get(key).map_or(0, |c| c.0.load(Ordering::Relaxed))
    }
}

impl Recorder for Counters {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let cell = self.0.lock().unwrap().entry(name).or_default().clone();
        Counter::from_arc(cell)
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_bytes_and_jobs_are_counted() {
    let counters = Counters::default();
    let _guard = metrics::set_default_local_recorder(&counters);
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let id = app.upload(&app.alice, "a.mp4", &video).await;
    app.finish(&id, b"0123456789").await;
    let bearer = app.alice.bearer();
    let response = app
        .send(get(&format!("/api/v1/jobs/{id}/audio"), Some(&bearer)))
        .await;
    assert_eq!(crate::common::body_bytes(response).await.len(), 10);
    let response = app.send(get("/api/v1/jobs/not-an-id", Some(&bearer))).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    app.send(get("/nowhere", None)).await;

    assert_eq!(
        counters.get("http_requests_total{route=/upload,status=200}"),
        1
    );
    assert_eq!(
        counters.get("http_requests_total{route=/api/v1/jobs/{id}/audio,status=200}"),
        1
    );
    assert_eq!(
        counters.get("http_requests_total{route=/api/v1/jobs/{id},status=404}"),
        1
    );
    assert_eq!(
        counters.get("http_requests_total{route=unmatched,status=404}"),
        1
    );
    assert_eq!(counters.get("jobs_created_total{}"), 1);
    assert_eq!(counters.get("upload_bytes_total{}"), video.len() as u64);
    assert_eq!(counters.get("download_bytes_total{}"), 10);
}
