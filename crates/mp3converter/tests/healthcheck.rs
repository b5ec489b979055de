//! `mp3converter healthcheck URL`, run as the container's HEALTHCHECK runs it.

use std::process::Output;
use std::time::{Duration, Instant};

use mp3converter_testkit::TestApp;

/// Runs the real binary off the async runtime (the app under test serves on it).
async fn healthcheck(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_mp3converter"))
            .arg("healthcheck")
            .args(&args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn one_line_stderr(o: &Output) -> String {
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr:?}");
    stderr
}

#[tokio::test(flavor = "multi_thread")]
async fn a_running_service_is_healthy_and_a_missing_route_is_not() {
    let app = TestApp::spawn().await;

    let ok = healthcheck(&[&app.url("/healthz")]).await;
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert!(String::from_utf8_lossy(&ok.stdout).contains("HTTP 200"));

    let ready = healthcheck(&[&app.url("/readyz")]).await;
    assert_eq!(ready.status.code(), Some(0), "{ready:?}");

    let missing = healthcheck(&[&app.url("/no-such-route")]).await;
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(one_line_stderr(&missing).contains("HTTP 404"));
    app.stop().await;
}

#[tokio::test]
async fn a_closed_port_is_unhealthy_with_a_reason() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let o = healthcheck(&[&format!("http://127.0.0.1:{port}/healthz")]).await;
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let stderr = one_line_stderr(&o);
    assert!(stderr.contains("cannot connect"), "{stderr}");
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // Accepts the connection (the kernel does) but never writes a byte.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    let started = Instant::now();
    let o = healthcheck(&["--timeout", "0.5", &url]).await;
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(one_line_stderr(&o).contains("no answer within 0.5s"));
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(listener);
}

#[tokio::test]
async fn https_is_refused_rather_than_half_supported() {
    let o = healthcheck(&["https://127.0.0.1:8443/healthz"]).await;
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(one_line_stderr(&o).contains("only http:// URLs"));
}
