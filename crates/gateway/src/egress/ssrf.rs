//! The address policy of outgoing requests to URLs a user chose (URL import now, webhooks
//! later): which addresses the server may connect to, so that a URL cannot make it reach its
//! own network (SSRF).
//!
//! Only globally routable unicast addresses pass: loopback, private, shared (CGNAT),
//! link-local (with the cloud metadata address 169.254.169.254), unique-local, multicast,
//! unspecified, broadcast, documentation, benchmarking and other reserved ranges are refused,
//! and so are the IPv6 forms that carry an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64,
//! 6to4) of a refused one. An operator allow-list (`import.allow_cidrs`) opens chosen ranges.
//!
//! A name is resolved once, every address it has is checked (one refused address refuses the
//! name) and the connection goes to a checked address: [`PolicyResolver`] is the HTTP client's
//! resolver, so there is no window between the check and the connect for DNS rebinding. An IP
//! literal never reaches a resolver: [`AddressPolicy::check_url`] checks it (the `url` crate has
//! already turned decimal, octal and hex IPv4 spellings like `http://2130706433/` into
//! `127.0.0.1`). Refusals name the reason, never the address a name resolved to.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};
use mp3converter_core::CidrList;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// Why a URL may not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    /// Not a URL, or one without a host.
    #[error("{0}")]
    Invalid(String),
    /// Not http or https, or its host is (or resolves to) a refused address.
    #[error("{0}")]
    NotAllowed(String),
    /// The host name has no address.
    #[error("the host {0} could not be found")]
    Unresolvable(String),
}

impl UrlRefusal {
    /// The stable code: `invalid-url`, `url-not-allowed` or `url-unresolvable`.
    pub fn code(&self) -> &'static str {
        match self {
            UrlRefusal::Invalid(_) => "invalid-url",
            UrlRefusal::NotAllowed(_) => "url-not-allowed",
            UrlRefusal::Unresolvable(_) => "url-unresolvable",
        }
    }

    /// The refusal somewhere in an error's source chain (how a resolver's refusal comes back
    /// out of the HTTP client).
    pub fn find_in<'a>(error: &'a (dyn StdError + 'static)) -> Option<&'a UrlRefusal> {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(refusal) = e.downcast_ref::<UrlRefusal>() {
                return Some(refusal);
            }
            next = e.source();
        }
        None
    }
}

/// Which addresses outgoing requests may reach. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct AddressPolicy {
    allow: Arc<CidrList>,
}

impl AddressPolicy {
    /// The default policy opened by `allow` (the operator's `allow_cidrs`).
    pub fn new(allow: CidrList) -> Self {
        AddressPolicy {
            allow: Arc::new(allow),
        }
    }

    /// Why `ip` may not be reached (`"a loopback address"`, ...), or `None` when it may.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        if self.allow.contains(ip) {
            return None;
        }
        refused_range(ip)
    }

    /// Checks what can be checked without the network: the scheme (http or https), a host is
    /// present, and an IP-literal host's address. A host name is left to [`Self::resolve`].
    pub fn check_url(&self, url: &Url) -> Result<(), UrlRefusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRefusal::NotAllowed(format!(
                "only http and https URLs can be fetched, not {}:",
                url.scheme()
            )));
        }
        let ip = match url.host() {
            None => return Err(UrlRefusal::Invalid("the URL has no host".into())),
            Some(Host::Domain(_)) => return Ok(()),
            Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
            Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        };
        match self.refusal(ip) {
            Some(why) => Err(UrlRefusal::NotAllowed(format!(
                "the address {ip} is not allowed: it is {why}"
            ))),
            None => Ok(()),
        }
    }

    /// Checks a URL completely, resolving its host name (once; the connection itself resolves
    /// again through [`PolicyResolver`], which checks again).
    pub async fn check_url_resolved(&self, url: &Url) -> Result<(), UrlRefusal> {
        self.check_url(url)?;
        if let Some(Host::Domain(name)) = url.host() {
            self.resolve(name).await?;
        }
        Ok(())
    }

    /// The addresses of `host` (port 0), all of them allowed; refused when any is not.
    pub async fn resolve(&self, host: &str) -> Result<Vec<SocketAddr>, UrlRefusal> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|_| UrlRefusal::Unresolvable(host.to_owned()))?
            .collect();
        if found.is_empty() {
            return Err(UrlRefusal::Unresolvable(host.to_owned()));
        }
        if let Some(why) = found.iter().find_map(|a| self.refusal(a.ip())) {
            return Err(UrlRefusal::NotAllowed(format!(
                "the host {host} is not allowed: it resolves to {why}"
            )));
        }
        Ok(found)
    }
}

