//! The web UI: the page and its assets, their content types, caching and security headers.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};

use crate::common::{TestApp, body_bytes, get};

/// Asserts the headers every UI answer carries.
fn assert_security_headers(path: &str, headers: &HeaderMap) {
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert_eq!(csp, mp3converter_gateway::CONTENT_SECURITY_POLICY, "{path}");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(csp.contains(directive), "{path}: {csp} lacks {directive}");
    }
    assert!(!csp.contains("unsafe"), "{path}: {csp}");
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
    assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{path}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "{path}");
    let etag = headers[header::ETAG].to_str().unwrap();
    assert!(
        etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
        "{path}: a strong ETag, got {etag}"
    );
}

async fn fetch_text(app: &TestApp, path: &str) -> (HeaderMap, String) {
    let response = app.send(get(path, None)).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    let headers = response.headers().clone();
    let body = body_bytes(response).await;
    (headers, String::from_utf8(body.to_vec()).unwrap())
}

/// The values of `attr="..."` in `html` that start with `/assets/`.
fn asset_refs(html: &str, attr: &str) -> Vec<String> {
    let needle = format!("{attr}=\"/assets/");
    html.match_indices(&needle)
        .map(|(i, _)| {
            let rest = &html[i + needle.len() - "/assets/".len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// The modules `js` imports (`from './x.js'`), as `/assets/x.js`.
fn imports(js: &str) -> Vec<String> {
    js.match_indices("from './")
        .map(|(i, _)| {
            let rest = &js[i + "from './".len()..];
            format!("/assets/{}", &rest[..rest.find('\'').unwrap()])
        })
        .collect()
}

#[tokio::test]
async fn the_page_is_html_with_the_security_headers_and_no_login_needed() {
    let app = TestApp::spawn().await;
    let (headers, html) = fetch_text(&app, "/").await;
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_security_headers("/", &headers);
    assert!(html.starts_with("<!doctype html>"), "{html}");
    assert!(html.contains("<script type=\"module\" src=\"/assets/app.js\"></script>"));
    assert!(html.contains("id=\"login-form\""));

    let head = Request::head("/").body(Body::empty()).unwrap();
    let response = app.send(head).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_security_headers("HEAD /", response.headers());
    assert!(body_bytes(response).await.is_empty());
}

#[tokio::test]
async fn the_page_has_no_inline_script_style_or_handlers() {
    let app = TestApp::spawn().await;
    let (_, html) = fetch_text(&app, "/").await;
    // Each would be blocked by the CSP, so each would be a broken page.
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..i + html[i..].find('>').unwrap()];
        assert!(tag.contains(" src=\""), "inline script: {tag}");
    }
    assert!(!html.contains("<style"), "inline stylesheet");
    assert!(!html.contains(" style=\""), "style attribute");
    assert!(!html.contains("javascript:"), "javascript: URL");
    for handler in [
        " onclick=",
        " onload=",
        " onsubmit=",
        " onchange=",
        " oninput=",
    ] {
        assert!(!html.contains(handler), "inline handler {handler}");
    }
}

#[tokio::test]
async fn every_file_the_page_loads_is_served_with_its_content_type() {
    let app = TestApp::spawn().await;
    let (_, html) = fetch_text(&app, "/").await;
    let mut todo: Vec<String> = asset_refs(&html, "href");
    todo.extend(asset_refs(&html, "src"));
    let mut seen = BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let (headers, body) = fetch_text(&app, &path).await;
        assert!(!body.is_empty(), "{path}");
        assert_security_headers(&path, &headers);
        let expected = match path.rsplit_once('.').unwrap().1 {
            "js" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            other => panic!("unexpected asset type {other} ({path})"),
        };
        assert_eq!(headers[header::CONTENT_TYPE], expected, "{path}");
        if path.ends_with(".js") {
            todo.extend(imports(&body));
        }
    }
    // The page, its stylesheet, its icon and every module reachable from app.js.
    for path in [
        "/assets/app.css",
        "/assets/favicon.svg",
        "/assets/app.js",
        "/assets/api.js",
        "/assets/jobs.js",
        "/assets/upload.js",
        "/assets/users.js",
    ] {
        assert!(seen.contains(path), "{path} not reached: {seen:?}");
    }
}

#[tokio::test]
async fn the_scripts_never_turn_strings_into_markup_or_code() {
    let app = TestApp::spawn().await;
    let mut todo = vec!["/assets/app.js".to_owned()];
    let mut seen = BTreeSet::new();
    while let Some(path) = todo.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let (_, js) = fetch_text(&app, &path).await;
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "localStorage",
        ] {
            assert!(!js.contains(sink), "{path} uses {sink}");
        }
        todo.extend(imports(&js));
    }
    assert!(seen.len() >= 6, "{seen:?}");
}

#[tokio::test]
async fn unknown_assets_are_404() {
    let app = TestApp::spawn().await;
    for path in [
        "/assets/nope.js",
        "/assets/index.html",
        "/assets/..%2FCargo.toml",
        "/assets/app.js.map",
        "/assets/APP.JS",
    ] {
        let response = app.send(get(path, None)).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let response = app.send(get("/assets/web/app.js", None)).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_current_etag_is_answered_304_without_a_body() {
    let app = TestApp::spawn().await;
    for path in ["/", "/assets/app.js"] {
        let first = app.send(get(path, None)).await;
        let etag = first.headers()[header::ETAG].clone();

        let again = Request::get(path)
            .header(header::IF_NONE_MATCH, etag.clone())
            .body(Body::empty())
            .unwrap();
        let response = app.send(again).await;
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{path}");
        assert_eq!(response.headers()[header::ETAG], etag);
        assert_security_headers(path, response.headers());
        assert!(body_bytes(response).await.is_empty());

        let stale = Request::get(path)
            .header(header::IF_NONE_MATCH, "\"0123\"")
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.send(stale).await.status(), StatusCode::OK, "{path}");
    }
    let page = app.send(get("/", None)).await.headers()[header::ETAG].clone();
    let script = app.send(get("/assets/app.js", None)).await.headers()[header::ETAG].clone();
    assert_ne!(page, script);
}
