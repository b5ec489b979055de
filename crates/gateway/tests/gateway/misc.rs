//! Listing and deleting, config, the OpenAPI spec and the 404 of unknown routes.

use axum::http::StatusCode;
use mp3converter_gateway::{GatewayConfig, REFERENCE_TOML, openapi_json};

use crate::common::{TestApp, body_json, fixture, get};

#[tokio::test]
async fn jobs_are_listed_newest_first_and_limited() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let first = app.upload(&app.alice, "1.mp4", &video).await;
    let second = app.upload(&app.alice, "2.mp4", &video).await;
    let bearer = app.alice.bearer();
    let jobs = body_json(app.send(get("/api/v1/jobs", Some(&bearer))).await).await;
    let ids: Vec<&str> = jobs
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [second.as_str(), first.as_str()]);
    let jobs = body_json(app.send(get("/api/v1/jobs?limit=1", Some(&bearer))).await).await;
    assert_eq!(jobs.as_array().unwrap().len(), 1);
    // Outside the documented 1–1000 (2147483648 fits a u32 but not the document).
    for bad in ["lots", "0", "1001", "2147483648", "-1"] {
        let response = app
            .send(get(&format!("/api/v1/jobs?limit={bad}"), Some(&bearer)))
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "limit={bad}");
        assert_eq!(body_json(response).await["code"], "invalid-query");
    }
}

#[tokio::test]
async fn deleting_a_job_removes_its_blobs_and_row() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    app.finish(&id, b"ID3").await;
    assert_eq!(app.blob_keys().await.len(), 2);
    let request = axum::http::Request::delete(format!("/api/v1/jobs/{id}"))
        .header("authorization", app.alice.bearer())
        .body(axum::body::Body::empty())
        .unwrap();
    assert_eq!(app.send(request).await.status(), StatusCode::NO_CONTENT);
    assert!(app.blob_keys().await.is_empty());
    let response = app
        .send(get(
            &format!("/api/v1/jobs/{id}"),
            Some(&app.alice.bearer()),
        ))
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[test]
fn reference_toml_lists_every_key_with_its_default() {
    #[derive(serde::Deserialize)]
    struct File {
        gateway: GatewayConfig,
    }
    let parsed: File = toml::from_str(REFERENCE_TOML).unwrap();
    assert_eq!(parsed.gateway, GatewayConfig::default());
    let keys = REFERENCE_TOML.lines().filter(|l| l.contains(" = ")).count();
    assert_eq!(keys, 6);
    assert!(toml::from_str::<File>("[gateway]\nmax_upload_byte = 1").is_err());
}

#[tokio::test]
async fn openapi_spec_is_served_and_docs_file_is_not_stale() {
    let app = TestApp::spawn().await;
    let response = app.send(get("/api/v1/openapi.json", None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let served = body_json(response).await;
    let generated = openapi_json();
    assert_eq!(
        served,
        serde_json::from_str::<serde_json::Value>(&generated).unwrap()
    );
    assert!(served["paths"]["/api/v1/jobs/{id}/audio"]["get"].is_object());
    let mut ids: Vec<&str> = served["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p.as_object().unwrap().values())
        .map(|op| op["operationId"].as_str().unwrap())
        .collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "operation ids must be unique");

    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p mp3converter-gateway` and commit it"
    );
}

#[tokio::test]
async fn unknown_api_paths_are_a_json_404() {
    let app = TestApp::spawn().await;
    let bearer = app.alice.bearer();
    for path in ["/api/v1/nope", "/api/v1/jobs/", "/api/v1/jobs/x/y/z"] {
        let response = app.send(get(path, Some(&bearer))).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body_json(response).await["code"], "not-found", "{path}");
    }
}

#[test]
fn the_document_states_the_limits_the_server_enforces() {
    let doc: serde_json::Value = serde_json::from_str(&openapi_json()).unwrap();
    let limit = &doc["paths"]["/api/v1/jobs"]["get"]["parameters"][0]["schema"];
    assert_eq!(
        (limit["minimum"].as_u64(), limit["maximum"].as_u64()),
        (Some(1), Some(1000))
    );
    let form = &doc["components"]["schemas"]["UploadForm"]["properties"];
    assert_eq!(form["title"]["maxLength"], 200);
    assert_eq!(
        (
            form["sample_rate"]["minimum"].as_u64(),
            form["sample_rate"]["maximum"].as_u64()
        ),
        (Some(8000), Some(192_000))
    );
    assert_eq!(form["format"]["pattern"], "^(mp3|opus|flac|wav|m4a)$");
    assert_eq!(
        (
            form["loudness"]["minimum"].as_i64(),
            form["loudness"]["maximum"].as_i64()
        ),
        (Some(-70), Some(-5))
    );
    assert_eq!(
        doc["components"]["schemas"]["UploadForm"]["additionalProperties"],
        false
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for status in ["500", "503"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path}: {status}"
                );
            }
        }
    }
    let user = &doc["components"]["schemas"]["NewUserRequest"]["properties"];
    assert_eq!(user["password"]["minLength"], 8);
}

#[tokio::test]
async fn unknown_routes_are_404() {
    let app = TestApp::spawn().await;
    assert_eq!(
        app.send(get("/nope", None)).await.status(),
        StatusCode::NOT_FOUND
    );
}
