//! The private podcast feed: one secret URL per user (the same until rotated), RSS 2.0 checked
//! by a real feed parser (`feedparser` from PyPI, run by the python named in `MP3C_TEST_PYTHON`),
//! every enclosure fetched with a `Range` request, and rotation killing the old feed and its
//! enclosures at once.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;

use crate::common::{
    FakeUser, Form, PUBLIC_URL, TestApp, body_bytes, body_json, body_text, fixture, get,
};

fn api(method: Method, uri: &str, user: &FakeUser) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, user.bearer())
        .body(Body::empty())
        .unwrap()
}

fn path_of(url: &str) -> String {
    url.strip_prefix(PUBLIC_URL)
        .unwrap_or_else(|| panic!("absolute under public_url: {url}"))
        .to_owned()
}

async fn feed_url(app: &TestApp, user: &FakeUser, rotate: bool) -> String {
    let request = if rotate {
        api(Method::POST, "/api/v1/me/feed/rotate", user)
    } else {
        api(Method::GET, "/api/v1/me/feed", user)
    };
    let response = app.send(request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let url = body_json(response).await["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(url.ends_with(".xml"), "{url}");
    path_of(&url)
}

/// Uploads `form` for `user` on the JSON API and returns the job id.
async fn create(app: &TestApp, user: &FakeUser, form: Form) -> mp3converter_core::JobId {
    let response = app
        .send(form.request("/api/v1/jobs", Some(&user.bearer())))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    body_json(response).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The feed parsed by feedparser, or `None` (with a message) when `MP3C_TEST_PYTHON` is unset.
fn feedparser(xml: &str) -> Option<Value> {
    let Some(python) = std::env::var_os("MP3C_TEST_PYTHON") else {
        eprintln!(
            "skipping the feedparser check: set MP3C_TEST_PYTHON to a python3 with feedparser"
        );
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("feed.xml");
    std::fs::write(&file, xml).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/gateway/parse_feed.py");
    let output = std::process::Command::new(python)
        .arg(script)
        .arg(&file)
        .output()
        .expect("run the python of MP3C_TEST_PYTHON");
    assert!(
        output.status.success(),
        "parse_feed.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(serde_json::from_slice(&output.stdout).unwrap())
}

/// The `url` attributes of the feed's enclosures, read without a parser (always checked).
fn enclosure_urls(xml: &str) -> Vec<String> {
    xml.split("<enclosure ")
        .skip(1)
        .map(|rest| {
            let start = rest.find("url=\"").unwrap() + 5;
            let end = start + rest[start..].find('"').unwrap();
            rest[start..end].replace("&amp;", "&")
        })
        .collect()
}

#[tokio::test]
async fn the_feed_lists_finished_jobs_for_a_real_parser_and_every_enclosure_serves_ranges() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let hostile = r#"Talk <b>one</b> & "two" ]]> <script>x</script>"#;
    let first = create(
        &app,
        &app.alice,
        Form::new()
            .file("file", "talk.mp4", &video)
            .text("title", hostile)
            .file("cover", "c.jpg", b"\xFF\xD8\xFF\xE0 a JPEG's start"),
    )
    .await;
    let second = create(
        &app,
        &app.alice,
        Form::new()
            .file("file", "Second Talk.mp4", &video)
            .text("format", "opus"),
    )
    .await;
    let queued = app.upload(&app.alice, "queued.mp4", &video).await;
    let split = create(
        &app,
        &app.alice,
        Form::new()
            .file("file", "parts.mp4", &video)
            .text("split", "chapters"),
    )
    .await;
    let theirs = app.upload(&app.bob, "bobs.mp4", &video).await;
    let mut audio = HashMap::new();
    for (id, len) in [
        (&first, 7000u32),
        (&second, 3000),
        (&split, 100),
        (&theirs, 100),
    ] {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        app.finish(id, &bytes).await;
        audio.insert(id.to_string(), bytes);
        // Distinct finish times, so the order is defined.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    let path = feed_url(&app, &app.alice, false).await;
    assert_eq!(feed_url(&app, &app.alice, false).await, path, "stable");
    assert_ne!(feed_url(&app, &app.bob, false).await, path, "per user");
    let response = app.send(get(&path, None)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/rss+xml; charset=utf-8"
    );
    let xml = body_text(response).await;
    assert!(!xml.contains("alice@"), "no email in the feed");
    assert!(!xml.contains("<script>"), "escaped: {xml}");
    assert!(!xml.contains(queued.as_str()), "a queued job is no episode");
    assert!(
        !xml.contains(split.as_str()),
        "a split job (ZIP) is no episode"
    );
    assert!(!xml.contains(theirs.as_str()), "another user's job");

    // Every enclosure, by a Range request without any header but Range.
    let urls = enclosure_urls(&xml);
    assert_eq!(urls.len(), 2, "{xml}");
    for url in &urls {
        let path = path_of(url);
        let id = path.rsplit('/').next().unwrap().split('.').next().unwrap();
        let bytes = &audio[id];
        let part = app
            .send(
                Request::get(&path)
                    .header(header::RANGE, "bytes=10-1009")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "{url}");
        assert_eq!(
            part.headers()[header::CONTENT_RANGE],
            format!("bytes 10-1009/{}", bytes.len()).as_str()
        );
        assert_eq!(body_bytes(part).await, bytes[10..1010], "{url}");
    }

    if let Some(parsed) = feedparser(&xml) {
        assert_eq!(parsed["bozo"], 0, "well-formed: {parsed}");
        assert_eq!(parsed["version"], "rss20");
        let ns = parsed["namespaces"].to_string();
        assert!(
            ns.contains("http://www.itunes.com/dtds/podcast-1.0.dtd"),
            "{ns}"
        );
        assert!(
            ns.contains("https://podcastindex.org/namespace/1.0"),
            "{ns}"
        );
        assert_eq!(parsed["title"], "mp3converter — mp3.example.test");
        assert_eq!(parsed["link"], format!("{PUBLIC_URL}/"));
        assert_eq!(parsed["language"], "en");
        assert_eq!(parsed["author"], "mp3converter");
        assert_eq!(
            parsed["image"],
            format!("{PUBLIC_URL}/assets/podcast-cover.png")
        );
        assert!(parsed["description"].as_str().unwrap().contains("private"));
        assert_eq!(parsed["categories"][0], "Technology");
        let entries = parsed["entries"].as_array().unwrap();
        assert_eq!(entries.len(), 2, "{parsed}");
        // Newest first: the opus job finished after the first.
        let (newer, older) = (&entries[0], &entries[1]);
        assert_eq!(newer["id"], second.as_str());
        assert_eq!(newer["guidislink"], false);
        assert_eq!(newer["title"], "Second Talk");
        assert_eq!(newer["enclosures"][0]["type"], "audio/ogg");
        assert_eq!(newer["enclosures"][0]["length"], "3000");
        assert!(
            newer["enclosures"][0]["href"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{second}.opus"))
        );
        assert_eq!(newer["duration"], "1");
        assert!(newer["image"].is_null(), "no cover: {newer}");
        assert!(newer["published"].is_array());
        assert_eq!(older["id"], first.as_str());
        assert_eq!(
            older["title"], hostile,
            "the hostile title, exactly, as text"
        );
        assert_eq!(older["enclosures"][0]["type"], "audio/mpeg");
        assert_eq!(older["enclosures"][0]["length"], "7000");
        let cover = older["image"].as_str().expect("the job's cover");
        let picture = app.send(get(&path_of(cover), None)).await;
        assert_eq!(picture.status(), StatusCode::OK);
        assert_eq!(picture.headers()[header::CONTENT_TYPE], "image/jpeg");
        assert!(body_bytes(picture).await.starts_with(b"\xFF\xD8\xFF"));
    }

    // The default cover is served.
    let image = app.send(get("/assets/podcast-cover.png", None)).await;
    assert_eq!(image.status(), StatusCode::OK);
    assert_eq!(image.headers()[header::CONTENT_TYPE], "image/png");

    // Rotation: the old feed and its enclosures are gone at once; the new one works.
    let rotated = feed_url(&app, &app.alice, true).await;
    assert_ne!(rotated, path);
    assert_eq!(
        app.send(get(&path, None)).await.status(),
        StatusCode::NOT_FOUND
    );
    for url in &urls {
        let old = app.send(get(&path_of(url), None)).await;
        assert_eq!(old.status(), StatusCode::NOT_FOUND, "{url}");
    }
    assert_eq!(feed_url(&app, &app.alice, false).await, rotated);
    let fresh = body_text(app.send(get(&rotated, None)).await).await;
    for url in enclosure_urls(&fresh) {
        let response = app.send(get(&path_of(&url), None)).await;
        assert_eq!(response.status(), StatusCode::OK, "{url}");
    }
}

#[tokio::test]
async fn unknown_feeds_and_foreign_episodes_are_404() {
    let app = TestApp::spawn().await;
    let video = fixture("mp4-aac-faststart.mp4");
    let theirs = app.upload(&app.bob, "bobs.mp4", &video).await;
    app.finish(&theirs, b"bob's audio").await;
    let alice = feed_url(&app, &app.alice, false).await;
    let secret = alice
        .strip_prefix("/feeds/")
        .and_then(|s| s.strip_suffix(".xml"))
        .unwrap()
        .to_owned();
    for path in [
        format!("/feeds/{}.xml", "A".repeat(43)),
        format!("/feeds/{secret}"),
        format!("/feeds/{secret}/{theirs}.mp3"),
        format!("/feeds/{secret}/{theirs}/cover"),
        format!("/feeds/{secret}/not-a-job.mp3"),
    ] {
        let response = app.send(get(&path, None)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    // An empty feed is still a valid feed.
    let xml = body_text(app.send(get(&alice, None)).await).await;
    assert!(
        xml.contains("<channel>") && !xml.contains("<item>"),
        "{xml}"
    );
    // Without a token, the API answers 401.
    let anonymous = app.send(get("/api/v1/me/feed", None)).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}
