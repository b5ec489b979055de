//! The Ed25519 signing key: generated with `ring`, kept as a PKCS#8 PEM file (mode 0600),
//! loaded on every start so tokens survive restarts; its public half and `kid` fingerprint.

use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{Ed25519KeyPair, KeyPair as _};

use crate::AuthError;

const PEM_LABEL: &str = "PRIVATE KEY";

/// An Ed25519 key pair. `Debug` shows only the key id.
pub struct SigningKey {
    pkcs8_der: Vec<u8>,
    public: [u8; 32],
    kid: String,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate() -> Result<SigningKey, AuthError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|_| AuthError::Internal("Ed25519 key generation failed".into()))?;
        SigningKey::from_pkcs8_der(doc.as_ref())
    }

    /// A key from PKCS#8 DER (v1 as written by `openssl genpkey -algorithm ed25519`, or v2).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<SigningKey, AuthError> {
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
            .map_err(|e| AuthError::Config(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| AuthError::Config("Ed25519 public key is not 32 bytes".into()))?;
        Ok(SigningKey {
            pkcs8_der: der.to_vec(),
            kid: fingerprint(&public),
            public,
        })
    }

    /// A key from PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pem(pem: &str) -> Result<SigningKey, AuthError> {
        let begin = format!("-----BEGIN {PEM_LABEL}-----");
        let end = format!("-----END {PEM_LABEL}-----");
        let body = pem
            .split_once(&begin)
            .and_then(|(_, rest)| rest.split_once(&end))
            .map(|(body, _)| body)
            .ok_or_else(|| AuthError::Config(format!("no {begin} block")))?;
        let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = STANDARD
            .decode(b64)
            .map_err(|e| AuthError::Config(format!("bad base64 in the PEM key: {e}")))?;
        SigningKey::from_pkcs8_der(&der)
    }

    /// The PKCS#8 PEM text of this key.
    pub fn to_pem(&self) -> String {
        let b64 = STANDARD.encode(&self.pkcs8_der);
        let mut pem = format!("-----BEGIN {PEM_LABEL}-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(&String::from_utf8_lossy(line));
            pem.push('\n');
        }
        pem.push_str(&format!("-----END {PEM_LABEL}-----\n"));
        pem
    }

    /// Loads the key at `path`, or creates it (mode 0600, parent directories too) when missing.
    /// Two processes starting at once end up with the same key: the file is published with a
    /// no-clobber link and the loser loads the winner's.
    pub fn load_or_create(path: &Path) -> Result<SigningKey, AuthError> {
        let io_err =
            |what: &str, e: io::Error| AuthError::Config(format!("{what} {}: {e}", path.display()));
        match fs::read_to_string(path) {
            Ok(pem) => {
                warn_if_readable_by_others(path);
                return SigningKey::from_pem(&pem)
                    .map_err(|e| AuthError::Config(format!("key file {}: {e}", path.display())));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("cannot read key file", e)),
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(|e| io_err("cannot create the directory of", e))?;
        }
        let key = SigningKey::generate()?;
        let nonce = u32::from_le_bytes(crate::password::random_bytes::<4>()?);
        let tmp = path.with_extension(format!("tmp-{}-{nonce:08x}", std::process::id()));
        write_private(&tmp, key.to_pem().as_bytes())
            .map_err(|e| io_err("cannot write key file", e))?;
        let published = fs::hard_link(&tmp, path);
        let _ = fs::remove_file(&tmp);
        match published {
            Ok(()) => {
                tracing::info!(path = %path.display(), kid = %key.kid, "created a new JWT signing key");
                Ok(key)
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => SigningKey::load_or_create(path),
            Err(e) => Err(io_err("cannot create key file", e)),
        }
    }

    /// The PKCS#8 DER bytes (what `jsonwebtoken::EncodingKey::from_ed_der` takes).
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8_der
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8; 32] {
        &self.public
    }

    /// The key id written to the token header and the JWKS.
    pub fn kid(&self) -> &str {
        &self.kid
    }
}

/// The `kid` of a public key: the first 16 characters of its RFC 7638 JWK thumbprint.
pub fn fingerprint(public: &[u8]) -> String {
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public)
    );
    let digest = ring::digest::digest(&ring::digest::SHA256, canonical.as_bytes());
    let mut thumb = URL_SAFE_NO_PAD.encode(digest.as_ref());
    thumb.truncate(16);
    thumb
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "the JWT signing key is readable by other users; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_round_trip_keeps_the_key_and_kid() {
        let key = SigningKey::generate().unwrap();
        let pem = key.to_pem();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let back = SigningKey::from_pem(&pem).unwrap();
        assert_eq!(back.public_key(), key.public_key());
        assert_eq!(back.kid(), key.kid());
        assert_eq!(key.kid().len(), 16);
        assert!(!format!("{key:?}").contains(&pem[30..60]));
    }

    #[test]
    fn an_openssl_pkcs8_v1_key_loads() {
        // `openssl genpkey -algorithm ed25519` output (RFC 8410 test key).
        let pem = "-----BEGIN PRIVATE KEY-----\n\
                   MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                   -----END PRIVATE KEY-----\n";
        let key = SigningKey::from_pem(pem).unwrap();
        assert_eq!(
            URL_SAFE_NO_PAD.encode(key.public_key()),
            "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE"
        );
    }

    #[test]
    fn garbage_is_a_config_error() {
        assert!(matches!(
            SigningKey::from_pem("nope"),
            Err(AuthError::Config(_))
        ));
        let bad = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(
            SigningKey::from_pem(bad),
            Err(AuthError::Config(_))
        ));
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_created_0600_and_reused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/jwt-ed25519.pem");
        let first = SigningKey::load_or_create(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = SigningKey::load_or_create(&path).unwrap();
        assert_eq!(first.public_key(), second.public_key());
        assert_eq!(
            fs::read_dir(path.parent().unwrap()).unwrap().count(),
            1,
            "no temp file left"
        );
    }
}
