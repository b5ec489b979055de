//! The HTTP side of the client: requests to one server with the stored token, and every failure
//! turned into a [`ClientError`] that reads as one clear line.

use std::time::Duration;

use mp3converter_core::{ConvertOptions, JobId, JobState};
use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde::Deserialize;

use super::session::Session;

/// The tus protocol version the client speaks.
const TUS_VERSION: &str = "1.0.0";
const TUS_RESUMABLE: &str = "tus-resumable";

/// Where a resumable upload stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadProgress {
    /// Bytes the server has stored.
    pub offset: u64,
    /// The job, once the upload is complete.
    pub job: Option<JobId>,
}

/// Why a request failed, worded for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers at the server's address (refused, unknown host, TLS failure).
    #[error("cannot reach {server}: is it running? ({reason})")]
    Unreachable {
        /// The server's URL.
        server: String,
        /// The innermost cause (`Connection refused`, a DNS or certificate error).
        reason: String,
    },
    /// The connection broke after it was made.
    #[error("the connection to {server} failed: {reason}")]
    Network {
        /// The server's URL.
        server: String,
        /// The innermost cause.
        reason: String,
    },
    /// No token is stored.
    #[error("not logged in: run `mp3converter login` (or set MP3CONVERTER_API_KEY)")]
    NotLoggedIn,
    /// The server refused the token (expired, revoked key, another server's token).
    #[error("session expired or invalid: run `mp3converter login`")]
    Unauthorized,
    /// The server refused the API key of `MP3CONVERTER_API_KEY`.
    #[error("the API key in MP3CONVERTER_API_KEY was refused (expired, revoked or mistyped)")]
    KeyRefused,
    /// `POST /login` refused the email and password.
    #[error("login failed: wrong email or password (or the account is disabled)")]
    BadCredentials,
    /// 429: too many attempts.
    #[error("too many attempts: try again in {} s", retry_after.map_or(60, |d| d.as_secs()))]
    RateLimited {
        /// From `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// 413: the upload is over the server's `max_upload_bytes`.
    #[error("too large: {}", match limit {
        Some(limit) => format!("the server accepts files up to {} ({limit} bytes)", human_bytes(*limit)),
        None => "the server refused a file this big".to_owned(),
    })]
    TooLarge {
        /// The limit in bytes, when the server's message says it.
        limit: Option<u64>,
    },
    /// 415: the server sniffed the file and it is not audio or video.
    #[error("not a media file ({message})")]
    NotMedia {
        /// The server's reason.
        message: String,
    },
    /// The conversion ended in `failed` or `expired`.
    #[error("conversion failed: {message}")]
    JobFailed {
        /// The job's error message.
        message: String,
    },
    /// Any other refusal: the server's own message.
    #[error("{message} (HTTP {})", status.as_u16())]
    Server {
        /// The status.
        status: StatusCode,
        /// The `message` of the JSON error body, or the text body.
        message: String,
    },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from {server}: {detail}")]
    Protocol {
        /// The server's URL.
        server: String,
        /// What was wrong.
        detail: String,
    },
}

impl ClientError {
    /// True when the connection failed (not reachable, or broken off): worth trying again.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. } | ClientError::Network { .. }
        )
    }

    /// True when the same failure would repeat for every other file of a command (so it stops).
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ClientError::Unreachable { .. }
                | ClientError::NotLoggedIn
                | ClientError::Unauthorized
                | ClientError::KeyRefused
                | ClientError::RateLimited { .. }
        )
    }
}

