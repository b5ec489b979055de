//! Tokens: every forgery refused, the JWKS round trip, HS256 mode, keys that survive restarts.

use std::net::{IpAddr, Ipv4Addr};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use mp3converter_auth::{AuthError, SigningKey, TokenIssuer, TokenVerifier};
use mp3converter_core::Claims;

use crate::common::{Fixture, PASSWORD, hs256};

const IP: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn now() -> i64 {
    mp3converter_core::now_millis() / 1000
}

/// Claims the service would accept, for `sub`.
fn good_claims(sub: &str) -> Claims {
    Claims {
        sub: sub.into(),
        username: "mallory@example.com".into(),
        admin: true,
        iat: now(),
        exp: now() + 3600,
        iss: "mp3converter".into(),
        aud: "mp3converter".into(),
        generation: 0,
    }
}

fn b64(json: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(json.to_string())
}

fn assert_refused(verifier: &TokenVerifier, token: &str, why: &str) {
    match verifier.verify(token) {
        Err(AuthError::InvalidToken(reason)) => {
            assert!(
                reason.contains(why),
                "{why}: refused for `{reason}` instead"
            )
        }
        other => panic!("{why}: expected InvalidToken, got {other:?}"),
    }
}

async fn logged_in(fx: &Fixture) -> String {
    fx.user("victim@example.com").await;
    fx.service
        .login("victim@example.com", PASSWORD, IP)
        .await
        .unwrap()
}

#[tokio::test]
async fn alg_none_tokens_are_refused() {
    let fx = Fixture::new().await;
    let claims = serde_json::to_value(good_claims("x")).unwrap();
    for header in [
        serde_json::json!({"alg": "none", "typ": "JWT"}),
        serde_json::json!({"alg": "None", "typ": "JWT"}),
    ] {
        let unsigned = format!("{}.{}.", b64(&header), b64(&claims));
        assert_refused(&fx.service.verifier(), &unsigned, "malformed");
    }
}

#[tokio::test]
async fn hs256_tokens_signed_with_the_public_key_are_refused() {
    let fx = Fixture::new().await;
    let verifier = fx.service.verifier();
    let jwks: serde_json::Value = serde_json::from_str(&fx.service.jwks_json()).unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_owned();
    let raw = URL_SAFE_NO_PAD.decode(&x).unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some(kid);
    for secret in [
        raw.as_slice(),
        x.as_bytes(),
        fx.service.jwks_json().as_bytes(),
    ] {
        let forged = jsonwebtoken::encode(
            &header,
            &good_claims("x"),
            &EncodingKey::from_secret(secret),
        )
        .unwrap();
        assert_refused(&verifier, &forged, "wrong algorithm");
    }
}

#[tokio::test]
async fn tokens_signed_by_another_key_are_refused_even_with_our_kid() {
    let fx = Fixture::new().await;
    let verifier = fx.service.verifier();
    let ours: serde_json::Value = serde_json::from_str(&fx.service.jwks_json()).unwrap();
    let other = SigningKey::generate().unwrap();
    let mut header = Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = ours["keys"][0]["kid"].as_str().map(str::to_owned);
    let forged = jsonwebtoken::encode(
        &header,
        &good_claims("x"),
        &EncodingKey::from_ed_der(other.pkcs8_der()),
    )
    .unwrap();
    assert_refused(&verifier, &forged, "bad signature");

    let foreign = TokenIssuer::eddsa(
        &other,
        std::time::Duration::from_secs(60),
        "mp3converter",
        "mp3converter",
    );
    assert_refused(
        &verifier,
        &foreign.sign(&good_claims("x")).unwrap(),
        "unknown key id",
    );
}

#[tokio::test]
async fn wrong_audience_issuer_and_expired_tokens_are_refused() {
    let fx = Fixture::new().await;
    let (verifier, issuer) = (fx.service.verifier(), fx.service.issuer());
    let sign = |change: &dyn Fn(&mut Claims)| {
        let mut claims = good_claims("x");
        change(&mut claims);
        issuer.sign(&claims).unwrap()
    };
    verifier.verify(&sign(&|_| {})).unwrap();
    assert_refused(
        &verifier,
        &sign(&|c| c.aud = "other-service".into()),
        "audience",
    );
    assert_refused(&verifier, &sign(&|c| c.iss = "evil".into()), "issuer");
    assert_refused(&verifier, &sign(&|c| c.exp = now() - 31 - 5), "expired");
    // Within the 30 s leeway for clock skew.
    verifier.verify(&sign(&|c| c.exp = now() - 10)).unwrap();
}

