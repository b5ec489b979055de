//! The notification emails: "your MP3 is ready" (with the course's line and download links) and
//! "your conversion failed" (with the reason in plain words). Text and HTML parts; everything
//! the user controls is escaped in the HTML. Jobs in another format name it where MP3 is named
//! ("Your FLAC is ready"); the course's `mp3 file_id:` line stays as it is, with the job's fid.
//!
//! The link for people opens the web UI on the job (`/#/jobs/<id>`: its player and Download
//! button, after logging in if needed), never an API route, which a browser would show as a 401
//! JSON answer. The course's `/download?fid=` link is for scripts with a token.

use mp3converter_core::{ConvertOptions, Job, JobState, Split};
use mp3converter_mail::Email;

/// What a job delivers, in the email's words: the format, or for a split job the format's
/// files in a ZIP.
struct Delivered {
    label: String,
    subject: String,
    extension: &'static str,
}

impl Delivered {
    fn of(options: &ConvertOptions) -> Self {
        let format = options.format().label();
        match options.split {
            None => Delivered {
                label: format.to_owned(),
                subject: format!("{format} is"),
                extension: options.output_extension(),
            },
            Some(split) => {
                let each = match split {
                    Split::Chapters => "one per chapter",
                    Split::Silence => "one per part between silences",
                };
                Delivered {
                    label: format!("{format} files, {each}, in one ZIP with a playlist"),
                    subject: format!("{format} files are"),
                    extension: options.output_extension(),
                }
            }
        }
    }
}

/// The email telling `job`'s owner how it ended, or `None` if the job is not done or failed.
/// `public_url` is where users reach the gateway (no trailing slash needed).
pub fn notification_email(job: &Job, public_url: &str) -> Option<Email> {
    let base = public_url.trim_end_matches('/');
    let name = one_line(&job.original_name);
    let format = Delivered::of(&job.options);
    let (subject, text, html) = match job.state {
        JobState::Done => {
            let fid = job.audio_key.clone()?;
            let links = Links {
                download: format!("{base}/download?fid={}", query_value(&fid)),
                page: job_page(base, job),
            };
            (
                format!("Your {} ready: {name}", format.subject),
                ready_text(&fid, &name, &format, job.duration_secs, &links),
                ready_html(&fid, &name, &format, job.duration_secs, &links),
            )
        }
        JobState::Failed => {
            let reason = job
                .error_message
                .as_deref()
                .unwrap_or("the conversion failed");
            let reason = reason.trim().trim_end_matches('.');
            (
                format!("Your conversion failed: {name}"),
                failed_text(
                    &name,
                    &format,
                    reason,
                    job.error_code.as_deref(),
                    &job_page(base, job),
                ),
                failed_html(
                    &name,
                    &format,
                    reason,
                    job.error_code.as_deref(),
                    &job_page(base, job),
                ),
            )
        }
        JobState::Downloading | JobState::Queued | JobState::Converting | JobState::Expired => {
            return None;
        }
    };
    Some(Email {
        to: job.owner_email.clone(),
        subject,
        text,
        html: Some(html),
        message_id: message_id(job, base),
        headers: vec![("X-Job-Id".to_owned(), job.id.to_string())],
    })
}

struct Links {
    /// The course's route, for a script with a token.
    download: String,
    /// The web UI showing the job.
    page: String,
}

/// The web UI's page of `job` (the UI routes by URL fragment, so the server needs no route).
fn job_page(base: &str, job: &Job) -> String {
    format!("{base}/#/jobs/{}", job.id)
}

