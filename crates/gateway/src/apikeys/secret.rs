//! The API key secret: `mp3c_` + 43 base62 characters of randomness (256 bits) + a 6-character
//! base62 CRC-32 of those 43, like GitHub's tokens, so secret scanners can find keys by their
//! prefix and tell a real one from a typo without asking the server. Only the SHA-256 of the
//! whole secret is stored (a fast hash is right for a high-entropy secret); rows are found by it.

use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// The prefix of every API key.
pub const KEY_PREFIX: &str = "mp3c_";

const RANDOM_CHARS: usize = 43;
const CHECKSUM_CHARS: usize = 6;
/// The length of a whole key.
pub(crate) const KEY_LEN: usize = KEY_PREFIX.len() + RANDOM_CHARS + CHECKSUM_CHARS;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated secret and what is stored about it.
#[derive(Debug)]
pub(crate) struct NewSecret {
    /// The whole key, shown once.
    pub key: String,
    /// SHA-256 of the key, lowercase hex.
    pub hash: String,
    /// `mp3c_` and the first four random characters.
    pub prefix: String,
    /// The key's last four characters.
    pub last4: String,
}

/// A new random key.
pub(crate) fn generate() -> Result<NewSecret, ring::error::Unspecified> {
    let rng = SystemRandom::new();
    let mut random = String::with_capacity(RANDOM_CHARS);
    let mut buf = [0u8; 64];
    while random.len() < RANDOM_CHARS {
        rng.fill(&mut buf)?;
        // 248 = 4 × 62: rejecting the bytes above keeps every character equally likely.
        for &b in buf.iter().filter(|&&b| b < 248) {
            if random.len() < RANDOM_CHARS {
                random.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    let key = format!("{KEY_PREFIX}{random}{}", checksum(&random));
    Ok(NewSecret {
        hash: hash(&key),
        prefix: key[..KEY_PREFIX.len() + 4].to_owned(),
        last4: key[KEY_LEN - 4..].to_owned(),
        key,
    })
}

/// The stored hash of `token` if it is shaped like a key with a correct checksum; `None` for
/// anything else (then no database lookup is needed to refuse it).
pub(crate) fn parse(token: &str) -> Option<String> {
    let body = token.strip_prefix(KEY_PREFIX)?;
    if token.len() != KEY_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (random, sum) = body.split_at(RANDOM_CHARS);
    (checksum(random) == sum).then(|| hash(token))
}

/// SHA-256 of `key`, lowercase hex.
fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The CRC-32 (IEEE) of `s` in 6 base62 characters, zero-padded.
fn checksum(s: &str) -> String {
    let mut n = crc32(s.as_bytes());
    let mut out = [b'0'; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// CRC-32 (IEEE), the checksum GitHub's tokens carry too.
fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_the_ieee_one() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn generated_keys_parse_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a.key, b.key);
        assert_eq!(a.key.len(), KEY_LEN);
        assert!(a.key.starts_with("mp3c_"));
        assert!(a.key.starts_with(&a.prefix) && a.key.ends_with(&a.last4));
        assert_eq!(parse(&a.key), Some(a.hash.clone()));
        assert_eq!(a.hash.len(), 64);
    }

    #[test]
    fn typos_and_other_shapes_do_not_parse() {
        let key = generate().unwrap().key;
        let mut typo = key.clone().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(parse(&String::from_utf8(typo).unwrap()), None);
        assert_eq!(parse(&key[..KEY_LEN - 1]), None);
        assert_eq!(parse(&format!("{key}0")), None);
        assert_eq!(parse(&key.replacen("mp3c_", "mp3x_", 1)), None);
        assert_eq!(parse("mp3c_"), None);
        assert_eq!(parse(&format!("mp3c_{}", "é".repeat(24))), None);
    }
}
