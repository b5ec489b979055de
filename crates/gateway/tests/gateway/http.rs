//! Request helpers: fixtures, a hand-built multipart form, GETs and reading bodies.

use axum::body::Body;
use axum::http::{Request, Response, header};

/// A fixture file from `tests/fixtures/media`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/fixtures/media/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A hand-built `multipart/form-data` body.
#[derive(Default)]
pub struct Form {
    body: Vec<u8>,
}

pub const BOUNDARY: &str = "----mp3c-test-boundary";

impl Form {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn file(mut self, field: &str, filename: &str, bytes: &[u8]) -> Self {
        self.body.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        self.body.extend_from_slice(bytes);
        self.body.extend_from_slice(b"\r\n");
        self
    }

    pub fn text(mut self, field: &str, value: &str) -> Self {
        self.body.extend_from_slice(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n")
                .as_bytes(),
        );
        self
    }

    pub fn bytes(mut self) -> Vec<u8> {
        self.body
            .extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
        self.body
    }

    /// A POST of this form to `uri`, with a `Content-Length`.
    pub fn request(self, uri: &str, authorization: Option<&str>) -> Request<Body> {
        let body = self.bytes();
        let mut b = Request::post(uri)
            .header(
                header::CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .header(header::CONTENT_LENGTH, body.len());
        if let Some(a) = authorization {
            b = b.header(header::AUTHORIZATION, a);
        }
        b.body(Body::from(body)).unwrap()
    }
}

/// A GET of `uri` with an optional `Authorization` header.
pub fn get(uri: &str, authorization: Option<&str>) -> Request<Body> {
    let mut b = Request::get(uri);
    if let Some(a) = authorization {
        b = b.header(header::AUTHORIZATION, a);
    }
    b.body(Body::empty()).unwrap()
}

pub async fn body_bytes(response: Response<Body>) -> bytes::Bytes {
    axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
}

pub async fn body_text(response: Response<Body>) -> String {
    String::from_utf8(body_bytes(response).await.to_vec()).unwrap()
}

pub async fn body_json(response: Response<Body>) -> serde_json::Value {
    serde_json::from_slice(&body_bytes(response).await).unwrap()
}
