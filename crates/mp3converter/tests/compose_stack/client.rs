//! The stack's HTTP side as the course uses it (curl's login, multipart upload, download) and the
//! mail catcher's API; the test videos.

use std::path::{Path, PathBuf};
use std::process::Command;

use mp3converter_testkit::mp3_secs;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::stack::{eventually, run};

pub(crate) const ADMIN: (&str, &str) = ("admin@example.com", "dev-only-admin-password");

/// A test video made by ffmpeg: `secs` of testsrc + a sine tone in MP4 (H.264 + AAC).
pub(crate) fn make_video(dir: &Path, name: &str, secs: u32, size: &str, rate: u32) -> PathBuf {
    let path = dir.join(name);
    run(Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc=size={size}:rate={rate}:duration={secs}"))
        .args(["-f", "lavfi", "-i"])
        .arg(format!(
            "sine=frequency=440:sample_rate=44100:duration={secs}"
        ))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", "96k", "-shortest"])
        .arg(&path));
    path
}

/// The stack's HTTP side: the gateway and the mail catcher's API (Mailpit's shape).
pub(crate) struct Client {
    pub(crate) http: reqwest::Client,
    pub(crate) gateway: String,
    pub(crate) mail: String,
    pub(crate) token: String,
}

impl Client {
    pub(crate) async fn login(http: &reqwest::Client, gateway: &str) -> reqwest::Response {
        http.post(format!("{gateway}/login"))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
            .send()
            .await
            .unwrap()
    }

    /// `curl -X POST -F 'file=@video.mp4' -H 'Authorization: Bearer …' GATEWAY/upload`:
    /// the status and the job id.
    /// Each upload gets a name of its own (`<n>-<file name>`), so the same file sent again is
    /// converted again rather than done at once from an earlier job's audio (dedup).
    pub(crate) async fn upload(&self, video: &Path) -> (u16, Option<String>) {
        static UPLOADS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = UPLOADS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let bytes = std::fs::read(video).unwrap();
        let name = format!("{n}-{}", video.file_name().unwrap().to_string_lossy());
        let form = Form::new().part(
            "file",
            Part::bytes(bytes)
                .file_name(name)
                .mime_str("video/mp4")
                .unwrap(),
        );
        let res = self
            .http
            .post(format!("{}/upload", self.gateway))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .unwrap();
        let id = res
            .headers()
            .get("x-job-id")
            .map(|v| v.to_str().unwrap().to_string());
        (res.status().as_u16(), id)
    }

    pub(crate) async fn job(&self, id: &str) -> Value {
        self.http
            .get(format!("{}/api/v1/jobs/{id}", self.gateway))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// `GET <mail catcher>/api/v1/<path>` as JSON, or None while the catcher is unreachable.
    async fn mail_json(&self, path: &str) -> Option<Value> {
        let url = format!("{}/api/v1/{path}", self.mail);
        self.http.get(url).send().await.ok()?.json().await.ok()
    }

    /// The text of every caught email (oldest first), or None while the catcher is unreachable.
    pub(crate) async fn emails(&self) -> Option<Vec<String>> {
        let list = self.mail_json("messages").await?;
        let mut texts = Vec::new();
        for m in list["messages"].as_array()?.iter().rev() {
            let id = m["ID"].as_str()?;
            let full = self.mail_json(&format!("message/{id}")).await?;
            texts.push(full["Text"].as_str()?.to_string());
        }
        Some(texts)
    }

    /// The emails that name a job's audio.
    pub(crate) async fn emails_for(&self, job: &str) -> usize {
        let needle = format!("audio/{job}.mp3");
        self.emails()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|t| t.contains(&needle))
            .count()
    }

    /// Waits for the email of each job; returns the fid of each (`mp3 file_id: FID is now
    /// ready!`, as the course's notification says).
    pub(crate) async fn wait_for_emails(&self, jobs: &[String], secs: u64) -> Vec<String> {
        eventually(secs, &format!("the emails of jobs {jobs:?}"), async || {
            let texts = self.emails().await?;
            jobs.iter()
                .map(|job| {
                    let needle = format!("audio/{job}.mp3");
                    let text = texts.iter().find(|t| t.contains(&needle))?;
                    let fid = text
                        .split("mp3 file_id: ")
                        .nth(1)?
                        .split(" is now ready!")
                        .next()?;
                    Some(fid.to_string())
                })
                .collect()
        })
        .await
    }

    /// `curl --output a.mp3 -H 'Authorization: Bearer …' "GATEWAY/download?fid=FID"`, checked:
    /// 200, audio/mpeg, an MP3 of about `secs` seconds (the engine's probe decodes it).
    pub(crate) async fn download_mp3(&self, fid: &str, secs: f64) {
        let res = self
            .http
            .get(format!("{}/download", self.gateway))
            .query(&[("fid", fid)])
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "download of {fid}");
        assert_eq!(res.headers()["content-type"], "audio/mpeg");
        let mp3 = res.bytes().await.unwrap();
        // Frame sync of the first MPEG audio frame (after an ID3v2 tag, if any).
        let start = if mp3.starts_with(b"ID3") {
            10 + mp3[6..10]
                .iter()
                .fold(0usize, |n, b| (n << 7) | (*b as usize & 0x7f))
        } else {
            0
        };
        assert!(
            mp3[start] == 0xff && mp3[start + 1] & 0xe0 == 0xe0,
            "{fid}: no MPEG frame sync at {start}"
        );
        let got = mp3_secs(&mp3);
        assert!(
            (got - secs).abs() < 0.1,
            "{fid}: {got} s, expected {secs} s"
        );
    }
}
