//! What the notifier sends: the "ready" email with the course's line and links, the "failed"
//! email with the reason, both with escaped HTML and a Message-ID derived from the job id.

mod support;

use mp3converter_core::FailureReason;
use support::Harness;

const NASTY_NAME: &str = r#"<script>alert("hi")</script> Tom & Jerry's.mp4"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_email_has_the_courses_line_both_links_and_escaped_html() {
    let h = Harness::new().await;
    let job = h.done_job("jane@example.com", NASTY_NAME).await;

    assert_eq!(h.notifier().run_pending_jobs().await, 1);

    let sent = h.mailer.sent();
    assert_eq!(sent.len(), 1);
    let email = &sent[0];
    let fid = format!("audio/{}.mp3", job.id);
    assert_eq!(email.to, "jane@example.com");
    assert_eq!(email.subject, format!("Your MP3 is ready: {NASTY_NAME}"));
    assert_eq!(email.message_id, format!("job-{}@mp3.example.test", job.id));
    assert!(
        email
            .text
            .contains(&format!("mp3 file_id: {fid} is now ready!"))
    );
    assert!(email.text.contains(NASTY_NAME), "{}", email.text);
    let download = format!("https://mp3.example.test/download?fid={fid}");
    // The link for people opens the web UI on the job, not an API route (a 401 in a browser).
    let page = format!("https://mp3.example.test/#/jobs/{}", job.id);
    assert!(email.text.contains(&download), "{}", email.text);
    assert!(
        email.text.contains(&format!("\n  {page}\n")),
        "{}",
        email.text
    );
    assert!(!email.text.contains("/api/v1/"), "{}", email.text);
    assert!(
        email.text.contains("3:05"),
        "duration shown: {}",
        email.text
    );

    let html = email.html.as_deref().unwrap();
    assert!(!html.contains("<script>"), "{html}");
    assert!(
        html.contains(
            "&lt;script&gt;alert(&quot;hi&quot;)&lt;/script&gt; Tom &amp; Jerry&#39;s.mp4"
        ),
        "{html}"
    );
    assert!(html.contains(&format!("href=\"{download}\"")), "{html}");
    assert!(html.contains(&format!("href=\"{page}\"")), "{html}");
    assert!(!html.contains("/api/v1/"), "{html}");

    assert!(h.job(&job.id).await.notified_at.is_some());
    assert_eq!((h.depth().await, h.dead().await), (0, 0));
    h.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_email_says_why_in_plain_words_without_download_links() {
    let h = Harness::new().await;
    let reason = FailureReason {
        code: "no-audio-track".into(),
        message: "this video has no audio track".into(),
    };
    let job = h
        .failed_job("sam@example.com", "<b>silent</b>.mp4", reason)
        .await;

    assert_eq!(h.notifier().run_pending_jobs().await, 1);

    let sent = h.mailer.sent();
    assert_eq!(sent.len(), 1);
    let email = &sent[0];
    assert_eq!(email.to, "sam@example.com");
    assert_eq!(email.subject, "Your conversion failed: <b>silent</b>.mp4");
    assert!(
        email
            .text
            .contains("We could not convert your video \"<b>silent</b>.mp4\" to MP3: this video has no audio track."),
        "{}",
        email.text
    );
    let html = email.html.as_deref().unwrap();
    assert!(html.contains("&lt;b&gt;silent&lt;/b&gt;.mp4"), "{html}");
    assert!(html.contains("this video has no audio track"), "{html}");
    for part in [email.text.as_str(), html] {
        assert!(!part.contains("download?fid"), "{part}");
        assert!(!part.contains("/audio"), "{part}");
    }
    assert!(h.job(&job.id).await.notified_at.is_some());
    h.cleanup().await;
}
