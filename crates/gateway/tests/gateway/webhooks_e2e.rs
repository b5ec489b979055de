//! Webhook deliveries end to end: a job finishes, the deliverer POSTs to a real HTTP receiver
//! started by the test, and the official Standard Webhooks verifier (`standardwebhooks` from
//! PyPI, run by `MP3C_TEST_PYTHON`, else `python3`) accepts the signature. A receiver that fails,
//! times out and recovers gets the same `webhook-id` until it answers 2xx; every attempt is
//! recorded; replay re-sends; a rotation signs with both secrets; the address policy is checked
//! again at delivery time.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mp3converter_core::{FailureReason, JobId};
use mp3converter_gateway::{Deliverer, WebhookSettings};
use serde_json::{Value, json};

use crate::common::{TestApp, body_json, fixture, get};
use crate::webhooks::{bare, create, local_app};

/// What the receiver does with the next request.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    Hang(Duration),
}

#[derive(Debug, Clone)]
struct Received {
    headers: BTreeMap<String, String>,
    body: String,
}

#[derive(Debug, Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
}

impl Receiver {
    /// Starts a receiver on 127.0.0.1 answering `script` in order, then 204; returns its URL.
    async fn start(script: &[Answer]) -> (Receiver, String) {
        let receiver = Receiver::default();
        receiver
            .script
            .lock()
            .unwrap()
            .extend(script.iter().copied());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: String) -> StatusCode {
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                v.to_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    r.got.lock().unwrap().push(Received { headers, body });
    let answer = r.script.lock().unwrap().pop_front();
    match answer {
        Some(Answer::Status(code)) => StatusCode::from_u16(code).unwrap(),
        Some(Answer::Hang(d)) => {
            tokio::time::sleep(d).await;
            StatusCode::OK
        }
        None => StatusCode::NO_CONTENT,
    }
}

fn fast() -> WebhookSettings {
    WebhookSettings {
        retry_schedule: vec![Duration::from_millis(50); 3],
        timeout: Duration::from_millis(700),
        lease: Duration::from_secs(10),
        ..WebhookSettings::default()
    }
}

/// The signature by `secret` as the spec defines it, computed here independently.
fn expected_signature(secret: &str, r: &Received) -> String {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &key);
    let signed = format!(
        "{}.{}.{}",
        r.headers["webhook-id"], r.headers["webhook-timestamp"], r.body
    );
    format!(
        "v1,{}",
        STANDARD.encode(ring::hmac::sign(&key, signed.as_bytes()).as_ref())
    )
}

const VERIFY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
d = json.load(sys.stdin)
try:
    Webhook(d["secret"]).verify(d["body"].encode(), d["headers"])
except WebhookVerificationError as e:
    print("refused:", e)
    sys.exit(1)
print("verified")
"#;

