//! Email addresses of accounts: a deliberately plain syntax check and the one canonical form that
//! is stored, looked up, logged in with and rate-limited on.
//!
//! The canonical form is the address with ASCII whitespace trimmed and ASCII letters lowercased
//! (`mp3converter_db::email_key`, compared byte for byte in every database). Accounts only ever
//! have ASCII addresses, so no Unicode normalisation or case folding is needed, and a login with
//! anything else — `ádmin@…`, a NUL byte, a newline — matches no account and is refused before
//! any database lookup: no collation ever gets to decide that two spellings are the same.

use crate::AuthError;

/// Characters allowed in the local part besides ASCII letters and digits (RFC 5322 `atext`
/// and the dot). No `:` (it would break HTTP Basic `email:password`), no quotes, no spaces.
const LOCAL_SPECIALS: &str = ".!#$%&'*+/=?^_`{|}~-";

/// The canonical form of an email: ASCII whitespace trimmed, ASCII letters lowercased; anything
/// else is left as is (so a non-ASCII address never turns into an ASCII one).
pub fn normalize_email(email: &str) -> String {
    mp3converter_db::email_key(email)
}

/// The account key a login as `email` is for: its canonical form when it is a valid address,
/// `None` when no account can have it (see [`validate_email`]).
pub fn canonical_email(email: &str) -> Option<String> {
    validate_email(email).ok()
}

/// At most this many characters of a login name that is not an email are logged.
const LOGGED_CHARS: usize = 64;

/// What a log line may show of a login name that is not an email: its first [`LOGGED_CHARS`]
/// characters, to be logged with `?` (Debug), which escapes control characters.
pub(crate) fn loggable(email: &str) -> String {
    let mut shown: String = email.chars().take(LOGGED_CHARS).collect();
    if shown.len() < email.len() {
        shown.push('…');
    }
    shown
}

/// `email` in its canonical form when it is a plausible address (`local@domain`, ASCII,
/// ≤ 254 bytes; a dotless domain such as `localhost` is allowed); otherwise
/// [`AuthError::InvalidEmail`].
pub fn validate_email(email: &str) -> Result<String, AuthError> {
    let email = normalize_email(email);
    let (local, domain) = email.split_once('@').ok_or(AuthError::InvalidEmail)?;
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || LOCAL_SPECIALS.contains(c));
    let domain_ok = !domain.is_empty()
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if local_ok && domain_ok && email.len() <= 254 {
        Ok(email)
    } else {
        Err(AuthError::InvalidEmail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_addresses_are_lowercased() {
        assert_eq!(
            validate_email("  Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        assert_eq!(
            validate_email("admin@localhost").unwrap(),
            "admin@localhost"
        );
        validate_email("first.last+tag@sub.example-mail.org").unwrap();
        assert_eq!(
            canonical_email("\tADMIN@Example.com \r\n").as_deref(),
            Some("admin@example.com")
        );
    }

    #[test]
    fn non_ascii_letters_are_never_folded_into_ascii_ones() {
        // Unicode lowercasing would turn the Kelvin sign into `k`.
        assert_eq!(normalize_email("\u{212a}@X.org"), "\u{212a}@x.org");
        assert_eq!(normalize_email("ÁDMIN@X.ORG"), "Ádmin@x.org");
        assert_eq!(canonical_email("\u{212a}@x.org"), None);
    }

    #[test]
    fn long_login_names_are_cut_for_the_log() {
        assert_eq!(loggable("a@x"), "a@x");
        let long = "é".repeat(100);
        assert_eq!(loggable(&long), format!("{}…", "é".repeat(64)));
    }

    #[test]
    fn malformed_addresses_are_refused() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@@b",
            "a b@example.com",
            "a:b@example.com",
            "a@exa mple.com",
            "a@-example.com",
            "a@example..com",
            ".a@example.com",
            "a..b@example.com",
            "\"q\"@example.com",
            "ü@example.com",
            "ádmin@example.com",
            "admin@exámple.com",
            "\u{212a}elvin@example.com",
            "admin@example.com\u{0}",
            "admin@example.com\nforged",
            "admin@example.com\u{a0}",
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(validate_email(&long).is_err());
    }
}
