//! Single sign-on against a real OpenID Connect provider: `oidc-provider` (npm, pinned in
//! tests/oidc-provider) run by Node on a free port, with the app's callback registered as the
//! redirect URI of a confidential client. A small "browser" (reqwest, no automatic redirects,
//! its own cookie jar) goes from the app to the provider and back; the provider logs in the
//! account named by `login_hint` and grants consent by itself.
//!
//! Runs when `MP3C_TEST_NODE` is a Node.js binary and `npm ci` has been run in
//! tests/oidc-provider (both done by .ci/run); otherwise the provider tests say so and pass.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use mp3converter_testkit::TestApp;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use url::Url;

const CLIENT_ID: &str = "mp3converter-test";
const CLIENT_SECRET: &str = "client-secret-for-tests";

fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc-provider")
}

/// The node binary, or `None` (after saying how to run these tests).
fn node() -> Option<String> {
    let Ok(node) = std::env::var("MP3C_TEST_NODE") else {
        eprintln!(
            "skipping: set MP3C_TEST_NODE to a Node.js binary (and run `npm ci` in \
             tests/oidc-provider) to run the single sign-on tests"
        );
        return None;
    };
    assert!(
        provider_dir().join("node_modules/oidc-provider").is_dir(),
        "MP3C_TEST_NODE is set but oidc-provider is not installed: run `npm ci` in {}",
        provider_dir().display()
    );
    Some(node)
}

/// The provider's accounts: `verified` and `alice` with verified emails, `unverified` without.
fn accounts() -> Value {
    json!({
        "verified": {"email": "new.person@example.com", "email_verified": true},
        "alice": {"email": "Alice@Example.com", "email_verified": true},
        "unverified": {"email": "victim@example.com", "email_verified": false},
    })
}

/// A running `oidc-provider`, killed when dropped.
struct Provider {
    issuer: String,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    stdin: tokio::process::ChildStdin,
    _child: tokio::process::Child,
}

impl Provider {
    /// Starts the provider; it waits for [`Provider::register`].
    async fn start(node: &str) -> Provider {
        let mut child = tokio::process::Command::new(node)
            .arg("provider.mjs")
            .current_dir(provider_dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node starts");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next_line().await.unwrap().expect("the issuer line");
        let first: Value = serde_json::from_str(&first).unwrap();
        Provider {
            issuer: first["issuer"].as_str().unwrap().to_string(),
            lines,
            stdin: child.stdin.take().unwrap(),
            _child: child,
        }
    }

    /// Registers our client with `redirect_uri` and the test accounts.
    async fn register(&mut self, redirect_uri: &str) {
        let setup = json!({
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": redirect_uri,
            "accounts": accounts(),
        });
        self.stdin
            .write_all(format!("{setup}\n").as_bytes())
            .await
            .unwrap();
        let ready = self
            .lines
            .next_line()
            .await
            .unwrap()
            .expect("the ready line");
        assert!(ready.contains("ready"), "{ready}");
    }
}

/// Single sign-on with the provider at `issuer`.
fn sign_on_with(c: &mut mp3converter::config::Config, issuer: &str, create_users: bool) {
    c.oidc.issuer_url = Some(issuer.to_string());
    c.oidc.client_id = Some(CLIENT_ID.into());
    c.oidc.client_secret = Some(CLIENT_SECRET.into());
    c.oidc.display_name = "Example ID".into();
    c.oidc.create_users = create_users;
}

/// A provider and an app (every role) that signs in with it.
struct Setup {
    app: TestApp,
    _provider: Provider,
}

impl Setup {
    async fn start(node: &str, create_users: bool) -> Setup {
        let mut provider = Provider::start(node).await;
        let issuer = provider.issuer.clone();
        let app = TestApp::spawn_with(|c| sign_on_with(c, &issuer, create_users)).await;
        provider
            .register(&app.url("/api/v1/auth/sso/callback"))
            .await;
        Setup {
            app,
            _provider: provider,
        }
    }
}

/// A browser: follows redirects itself (so a test can step in) and keeps cookies per host.
struct Browser {
    http: reqwest::Client,
    cookies: HashMap<String, HashMap<String, String>>,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn host(url: &Url) -> String {
        format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(80))
    }