/// `12345` → `12.1 KiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A job as `/api/v1/jobs` shows it (the fields the client uses).
#[derive(Debug, Clone, Deserialize)]
pub struct JobInfo {
    /// The job's id.
    pub id: JobId,
    /// Its state.
    pub state: JobState,
    /// Conversion progress, 0.0–1.0.
    pub progress: f64,
    /// The uploaded file's name.
    pub original_name: String,
    /// The audio's duration, once known.
    pub duration_secs: Option<f64>,
    /// Why it failed.
    pub error: Option<JobErrorInfo>,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// Why a job failed.
#[derive(Debug, Clone, Deserialize)]
pub struct JobErrorInfo {
    /// In words.
    pub message: String,
}

/// The `{code, message}` body of an `/api/v1` error.
#[derive(Deserialize)]
struct ErrorBody {
    message: String,
}

/// A client for one server, with or without a token.
#[derive(Debug, Clone)]
pub struct Api {
    http: Client,
    server: String,
    token: Option<String>,
    /// The token is an API key from `MP3CONVERTER_API_KEY`, not a login session.
    via_key: bool,
}

impl Api {
    /// A client for `server` (a base URL such as `http://127.0.0.1:8080`).
    pub fn new(server: &str, token: Option<String>) -> anyhow::Result<Api> {
        let http = Client::builder()
            .user_agent(concat!("mp3converter/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Api {
            http,
            server: server.trim_end_matches('/').to_owned(),
            token,
            via_key: false,
        })
    }

    /// The client of the API key in `MP3CONVERTER_API_KEY` when it is set (the server from
    /// `MP3CONVERTER_SERVER`, else the stored session's, else the default), else of the stored
    /// session; [`ClientError::NotLoggedIn`] without either.
    pub fn from_session(session: Option<Session>) -> anyhow::Result<Api> {
        if let Some(key) = super::keys::key_from_env() {
            let server = super::keys::server_from_env(session.map(|s| s.server))?;
            let mut api = Api::new(&server, Some(key))?;
            api.via_key = true;
            return Ok(api);
        }
        match session {
            Some(Session {
                server,
                token: Some(token),
                ..
            }) => Api::new(&server, Some(token)),
            _ => Err(ClientError::NotLoggedIn.into()),
        }
    }

    /// The server's base URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    pub(super) fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.server));
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    /// Sends `req` and turns a transport failure or an error status into a [`ClientError`].
    pub(super) async fn send(&self, req: RequestBuilder) -> Result<Response, ClientError> {
        let res = req.send().await.map_err(|e| self.transport(e))?;
        if res.status().is_success() {
            return Ok(res);
        }
        match self.refusal(res).await {
            ClientError::Unauthorized if self.via_key => Err(ClientError::KeyRefused),
            other => Err(other),
        }
    }

    /// A transport error of this server.
    pub fn transport(&self, error: reqwest::Error) -> ClientError {
        let server = self.server.clone();
        // reqwest's own message names the URL again; the root cause is what tells people why.
        let mut cause: &dyn std::error::Error = &error;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let reason = cause.to_string();
        if error.is_connect() {
            ClientError::Unreachable { server, reason }
        } else if error.is_timeout() {
            ClientError::Network {
                server,
                reason: "timed out".to_owned(),
            }
        } else {
            ClientError::Network { server, reason }
        }
    }

    fn protocol(&self, detail: impl ToString) -> ClientError {
        ClientError::Protocol {
            server: self.server.clone(),
            detail: detail.to_string(),
        }
    }

    async fn refusal(&self, res: Response) -> ClientError {
        let status = res.status();
        let headers = res.headers().clone();
        let body = res.text().await.unwrap_or_default();
        refusal(status, &headers, &body)
    }

    pub(super) async fn json<T: serde::de::DeserializeOwned>(
        &self,
        res: Response,
    ) -> Result<T, ClientError> {
        let bytes = res.bytes().await.map_err(|e| self.transport(e))?;
        serde_json::from_slice(&bytes).map_err(|e| self.protocol(e))
    }

    /// `POST /login` with HTTP Basic; the token.
    pub async fn login(&self, email: &str, password: &str) -> Result<String, ClientError> {
        let req = self
            .http
            .post(format!("{}/login", self.server))
            .basic_auth(email, Some(password));
        let res = match self.send(req).await {
            Err(ClientError::Unauthorized) => return Err(ClientError::BadCredentials),
            other => other?,
        };
        let token = res.text().await.map_err(|e| self.transport(e))?;
        let token = token.trim();
        // A JWT is three base64url parts; anything else is not this service answering.
        if token.split('.').count() != 3 || token.contains(char::is_whitespace) {
            return Err(self.protocol("`POST /login` did not answer with a token"));
        }
        Ok(token.to_owned())
    }

