//! Standard Webhooks signatures: `whsec_` secrets (base64 of 24–64 random bytes) and the
//! `webhook-signature` header, `v1,<base64 of HMAC-SHA256("{id}.{timestamp}.{body}")>`, one
//! space-separated entry per secret that signs (two during a rotation's grace period).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// The prefix of every secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a new secret (the spec allows 24–64).
const SECRET_BYTES: usize = 32;

/// A new secret, `whsec_<base64 of 32 random bytes>`.
pub fn new_secret() -> String {
    let mut key = [0u8; SECRET_BYTES];
    SystemRandom::new()
        .fill(&mut key)
        .expect("the system random generator failed");
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key))
}

/// The `v1,…` signature of a message by `secret` (`whsec_…`; `None` if it is not one).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key);
    let tag = hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    Some(format!("v1,{}", STANDARD.encode(tag.as_ref())))
}

/// The `webhook-signature` header value: the signatures by every secret, space-separated.
pub fn signature_header(secrets: &[&str], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's (and its reference libraries') test vector.
    #[test]
    fn the_reference_vector_is_signed_as_the_spec_says() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        assert_eq!(
            sign(
                secret,
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                r#"{"test": 2432232314}"#
            )
            .as_deref(),
            Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
        assert_eq!(sign("not-a-secret", "msg_1", 1, "{}"), None);
    }

    #[test]
    fn new_secrets_are_prefixed_random_and_32_bytes() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        let key = STANDARD
            .decode(a.strip_prefix(SECRET_PREFIX).unwrap())
            .unwrap();
        assert_eq!(key.len(), SECRET_BYTES);
    }

    #[test]
    fn every_signing_secret_adds_a_signature() {
        let (new, old) = (new_secret(), new_secret());
        let header = signature_header(&[&new, &old], "msg_1", 7, "{}");
        let parts: Vec<_> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], sign(&new, "msg_1", 7, "{}").unwrap());
        assert_eq!(parts[1], sign(&old, "msg_1", 7, "{}").unwrap());
    }
}
