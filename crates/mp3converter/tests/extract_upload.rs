//! `mp3converter upload --extract-audio` (the default) against a whole system in-process: only
//! the audio track of an MP4 goes up, and the MP3 that comes back is the one the whole file
//! gives (`--no-extract-audio`); the job records the original size (`source_size`); and an
//! extracted upload whose connection is cut resumes and stores exactly the extracted bytes.

use std::path::Path;
use std::process::{Output, Stdio};

use mp3converter_core::JobId;
use mp3converter_media::extract::{self, Extraction, Outcome};
use mp3converter_testkit::proxy::Proxy;
use mp3converter_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestApp, fixture};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// Runs `mp3converter ARGS` with its session in `config`, `stdin` piped in.
async fn run(config: &Path, cwd: &Path, args: &[&std::ffi::OsStr], stdin: &str) -> Output {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mp3converter"))
        .args(args)
        .env("MP3CONVERTER_CLIENT_DIR", config)
        .current_dir(cwd)
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

/// The job id in an upload's "uploaded as job ID" line.
fn job_id(stderr: &str) -> JobId {
    stderr
        .split("uploaded as job ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no job id in: {stderr}"))
        .parse()
        .unwrap()
}

/// The extraction of the file at `path`, which must be extractable.
fn extraction_of(path: &Path) -> Extraction {
    let mut file = std::fs::File::open(path).unwrap();
    let len = file.metadata().unwrap().len();
    match extract::plan(&mut file, len, None, &|_| {}).unwrap() {
        Outcome::Extracted(extraction) => extraction,
        Outcome::Whole(reason) => panic!("{} is not extracted: {reason}", path.display()),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_sends_only_the_audio_and_gets_the_same_mp3_as_the_whole_file() {
    let app = TestApp::spawn().await;
    let config = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let login = run(
        config.path(),
        cwd.path(),
        &["login".as_ref(), "--server".as_ref(), app.base.as_ref()],
        &format!("{ADMIN_EMAIL}\n{ADMIN_PASSWORD}\n"),
    )
    .await;
    assert!(login.status.success(), "{login:?}");

    let name = "mp4-aac-faststart.mp4";
    let video = fixture(name);
    let file_len = std::fs::metadata(&video).unwrap().len();
    let extraction = extraction_of(&video);

    let upload = |dir: &'static str, flag: &'static str| {
        let (config, cwd, video) = (config.path(), cwd.path(), video.clone());
        async move {
            let out_dir = cwd.join(dir);
            let out = run(
                config,
                cwd,
                &[
                    "upload".as_ref(),
                    video.as_os_str(),
                    flag.as_ref(),
                    "--wait".as_ref(),
                    "-o".as_ref(),
                    out_dir.as_os_str(),
                ],
                "",
            )
            .await;
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{flag}: {stderr}");
            let mp3 = std::fs::read(out_dir.join("mp4-aac-faststart.mp3")).unwrap();
            (stderr, mp3)
        }
    };

    let (stderr, audio_mp3) = upload("audio", "--extract-audio").await;
    assert!(
        stderr.contains(&format!("{name}: sending only the audio: ")),
        "{stderr}"
    );
    let job = app
        .backends
        .db
        .get_job(&job_id(&stderr))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.original_name, name, "the original name is kept");
    assert_eq!(job.video_size, extraction.len, "only the audio was stored");
    assert!(job.video_size < file_len);
    assert_eq!(
        job.source_size,
        Some(file_len),
        "the server knows the original size"
    );
    assert_eq!(job.options.track, None);

    let (stderr, whole_mp3) = upload("whole", "--no-extract-audio").await;
    assert!(!stderr.contains("sending only the audio"), "{stderr}");
    let job = app
        .backends
        .db
        .get_job(&job_id(&stderr))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.video_size, file_len, "the whole file was stored");
    assert_eq!(job.source_size, None);

    assert!(
        audio_mp3 == whole_mp3,
        "the same MP3 either way ({} vs {} bytes)",
        audio_mp3.len(),
        whole_mp3.len()
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_extracted_upload_resumes_after_its_connection_is_cut() {
    let app = TestApp::spawn().await;
    let proxy = Proxy::start(&app.addr.to_string());
    let server = format!("http://{}", proxy.addr);
    let config = tempfile::tempdir().unwrap();
    let cwd = tempfile::tempdir().unwrap();
    // 10 minutes of ALAC noise beside a tiny video: about 100 MB of audio, several stored
    // segments, so the connection can be cut in the middle.
    let video = cwd.path().join("long talk.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("anoisesrc=d=600:c=white:r=44100:seed=7")
        .args(["-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1:d=600"])
        .args(["-ac", "2", "-c:a", "alac", "-c:v", "mpeg4", "-shortest"])
        .arg(&video)
        .status();
    if !made.is_ok_and(|s| s.success()) {
        eprintln!("skipping: ffmpeg is needed to make the test video (apt-get install ffmpeg)");
        return;
    }
    let extraction = extraction_of(&video);
    let mut audio = Vec::new();
    extraction
        .write_to(&mut std::fs::File::open(&video).unwrap(), &mut audio)
        .unwrap();

    let login = run(
        config.path(),
        cwd.path(),
        &["login".as_ref(), "--server".as_ref(), server.as_ref()],
        &format!("{ADMIN_EMAIL}\n{ADMIN_PASSWORD}\n"),
    )
    .await;
    assert!(login.status.success(), "{login:?}");
    let upload = tokio::process::Command::new(env!("CARGO_BIN_EXE_mp3converter"))
        .arg("upload")
        .arg(&video)
        .env("MP3CONVERTER_CLIENT_DIR", config.path())
        .current_dir(cwd.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Cut every connection once the server has stored the first segment.
    app.cut_upload_midway(&proxy).await;

    let out = upload.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("sending only the audio"), "{stderr}");
    assert!(
        stderr.contains("resuming in"),
        "it was cut and resumed: {stderr}"
    );
    let id: JobId = String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let job = app.backends.db.get_job(&id).await.unwrap().unwrap();
    assert_eq!(job.original_name, "long talk.mp4");
    assert_eq!(job.video_size, audio.len() as u64);
    assert_eq!(
        job.source_size,
        Some(std::fs::metadata(&video).unwrap().len())
    );
    let hex: String = Sha256::digest(&audio)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(job.video_sha256, hex, "exactly the extracted bytes arrived");
}