#[tokio::test]
async fn a_tampered_payload_with_the_original_signature_is_refused() {
    let fx = Fixture::new().await;
    let token = logged_in(&fx).await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(claims["admin"], false);
    claims["admin"] = true.into();
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    assert_refused(&fx.service.verifier(), &tampered, "bad signature");
}

#[tokio::test]
async fn garbage_is_refused_without_panicking() {
    let fx = Fixture::new().await;
    let token = logged_in(&fx).await;
    let verifier = fx.service.verifier();
    let long = "a".repeat(10_000);
    for garbage in [
        "",
        "abc",
        "a.b.c",
        "....",
        "eyJhbGciOiJFZERTQSJ9.e30.",
        &format!("{token}.extra"),
        &token[..token.len() - 4],
        &long,
    ] {
        assert!(
            matches!(verifier.verify(garbage), Err(AuthError::InvalidToken(_))),
            "{garbage:.40}"
        );
    }
}

#[tokio::test]
async fn a_verifier_built_from_the_jwks_accepts_the_services_tokens() {
    let fx = Fixture::new().await;
    let token = logged_in(&fx).await;
    let jwks: serde_json::Value = serde_json::from_str(&fx.service.jwks_json()).unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(
        (key["kty"].as_str(), key["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert_eq!(
        (key["alg"].as_str(), key["use"].as_str()),
        (Some("EdDSA"), Some("sig"))
    );
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(key["x"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), key["kid"].as_str());

    let remote =
        TokenVerifier::from_jwks(&fx.service.jwks_json(), "mp3converter", "mp3converter").unwrap();
    assert_eq!(
        remote.verify(&token).unwrap(),
        fx.service.verify(&token).unwrap()
    );
    let other_aud =
        TokenVerifier::from_jwks(&fx.service.jwks_json(), "mp3converter", "elsewhere").unwrap();
    assert!(other_aud.verify(&token).is_err());
    for bad in [
        "",
        "{}",
        r#"{"keys":[]}"#,
        r#"{"keys":[{"kty":"OKP","crv":"Ed25519","x":"AAAA"}]}"#,
    ] {
        assert!(
            matches!(
                TokenVerifier::from_jwks(bad, "a", "b"),
                Err(AuthError::Config(_))
            ),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn hs256_mode_issues_hs256_tokens_and_refuses_eddsa_ones() {
    let fx = Fixture::with(hs256).await;
    let token = logged_in(&fx).await;
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::HS256);
    assert!(!fx.service.verify(&token).unwrap().admin);
    assert_eq!(fx.service.jwks_json(), r#"{"keys":[]}"#);
    let gateway = TokenVerifier::hs256(
        b"0123456789abcdef0123456789abcdef",
        "mp3converter",
        "mp3converter",
    );
    gateway.verify(&token).unwrap();
    let wrong_secret = TokenVerifier::hs256(&[7u8; 32], "mp3converter", "mp3converter");
    assert!(wrong_secret.verify(&token).is_err());

    let eddsa = Fixture::new().await;
    let ed_token = logged_in(&eddsa).await;
    assert_refused(&fx.service.verifier(), &ed_token, "wrong algorithm");
    assert_refused(&eddsa.service.verifier(), &token, "wrong algorithm");
}

#[cfg(unix)]
#[tokio::test]
async fn the_key_file_is_private_and_tokens_survive_a_restart() {
    use std::os::unix::fs::PermissionsExt as _;
    let fx = Fixture::new().await;
    let token = logged_in(&fx).await;
    let path = fx.dir.path().join("jwt-ed25519.pem");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let pem_before = std::fs::read_to_string(&path).unwrap();

    let restarted = fx.restart();
    assert_eq!(
        restarted.verify(&token).unwrap().username,
        "victim@example.com"
    );
    assert_eq!(restarted.jwks_json(), fx.service.jwks_json());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), pem_before);
}
