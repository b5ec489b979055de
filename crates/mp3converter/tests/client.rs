//! The command-line client (`login`, `upload`, `jobs`, `download`, `logout`), run as a user would
//! run it: the real binary against a whole system in-process ([`TestApp`], whose workers convert
//! on their own), with its session in a temp dir.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use mp3converter_core::JobId;
use mp3converter_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, fixture};
use tokio::io::AsyncWriteExt;

/// One user's terminal: a config dir for the session and a working directory.
struct Client {
    config: tempfile::TempDir,
    cwd: tempfile::TempDir,
}

impl Client {
    fn new() -> Client {
        Client {
            config: tempfile::tempdir().unwrap(),
            cwd: tempfile::tempdir().unwrap(),
        }
    }

    fn session_file(&self) -> PathBuf {
        self.config.path().join("session.json")
    }

    fn session(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.session_file()).unwrap()).unwrap()
    }

    /// Runs `mp3converter ARGS` with `stdin` piped in (so it is not a terminal, and neither is
    /// stderr: plain lines, no bars).
    async fn run<S: AsRef<std::ffi::OsStr>>(&self, args: &[S], stdin: &str) -> Output {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mp3converter"))
            .args(args)
            .env("MP3CONVERTER_CLIENT_DIR", self.config.path())
            .current_dir(self.cwd.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        child.wait_with_output().await.unwrap()
    }

    /// Runs a command that must succeed; its stdout.
    async fn ok<S: AsRef<std::ffi::OsStr>>(&self, args: &[S]) -> String {
        let out = self.run(args, "").await;
        assert!(
            out.status.success(),
            "{:?} failed: {}",
            args.iter().map(|a| a.as_ref()).collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    async fn login(&self, server: &str, email: &str, password: &str) -> Output {
        self.run(
            &["login", "--server", server],
            &format!("{email}\n{password}\n"),
        )
        .await
    }
}

/// A failed command's stderr, checked to be one line.
fn one_line_error(out: &Output) -> String {
    assert!(!out.status.success(), "the command should fail");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    stderr
}

/// A failed command's last stderr line (upload prints its steps before).
fn last_error_line(out: &Output) -> String {
    assert!(!out.status.success(), "the command should fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr.lines().last().unwrap_or_default().to_owned()
}

/// Decodes an MP3 with the engine's prober: its duration in seconds.
fn mp3_secs(path: &Path) -> f64 {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..3], b"ID3", "starts with the ID3 tag");
    let report = mp3converter_media::probe(path, &Default::default()).unwrap();
    assert_eq!(report.container, "mp3");
    report.duration_secs.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn login_upload_wait_jobs_download_logout() {
    let app = TestApp::spawn().await;
    let client = Client::new();

    let out = client.login(&app.base, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("logged in to {} as {ADMIN_EMAIL}", app.base)
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(client.session_file())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the token is private");
    }
    let session = client.session();
    assert_eq!(session["server"], app.base.as_str());
    let token = session["token"].as_str().unwrap().to_owned();
    let me = app
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200, "the stored token is the server's");

    // Upload, follow the conversion, download into a new directory.
    let out_dir = client.cwd.path().join("mp3s");
    let upload = client
        .run(
            &[
                "upload".as_ref(),
                fixture("mp4-aac-moov-end.mp4").as_os_str(),
                "--wait".as_ref(),
                "-o".as_ref(),
                out_dir.as_os_str(),
            ],
            "",
        )
        .await;
    let stderr = String::from_utf8_lossy(&upload.stderr);
    assert!(upload.status.success(), "{stderr}");
    let saved = out_dir.join("mp4-aac-moov-end.mp3");
    assert_eq!(
        String::from_utf8_lossy(&upload.stdout).trim(),
        saved.display().to_string()
    );
    assert!(
        stderr.contains("mp4-aac-moov-end.mp4: uploaded as job"),
        "{stderr}"
    );
    assert!(stderr.contains("saved "), "plain progress lines: {stderr}");
    assert!(
        !stderr.contains('\r') && !stderr.contains('\x1b'),
        "no bars without a terminal"
    );
    let secs = mp3_secs(&saved);
    assert!((secs - 3.0).abs() < 0.05, "the fixture is 3 s; got {secs}");
    let first_id: JobId = stderr
        .split("uploaded as job ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();

    // Without --wait: the job id on stdout, and the options reach the server.
    let ids = client
        .ok(&[
            "upload".as_ref(),
            fixture("ogg-vorbis.ogg").as_os_str(),
            "--bitrate".as_ref(),
            "128".as_ref(),
            "--mono".as_ref(),
            "--start".as_ref(),
            "0:00.5".as_ref(),
        ])
        .await;
    let second_id: JobId = ids.trim().parse().unwrap();
    let job = app.backends.db.get_job(&second_id).await.unwrap().unwrap();
    assert_eq!(job.original_name, "ogg-vorbis.ogg");
    assert_eq!(job.options.bitrate, Some(128));
    assert!(job.options.mono);
    assert_eq!(job.options.start, Some(0.5));

    // `jobs` lists both, newest first.
    let table = client.ok(&["jobs"]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("ID"), "{table}");
    assert!(
        lines[1].starts_with(second_id.as_str()) && lines[1].contains("ogg-vorbis.ogg"),
        "{table}"
    );
    assert!(
        lines[2].starts_with(first_id.as_str())
            && lines[2].contains("mp4-aac-moov-end.mp4")
            && lines[2].contains("done")
            && lines[2].contains("0:03"),
        "{table}"
    );

    // `download` to a file, into the working directory, and never over a file by accident.
    let copy = client.cwd.path().join("copy.mp3");
    let printed = client
        .ok(&[
            "download".as_ref(),
            first_id.as_str().as_ref(),
            "-o".as_ref(),
            copy.as_os_str(),
        ])
        .await;
    assert_eq!(printed.trim(), copy.display().to_string());
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(&saved).unwrap()
    );
    let again = client
        .run(&["download", first_id.as_str(), "-o", "copy.mp3"], "")
        .await;
    assert!(one_line_error(&again).contains("copy.mp3 already exists (use -y to overwrite)"));
    client
        .ok(&["download", first_id.as_str(), "-o", "copy.mp3", "-y"])
        .await;
    let here = client.ok(&["download", first_id.as_str()]).await;
    assert_eq!(here.trim(), "./mp4-aac-moov-end.mp3");
    assert!(client.cwd.path().join("mp4-aac-moov-end.mp3").is_file());
    let leftovers: Vec<_> = std::fs::read_dir(client.cwd.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // `logout` forgets the token but remembers the server.
    assert_eq!(
        client.ok(&["logout"]).await.trim(),
        format!("logged out of {}", app.base)
    );
    let session = client.session();
    assert!(session.get("token").is_none(), "{session}");
    assert_eq!(session["server"], app.base.as_str());
    let after = client.run(&["jobs"], "").await;
    assert!(
        one_line_error(&after).contains("not logged in: run `mp3converter login`"),
        "{after:?}"
    );

    // `login` again without --server goes to the same server.
    let out = client
        .run(&["login"], &format!("{ADMIN_EMAIL}\n{ADMIN_PASSWORD}\n"))
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(client.session()["server"], app.base.as_str());

    // A token the server refuses: the 401 message.
    let mut session = client.session();
    session["token"] = "eyJhbGciOiJFZERTQSJ9.e30.c2ln".into();
    std::fs::write(client.session_file(), session.to_string()).unwrap();
    let refused = client.run(&["jobs"], "").await;
    assert!(
        one_line_error(&refused).contains("session expired or invalid: run `mp3converter login`"),
        "{refused:?}"
    );
    assert_eq!(refused.status.code(), Some(1));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_uploads_and_failed_jobs_say_why() {
    let app = TestApp::spawn_with(|c| c.gateway.max_upload_bytes = 100_000).await;
    let client = Client::new();
    assert!(
        client
            .login(&app.base, ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status
            .success()
    );

    let not_media = client
        .run(
            &["upload".as_ref(), fixture("not-media.pdf").as_os_str()],
            "",
        )
        .await;
    let line = last_error_line(&not_media);
    assert!(
        line.contains("not-media.pdf: not a media file (the file looks like"),
        "{line}"
    );

    let big = client
        .run(
            &["upload".as_ref(), fixture("m4a-alac.m4a").as_os_str()],
            "",
        )
        .await;
    let line = last_error_line(&big);
    assert!(
        line.contains(
            "m4a-alac.m4a: too large: the server accepts files up to 97.7 KiB (100000 bytes)"
        ),
        "{line}"
    );

    let dir = client.cwd.path().join("out");
    let no_audio = client
        .run(
            &[
                "upload".as_ref(),
                fixture("mp4-video-only.mp4").as_os_str(),
                "--wait".as_ref(),
                "-o".as_ref(),
                dir.as_os_str(),
            ],
            "",
        )
        .await;
    let line = last_error_line(&no_audio);
    assert!(
        line.contains("mp4-video-only.mp4: conversion failed: this video has no audio track"),
        "{line}"
    );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing saved");

    // Bad options are refused before anything is sent.
    let bad = client
        .run(
            &[
                "upload".as_ref(),
                fixture("ogg-vorbis.ogg").as_os_str(),
                "--bitrate".as_ref(),
                "999".as_ref(),
            ],
            "",
        )
        .await;
    assert!(one_line_error(&bad).contains("bitrate 999 kbps is outside 32–320 kbps"));

    // Several files: the good ones go through, each failure is named when it happens (before
    // the next file's upload, not at the end), the exit code is 1.
    let mixed = client
        .run(
            &[
                "upload".as_ref(),
                fixture("not-media.pdf").as_os_str(),
                fixture("ogg-vorbis.ogg").as_os_str(),
            ],
            "",
        )
        .await;
    assert_eq!(mixed.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&mixed.stdout);
    let stderr = String::from_utf8_lossy(&mixed.stderr);
    assert!(stdout.trim().parse::<JobId>().is_ok(), "{stdout}");
    let refused = stderr.find("not-media.pdf: not a media file");
    let next = stderr.find("ogg-vorbis.ogg: uploaded as job");
    assert!(
        refused.is_some() && next.is_some() && refused < next,
        "the refusal is reported when it happens: {stderr}"
    );
    assert_eq!(
        stderr.matches("not-media.pdf: not a media file").count(),
        1,
        "and not repeated at the end: {stderr}"
    );
    assert!(
        stderr.trim_end().ends_with("1 of 2 files failed"),
        "{stderr}"
    );

    // A missing file is found before anything is uploaded.
    let typo = client
        .run(
            &[
                "upload".as_ref(),
                fixture("ogg-vorbis.ogg").as_os_str(),
                "no-such-file.mp4".as_ref(),
            ],
            "",
        )
        .await;
    assert!(one_line_error(&typo).contains("no-such-file.mp4: No such file"));

    let jobs = app.backends.db.list_jobs(100).await.unwrap();
    assert_eq!(jobs.len(), 2, "the video-only file and the ogg");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let client = Client::new();
    let out = client
        .login(&app.base, ADMIN_EMAIL, "not-the-password")
        .await;
    assert!(
        one_line_error(&out).contains("login failed: wrong email or password"),
        "{out:?}"
    );
    assert!(!client.session_file().exists());
    let missing = client.run(&["login", "--server", &app.base], "").await;
    assert!(one_line_error(&missing).contains("no email given"));
    let half = client
        .run(
            &["login", "--server", &app.base],
            &format!("{ADMIN_EMAIL}\n"),
        )
        .await;
    assert!(one_line_error(&half).contains("no password given"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_is_down_cannot_be_reached() {
    // A port that was just free: nothing listens there.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let client = Client::new();
    let out = client.login(&server, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(
        one_line_error(&out).contains(&format!("cannot reach {server}: is it running?")),
        "{out:?}"
    );
    // The same for a stored session whose server went away.
    std::fs::write(
        client.session_file(),
        serde_json::json!({"server": server, "token": "a.b.c"}).to_string(),
    )
    .unwrap();
    let jobs = client.run(&["jobs"], "").await;
    assert!(
        one_line_error(&jobs).contains(&format!("cannot reach {server}: is it running?")),
        "{jobs:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn import_fetches_a_url_waits_and_downloads_and_refusals_say_why() {
    // A local origin with one video, opened to the import by the allow-list.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let video = std::fs::read(fixture("mp4-aac-faststart.mp4")).unwrap();
    let routes = axum::Router::new().route(
        "/videos/clip.mp4",
        axum::routing::get(move || async move { video }),
    );
    tokio::spawn(async move { axum::serve(listener, routes).await.unwrap() });
    let app = TestApp::spawn_with(|c| c.import.allow_cidrs = "127.0.0.0/8".parse().unwrap()).await;
    let client = Client::new();
    assert!(
        client
            .login(&app.base, ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status
            .success()
    );

    let url = format!("{origin}/videos/clip.mp4");
    let out = client
        .ok(&[
            "import",
            url.as_str(),
            "--wait",
            "-o",
            "mp3s",
            "--bitrate",
            "96",
        ])
        .await;
    let path = PathBuf::from(out.trim());
    assert_eq!(path.file_name().unwrap(), "clip.mp3", "{out}");
    assert!(mp3_secs(&client.cwd.path().join(&path)) > 0.5);

    // Without --wait: the job id, the job downloading or already further.
    let out = client.ok(&["import", url.as_str()]).await;
    let id: JobId = out.trim().parse().unwrap();
    assert!(app.backends.db.get_job(&id).await.unwrap().is_some());

    // Refused at once, in one line.
    let out = client
        .run(&["import", "http://169.254.169.254/latest/meta-data/"], "")
        .await;
    let line = one_line_error(&out);
    assert!(line.contains("link-local"), "{line}");
    let out = client.run(&["import", "ftp://example.com/a.mp4"], "").await;
    assert!(one_line_error(&out).contains("http and https"));
}

/// A valid 1×1 PNG, small enough to write from a test.
const TINY_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0x64, 0x60, 0xf8, 0x5f,
    0x0f, 0x00, 0x02, 0x87, 0x01, 0x80, 0xeb, 0x47, 0xba, 0x92, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[tokio::test(flavor = "multi_thread")]
async fn upload_sends_a_cover_picture_with_each_file_and_import_refuses_one() {
    let app = TestApp::spawn().await;
    let client = Client::new();
    assert!(
        client
            .login(&app.base, ADMIN_EMAIL, ADMIN_PASSWORD)
            .await
            .status
            .success()
    );
    let picture = client.cwd.path().join("cover.png");
    std::fs::write(&picture, TINY_PNG).unwrap();
    let text = client.cwd.path().join("cover.txt");
    std::fs::write(&text, "not a picture").unwrap();
    let missing = client.cwd.path().join("missing.png");

    // A picture the server would refuse stops the command before anything is sent.
    for (cover, reason) in [
        (&missing, "missing.png"),
        (&text, "cover.txt: not a JPEG, PNG or WebP picture"),
    ] {
        let out = client
            .run(
                &[
                    "upload".as_ref(),
                    fixture("ogg-vorbis.ogg").as_os_str(),
                    "--cover".as_ref(),
                    cover.as_os_str(),
                ],
                "",
            )
            .await;
        let line = last_error_line(&out);
        assert!(line.contains(reason), "{line}");
    }
    assert!(app.backends.db.list_jobs(10).await.unwrap().is_empty());

    // Two files, one picture: each job gets it, and each MP3 carries it (an APIC frame).
    let out_dir = client.cwd.path().join("mp3s");
    let saved = client
        .ok(&[
            "upload".as_ref(),
            fixture("mp4-aac-moov-end.mp4").as_os_str(),
            fixture("ogg-vorbis.ogg").as_os_str(),
            "--cover".as_ref(),
            picture.as_os_str(),
            "--wait".as_ref(),
            "-o".as_ref(),
            out_dir.as_os_str(),
        ])
        .await;
    let saved: Vec<PathBuf> = saved.lines().map(PathBuf::from).collect();
    assert_eq!(saved.len(), 2, "{saved:?}");
    for path in &saved {
        let mp3 = std::fs::read(path).unwrap();
        assert_eq!(&mp3[..3], b"ID3", "{}", path.display());
        assert!(
            mp3.windows(4).any(|w| w == b"APIC"),
            "{} has no cover",
            path.display()
        );
    }
    let jobs = app.backends.db.list_jobs(10).await.unwrap();
    assert_eq!(jobs.len(), 2);
    for job in &jobs {
        assert!(job.options.cover, "{}", job.original_name);
        let cover = mp3converter_core::cover_key(&job.video_key);
        assert!(
            app.backends.storage.head(&cover).await.unwrap().is_some(),
            "{cover}"
        );
    }

    // An import has no picture to send: refused at once, saying what to do instead.
    let out = client
        .run(
            &[
                "import".as_ref(),
                "https://example.com/a.mp4".as_ref(),
                "--cover".as_ref(),
                picture.as_os_str(),
            ],
            "",
        )
        .await;
    let line = one_line_error(&out);
    assert!(line.contains("--cover cannot go with an import"), "{line}");
    app.stop().await;
}
