//! The web UI: the static files of `web/` at the repository root (HTML, CSS and ES modules, no
//! build step), embedded in the binary and served at `GET /` (the page) and
//! `GET /assets/{file}` (everything it loads).
//!
//! Every answer carries its content type, a strong `ETag` (a hash of the bytes, so a new binary
//! invalidates exactly what changed), `Cache-Control: no-cache` (the browser keeps the file but
//! revalidates it: the names are not versioned, so a new release must be seen at once) and the
//! page's security headers: a CSP that allows scripts and styles from this origin only (no inline
//! code of either kind), no framing, `nosniff` and `Referrer-Policy: no-referrer` (the signed
//! audio URLs, though short-lived, must not leave in a `Referer`).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// One embedded file.
struct Asset {
    /// Its name under `/assets/` (`index.html` is the page at `/`).
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            body: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/", $name)),
        }
    };
}

/// Every file of `web/`. A file added there must be listed here (the gateway tests request
/// everything the page and the modules reference).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("app.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("dom.js", "text/javascript; charset=utf-8"),
    asset!("extract.js", "text/javascript; charset=utf-8"),
    asset!("format.js", "text/javascript; charset=utf-8"),
    asset!("jobs.js", "text/javascript; charset=utf-8"),
    asset!("upload.js", "text/javascript; charset=utf-8"),
    asset!("users.js", "text/javascript; charset=utf-8"),
    asset!("keys.js", "text/javascript; charset=utf-8"),
    asset!("webhooks.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("share.css", "text/css; charset=utf-8"),
    asset!("share.js", "text/javascript; charset=utf-8"),
    asset!("podcast-cover.png", "image/png"),
];

/// The page's Content Security Policy: everything from this origin only, no inline script or
/// style, no plugins, no `<base>` rewriting, never inside a frame. Media may also come from
/// `blob:` URLs: the upload form reads a chosen file's duration with a hidden media element on an
/// object URL of the file (for the estimate).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; media-src 'self' blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The security headers of every UI answer.
const SECURITY_HEADERS: [(HeaderName, &str); 6] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        HeaderName::from_static("cross-origin-opener-policy"),
        "same-origin",
    ),
    (
        HeaderName::from_static("permissions-policy"),
        "camera=(), microphone=(), geolocation=(), payment=()",
    ),
];

/// `"<first 16 bytes of the SHA-256 in hex>"`, per asset, in [`ASSETS`] order.
static ETAGS: LazyLock<Vec<HeaderValue>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = Sha256::digest(a.body);
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header value")
        })
        .collect()
});

/// `GET /`: the page.
pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

/// `GET /assets/{file}`: a file the page loads; 404 for any other name.
pub(crate) async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    if file == "index.html" {
        return ApiError::not_found().into_json();
    }
    serve(&file, &headers)
}

fn serve(name: &str, request: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        return ApiError::not_found().into_json();
    };
    let asset = &ASSETS[i];
    let etag = ETAGS[i].clone();
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let h = response.headers_mut();
    h.insert(header::ETAG, etag);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    secure(h);
    response
}

/// Adds the UI's security headers (the CSP and its companions) to `headers`; also used by the
/// public share page.
pub(crate) fn secure(headers: &mut HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_name_is_unique_and_has_a_distinct_etag() {
        let mut names: Vec<_> = ASSETS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ASSETS.len());
        let mut etags: Vec<_> = ETAGS.iter().map(HeaderValue::as_bytes).collect();
        etags.sort_unstable();
        etags.dedup();
        assert_eq!(etags.len(), ASSETS.len());
    }

    #[test]
    fn a_matching_if_none_match_is_not_modified_and_a_stale_one_is_not() {
        let etag = ETAGS[0].to_str().unwrap().to_owned();
        for value in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
            let mut request = HeaderMap::new();
            request.insert(header::IF_NONE_MATCH, value.parse().unwrap());
            assert_eq!(
                serve("index.html", &request).status(),
                StatusCode::NOT_MODIFIED
            );
        }
        let mut request = HeaderMap::new();
        request.insert(header::IF_NONE_MATCH, "\"stale\"".parse().unwrap());
        assert_eq!(serve("index.html", &request).status(), StatusCode::OK);
    }
}