/// The HTTP client's resolver: resolves through the [`AddressPolicy`] and hands the client only
/// checked addresses, or the refusal (found again with [`UrlRefusal::find_in`]).
#[derive(Debug, Clone)]
pub struct PolicyResolver(pub AddressPolicy);

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let addrs = policy
                .resolve(name.as_str())
                .await
                .map_err(|e| Box::new(e) as Box<dyn StdError + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// IPv4 ranges that are not the public internet, with their reason.
const V4_REFUSED: &[(&str, &str)] = &[
    ("0.0.0.0/8", "an unspecified (\"this network\") address"),
    ("10.0.0.0/8", "a private network address"),
    ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
    ("127.0.0.0/8", "a loopback address"),
    (
        "169.254.0.0/16",
        "a link-local address (cloud metadata services live there)",
    ),
    ("172.16.0.0/12", "a private network address"),
    ("192.0.0.0/24", "a reserved (IETF protocol) address"),
    ("192.0.2.0/24", "a documentation address"),
    ("192.88.99.0/24", "a reserved (6to4 relay) address"),
    ("192.168.0.0/16", "a private network address"),
    ("198.18.0.0/15", "a benchmarking address"),
    ("198.51.100.0/24", "a documentation address"),
    ("203.0.113.0/24", "a documentation address"),
    ("224.0.0.0/4", "a multicast address"),
    ("255.255.255.255/32", "the broadcast address"),
    ("240.0.0.0/4", "a reserved address"),
];

/// IPv6 ranges inside global unicast (2000::/3) that are refused anyway.
const V6_REFUSED: &[(&str, &str)] = &[
    (
        "2001::/23",
        "a reserved (IETF protocol, Teredo or benchmarking) address",
    ),
    ("2001:db8::/32", "a documentation address"),
    ("3fff::/20", "a documentation address"),
];

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    V4_REFUSED.iter().find_map(|(net, why)| {
        let net: Ipv4Net = net.parse().expect("a valid IPv4 range");
        net.contains(&ip).then_some(*why)
    })
}

/// The reason an address is refused by the default policy, if it is.
fn refused_range(ip: IpAddr) -> Option<&'static str> {
    let v6 = match ip {
        IpAddr::V4(v4) => return refused_v4(v4),
        IpAddr::V6(v6) => v6,
    };
    if v6.is_unspecified() {
        return Some("an unspecified address");
    }
    if v6.is_loopback() {
        return Some("a loopback address");
    }
    if let Some(v4) = embedded_v4(v6) {
        // The forms that reach an IPv4 host: refused when that host would be.
        return refused_v4(v4);
    }
    let within = |net: &str| {
        let net: Ipv6Net = net.parse().expect("a valid IPv6 range");
        net.contains(&v6)
    };
    if within("fc00::/7") {
        return Some("a unique-local (private) address");
    }
    if within("fe80::/10") || within("fec0::/10") {
        return Some("a link-local address");
    }
    if within("ff00::/8") {
        return Some("a multicast address");
    }
    if !within("2000::/3") {
        // Everything outside global unicast is reserved (IPv4-compatible ::/96, discard-only
        // 100::/64, local-use NAT64 64:ff9b:1::/48, ...).
        return Some("a reserved address");
    }
    V6_REFUSED
        .iter()
        .find_map(|(net, why)| within(net).then_some(*why))
}

/// The IPv4 address inside an IPv6 address that routes to one: IPv4-mapped (`::ffff:a.b.c.d`),
/// NAT64 (`64:ff9b::a.b.c.d`), 6to4 (`2002:AABB:CCDD::/48`) and the deprecated IPv4-compatible
/// form (`::a.b.c.d`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let last = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] => Some(last(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(last(hi, lo)),
        [0, 0, 0, 0, 0, 0, hi, lo] => Some(last(hi, lo)),
        [0x2002, hi, lo, ..] => Some(last(hi, lo)),
        _ => None,
    }
}

