//! Who the client is behind reverse proxies: the `server.trusted_proxies` list and the walk of
//! `X-Forwarded-For` that finds the client's address.
//!
//! Anyone can send `X-Forwarded-For`, so it is read only when the TCP peer is a trusted proxy.
//! It is then walked from the right (the entry the nearest proxy appended) past every trusted
//! hop; the right-most untrusted address is the client. Entries further left were written by
//! whoever is being identified and are never believed.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The client's address, decided once per request by the server from the TCP peer and
/// (from trusted proxies only) `X-Forwarded-For`; handlers read it from the request's
/// extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// A list of networks from the configuration: `server.trusted_proxies` (whose
/// `X-Forwarded-For` is believed; empty by default: the TCP peer is the client) and
/// `import.allow_cidrs` (ranges the URL import may reach although the address policy refuses
/// them). A list of strings in TOML, one comma-separated string in the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CidrList(Vec<IpNet>);

/// The networks whose `X-Forwarded-For` is believed (`server.trusted_proxies`).
pub type TrustedProxies = CidrList;

/// A `trusted_proxies` entry that is neither a CIDR (`10.0.0.0/8`) nor an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a CIDR (like 10.0.0.0/8 or fd00::/8) or an IP address")]
pub struct InvalidCidr(pub String);

impl FromStr for CidrList {
    type Err = InvalidCidr;

    /// A comma-separated list (the environment's form); blanks are skipped.
    fn from_str(list: &str) -> Result<Self, InvalidCidr> {
        Self::from_entries(list.split(','))
    }
}

impl CidrList {
    /// The list from its entries: CIDRs, or single addresses (a `/32` or `/128`).
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, InvalidCidr> {
        let mut nets = Vec::new();
        for entry in entries.into_iter().map(str::trim).filter(|e| !e.is_empty()) {
            let net = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| InvalidCidr(entry.to_owned()))?;
            nets.push(net.trunc());
        }
        Ok(CidrList(nets))
    }

    /// The networks.
    pub fn networks(&self) -> &[IpNet] {
        &self.0
    }

    /// True when the list is empty (for `trusted_proxies`: no proxy is trusted).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is in one of the networks (an IPv4-mapped IPv6 address counts as
    /// its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` carrying the `X-Forwarded-For` header
    /// values `forwarded_for` (in the order received). An untrusted peer is the client. From a
    /// trusted peer, the right-most entry that is not itself a trusted proxy is; when every
    /// entry is trusted, the left-most one. An unreadable entry stops the walk at the last
    /// address known.
    pub fn client<'a, I>(&self, peer: IpAddr, forwarded_for: I) -> IpAddr
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: DoubleEndedIterator,
    {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        let hops = forwarded_for
            .into_iter()
            .rev()
            .flat_map(|value| value.rsplit(','))
            .map(str::trim)
            .filter(|hop| !hop.is_empty());
        for hop in hops {
            let Some(addr) = parse_hop(hop) else {
                return client;
            };
            client = addr.to_canonical();
            if !self.contains(client) {
                return client;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

impl fmt::Display for CidrList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&list.join(","))
    }
}

impl Serialize for CidrList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ToString::to_string))
    }
}

impl<'de> Deserialize<'de> for CidrList {
    /// A list of strings (TOML) or one comma-separated string (the environment).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListOrString;

        impl<'de> Visitor<'de> for ListOrString {
            type Value = CidrList;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of CIDRs, or a comma-separated string of them")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<CidrList, E> {
                v.parse().map_err(E::custom)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CidrList, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = seq.next_element::<String>()? {
                    entries.push(entry);
                }
                CidrList::from_entries(entries.iter().map(String::as_str))
                    .map_err(de::Error::custom)
            }
        }

        d.deserialize_any(ListOrString)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("203.0.113.9"), ["1.2.3.4"]),
            ip("203.0.113.9")
        );
        let lan: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        assert_eq!(
            lan.client(ip("203.0.113.9"), ["1.2.3.4"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client_and_spoofed_left_entries_are_ignored() {
        let trusted: TrustedProxies = "10.0.0.0/8, 192.168.1.1".parse().unwrap();
        let peer = ip("10.1.2.3");
        // The client sent "6.6.6.6" itself; the ingress appended the address it saw.
        assert_eq!(
            trusted.client(peer, ["6.6.6.6, 198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Trusted hops are skipped, across several header lines.
        assert_eq!(
            trusted.client(peer, ["6.6.6.6, 198.51.100.7", "192.168.1.1, 10.9.9.9"]),
            ip("198.51.100.7")
        );
        // Ports and IPv6 forms.
        assert_eq!(
            trusted.client(peer, ["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        assert_eq!(
            trusted.client(peer, ["198.51.100.7:5000"]),
            ip("198.51.100.7")
        );
        // Nothing forwarded, or only trusted hops: the furthest address known.
        assert_eq!(trusted.client(peer, []), peer);
        assert_eq!(trusted.client(peer, ["10.0.0.1"]), ip("10.0.0.1"));
        // Garbage stops the walk at the last address known.
        assert_eq!(
            trusted.client(peer, ["1.1.1.1, junk, 10.0.0.2"]),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let trusted: TrustedProxies = "127.0.0.1".parse().unwrap();
        assert!(trusted.contains(ip("::ffff:127.0.0.1")));
        assert_eq!(
            trusted.client(ip("::ffff:127.0.0.1"), ["198.51.100.7"]),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn lists_come_as_strings_or_arrays_and_bad_entries_are_named() {
        let from_env: TrustedProxies = serde_json::from_str(r#""10.0.0.0/8,fd00::/8""#).unwrap();
        let from_toml: TrustedProxies =
            serde_json::from_str(r#"["10.0.0.0/8", "fd00::/8"]"#).unwrap();
        assert_eq!(from_env, from_toml);
        assert_eq!(from_env.to_string(), "10.0.0.0/8,fd00::/8");
        let empty: TrustedProxies = serde_json::from_str(r#""""#).unwrap();
        assert!(empty.is_empty());
        let e = serde_json::from_str::<TrustedProxies>(r#""10.0.0.0/33""#).unwrap_err();
        assert!(e.to_string().contains("10.0.0.0/33"), "{e}");
    }
}
