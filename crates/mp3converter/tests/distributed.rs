//! The distributed deployment, end to end: the real binary as separate processes — auth,
//! gateway, two converters, notifier — against RabbitMQ, MariaDB (or PostgreSQL), S3 and an
//! SMTP capture. Runs when `MP3C_TEST_AMQP_URL`, `MP3C_TEST_MYSQL_URL` /
//! `MP3C_TEST_POSTGRES_URL` and `MP3C_TEST_S3_*` are set (`.ci/run` sets them all).
//!
//! The scenarios run one at a time (they share the broker, and one of them stops it).

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use mp3converter_testkit::cluster::{Cluster, ClusterEnv, wait_ready};
use mp3converter_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, fixture, mp3_secs};
use tokio::sync::Mutex;

/// One scenario at a time.
static SERIAL: LazyLock<Mutex<()>> = LazyLock::new(|| Mutex::new(()));

const BIN: &str = env!("CARGO_BIN_EXE_mp3converter");
const MINUTE: Duration = Duration::from_secs(60);

async fn download(cluster: &Cluster, token: &str, id: &str) -> Vec<u8> {
    let res = cluster
        .http
        .get(cluster.url(&format!("/download?fid={id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "audio/mpeg");
    res.bytes().await.unwrap().to_vec()
}

/// Recipients of the captured emails, one entry per email.
fn recipients(cluster: &Cluster) -> Vec<String> {
    cluster
        .smtp
        .messages()
        .iter()
        .flat_map(|m| m.rcpt_to.clone())
        .collect()
}

/// Reads an SSE stream until an event says job `id` is done.
async fn done_event(response: reqwest::Response, id: &str) {
    use futures_util::StreamExt;
    let mut stream = response.bytes_stream();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        let done = text
            .lines()
            .any(|l| l.starts_with("data:") && l.contains(id) && l.contains("\"state\":\"done\""));
        if done {
            return;
        }
    }
    panic!("the event stream ended without the done event:\n{text}");
}

/// The course's flow: login, upload, email, download.
async fn course_flow(db_var: &str) {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start(Path::new(BIN), db_var, 2).await else {
        return;
    };
    let token = cluster.user("student@example.com").await;
    // A second gateway: the browser's live events may come from either.
    let other_gateway = cluster.spawn("gateway").await;
    let events = cluster
        .http
        .get(format!("{}/api/v1/events", other_gateway.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let id = cluster
        .upload(&token, &fixture("mp4-aac-faststart.mp4"))
        .await;
    let job = cluster.wait_finished(&token, &id, MINUTE).await;
    assert_eq!(job["state"], "done", "{job}");
    let seen = tokio::time::timeout(MINUTE, done_event(events, &id)).await;
    assert!(
        seen.is_ok(),
        "the other gateway streamed the job's done event"
    );
    let emails = cluster.wait_emails(1, MINUTE).await;
    assert_eq!(emails[0].rcpt_to, ["student@example.com"]);
    let body = String::from_utf8_lossy(&emails[0].data);
    assert!(body.contains(&id), "the email names the job");
    let mp3 = download(&cluster, &token, &id).await;
    let secs = mp3_secs(&mp3);
    assert!((secs - job["duration_secs"].as_f64().unwrap()).abs() < 0.1);

    // Another user cannot fetch it, and the gateway verified tokens without asking auth
    // per request: /validate on auth was never needed.
    let other = cluster.user("other@example.com").await;
    let res = cluster
        .http
        .get(cluster.url(&format!("/download?fid={id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn course_flow_across_processes_on_mariadb() {
    course_flow("MP3C_TEST_MYSQL_URL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn course_flow_across_processes_on_postgres() {
    course_flow("MP3C_TEST_POSTGRES_URL").await;
}

/// Revocation across processes: a user disabled through one gateway is refused by another
/// gateway (which shares only the database, and had the account cached as good) within the
/// check interval (1 s in the cluster), by `/validate` on the auth process, and their open event
/// stream on the other gateway ends with `session-ended`. A signed audio URL made by one gateway
/// works on the other (the signing key is shared through the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_disabled_on_one_gateway_is_refused_by_every_process() {
    use futures_util::StreamExt;
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start(Path::new(BIN), "MP3C_TEST_POSTGRES_URL", 1).await else {
        return;
    };
    let token = cluster.user("leaver@example.com").await;
    let id = cluster.upload(&token, &fixture("wav-pcm16.wav")).await;
    let job = cluster.wait_finished(&token, &id, MINUTE).await;
    assert_eq!(job["state"], "done", "{job}");
    let other = cluster.spawn("gateway").await;
    let on_other = |path: &str| format!("{}{path}", other.url);

    let minted: serde_json::Value = cluster
        .http
        .post(cluster.url(&format!("/api/v1/jobs/{id}/audio-url")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = minted["url"].as_str().unwrap().to_owned();
    let res = cluster.http.get(on_other(&url)).send().await.unwrap();
    assert_eq!(
        res.status(),
        200,
        "a URL signed by one gateway works on another"
    );
    let events = cluster
        .http
        .get(on_other("/api/v1/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let me: serde_json::Value = cluster
        .http
        .get(on_other("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let admin = cluster.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let res = cluster
        .http
        .post(cluster.url(&format!(
            "/api/v1/users/{}/disable",
            me["id"].as_str().unwrap()
        )))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    let status = |url: String| {
        let http = cluster.http.clone();
        let token = token.clone();
        async move {
            http.get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        status(cluster.url("/api/v1/jobs")).await,
        401,
        "at once where it was disabled"
    );
    let mut seen = 0;
    for _ in 0..100 {
        seen = status(on_other("/api/v1/jobs")).await;
        if seen == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        seen, 401,
        "the other gateway re-read the account from the database"
    );
    assert_eq!(status(on_other(&format!("/download?fid={id}"))).await, 403);
    assert_eq!(
        cluster
            .http
            .get(on_other(&url))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let validate = cluster
        .http
        .post(format!("{}/validate", cluster.auth.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(validate.status(), 403, "auth's /validate refuses it too");

    let mut stream = events.bytes_stream();
    let mut text = String::new();
    let ended = tokio::time::timeout(MINUTE, async {
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(
        ended.is_ok(),
        "the stream on the other gateway ended: {text}"
    );
    assert!(text.contains("event: session-ended"), "{text}");
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_jobs_are_shared_by_both_converters() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start(Path::new(BIN), "MP3C_TEST_MYSQL_URL", 2).await else {
        return;
    };
    let token = cluster.user("busy@example.com").await;
    let clip = fixture("wav-pcm16.wav");
    let mut ids = Vec::new();
    for _ in 0..30 {
        ids.push(cluster.upload(&token, &clip).await);
    }
    for id in &ids {
        let job = cluster.wait_finished(&token, id, 3 * MINUTE).await;
        assert_eq!(job["state"], "done", "{job}");
    }
    let emails = cluster.wait_emails(30, MINUTE).await;
    assert_eq!(emails.len(), 30);
    let mut per_converter = Vec::new();
    for converter in cluster.converters.iter().flatten() {
        per_converter.push(
            cluster
                .metric(converter, "jobs_finished_total", "result=\"done\"")
                .await,
        );
    }
    assert_eq!(per_converter.iter().sum::<f64>(), 30.0, "{per_converter:?}");
    assert!(
        per_converter.iter().all(|n| *n > 0.0),
        "both converters took jobs: {per_converter:?}"
    );
    cluster.shutdown().await;
}

/// A 10-minute tone, long enough to be caught in the middle of its conversion.
fn long_clip(dir: &Path) -> PathBuf {
    let path = dir.join("ten-minutes.m4a");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=600",
        ])
        .args(["-ac", "2", "-c:a", "aac", "-b:a", "48k", "-y"])
        .arg(&path)
        .status()
        .expect("ffmpeg (installed by .ci/run) makes the long clip");
    assert!(status.success());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_converter_killed_mid_job_leaves_it_to_the_other() {
    let _serial = SERIAL.lock().await;
    let Some(mut cluster) = Cluster::start(Path::new(BIN), "MP3C_TEST_MYSQL_URL", 2).await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clip = long_clip(dir.path());
    let token = cluster.user("patient@example.com").await;
    let id = cluster.upload(&token, &clip).await;

    // Wait until a converter is well into the job, then kill that one.
    let deadline = tokio::time::Instant::now() + MINUTE;
    loop {
        let job = cluster.job(&token, &id).await;
        if job["state"] == "converting" && job["progress"].as_f64().unwrap() > 0.02 {
            break;
        }
        assert!(
            job["state"] != "done",
            "finished before it could be interrupted"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "never started: {job}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let holder = cluster
        .converters
        .iter()
        .position(|c| c.as_ref().is_some_and(|c| c.log_text().contains(&id)))
        .expect("one converter logged the job");
    cluster.converters[holder].as_mut().unwrap().kill();
    let survivor = cluster.converters[1 - holder].as_mut().unwrap();
    assert!(survivor.is_running());

    let job = cluster.wait_finished(&token, &id, 3 * MINUTE).await;
    assert_eq!(job["state"], "done", "{job}");
    assert!(job["duration_secs"].as_f64().unwrap() > 599.0);
    let survivor = cluster.converters[1 - holder].as_ref().unwrap();
    assert!(
        survivor.log_text().contains(&id),
        "the other converter did it"
    );
    cluster.wait_emails(1, MINUTE).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(recipients(&cluster), ["patient@example.com"], "one email");
    cluster.shutdown().await;
}

/// Starts RabbitMQ again even when the test fails half-way.
struct BrokerStopped;

impl BrokerStopped {
    fn stop() -> BrokerStopped {
        rabbitmqctl("stop_app");
        BrokerStopped
    }
}

impl Drop for BrokerStopped {
    fn drop(&mut self) {
        rabbitmqctl("start_app");
    }
}

fn rabbitmqctl(command: &str) {
    let status = std::process::Command::new("rabbitmqctl")
        .arg(command)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("rabbitmqctl (the RabbitMQ server runs on this machine)");
    assert!(status.success(), "rabbitmqctl {command}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_during_a_broker_outage_are_kept_and_converted_once() {
    let _serial = SERIAL.lock().await;
    let Some(cluster) = Cluster::start(Path::new(BIN), "MP3C_TEST_MYSQL_URL", 2).await else {
        return;
    };
    let token = cluster.user("outage@example.com").await;
    let clip = fixture("wav-pcm16.wav");
    let mut ids = vec![cluster.upload(&token, &clip).await];

    let outage = BrokerStopped::stop();
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < until {
        ids.push(cluster.upload(&token, &clip).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let ready = cluster
        .http
        .get(format!("{}/readyz", cluster.gateway.url))
        .send()
        .await
        .unwrap();
    // Degrade, don't drop out: the gateway stays in the Service (uploads wait in the outbox) and
    // reports the broker down in the body.
    assert_eq!(
        ready.status(),
        200,
        "the gateway stays ready without the broker"
    );
    let body: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "degraded", "{body}");
    assert_ne!(
        body["checks"]["queue"], "ok",
        "readiness reports the broker down: {body}"
    );
    drop(outage);

    for id in &ids {
        let job = cluster.wait_finished(&token, id, 3 * MINUTE).await;
        assert_eq!(job["state"], "done", "{job}");
    }
    cluster.wait_emails(ids.len(), MINUTE).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(recipients(&cluster).len(), ids.len(), "one email per job");
    wait_ready(&cluster.gateway).await;
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_messages_are_dead_lettered_and_workers_keep_going() {
    let _serial = SERIAL.lock().await;
    let Some(env) = ClusterEnv::from_env() else {
        return;
    };
    let Some(mut cluster) = Cluster::start(Path::new(BIN), "MP3C_TEST_MYSQL_URL", 2).await else {
        return;
    };
    let queue = mp3converter_queue_rabbitmq::RabbitQueue::connect(
        mp3converter_queue_rabbitmq::RabbitSettings {
            url: env.amqp_url().into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    use mp3converter_queue::JobQueue;
    queue
        .publish(&cluster.video_queue, "poison-1", "{this is not json")
        .await
        .unwrap();
    let stranger = serde_json::json!({
        "video_fid": "video/none", "mp3_fid": null, "username": "x@example.com",
        "job_id": "0190b3c1-0000-7000-8000-000000000000", "options": {}
    });
    queue
        .publish(&cluster.video_queue, "poison-2", &stranger.to_string())
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + MINUTE;
    while queue.dead_count(&cluster.video_queue).await.unwrap() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "not dead-lettered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for converter in cluster.converters.iter_mut().flatten() {
        assert!(
            converter.is_running(),
            "a poison message killed a converter"
        );
    }
    let token = cluster.user("after@example.com").await;
    let id = cluster.upload(&token, &fixture("wav-pcm16.wav")).await;
    let job = cluster.wait_finished(&token, &id, MINUTE).await;
    assert_eq!(job["state"], "done");
    cluster.shutdown().await;
}

/// Forwards connections on `listener` to `target` (a database that "comes back").
async fn forward(listener: tokio::net::TcpListener, target: String) {
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else {
            return;
        };
        let target = target.clone();
        tokio::spawn(async move {
            if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
            }
        });
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_started_before_its_database_waits_for_it() {
    let _serial = SERIAL.lock().await;
    let Some(scratch) =
        mp3converter_db::conformance::ScratchDatabase::from_env("MP3C_TEST_MYSQL_URL").await
    else {
        return;
    };
    // The database is reached through a port nothing listens on yet.
    let db_port = free_port();
    let url = reqwest::Url::parse(&scratch.url).unwrap();
    let real = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(3306));
    let mut through = url.clone();
    through.set_host(Some("127.0.0.1")).unwrap();
    through.set_port(Some(db_port)).unwrap();
    let (port, data) = (free_port(), tempfile::tempdir().unwrap());
    let mut child = std::process::Command::new(BIN)
        .args(["serve", "--roles", "converter", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--data-dir")
        .arg(data.path())
        .env("MP3C_DATABASE__URL", through.as_str())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("http://127.0.0.1:{port}{path}")).send();

    let deadline = tokio::time::Instant::now() + MINUTE;
    while !get("/healthz").await.is_ok_and(|r| r.status() == 200) {
        assert!(tokio::time::Instant::now() < deadline, "never alive");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 503, "not ready without its database");
    assert!(
        ready
            .text()
            .await
            .unwrap()
            .contains("waiting for a backend")
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "it waits instead of exiting"
    );

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", db_port))
        .await
        .unwrap();
    let proxy = tokio::spawn(forward(listener, real));
    let deadline = tokio::time::Instant::now() + MINUTE;
    while !get("/readyz").await.is_ok_and(|r| r.status() == 200) {
        assert!(tokio::time::Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    proxy.abort();
    scratch.cleanup().await;
}

/// Orphan chunks in `videos.fs.chunks`: those whose `files_id` has no file document.
async fn orphan_video_chunks(mongo: &mongodb::Client) -> Vec<mongodb::bson::Bson> {
    use mongodb::bson::{Document, doc};
    let videos = mongo.database("videos");
    let ids = videos
        .collection::<Document>("fs.chunks")
        .distinct("files_id", doc! {})
        .await
        .unwrap();
    let files = videos.collection::<Document>("fs.files");
    let mut orphans = Vec::new();
    for id in ids {
        let filter = doc! { "_id": id.clone() };
        if files.count_documents(filter).await.unwrap() == 0 {
            orphans.push(id);
        }
    }
    orphans
}

/// The course on its own storage: the videos and MP3s in MongoDB GridFS (`videos` and `mp3s`),
/// the course's flow through it, `/download?fid=` with the MP3's ObjectId, and a gateway killed
/// in the middle of an upload leaving chunks that the janitor's sweep removes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_gridfs_the_course_flow_works_and_a_killed_upload_leaves_no_orphan() {
    use mongodb::bson::{Document, doc};
    let _serial = SERIAL.lock().await;
    let Some(mut cluster) =
        Cluster::start_on_gridfs(Path::new(BIN), "MP3C_TEST_MYSQL_URL", 1).await
    else {
        return;
    };
    let mongo_url = std::env::var("MP3C_TEST_MONGODB_URL").unwrap();
    let mongo = mongodb::Client::with_uri_str(&mongo_url).await.unwrap();

    let token = cluster.user("student@example.com").await;
    let id = cluster
        .upload(&token, &fixture("mp4-aac-faststart.mp4"))
        .await;
    let job = cluster.wait_finished(&token, &id, MINUTE).await;
    assert_eq!(job["state"], "done", "{job}");
    let emails = cluster.wait_emails(1, MINUTE).await;
    let body = String::from_utf8_lossy(&emails[0].data);
    assert!(body.contains(&format!("audio/{id}.mp3")), "{body}");
    let mp3 = download(&cluster, &token, &id).await;
    assert!((mp3_secs(&mp3) - job["duration_secs"].as_f64().unwrap()).abs() < 0.1);

    // The MP3 is a GridFS file of the `mp3s` database; its ObjectId works as the course's fid,
    // for its owner only.
    let file = mongo
        .database("mp3s")
        .collection::<Document>("fs.files")
        .find_one(doc! { "filename": format!("audio/{id}.mp3") })
        .await
        .unwrap()
        .expect("the MP3 in mp3s.fs.files");
    let object_id = file.get_object_id("_id").unwrap().to_hex();
    assert_eq!(download(&cluster, &token, &object_id).await, mp3);
    let other = cluster.user("other@example.com").await;
    let res = cluster
        .http
        .get(cluster.url(&format!("/download?fid={object_id}")))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    let readyz = cluster
        .http
        .get(cluster.url("/readyz"))
        .send()
        .await
        .unwrap();
    let readyz = readyz.text().await.unwrap();
    assert!(readyz.contains("storage"), "{readyz}");

    // A gateway killed (-9) in the middle of an upload: its chunks stay, without a file.
    let before = orphan_video_chunks(&mongo).await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let head = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"long.mp4\"\r\n\
                Content-Type: video/mp4\r\n\r\n";
    let mut first = head.as_bytes().to_vec();
    first.extend(std::fs::read(fixture("mp4-aac-faststart.mp4")).unwrap());
    tx.send(Ok(first)).await.unwrap();
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let request = cluster
        .http
        .post(cluster.url("/upload"))
        .bearer_auth(&token)
        .header("content-type", "multipart/form-data; boundary=b")
        .body(reqwest::Body::wrap_stream(body))
        .send();
    let upload = tokio::spawn(request);
    let deadline = tokio::time::Instant::now() + MINUTE;
    let orphans = loop {
        tx.send(Ok(vec![0u8; 256 * 1024])).await.unwrap();
        let orphans: Vec<_> = orphan_video_chunks(&mongo)
            .await
            .into_iter()
            .filter(|o| !before.contains(o))
            .collect();
        if !orphans.is_empty() {
            break orphans;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no chunk was stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    cluster.gateway.kill();
    drop(tx);
    assert!(
        upload.await.unwrap().is_err(),
        "the upload died with the gateway"
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        orphan_video_chunks(&mongo)
            .await
            .iter()
            .any(|o| orphans.contains(o)),
        "killed, the gateway could not remove its chunks"
    );

    // The janitor's sweep (as it runs in a gateway, a day later) removes them; the finished
    // job's video and MP3 stay.
    let storage = mp3converter_storage::build(&mp3converter_storage::StorageConfig {
        backend: mp3converter_storage::StorageBackend::Gridfs,
        url: Some(mongo_url.clone().into()),
        ..Default::default()
    })
    .unwrap();
    let janitor = mp3converter_janitor::Janitor::new(
        mp3converter_janitor::JanitorDeps {
            db: cluster.scratch.as_ref().unwrap().db.clone(),
            storage: storage.clone(),
            events: std::sync::Arc::new(mp3converter_queue::InProcessEvents::default()),
        },
        mp3converter_janitor::RetentionConfig {
            source_grace_secs: 0,
            audio_retention_secs: 0,
            ..Default::default()
        },
    );
    let a_day_later = std::time::SystemTime::now() + Duration::from_secs(25 * 3600);
    let report = janitor.run_once(a_day_later).await.unwrap();
    assert!(report.interrupted_puts_swept >= 1, "{report:?}");
    let left = orphan_video_chunks(&mongo).await;
    assert!(
        orphans.iter().all(|o| !left.contains(o)),
        "orphan chunks left"
    );
    assert!(
        storage
            .head(&format!("audio/{id}.mp3"))
            .await
            .unwrap()
            .is_some()
    );
    cluster.shutdown().await;
}

/// A resumable upload across gateways (MariaDB, RabbitMQ, S3): its first PATCH goes to one
/// gateway, the second to another, then the first is killed (SIGKILL) and started again; HEAD
/// there reports every byte the others stored, the last PATCH completes it, and it converts.
#[tokio::test]
async fn a_resumable_upload_moves_between_gateways_and_survives_a_kill() {
    let _serial = SERIAL.lock().await;
    let Some(mut cluster) = Cluster::start(Path::new(BIN), "MP3C_TEST_MYSQL_URL", 1).await else {
        return;
    };
    let token = cluster.user("resumer@example.com").await;
    let video = std::fs::read(fixture("mp4-aac-faststart.mp4")).unwrap();
    let (a, b) = (video.len() / 3, 2 * video.len() / 3);
    let tus =
        |req: reqwest::RequestBuilder| req.bearer_auth(&token).header("tus-resumable", "1.0.0");
    let created = tus(cluster.http.post(cluster.url("/api/v1/uploads")))
        .header("upload-length", video.len())
        .header("upload-metadata", "filename bW92ZWQubXA0")
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let path = created.headers()["location"].to_str().unwrap().to_owned();
    let patch = |base: &str, offset: usize, bytes: &[u8]| {
        tus(cluster.http.patch(format!("{base}{path}")))
            .header("content-type", "application/offset+octet-stream")
            .header("upload-offset", offset)
            .body(bytes.to_vec())
            .send()
    };
    let first = patch(&cluster.gateway.url, 0, &video[..a]).await.unwrap();
    assert_eq!(first.status(), 204);
    let other = cluster.spawn("gateway").await;
    let second = patch(&other.url, a, &video[a..b]).await.unwrap();
    assert_eq!(second.status(), 204, "another gateway continues the upload");

    cluster.gateway.kill();
    cluster.gateway = cluster.replace(&cluster.gateway).await;
    let head = tus(cluster.http.head(cluster.url(&path)))
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["upload-offset"], b.to_string().as_str());
    let last = patch(&cluster.gateway.url, b, &video[b..]).await.unwrap();
    assert_eq!(last.status(), 204);
    let id = last.headers()["x-job-id"].to_str().unwrap().to_owned();
    let job = cluster.wait_finished(&token, &id, MINUTE).await;
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["original_name"], "moved.mp4");
    let mp3 = download(&cluster, &token, &id).await;
    assert!((mp3_secs(&mp3) - job["duration_secs"].as_f64().unwrap()).abs() < 0.1);
    cluster.shutdown().await;
}

/// Three minutes of a chord with a swell and pink noise, as FLAC: an input the engine cuts
/// into chunks exactly.
fn music_flac(dir: &Path) -> PathBuf {
    let path = dir.join("three-minutes.flac");
    let graph = "aevalsrc='(0.25*sin(2*PI*220*t)+0.2*sin(2*PI*277.2*t))*(0.6+0.4*sin(2*PI*0.25*t))\
                 |0.2*sin(2*PI*330*t)*(0.6+0.4*cos(2*PI*0.3*t))':s=44100:d=180[a];\
                 anoisesrc=color=pink:amplitude=0.04:seed=7:r=44100:d=180,\
                 aformat=channel_layouts=stereo[n];[a][n]amix=inputs=2:normalize=0";
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-filter_complex", graph, "-c:a", "flac"])
        // A title of its own, so the MP3's tags do not depend on the uploaded file's name.
        .args(["-metadata", "title=Three minutes", "-y"])
        .arg(&path)
        .status()
        .expect("ffmpeg (installed by .ci/run) makes the clip");
    assert!(status.success());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_job_is_split_across_both_converters_and_survives_a_kill() {
    let _serial = SERIAL.lock().await;
    let settings = [
        ("MP3C_CONVERTER__SPLIT_MIN_SECS", "60"),
        ("MP3C_CONVERTER__SPLIT_CHUNK_SECS", "15"),
        ("MP3C_CONVERTER__CONCURRENCY", "1"),
    ];
    let Some(mut cluster) = Cluster::start_with_settings(
        Path::new(BIN),
        "MP3C_TEST_MYSQL_URL",
        2,
        &settings,
        |_, _| None,
    )
    .await
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let clip = music_flac(dir.path());
    let token = cluster.user("long@example.com").await;
    let id = cluster.upload(&token, &clip).await;

    // Both converters take chunk tasks; once a third of the job is done, one of them dies.
    let deadline = tokio::time::Instant::now() + 3 * MINUTE;
    loop {
        let job = cluster.job(&token, &id).await;
        let progress = job["progress"].as_f64().unwrap();
        if job["state"] == "converting" && progress > 0.3 {
            break;
        }
        assert!(
            job["state"] != "done",
            "finished before it could be interrupted"
        );
        assert!(tokio::time::Instant::now() < deadline, "stuck: {job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took_chunks = |c: &Option<mp3converter_testkit::cluster::Process>| {
        c.as_ref()
            .is_some_and(|c| c.log_text().contains("chunk stored"))
    };
    assert!(
        cluster.converters.iter().all(took_chunks),
        "both converters encode chunks of the one job"
    );
    cluster.converters[0].as_mut().unwrap().kill();

    let job = cluster.wait_finished(&token, &id, 3 * MINUTE).await;
    assert_eq!(job["state"], "done", "{job}");
    let audio = download(&cluster, &token, &id).await;

    // The same input converted in one process, chunk-parallel.
    let reference = dir.path().join("reference.mp3");
    let engine = mp3converter_media::EngineConfig {
        threads: 2,
        parallel_min_secs: 1.0,
        ..Default::default()
    };
    mp3converter_media::convert_with(
        &clip,
        &reference,
        &Default::default(),
        &mp3converter_media::Extras::default(),
        &engine,
        mp3converter_media::Control::none(),
    )
    .unwrap();
    let reference = std::fs::read(reference).unwrap();
    assert_eq!(audio.len(), reference.len());
    assert!(
        audio == reference,
        "the joined audio differs from the one-process encode"
    );
    assert!((mp3_secs(&audio) - 180.0).abs() < 0.1);
    cluster.wait_emails(1, MINUTE).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(recipients(&cluster), ["long@example.com"], "one email");
    cluster.shutdown().await;
}