/// Parses a list of ranges for [`AddressPolicy::new`] (tests and callers without a config).
pub fn allow_list(entries: &[&str]) -> CidrList {
    CidrList::from_entries(entries.iter().copied()).expect("valid CIDRs")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(policy: &AddressPolicy, ip: &str) -> bool {
        policy.refusal(ip.parse().unwrap()).is_some()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn every_internal_ipv4_range_is_refused() {
        let p = AddressPolicy::default();
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.254",
            "127.0.0.1",
            "127.255.255.254",
            "169.254.169.254",
            "169.254.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(refused(&p, ip), "{ip} must be refused");
        }
    }

    #[test]
    fn public_addresses_pass() {
        let p = AddressPolicy::default();
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
            "2002:808:808::1",
        ] {
            assert!(!refused(&p, ip), "{ip} must pass");
        }
    }

    #[test]
    fn internal_ipv6_ranges_are_refused() {
        let p = AddressPolicy::default();
        for ip in [
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff05::1:3",
            "2001:db8::1",
            "3fff::1",
            "2001::1",
            "2001:2::1",
            "100::1",
            "64:ff9b:1::1",
            "4000::1",
        ] {
            assert!(refused(&p, ip), "{ip} must be refused");
        }
    }

    #[test]
    fn ipv6_forms_of_refused_ipv4_addresses_are_refused() {
        let p = AddressPolicy::default();
        for ip in [
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "::ffff:7f00:1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2002:c0a8:101::1",
            "2002:a9fe:a9fe::1",
        ] {
            assert!(refused(&p, ip), "{ip} must be refused");
        }
        assert_eq!(
            p.refusal("::ffff:169.254.169.254".parse().unwrap()),
            p.refusal("169.254.169.254".parse().unwrap())
        );
    }

    #[test]
    fn odd_ipv4_spellings_are_normalised_and_refused() {
        let p = AddressPolicy::default();
        for spelling in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://017700000001/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[0:0:0:0:0:ffff:a9fe:a9fe]/latest/meta-data/",
            "http://2852039166/latest/meta-data/",
            "https://0xa9.0xfe.0xa9.0xfe/",
            "http://0/",
            "http://[::]/",
        ] {
            let e = p.check_url(&url(spelling)).unwrap_err();
            assert_eq!(e.code(), "url-not-allowed", "{spelling}");
        }
        assert_eq!(url("http://0x7f.1/").host_str(), Some("127.0.0.1"));
        assert!(p.check_url(&url("http://8.8.8.8/a.mp4")).is_ok());
    }

    #[test]
    fn only_http_and_https_are_allowed() {
        let p = AddressPolicy::default();
        for other in [
            "ftp://example.com/a.mp4",
            "file:///etc/passwd",
            "gopher://example.com/",
            "data:video/mp4;base64,AAAA",
        ] {
            let e = p.check_url(&url(other)).unwrap_err();
            assert_eq!(e.code(), "url-not-allowed", "{other}");
            assert!(e.to_string().contains("http and https"), "{e}");
        }
        assert!(p.check_url(&url("https://example.com/a.mp4")).is_ok());
    }

    #[test]
    fn the_allow_list_opens_exactly_its_ranges() {
        let p = AddressPolicy::new(allow_list(&["127.0.0.0/8", "fd00::/8", "10.1.2.3"]));
        assert!(!refused(&p, "127.0.0.1"));
        assert!(!refused(&p, "127.9.9.9"));
        assert!(!refused(&p, "::ffff:127.0.0.1"), "the mapped form too");
        assert!(!refused(&p, "fd00::5"));
        assert!(!refused(&p, "10.1.2.3"));
        assert!(refused(&p, "10.1.2.4"));
        assert!(refused(&p, "169.254.169.254"));
        assert!(refused(&p, "::1"));
        assert!(refused(&p, "fc00::1"));
        assert!(p.check_url(&url("http://127.0.0.1:8000/a.mp4")).is_ok());
    }

    #[test]
    fn refusals_of_literals_name_the_reason() {
        let p = AddressPolicy::default();
        let e = p.check_url(&url("http://169.254.169.254/")).unwrap_err();
        assert!(e.to_string().contains("link-local"), "{e}");
        let e = p.check_url(&url("http://[fd00::1]/")).unwrap_err();
        assert!(e.to_string().contains("unique-local"), "{e}");
    }

    #[tokio::test]
    async fn localhost_is_refused_by_name_without_showing_its_address() {
        let p = AddressPolicy::default();
        let e = p.resolve("localhost").await.unwrap_err();
        assert_eq!(e.code(), "url-not-allowed");
        let text = e.to_string();
        assert!(
            text.contains("localhost") && text.contains("loopback"),
            "{text}"
        );
        assert!(!text.contains("127.0.0.1"), "{text}");
        let e = p
            .check_url_resolved(&url("http://localhost:8080/a.mp4"))
            .await
            .unwrap_err();
        assert_eq!(e.code(), "url-not-allowed");
        let opened = AddressPolicy::new(allow_list(&["127.0.0.0/8", "::1/128"]));
        assert!(opened.resolve("localhost").await.is_ok());
    }

    #[tokio::test]
    async fn the_resolver_hands_out_checked_addresses_only() {
        let refused = PolicyResolver(AddressPolicy::default());
        let e = refused
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("refused");
        let found = UrlRefusal::find_in(e.as_ref()).expect("the refusal");
        assert_eq!(found.code(), "url-not-allowed");
        let open = PolicyResolver(AddressPolicy::new(allow_list(&["127.0.0.0/8", "::1"])));
        let Ok(addrs) = open.resolve("localhost".parse().unwrap()).await else {
            panic!("localhost is allowed");
        };
        let addrs: Vec<SocketAddr> = addrs.collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()));
    }
}
