//! Hostile upload file names: the stored name keeps no path and no control character, and the
//! download's `Content-Disposition` is one well-formed header (RFC 6266 `filename*`) that
//! nothing can break out of.

use mp3converter_testkit::TestApp;

use crate::common::{file_form, finished, fixture, get, percent_decode, post_form, raw};

/// Overwrites a job's stored name, bypassing the upload's sanitising (as an old row might be).
async fn sqlx_free_rename(app: &TestApp, id: &str, name: &str) {
    let done = sqlx::query("UPDATE jobs SET original_name = $1 WHERE id = $2")
        .bind(name)
        .bind(id)
        .execute(app.backends.db.pool())
        .await
        .unwrap();
    assert_eq!(done.rows_affected(), 1, "job {id} renamed");
}

/// `Content-Disposition` parameters of the file part, as a hostile client sends them. The
/// `filename*` forms (which RFC 7578 forbids in forms) may be refused with 400 instead.
const HOSTILE: &[&str] = &[
    r#"filename="../../../etc/passwd.mp4""#,
    r#"filename="..\..\..\Windows\System32\evil.mp4""#,
    r#"filename="/absolute/path/clip.mp4""#,
    r#"filename="....//....//clip.mp4""#,
    r#"filename="clip.mp4%00.exe""#,
    "filename=\"tab\there.mp4\"",
    r#"filename="quote\"; filename=\"other.exe.mp4""#,
    r#"filename*=UTF-8''..%2F..%2Fetc%2Fpasswd.mp4"#,
    r#"filename*=UTF-8''inject%0D%0ASet-Cookie%3A%20stolen%3D1.mp4"#,
    r#"filename*=UTF-8''nul%00byte%1B%5B31m.mp4"#,
    r#"filename="..""#,
    r#"filename="""#,
];

/// A name is safe to store and show: no separators, no control characters, not a dot path.
fn assert_safe(name: &str, sent: &str) {
    assert!(!name.is_empty(), "{sent}: empty name");
    assert!(
        !name.contains(['/', '\\']) && !name.chars().any(char::is_control),
        "{sent}: stored name {name:?} keeps a separator or control character"
    );
    assert!(
        !name.starts_with('.'),
        "{sent}: stored name {name:?} is a dot path"
    );
}

#[tokio::test]
async fn hostile_file_names_are_stored_sanitised_and_downloads_stay_one_header() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let mut accepted = Vec::new();
    for params in HOSTILE {
        let response = post_form(&app, "/api/v1/jobs", &token, file_form(params, &video)).await;
        let status = response.status().as_u16();
        assert!(
            status == 201 || status == 400,
            "{params}: {status} {}",
            response.text().await.unwrap()
        );
        if status == 201 {
            let job: serde_json::Value = response.json().await.unwrap();
            let name = job["original_name"].as_str().unwrap().to_owned();
            assert_safe(&name, params);
            accepted.push((params, job["id"].as_str().unwrap().to_owned(), name));
        }
    }
    let plain = HOSTILE
        .iter()
        .filter(|p| p.starts_with("filename="))
        .count();
    assert!(
        accepted.len() >= plain,
        "plain names are accepted, sanitised: {accepted:?}"
    );
    // A name stored before sanitising existed (or by a bug) must not break the header either.
    let stored = "old\r\nSet-Cookie: stolen=1; \"x\0.mp4";
    sqlx_free_rename(&app, &accepted[0].1, stored).await;
    accepted[0].0 = &"(stored raw)";
    accepted[0].2 = stored.to_owned();

    for (params, id, name) in &accepted {
        let job = finished(&app, &token, id).await;
        assert_eq!(job["state"], "done", "{params}: {job}");
        for path in [
            format!("/download?fid={id}"),
            format!("/api/v1/jobs/{id}/audio"),
        ] {
            let response = raw(app.addr, &get(&path, &token)).await;
            assert_eq!(response.status, 200, "{params} {path}");
            for line in &response.headers {
                assert!(
                    line.bytes()
                        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b)),
                    "{params}: header line with raw bytes: {line:?}"
                );
            }
            assert!(
                response.header("set-cookie").is_empty(),
                "{params}: a header was injected: {:?}",
                response.headers
            );
            let dispositions = response.header("content-disposition");
            assert_eq!(dispositions.len(), 1, "{params}: {:?}", response.headers);
            let value = dispositions[0];
            assert!(
                value.starts_with("attachment; filename=\""),
                "{params}: {value}"
            );
            assert_eq!(value.matches('"').count(), 2, "{params}: {value}");
            let encoded = value
                .split_once("filename*=UTF-8''")
                .unwrap_or_else(|| panic!("{params}: no filename*: {value}"))
                .1;
            let decoded = String::from_utf8(percent_decode(encoded)).unwrap();
            assert!(decoded.ends_with(".mp3"), "{params}: {decoded}");
            assert_safe(&decoded, params);
            let clean: String = name
                .chars()
                .filter(|c| !c.is_control() && *c != '"')
                .collect();
            let stem = clean.rsplit_once('.').map_or(clean.as_str(), |(s, _)| s);
            assert!(
                decoded.starts_with(stem.trim()),
                "{params}: {decoded} vs {name:?}"
            );
        }
    }
}