/// The official verifier's verdict on `r` with `secret`; `None` (with a message) when Python or
/// the `standardwebhooks` package is missing and `MP3C_TEST_PYTHON` is not set.
fn official_verdict(secret: &str, r: &Received) -> Option<bool> {
    let explicit = std::env::var("MP3C_TEST_PYTHON").ok();
    let python = explicit.clone().unwrap_or_else(|| "python3".into());
    let usable = Command::new(&python)
        .args(["-c", "import standardwebhooks"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !usable {
        assert!(
            explicit.is_none(),
            "MP3C_TEST_PYTHON={python} cannot import standardwebhooks"
        );
        eprintln!(
            "skipping the official verifier: set MP3C_TEST_PYTHON to a Python with \
             `standardwebhooks` installed (pip install standardwebhooks)"
        );
        return None;
    }
    // The secret goes through stdin, never the environment or the arguments.
    let input = json!({"secret": secret, "headers": r.headers, "body": r.body}).to_string();
    let mut child = Command::new(&python)
        .args(["-c", VERIFY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Some(out.status.success())
}

/// Asserts the official verifier accepts `r` with `secret` and refuses it tampered.
fn assert_officially_verified(secret: &str, r: &Received) {
    let Some(ok) = official_verdict(secret, r) else {
        return;
    };
    assert!(ok, "standardwebhooks refused the delivery {r:?}");
    let tampered = Received {
        body: r.body.replace("\"data\"", "\"data\" "),
        ..r.clone()
    };
    assert_eq!(official_verdict(secret, &tampered), Some(false));
}

/// Runs the deliverer until `done` says so (at most ~5 s).
async fn deliver_until(app: &TestApp, done: impl Fn() -> bool) {
    let deliverer = Deliverer::new(app.state.clone());
    for _ in 0..100 {
        deliverer.run_once().await.unwrap();
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the deliveries did not finish");
}

async fn deliveries(app: &TestApp, endpoint: &str) -> Value {
    let uri = format!("/api/v1/webhooks/{endpoint}/deliveries");
    body_json(app.send(get(&uri, Some(&app.alice.bearer()))).await).await
}

async fn upload(app: &TestApp) -> JobId {
    app.upload(&app.alice, "talk.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await
}

#[tokio::test]
async fn a_finished_job_is_delivered_signed_and_the_official_verifier_accepts_it() {
    let app = local_app(fast()).await;
    let (receiver, url) = Receiver::start(&[]).await;
    let endpoint = create(&app, &app.alice, &url, &["job.done"]).await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    // Bob's job and Alice's failed job are not for this endpoint.
    let bobs = app
        .upload(&app.bob, "b.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    app.finish(&bobs, b"ID3 bob").await;
    let failed = upload(&app).await;
    let reason = FailureReason {
        code: "no-audio-track".into(),
        message: "no audio".into(),
    };
    app.state
        .db
        .mark_failed(&failed, &reason, None)
        .await
        .unwrap();

    let id = upload(&app).await;
    app.finish(&id, b"ID3 audio").await;
    deliver_until(&app, || !receiver.got().is_empty()).await;
    let got = receiver.got();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert!(r.headers["webhook-id"].starts_with("msg_"));
    assert_eq!(r.headers["content-type"], "application/json");
    let ts: i64 = r.headers["webhook-timestamp"].parse().unwrap();
    assert!((ts - mp3converter_core::now_millis() / 1000).abs() < 30);
    assert_eq!(
        r.headers["webhook-signature"],
        expected_signature(&secret, r)
    );
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body["type"], "job.done");
    assert_eq!(body["data"]["id"], id.as_str());
    assert_eq!(body["data"]["state"], "done");
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_officially_verified(&secret, r);

    let list = deliveries(&app, &endpoint_id).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], r.headers["webhook-id"].as_str());
    assert_eq!(list[0]["status"], "delivered");
    assert_eq!(
        (
            list[0]["attempts"].as_u64(),
            list[0]["response_code"].as_u64()
        ),
        (Some(1), Some(204))
    );
    assert!(list[0]["latency_ms"].as_i64().is_some());
    assert!(list[0]["next_attempt_at"].is_null());
}

#[tokio::test]
async fn a_failing_then_silent_receiver_is_retried_with_the_same_id_until_it_recovers() {
    let app = local_app(fast()).await;
    let script = [
        Answer::Status(500),
        Answer::Hang(Duration::from_secs(3)),
        Answer::Status(200),
    ];
    let (receiver, url) = Receiver::start(&script).await;
    let endpoint = create(&app, &app.alice, &url, &["job.failed"]).await;
    let secret = endpoint["secret"].as_str().unwrap().to_owned();
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    let id = upload(&app).await;
    let reason = FailureReason {
        code: "no-audio-track".into(),
        message: "the video has no audio track".into(),
    };
    app.state.db.mark_failed(&id, &reason, None).await.unwrap();

    deliver_until(&app, || receiver.got().len() >= 3).await;
    let got = receiver.got();
    assert_eq!(got.len(), 3);
    let msg = &got[0].headers["webhook-id"];
    assert!(
        got.iter().all(|r| &r.headers["webhook-id"] == msg),
        "one id for every attempt"
    );
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "one body for every attempt"
    );
    let body: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(
        (
            body["type"].as_str(),
            body["data"]["error"]["code"].as_str()
        ),
        (Some("job.failed"), Some("no-audio-track"))
    );
    for r in &got {
        assert_eq!(
            r.headers["webhook-signature"],
            expected_signature(&secret, r)
        );
    }
    assert_officially_verified(&secret, &got[2]);

    let uri = format!("/api/v1/webhooks/{endpoint_id}/deliveries/{msg}");
    let detail = body_json(app.send(get(&uri, Some(&app.alice.bearer()))).await).await;
    assert_eq!(detail["status"], "delivered");
    assert_eq!(detail["attempts"], 3);
    let log = detail["attempt_log"].as_array().unwrap();
    let codes: Vec<_> = log.iter().map(|a| a["response_code"].as_u64()).collect();
    assert_eq!(codes, vec![Some(500), None, Some(200)]);
    assert!(log[0]["error"].as_str().unwrap().contains("500"));
    assert!(
        log[1]["error"].as_str().unwrap().contains("no answer"),
        "{}",
        log[1]
    );
    assert!(log[1]["latency_ms"].as_i64().unwrap() >= 600);
    assert!(log[2]["error"].is_null());

    // Replay: sent again now, same id and body.
    let replay = app
        .send(bare(Method::POST, &format!("{uri}/replay"), &app.alice))
        .await;
    assert_eq!(replay.status(), StatusCode::ACCEPTED);
    assert_eq!(body_json(replay).await["status"], "pending");
    deliver_until(&app, || receiver.got().len() >= 4).await;
    let again = &receiver.got()[3];
    assert_eq!(&again.headers["webhook-id"], msg);
    assert_eq!(again.body, got[0].body);
    let detail = body_json(app.send(get(&uri, Some(&app.alice.bearer()))).await).await;
    assert_eq!(
        (detail["status"].as_str(), detail["attempts"].as_u64()),
        (Some("delivered"), Some(4))
    );
}

#[tokio::test]
async fn a_receiver_that_never_recovers_fails_the_delivery_after_the_schedule() {
    let app = local_app(WebhookSettings {
        retry_schedule: vec![Duration::from_millis(20); 2],
        ..fast()
    })
    .await;
    let (receiver, url) = Receiver::start(&[Answer::Status(503); 10]).await;
    let endpoint = create(&app, &app.alice, &url, &["job.done"]).await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    let id = upload(&app).await;
    app.finish(&id, b"ID3").await;
    deliver_until(&app, || receiver.got().len() >= 3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    Deliverer::new(app.state.clone()).run_once().await.unwrap();
    assert_eq!(receiver.got().len(), 3, "1 attempt + 2 retries");
    let list = deliveries(&app, &endpoint_id).await;
    assert_eq!(list[0]["status"], "failed");
    assert_eq!(list[0]["response_code"], 503);
    assert!(list[0]["next_attempt_at"].is_null());
}

#[tokio::test]
async fn after_a_rotation_deliveries_carry_signatures_by_both_secrets() {
    let app = local_app(fast()).await;
    let (receiver, url) = Receiver::start(&[]).await;
    let endpoint = create(&app, &app.alice, &url, &["job.done"]).await;
    let old = endpoint["secret"].as_str().unwrap().to_owned();
    let uri = format!(
        "/api/v1/webhooks/{}/rotate",
        endpoint["id"].as_str().unwrap()
    );
    let rotated = body_json(app.send(bare(Method::POST, &uri, &app.alice)).await).await;
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(old, new);

    let id = upload(&app).await;
    app.finish(&id, b"ID3").await;
    deliver_until(&app, || !receiver.got().is_empty()).await;
    let r = &receiver.got()[0];
    let signatures: Vec<&str> = r.headers["webhook-signature"].split(' ').collect();
    assert_eq!(
        signatures,
        vec![expected_signature(&new, r), expected_signature(&old, r)]
    );
    assert_officially_verified(&new, r);
    assert_officially_verified(&old, r);
}

#[tokio::test]
async fn the_address_policy_is_checked_again_at_delivery_time() {
    let app = local_app(fast()).await;
    let (receiver, url) = Receiver::start(&[]).await;
    let endpoint = create(&app, &app.alice, &url, &["job.done"]).await;
    let endpoint_id = endpoint["id"].as_str().unwrap().to_owned();
    let id = upload(&app).await;
    app.finish(&id, b"ID3").await;
    // The operator closed loopback again: the gateway must not connect.
    let mut strict = app.state.clone();
    strict.import = mp3converter_gateway::Importer::new(Default::default()).unwrap();
    Deliverer::new(strict).run_once().await.unwrap();
    assert!(receiver.got().is_empty());
    let list = deliveries(&app, &endpoint_id).await;
    assert_eq!(list[0]["status"], "pending", "retried later");
    assert!(
        list[0]["last_error"].as_str().unwrap().contains("loopback"),
        "{}",
        list[0]
    );
    assert!(list[0]["response_code"].is_null());
}