    /// `POST /api/v1/uploads` (tus creation): the new upload's URL.
    pub async fn create_upload(&self, size: u64, metadata: &str) -> Result<String, ClientError> {
        let req = self
            .request(reqwest::Method::POST, "/api/v1/uploads")
            .header(TUS_RESUMABLE, TUS_VERSION)
            .header("upload-length", size)
            .header("upload-metadata", metadata);
        let res = self.send(req).await?;
        let location = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.protocol("a created upload came without its Location"))?;
        Ok(match location.starts_with('/') {
            true => location.to_owned(),
            false => location
                .strip_prefix(self.server.as_str())
                .unwrap_or(location)
                .to_owned(),
        })
    }

    /// `HEAD` of an upload: how much the server has, and the job once it is complete.
    pub async fn upload_offset(&self, path: &str) -> Result<UploadProgress, ClientError> {
        let req = self
            .request(reqwest::Method::HEAD, path)
            .header(TUS_RESUMABLE, TUS_VERSION);
        let res = self.send(req).await?;
        self.upload_progress(&res)
    }

    /// `PATCH` of an upload: appends `body` at `offset`.
    pub async fn patch_upload(
        &self,
        path: &str,
        offset: u64,
        body: reqwest::Body,
    ) -> Result<UploadProgress, ClientError> {
        let req = self
            .request(reqwest::Method::PATCH, path)
            .header(TUS_RESUMABLE, TUS_VERSION)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/offset+octet-stream",
            )
            .header("upload-offset", offset)
            .body(body);
        let res = self.send(req).await?;
        self.upload_progress(&res)
    }

    /// `PUT` of an upload's cover picture (before its last byte): the job it becomes embeds it.
    pub async fn put_upload_cover(&self, path: &str, picture: Vec<u8>) -> Result<(), ClientError> {
        let req = self
            .request(reqwest::Method::PUT, &format!("{path}/cover"))
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(picture);
        self.send(req).await?;
        Ok(())
    }

    /// `DELETE` of an upload (tus termination): the server forgets it and its bytes.
    pub async fn delete_upload(&self, path: &str) -> Result<(), ClientError> {
        let req = self
            .request(reqwest::Method::DELETE, path)
            .header(TUS_RESUMABLE, TUS_VERSION);
        self.send(req).await?;
        Ok(())
    }

    fn upload_progress(&self, res: &Response) -> Result<UploadProgress, ClientError> {
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok());
        let offset = header("upload-offset")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| self.protocol("an upload answer came without Upload-Offset"))?;
        let job = header("x-job-id")
            .map(|v| v.parse().map_err(|_| self.protocol("a malformed X-Job-Id")))
            .transpose()?;
        Ok(UploadProgress { offset, job })
    }

    /// `POST /api/v1/jobs` with `{"url", "options"}`: the server imports the file at `url`;
    /// the new job (`downloading`).
    pub async fn import_job(
        &self,
        url: &str,
        options: &ConvertOptions,
    ) -> Result<JobInfo, ClientError> {
        let mut body = serde_json::json!({ "url": url });
        if *options != ConvertOptions::default() {
            body["options"] = serde_json::to_value(options).map_err(|e| ClientError::Protocol {
                server: self.server.clone(),
                detail: format!("the options could not be written: {e}"),
            })?;
        }
        let req = self
            .request(reqwest::Method::POST, "/api/v1/jobs")
            .json(&body);
        let res = self.send(req).await?;
        self.json(res).await
    }

    /// `GET /api/v1/jobs`: the caller's jobs, or with `all` every user's (admins only).
    pub async fn jobs(&self, all: bool) -> Result<Vec<JobInfo>, ClientError> {
        let path = if all {
            "/api/v1/jobs?owner=all"
        } else {
            "/api/v1/jobs"
        };
        let res = self.send(self.request(reqwest::Method::GET, path)).await?;
        self.json(res).await
    }

    /// `GET /api/v1/jobs/{id}`.
    pub async fn job(&self, id: &JobId) -> Result<JobInfo, ClientError> {
        let res = self
            .send(self.request(reqwest::Method::GET, &format!("/api/v1/jobs/{id}")))
            .await?;
        self.json(res).await
    }

    /// `GET /api/v1/jobs/{id}/events`: the open event stream.
    pub async fn events(&self, id: &JobId) -> Result<Response, ClientError> {
        let req = self
            .request(reqwest::Method::GET, &format!("/api/v1/jobs/{id}/events"))
            .header(reqwest::header::ACCEPT, "text/event-stream");
        self.send(req).await
    }

    /// `method path` with an optional JSON body; the JSON answer (`null` for 204).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value, ClientError> {
        let mut req = self.request(method, path);
        if let Some(body) = body {
            req = req.json(body);
        }
        let res = self.send(req).await?;
        if res.status() == StatusCode::NO_CONTENT {
            return Ok(serde_json::Value::Null);
        }
        self.json(res).await
    }

    /// `GET /api/v1/jobs/{id}/audio`: the response whose body is the MP3.
    pub async fn audio(&self, id: &JobId) -> Result<Response, ClientError> {
        self.send(self.request(reqwest::Method::GET, &format!("/api/v1/jobs/{id}/audio")))
            .await
    }
}

