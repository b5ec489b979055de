//! Roles as units: each process's `/readyz` checks exactly the backends its roles use, and a
//! backend that only one role uses fails only that role's readiness.

use std::collections::BTreeSet;

use mp3converter::config::Config;
use mp3converter_testkit::TestApp;

/// The `/readyz` status and the names of its checks.
async fn readiness(app: &TestApp) -> (u16, serde_json::Value) {
    let res = app.http.get(app.url("/readyz")).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

fn names(body: &serde_json::Value) -> BTreeSet<String> {
    body["checks"]
        .as_object()
        .unwrap_or_else(|| panic!("no checks in {body}"))
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// A process running only `roles`, on the data dir (and database) of `base`, with mail to a
/// capture.
async fn only(base: &TestApp, roles: &str, adjust: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = base.config.clone();
    config.server.roles = roles.parse().unwrap();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    config.auth.url = Some(base.base.clone());
    adjust(&mut config);
    TestApp::restart(config).await
}

#[tokio::test]
async fn each_role_checks_exactly_the_backends_it_uses() {
    let all = TestApp::spawn().await;
    let (status, body) = readiness(&all).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(names(&body), set(&["database", "storage", "queue", "mail"]));

    // All roles in one process: the converter needs the queue, so it gates.
    assert_eq!(body["informational"], serde_json::json!([]), "{body}");

    // Only the gateway's queue check informs without gating (the outbox stands in for the
    // broker); every other check of every role gates.
    let expected = [
        ("auth", set(&["database"]), set(&[])),
        (
            "gateway",
            set(&["database", "storage", "queue", "auth"]),
            set(&["queue"]),
        ),
        (
            "converter",
            set(&["database", "queue", "storage"]),
            set(&[]),
        ),
        ("notifier", set(&["database", "queue", "mail"]), set(&[])),
    ];
    for (role, checks, informational) in expected {
        let app = only(&all, role, |_| {}).await;
        let (status, body) = readiness(&app).await;
        assert_eq!(status, 200, "{role}: {body}");
        assert_eq!(names(&body), checks, "{role}: {body}");
        let informs: BTreeSet<String> = body["informational"]
            .as_array()
            .unwrap_or_else(|| panic!("{role}: no informational list in {body}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        assert_eq!(informs, informational, "{role}: {body}");
        assert!(
            body["checks"]
                .as_object()
                .unwrap()
                .values()
                .all(|v| v == "ok"),
            "{role}: {body}"
        );
        app.stop().await;
    }
    all.stop().await;
}

#[tokio::test]
async fn mail_down_fails_the_notifier_readiness_only() {
    let all = TestApp::spawn().await;
    // A port with nothing listening on it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let no_mail = |c: &mut Config| c.mail.url = Some(format!("smtp://{closed}?tls=none").into());

    let mut config = all.config.clone();
    config.server.roles = "notifier".parse().unwrap();
    config.server.listen = ([127, 0, 0, 1], 0).into();
    no_mail(&mut config);
    let notifier = TestApp::restart_exact(config.clone()).await;
    let (status, body) = readiness(&notifier).await;
    assert_eq!(status, 503, "{body}");
    assert_ne!(body["checks"]["mail"], "ok", "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    notifier.stop().await;

    config.server.roles = "converter".parse().unwrap();
    let converter = TestApp::restart_exact(config).await;
    let (status, body) = readiness(&converter).await;
    assert_eq!(status, 200, "the converter does not send mail: {body}");
    converter.stop().await;
    all.stop().await;
}

#[tokio::test]
async fn a_converter_that_must_use_ffmpeg_is_not_ready_without_it() {
    let all = TestApp::spawn().await;
    let converter = only(&all, "converter", |c| {
        c.converter.engine.engine = mp3converter_media::EngineChoice::Ffmpeg;
        c.converter.engine.ffmpeg_path = "/nonexistent/ffmpeg".into();
    })
    .await;
    let (status, body) = readiness(&converter).await;
    assert_eq!(status, 503, "{body}");
    let why = body["checks"]["ffmpeg"].as_str().unwrap_or_default();
    assert!(why.contains("/nonexistent/ffmpeg"), "{body}");
    converter.stop().await;

    // With the default engine (`auto`), ffmpeg is a fallback: not a readiness condition.
    let converter = only(&all, "converter", |c| {
        c.converter.engine.ffmpeg_path = "/nonexistent/ffmpeg".into();
    })
    .await;
    let (status, body) = readiness(&converter).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["checks"].get("ffmpeg").is_none(), "{body}");
    converter.stop().await;
    all.stop().await;
}