/// `job-<id>@<host of public_url>`: the same for every send of one job's email, so a repeat
/// is recognisable.
fn message_id(job: &Job, base: &str) -> String {
    let host = base
        .split_once("://")
        .map_or(base, |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
        .rsplit('@')
        .next()
        .unwrap_or_default();
    let host = host
        .rsplit_once(':')
        .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    let ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
    format!("job-{}@{}", job.id, if ok { host } else { "mp3converter" })
}

fn duration_words(secs: Option<f64>) -> String {
    match secs {
        Some(s) if s.is_finite() && s >= 0.0 => {
            let total = s.round() as u64;
            format!(" ({}:{:02})", total / 60, total % 60)
        }
        _ => String::new(),
    }
}

fn ready_text(
    fid: &str,
    name: &str,
    format: &Delivered,
    duration: Option<f64>,
    links: &Links,
) -> String {
    format!(
        "Hello,\n\n\
         mp3 file_id: {fid} is now ready!\n\n\
         Your video \"{name}\" has been converted to {}{}.\n\n\
         Listen to it and download it (log in if you are asked to):\n  {}\n\n\
         Or with your access token, as in the course:\n  {}\n  \
         curl --output audio.{} -H 'Authorization: Bearer TOKEN' '{}'\n\n\
         -- \nmp3converter\n",
        format.label,
        duration_words(duration),
        links.page,
        links.download,
        format.extension,
        links.download,
    )
}

fn ready_html(
    fid: &str,
    name: &str,
    format: &Delivered,
    duration: Option<f64>,
    links: &Links,
) -> String {
    format!(
        "<!DOCTYPE html>\n<html><body>\n\
         <p>Hello,</p>\n\
         <p>mp3 file_id: <code>{}</code> is now ready!</p>\n\
         <p>Your video <strong>{}</strong> has been converted to {}{}.</p>\n\
         <p><a href=\"{}\">Listen to it and download it</a> (log in if you are asked to)</p>\n\
         <p>Or with your access token, as in the course: <a href=\"{}\">{}</a></p>\n\
         <p>&mdash; mp3converter</p>\n</body></html>\n",
        escape(fid),
        escape(name),
        format.label,
        escape(&duration_words(duration)),
        escape(&links.page),
        escape(&links.download),
        escape(&links.download),
    )
}

fn failed_text(
    name: &str,
    format: &Delivered,
    reason: &str,
    code: Option<&str>,
    page: &str,
) -> String {
    let code = code.map(|c| format!(" (code: {c})")).unwrap_or_default();
    format!(
        "Hello,\n\n\
         We could not convert your video \"{name}\" to {}: {reason}.{code}\n\n\
         Nothing was kept for download. You can upload another file at {page}\n\n\
         -- \nmp3converter\n",
        format.label,
    )
}

fn failed_html(
    name: &str,
    format: &Delivered,
    reason: &str,
    code: Option<&str>,
    page: &str,
) -> String {
    let code = code
        .map(|c| format!(" (code: <code>{}</code>)", escape(c)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html><body>\n\
         <p>Hello,</p>\n\
         <p>We could not convert your video <strong>{}</strong> to {}: {}.{code}</p>\n\
         <p>Nothing was kept for download. You can upload another file at \
         <a href=\"{}\">{}</a></p>\n\
         <p>&mdash; mp3converter</p>\n</body></html>\n",
        escape(name),
        format.label,
        escape(reason),
        escape(page),
        escape(page),
    )
}

/// The text with control characters (line breaks included) replaced by spaces.
fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

pub(crate) use mp3converter_core::escape_html as escape;

/// Percent-encodes a query value, keeping the characters a query may hold as they are
/// (`audio/<id>.mp3` stays readable).
fn query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@!$'()*,;".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_special_characters_are_escaped() {
        assert_eq!(
            escape(r#"<b>"Tom & Jerry's"</b>"#),
            "&lt;b&gt;&quot;Tom &amp; Jerry&#39;s&quot;&lt;/b&gt;"
        );
    }

    #[test]
    fn query_values_keep_slashes_and_encode_the_rest() {
        assert_eq!(query_value("audio/abc.mp3"), "audio/abc.mp3");
        assert_eq!(query_value("a b&c#d%"), "a%20b%26c%23d%25");
    }

    fn job() -> Job {
        Job::queued(
            mp3converter_core::NewJob {
                owner_id: mp3converter_core::UserId::generate(),
                owner_email: "a@example.com".into(),
                original_name: "clip.mp4".into(),
                video_key: "video/x".into(),
                video_size: 1,
                video_sha256: String::new(),
                options: Default::default(),
            },
            0,
        )
    }

    #[test]
    fn another_format_is_named_where_mp3_was_and_keeps_the_course_line() {
        let mut flac = job();
        flac.options.format = Some(mp3converter_core::AudioFormat::Flac);
        flac.state = JobState::Done;
        let fid = format!("audio/{}.flac", flac.id);
        flac.audio_key = Some(fid.clone());
        let email = notification_email(&flac, "https://x.test").unwrap();
        assert_eq!(email.subject, "Your FLAC is ready: clip.mp4");
        assert!(
            email
                .text
                .contains(&format!("mp3 file_id: {fid} is now ready!"))
        );
        assert!(
            email.text.contains("has been converted to FLAC."),
            "{}",
            email.text
        );
        assert!(
            email.text.contains("curl --output audio.flac "),
            "{}",
            email.text
        );
        let html = email.html.unwrap();
        assert!(html.contains("converted to FLAC.</p>"), "{html}");

        flac.state = JobState::Failed;
        flac.error_message = Some("this video has no audio track".into());
        let email = notification_email(&flac, "https://x.test").unwrap();
        assert!(
            email
                .text
                .contains("\"clip.mp4\" to FLAC: this video has no audio track."),
            "{}",
            email.text
        );
    }

    #[test]
    fn a_split_job_points_to_its_zip() {
        let mut split = job();
        split.options.split = Some(Split::Chapters);
        split.state = JobState::Done;
        let fid = format!("audio/{}.zip", split.id);
        split.audio_key = Some(fid.clone());
        let email = notification_email(&split, "https://x.test").unwrap();
        assert_eq!(email.subject, "Your MP3 files are ready: clip.mp4");
        assert!(
            email
                .text
                .contains(&format!("mp3 file_id: {fid} is now ready!"))
        );
        assert!(
            email
                .text
                .contains("converted to MP3 files, one per chapter, in one ZIP with a playlist."),
            "{}",
            email.text
        );
        assert!(
            email.text.contains("curl --output audio.zip "),
            "{}",
            email.text
        );
        assert!(
            email
                .text
                .contains(&format!("/download?fid=audio%2F{}.zip", split.id))
                || email
                    .text
                    .contains(&format!("/download?fid=audio/{}.zip", split.id)),
            "{}",
            email.text
        );
    }

    #[test]
    fn message_id_is_the_job_id_at_the_public_host() {
        let job = job();
        let id = |base: &str| message_id(&job, base);
        assert_eq!(
            id("https://mp3.example.com"),
            format!("job-{}@mp3.example.com", job.id)
        );
        assert_eq!(
            id("http://u:p@127.0.0.1:8080/app"),
            format!("job-{}@127.0.0.1", job.id)
        );
        assert_eq!(
            id("http://[::1]:8080"),
            format!("job-{}@mp3converter", job.id)
        );
        assert_eq!(id(""), format!("job-{}@mp3converter", job.id));
    }

    #[test]
    fn unfinished_jobs_get_no_email() {
        assert!(notification_email(&job(), "http://x").is_none());
    }

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(duration_words(Some(185.4)), " (3:05)");
        assert_eq!(duration_words(None), "");
        assert_eq!(duration_words(Some(f64::NAN)), "");
    }
}
