//! Who may do what: tokens on every route, owners vs others vs admins.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::common::{FakeUser, TestApp, body_json, body_text, fixture, get};

fn request(method: Method, uri: &str, authorization: Option<&[u8]>) -> Request<Body> {
    let mut b = Request::builder().method(method).uri(uri);
    if let Some(a) = authorization {
        b = b.header(
            header::AUTHORIZATION,
            header::HeaderValue::from_bytes(a).unwrap(),
        );
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn missing_or_garbled_authorization_is_401_never_500() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    let routes = [
        (Method::POST, "/upload".to_owned()),
        (Method::GET, format!("/download?fid={id}")),
        (Method::POST, "/api/v1/jobs".to_owned()),
        (Method::GET, "/api/v1/jobs".to_owned()),
        (Method::GET, format!("/api/v1/jobs/{id}")),
        (Method::DELETE, format!("/api/v1/jobs/{id}")),
        (Method::GET, format!("/api/v1/jobs/{id}/audio")),
        (Method::GET, format!("/api/v1/jobs/{id}/events")),
        (Method::GET, "/api/v1/events".to_owned()),
        (Method::GET, "/api/v1/users".to_owned()),
        (Method::GET, "/api/v1/me".to_owned()),
    ];
    let garbled: [Option<&[u8]>; 7] = [
        None,
        Some(b""),
        Some(b"Bearer"),
        Some(b"Bearer "),
        Some(b"Basic YWxpY2U6eA=="),
        Some(b"token-abc"),
        Some(b"Bearer \xff\xfe"),
    ];
    for (method, uri) in &routes {
        for auth in garbled {
            let response = app.send(request(method.clone(), uri, auth)).await;
            assert_eq!(
                response.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {uri} {auth:?}"
            );
            let body = body_text(response).await;
            assert!(
                body.contains("missing credentials"),
                "{method} {uri}: {body}"
            );
        }
    }
    // A well-formed but invalid token: the course's 403, the API's 401.
    let bad = Some(&b"Bearer forged"[..]);
    let response = app.send(request(Method::POST, "/upload", bad)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_text(response).await, "not authorized");
    let response = app.send(request(Method::GET, "/api/v1/jobs", bad)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body_json(response).await["code"], "invalid-token");
}

pub async fn status(app: &TestApp, method: Method, uri: &str, user: &FakeUser) -> StatusCode {
    let bearer = user.bearer();
    app.send(request(method, uri, Some(bearer.as_bytes())))
        .await
        .status()
}

#[tokio::test]
async fn another_users_job_is_404_everywhere_and_an_admin_sees_it() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    app.finish(&id, b"ID3 fake mp3 bytes").await;
    let reads = [
        format!("/api/v1/jobs/{id}"),
        format!("/download?fid={id}"),
        format!("/download?fid=audio/{id}.mp3"),
        format!("/api/v1/jobs/{id}/audio"),
        format!("/api/v1/jobs/{id}/events"),
    ];
    for uri in &reads {
        assert_eq!(
            status(&app, Method::GET, uri, &app.bob).await,
            StatusCode::NOT_FOUND,
            "{uri}"
        );
        assert_eq!(
            status(&app, Method::GET, uri, &app.alice).await,
            StatusCode::OK,
            "{uri}"
        );
        assert_eq!(
            status(&app, Method::GET, uri, &app.admin).await,
            StatusCode::OK,
            "{uri}"
        );
    }
    // Bob's 404 is exactly the unknown-id 404.
    let unknown = mp3converter_core::JobId::generate();
    let bob = app.bob.bearer();
    let theirs = body_json(
        app.send(get(&format!("/api/v1/jobs/{id}"), Some(&bob)))
            .await,
    )
    .await;
    let missing = body_json(
        app.send(get(&format!("/api/v1/jobs/{unknown}"), Some(&bob)))
            .await,
    )
    .await;
    assert_eq!(theirs, missing);

    let list = |user: &FakeUser| get("/api/v1/jobs", Some(&user.bearer()));
    assert_eq!(body_json(app.send(list(&app.bob)).await).await, json!([]));
    // An admin's own list is their own files; `owner=all` (admins only) is everyone's.
    assert_eq!(body_json(app.send(list(&app.admin)).await).await, json!([]));
    let all = |user: &FakeUser| get("/api/v1/jobs?owner=all", Some(&user.bearer()));
    let everyone = body_json(app.send(all(&app.admin)).await).await;
    assert_eq!(everyone.as_array().unwrap().len(), 1, "{everyone}");
    assert_eq!(everyone[0]["owner_id"], app.alice.view.id.to_string());
    let refused = app.send(all(&app.bob)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(body_json(refused).await["code"], "forbidden");
    let mine = get("/api/v1/jobs?owner=me", Some(&app.alice.bearer()));
    assert_eq!(
        body_json(app.send(mine).await)
            .await
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let bogus = get("/api/v1/jobs?owner=bob", Some(&app.admin.bearer()));
    assert_eq!(app.send(bogus).await.status(), StatusCode::BAD_REQUEST);

    let delete = format!("/api/v1/jobs/{id}");
    assert_eq!(
        status(&app, Method::DELETE, &delete, &app.bob).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        status(&app, Method::DELETE, &delete, &app.admin).await,
        StatusCode::NO_CONTENT
    );
    assert!(app.state.db.get_job(&id).await.unwrap().is_none());
    assert!(app.blob_keys().await.is_empty());
}

#[tokio::test]
async fn a_token_in_the_query_string_is_refused_on_every_route() {
    let app = TestApp::spawn().await;
    let id = app
        .upload(&app.alice, "a.mp4", &fixture("mp4-aac-faststart.mp4"))
        .await;
    app.finish(&id, b"ID3 fake mp3 bytes").await;
    let token = app.alice.token();
    for uri in [
        format!("/api/v1/jobs/{id}/audio"),
        format!("/api/v1/jobs/{id}/events"),
        "/api/v1/events".to_string(),
        format!("/api/v1/jobs/{id}"),
        format!("/download?fid={id}"),
    ] {
        let sep = if uri.contains('?') { '&' } else { '?' };
        let response = app
            .send(get(&format!("{uri}{sep}access_token={token}"), None))
            .await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{uri}");
    }
}