    async fn send(&mut self, method: reqwest::Method, url: &Url) -> reqwest::Response {
        let jar = self.cookies.entry(Self::host(url)).or_default();
        let cookie = jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let mut request = self.http.request(method, url.clone());
        if !cookie.is_empty() {
            request = request.header(COOKIE, cookie);
        }
        let response = request.send().await.expect("request");
        for set in response.headers().get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attributes) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            let gone = value.is_empty()
                || attributes.to_ascii_lowercase().contains("max-age=0")
                || attributes.contains("1970");
            if gone {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_string(), value.to_string());
            }
        }
        response
    }

    /// GETs `url` and follows redirects until one leads under `stop` (returned, not fetched).
    async fn follow_until(&mut self, mut url: Url, stop: &str) -> Url {
        for _ in 0..20 {
            if url.as_str().starts_with(stop) {
                return url;
            }
            let response = self.send(reqwest::Method::GET, &url).await;
            let status = response.status();
            let Some(location) = response.headers().get(LOCATION) else {
                panic!(
                    "{url} answered {status} without a redirect: {}",
                    response.text().await.unwrap_or_default()
                );
            };
            url = url.join(location.to_str().unwrap()).unwrap();
        }
        panic!("too many redirects");
    }
}

/// How a test changes a sign-in on its way.
#[derive(Default)]
struct Tamper {
    /// Replaces the `nonce` of the authorization request (the provider signs it into the ID token).
    nonce: Option<&'static str>,
    /// Replaces the `state` the provider sends back.
    state: Option<&'static str>,
}

fn with_param(url: &Url, name: &str, value: &str) -> Url {
    let mut out = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    out.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair(name, value);
    out
}

/// Signs `account` in from the app's login route to its callback; the callback's answer.
async fn sign_in(
    app: &TestApp,
    browser: &mut Browser,
    account: &str,
    tamper: Tamper,
) -> reqwest::Response {
    let start = Url::parse(&app.url("/api/v1/auth/sso/login")).unwrap();
    let response = browser.send(reqwest::Method::GET, &start).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let login_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        login_cookie.contains("HttpOnly") && login_cookie.contains("SameSite=Lax"),
        "{login_cookie}"
    );
    let authorize = Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap();
    let params: HashMap<_, _> = authorize.query_pairs().into_owned().collect();
    assert_eq!(params["response_type"], "code");
    assert_eq!(params["code_challenge_method"], "S256");
    assert_eq!(params["client_id"], CLIENT_ID);
    assert!(params["scope"].split(' ').any(|s| s == "openid"));
    assert!(params["state"].len() >= 16 && params["nonce"].len() >= 16);
    assert!(!authorize.as_str().contains(CLIENT_SECRET));

    let mut authorize = with_param(&authorize, "login_hint", account);
    if let Some(nonce) = tamper.nonce {
        authorize = with_param(&authorize, "nonce", nonce);
    }
    let callback_prefix = app.url("/api/v1/auth/sso/callback");
    let mut callback = browser.follow_until(authorize, &callback_prefix).await;
    if let Some(state) = tamper.state {
        callback = with_param(&callback, "state", state);
    }
    browser.send(reqwest::Method::GET, &callback).await
}

/// The token handed to the page after a successful callback.
async fn handoff(app: &TestApp, browser: &mut Browser) -> reqwest::Response {
    let url = Url::parse(&app.url("/api/v1/auth/sso/token")).unwrap();
    browser.send(reqwest::Method::POST, &url).await
}

/// Signs `account` in and returns the token the page gets.
async fn token_of(app: &TestApp, account: &str) -> String {
    let mut browser = Browser::new();
    let callback = sign_in(app, &mut browser, account, Tamper::default()).await;
    assert_eq!(
        callback.status(),
        StatusCode::FOUND,
        "{}",
        callback.text().await.unwrap()
    );
    let to_page = callback.headers()[LOCATION].to_str().unwrap().to_string();
    assert_eq!(to_page, "/#sso", "the token is never in a URL");
    let answer = handoff(app, &mut browser).await;
    assert_eq!(answer.status(), StatusCode::OK);
    let body: Value = answer.json().await.unwrap();
    body["token"].as_str().unwrap().to_string()
}

