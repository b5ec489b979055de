//! The HTML of the public share page (`GET /s/{token}`) and of its 404: static markup with every
//! job-provided string escaped, no script, styled by `/assets/share.css`, under the UI's CSP.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use mp3converter_core::Job;

use crate::links::{display_title, escape_html};

/// `3:07` or `1:02:03`.
fn duration(secs: f64) -> String {
    let total = secs.max(0.0).round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta name=\"robots\" content=\"noindex\">\n<title>{title}</title>\n\
         <link rel=\"stylesheet\" href=\"/assets/share.css\">\n\
         <link rel=\"icon\" href=\"/assets/favicon.svg\">\n</head>\n<body>\n<main>\n{body}</main>\n\
         </body>\n</html>\n"
    );
    let mut response = (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        page,
    )
        .into_response();
    let headers = response.headers_mut();
    crate::web::secure(headers);
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex"),
    );
    response
}

/// The page of a live share of `job`.
pub(crate) fn page(job: &Job, token: &str) -> Response {
    let title = escape_html(&display_title(job));
    let audio = format!("/s/{}/audio", escape_html(token));
    let file = escape_html(&crate::filename::audio_name(
        &job.original_name,
        job.options.output_extension(),
    ));
    let length = job
        .duration_secs
        .map(|d| format!("<p>{} · {file}</p>\n", duration(d)))
        .unwrap_or_else(|| format!("<p>{file}</p>\n"));
    let body = format!(
        "<h1>{title}</h1>\n{length}<audio controls preload=\"metadata\" src=\"{audio}\"></audio>\n\
         <p><a href=\"{audio}\" download>Download</a></p>\n\
         <p><small>Shared with mp3converter.</small></p>\n"
    );
    html(StatusCode::OK, &title, &body)
}

/// The page of an unknown, expired or revoked link.
pub(crate) fn not_found() -> Response {
    html(
        StatusCode::NOT_FOUND,
        "Link not found",
        "<h1>This link does not work</h1>\n\
         <p>It may have expired or been revoked. Ask the person who shared it for a new one.</p>\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_player() {
        assert_eq!(duration(0.4), "0:00");
        assert_eq!(duration(187.0), "3:07");
        assert_eq!(duration(3723.2), "1:02:03");
    }
}
