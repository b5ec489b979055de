//! Secrets in public URLs (share links and podcast feeds): random tokens of 256 bits, written
//! base64url, and the SHA-256 under which they are stored, so that a copy of the database does
//! not hold working links.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// The length of a token: 32 random bytes in unpadded base64url.
pub(crate) const TOKEN_LEN: usize = 43;

/// A new random token (256 bits).
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 32];
    // The system RNG failing is not something to recover from.
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random number generator works");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The stored form of `token`: its SHA-256 in lowercase hex.
pub(crate) fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `token` has the shape of one of ours (else no database lookup is worth making).
pub(crate) fn well_formed(token: &str) -> bool {
    token.len() == TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) use mp3converter_core::escape_html;

/// What a listener sees as the job's name: its title tag, else the file name without extension.
pub(crate) fn display_title(job: &mp3converter_core::Job) -> String {
    if let Some(title) = job
        .options
        .title
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        return title.to_owned();
    }
    match job.original_name.rsplit_once('.') {
        Some((stem, _)) if !stem.trim().is_empty() => stem.to_owned(),
        _ => job.original_name.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_well_formed() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert!(well_formed(&a) && well_formed(&b), "{a} {b}");
        assert!(!well_formed("short"));
        assert!(!well_formed(&format!("{}!", &a[..42])));
        assert_eq!(token_hash(&a).len(), 64);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html(r#"<script>"a" & 'b'</script>"#),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }
}