async fn me(app: &TestApp, token: &str) -> Value {
    let response = app
        .http
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn error_code(response: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    body["code"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_email_signs_in_once_and_the_handoff_cannot_be_replayed() {
    let Some(node) = node() else { return };
    let Setup { app, _provider } = Setup::start(&node, true).await;
    let providers: Value = app
        .http
        .get(app.url("/api/v1/auth/providers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(providers["sso"]["name"], "Example ID");
    assert_eq!(providers["sso"]["login_url"], "/api/v1/auth/sso/login");

    let mut browser = Browser::new();
    let callback = sign_in(&app, &mut browser, "verified", Tamper::default()).await;
    assert_eq!(callback.status(), StatusCode::FOUND);
    let handoff_cookie = callback
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("mp3c_sso_handoff="))
        .expect("the handoff cookie");
    assert!(handoff_cookie.contains("HttpOnly") && handoff_cookie.contains("SameSite=Strict"));
    // Keep the cookie to replay it after the page has used it.
    let stolen = handoff_cookie.split(';').next().unwrap().to_string();
    let first = handoff(&app, &mut browser).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(first.headers()["cache-control"], "no-store");
    let token = first.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let account = me(&app, &token).await;
    assert_eq!(account["email"], "new.person@example.com");
    assert_eq!(account["admin"], false);

    assert_eq!(
        error_code(handoff(&app, &mut browser).await, StatusCode::UNAUTHORIZED).await,
        "oidc-handoff-invalid"
    );
    let replay = app
        .http
        .post(app.url("/api/v1/auth/sso/token"))
        .header(COOKIE, &stolen)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(replay, StatusCode::UNAUTHORIZED).await,
        "oidc-handoff-invalid"
    );

    // The next login is the same account (linked by issuer and subject).
    let again = token_of(&app, "verified").await;
    assert_eq!(me(&app, &again).await["id"], account["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_password_account_is_matched_and_a_disabled_one_refused() {
    let Some(node) = node() else { return };
    let Setup { app, _provider } = Setup::start(&node, true).await;
    let admin = app.admin_token().await;
    let created: Value = app
        .http
        .post(app.url("/api/v1/users"))
        .bearer_auth(&admin)
        .json(&json!({"email": "alice@example.com", "password": "alice-password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token_of(&app, "alice").await;
    assert_eq!(
        me(&app, &token).await["id"],
        created["id"],
        "the same account"
    );
    // Password login still works for the same account.
    let by_password = app.login("alice@example.com", "alice-password-1").await;
    assert_eq!(me(&app, &by_password).await["id"], created["id"]);

    let id = created["id"].as_str().unwrap();
    let disabled = app
        .http
        .post(app.url(&format!("/api/v1/users/{id}/disable")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(disabled.status().is_success());
    let mut browser = Browser::new();
    let refused = sign_in(&app, &mut browser, "alice", Tamper::default()).await;
    assert_eq!(
        error_code(refused, StatusCode::FORBIDDEN).await,
        "oidc-account-disabled"
    );
    assert_eq!(
        error_code(handoff(&app, &mut browser).await, StatusCode::UNAUTHORIZED).await,
        "oidc-handoff-invalid"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_account_creation_a_stranger_gets_no_account() {
    let Some(node) = node() else { return };
    let Setup { app, _provider } = Setup::start(&node, false).await;
    let mut browser = Browser::new();
    let refused = sign_in(&app, &mut browser, "verified", Tamper::default()).await;
    assert_eq!(
        error_code(refused, StatusCode::FORBIDDEN).await,
        "oidc-no-account"
    );
    let users = app.backends.db.list_users().await.unwrap();
    assert!(users.iter().all(|u| u.email != "new.person@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_state_a_wrong_nonce_and_an_unverified_email_are_refused() {
    let Some(node) = node() else { return };
    let Setup { app, _provider } = Setup::start(&node, true).await;

    let mut browser = Browser::new();
    let tampered = Tamper {
        state: Some("a-state-from-somewhere-else-0123456789"),
        ..Tamper::default()
    };
    let refused = sign_in(&app, &mut browser, "verified", tampered).await;
    assert_eq!(
        error_code(refused, StatusCode::BAD_REQUEST).await,
        "oidc-state-mismatch"
    );
    assert_eq!(
        error_code(handoff(&app, &mut browser).await, StatusCode::UNAUTHORIZED).await,
        "oidc-handoff-invalid"
    );

    let mut browser = Browser::new();
    let other_nonce = Tamper {
        nonce: Some("a-nonce-of-another-login-0123456789"),
        ..Tamper::default()
    };
    let refused = sign_in(&app, &mut browser, "verified", other_nonce).await;
    assert_eq!(
        error_code(refused, StatusCode::BAD_REQUEST).await,
        "oidc-nonce-mismatch"
    );

    let mut browser = Browser::new();
    let refused = sign_in(&app, &mut browser, "unverified", Tamper::default()).await;
    assert_eq!(
        error_code(refused, StatusCode::FORBIDDEN).await,
        "oidc-email-unverified"
    );
    let users = app.backends.db.list_users().await.unwrap();
    assert!(
        users.iter().all(|u| u.email != "victim@example.com"),
        "no account for an unverified email"
    );
    // None of the refused logins created an account or a link for the subject.
    assert!(users.iter().all(|u| u.email != "new.person@example.com"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_at_the_provider_and_a_replayed_callback_read_clearly() {
    let Some(node) = node() else { return };
    let Setup { app, _provider } = Setup::start(&node, true).await;
    let mut browser = Browser::new();
    let start = Url::parse(&app.url("/api/v1/auth/sso/login")).unwrap();
    let response = browser.send(reqwest::Method::GET, &start).await;
    let authorize = Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap();
    let state = authorize
        .query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    // What the provider sends when the user cancels.
    let mut denied = Url::parse(&app.url("/api/v1/auth/sso/callback")).unwrap();
    denied
        .query_pairs_mut()
        .append_pair("error", "access_denied")
        .append_pair("error_description", "End-User aborted interaction")
        .append_pair("state", &state);
    let page = browser.send(reqwest::Method::GET, &denied).await;
    let body: Value = page.json().await.unwrap();
    assert_eq!(body["code"], "oidc-provider-error");
    assert!(
        body["message"].as_str().unwrap().contains("cancelled"),
        "{body}"
    );

    // The same callback again: the login is over (its ticket was used).
    let html = browser
        .http
        .get(denied.clone())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(html.status(), StatusCode::BAD_REQUEST);
    let text = html.text().await.unwrap();
    assert!(text.contains("oidc-login-expired"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_issuer_there_is_no_button_and_the_routes_are_404() {
    let app = TestApp::spawn().await;
    let providers: Value = app
        .http
        .get(app.url("/api/v1/auth/providers"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(providers, json!({"password": true, "sso": null}));
    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/auth/sso/login"),
        (
            reqwest::Method::GET,
            "/api/v1/auth/sso/callback?code=x&state=y",
        ),
        (reqwest::Method::POST, "/api/v1/auth/sso/token"),
    ] {
        let response = app
            .http
            .request(method, app.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response, StatusCode::NOT_FOUND).await,
            "oidc-disabled",
            "{path}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_without_the_auth_role_signs_in_through_the_auth_service() {
    let Some(node) = node() else { return };
    let mut provider = Provider::start(&node).await;
    // The gateway's address is chosen first: the auth service needs it for the redirect URI.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let public_url = format!("http://127.0.0.1:{port}");
    let issuer = provider.issuer.clone();
    let auth = TestApp::spawn_with(|c| {
        c.server.roles = "auth".parse().unwrap();
        c.public_url = Some(public_url.clone());
        sign_on_with(c, &issuer, true);
    })
    .await;
    let mut config = auth.config.clone();
    config.server.roles = "gateway".parse().unwrap();
    config.server.listen = ([127, 0, 0, 1], port).into();
    config.auth.url = Some(auth.base.clone());
    let gateway = TestApp::restart(config).await;
    provider
        .register(&gateway.url("/api/v1/auth/sso/callback"))
        .await;

    let token = token_of(&gateway, "verified").await;
    assert_eq!(
        me(&gateway, &token).await["email"],
        "new.person@example.com"
    );

    let mut browser = Browser::new();
    let other_nonce = Tamper {
        nonce: Some("a-nonce-of-another-login-0123456789"),
        ..Tamper::default()
    };
    let refused = sign_in(&gateway, &mut browser, "verified", other_nonce).await;
    assert_eq!(
        error_code(refused, StatusCode::BAD_REQUEST).await,
        "oidc-nonce-mismatch"
    );
    let mut browser = Browser::new();
    let refused = sign_in(&gateway, &mut browser, "unverified", Tamper::default()).await;
    assert_eq!(
        error_code(refused, StatusCode::FORBIDDEN).await,
        "oidc-email-unverified"
    );
}
