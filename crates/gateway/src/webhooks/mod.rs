//! Signed webhooks (Standard Webhooks): a user's endpoints are told when a job becomes `done` or
//! `failed`.
//!
//! Where deliveries come from: the database writes one delivery row per subscribed endpoint in
//! the SAME transaction that makes the job `done` or `failed` (`mp3converter-db`, `settle` and
//! the import failures), unique per (endpoint, job, event). That is the cleanest reliable source:
//! it needs no consumer of the `mp3` queue (whose messages are hints that may repeat or, for an
//! import that failed before any converter saw it, never exist), and it cannot miss a job that
//! finished while no gateway was running.
//!
//! Who sends them: the [`Deliverer`] in every gateway (the role that owns the egress client)
//! claims due deliveries from the database under a lease (SKIP LOCKED on PostgreSQL/MySQL), so
//! several gateways share the work and a gateway that dies mid-attempt only delays a delivery.
//! Each attempt checks the URL against the SSRF address policy again (DNS may have changed:
//! the client resolves through the policy and follows no redirect), signs the body with the
//! endpoint's secret(s) ([`sign`]), and records status, latency and error; a failure is retried
//! on the [`WebhookSettings::retry_schedule`].

mod deliver;
pub mod sign;
pub(crate) mod views;

pub use deliver::Deliverer;
use url::Url;

pub use crate::egress::WebhookSettings;
use crate::egress::ssrf::{AddressPolicy, UrlRefusal};

/// Longest accepted endpoint URL.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest accepted description.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// Parses and checks an endpoint URL as far as can be done without the network: length, http or
/// https, a host, no credentials, and an IP-literal host against `policy` (the same policy as
/// URL import; `import.allow_cidrs` opens ranges).
pub fn check_endpoint_url(policy: &AddressPolicy, text: &str) -> Result<Url, UrlRefusal> {
    if text.len() > MAX_URL_BYTES {
        return Err(UrlRefusal::Invalid(format!(
            "the URL is longer than {MAX_URL_BYTES} bytes"
        )));
    }
    let url = Url::parse(text.trim())
        .map_err(|e| UrlRefusal::Invalid(format!("the URL is not valid: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Invalid(
            "the URL may not contain a user name or password".into(),
        ));
    }
    policy.check_url(&url)?;
    Ok(url)
}

/// `2026-12-06T00:05:11Z`: unix milliseconds as an RFC 3339 UTC time (whole seconds).
pub fn rfc3339(millis: i64) -> String {
    let secs = millis.div_euclid(1000);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_614_265_330_999), "2021-02-25T15:02:10Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn endpoint_urls_are_checked_like_imports() {
        let policy = AddressPolicy::default();
        assert!(check_endpoint_url(&policy, "https://hooks.example.com/x").is_ok());
        for (url, code) in [
            ("http://127.0.0.1/", "url-not-allowed"),
            ("http://10.1.2.3/", "url-not-allowed"),
            ("http://[::1]/", "url-not-allowed"),
            ("http://169.254.169.254/latest/meta-data", "url-not-allowed"),
            ("ftp://example.com/", "url-not-allowed"),
            ("https://user:pw@example.com/", "invalid-url"),
            ("not a url", "invalid-url"),
        ] {
            assert_eq!(
                check_endpoint_url(&policy, url).unwrap_err().code(),
                code,
                "{url}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert_eq!(
            check_endpoint_url(&policy, &long).unwrap_err().code(),
            "invalid-url"
        );
    }
}