/// The error for a non-success answer.
fn refusal(status: StatusCode, headers: &HeaderMap, body: &str) -> ClientError {
    // `/api/v1` answers `{code, message}`; the course's routes answer the message as text.
    let message = serde_json::from_str::<ErrorBody>(body)
        .map(|b| b.message)
        .unwrap_or_else(|_| body.trim().to_owned());
    match status {
        StatusCode::UNAUTHORIZED => ClientError::Unauthorized,
        StatusCode::TOO_MANY_REQUESTS => ClientError::RateLimited {
            retry_after: headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok()?.trim().parse().ok())
                .map(Duration::from_secs),
        },
        StatusCode::PAYLOAD_TOO_LARGE => ClientError::TooLarge {
            limit: limit_in(&message),
        },
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ClientError::NotMedia { message },
        _ if message.is_empty() => ClientError::Server {
            status,
            message: status
                .canonical_reason()
                .unwrap_or("request refused")
                .to_owned(),
        },
        _ => ClientError::Server { status, message },
    }
}

/// The byte limit in a 413 message ("… the limit of 1.0 MiB (1048576 bytes)", or from older
/// servers "… the limit of 1048576 bytes").
fn limit_in(message: &str) -> Option<u64> {
    let (before, _) = message.split_once(" bytes")?;
    before.rsplit([' ', '(']).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, headers: &[(&str, &str)], body: &str) -> ClientError {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        refusal(StatusCode::from_u16(status).unwrap(), &map, body)
    }

    #[test]
    fn refusals_read_as_one_clear_line() {
        assert_eq!(
            err(
                401,
                &[],
                r#"{"code":"invalid-token","message":"invalid token"}"#
            )
            .to_string(),
            "session expired or invalid: run `mp3converter login`"
        );
        assert_eq!(
            err(
                413,
                &[],
                r#"{"code":"too-large","message":"the file is larger than the limit of 100000 bytes"}"#
            )
            .to_string(),
            "too large: the server accepts files up to 97.7 KiB (100000 bytes)"
        );
        assert_eq!(
            err(
                413,
                &[],
                r#"{"code":"too-large","message":"the file is larger than the limit of 97.7 KiB (100000 bytes)"}"#
            )
            .to_string(),
            "too large: the server accepts files up to 97.7 KiB (100000 bytes)"
        );
        assert_eq!(
            err(413, &[], "").to_string(),
            "too large: the server refused a file this big"
        );
        assert_eq!(
            err(
                415,
                &[],
                r#"{"code":"unsupported-media-type","message":"the file looks like a PDF document, not a video or audio file"}"#
            )
            .to_string(),
            "not a media file (the file looks like a PDF document, not a video or audio file)"
        );
        assert_eq!(
            err(429, &[("retry-after", "7")], "too many requests").to_string(),
            "too many attempts: try again in 7 s"
        );
        assert_eq!(
            err(404, &[], r#"{"code":"not-found","message":"not found"}"#).to_string(),
            "not found (HTTP 404)"
        );
        assert_eq!(
            err(400, &[], "exactly 1 file required").to_string(),
            "exactly 1 file required (HTTP 400)"
        );
        assert_eq!(err(502, &[], "").to_string(), "Bad Gateway (HTTP 502)");
    }

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_bytes(0), "0 bytes");
        assert_eq!(human_bytes(1023), "1023 bytes");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }
}
