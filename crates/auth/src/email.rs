//! Email addresses of accounts: a deliberately plain syntax check and the lowercased form that is
//! stored, logged in with and rate-limited on.

use crate::AuthError;

/// Characters allowed in the local part besides ASCII letters and digits (RFC 5322 `atext`
/// and the dot). No `:` (it would break HTTP Basic `email:password`), no quotes, no spaces.
const LOCAL_SPECIALS: &str = ".!#$%&'*+/=?^_`{|}~-";

/// The trimmed, lowercased form of an email, used as the account key.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// `email` trimmed and lowercased when it is a plausible address (`local@domain`, ASCII,
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
        ] {
            assert!(validate_email(bad).is_err(), "{bad:?} accepted");
        }
        let long = format!("{}@example.com", "a".repeat(65));
        assert!(validate_email(&long).is_err());
    }
}
