//! The client's address behind reverse proxies (`TRUSTED_PROXIES` and `X-Forwarded-For`).
//!
//! Login limits count attempts per client address. Behind a reverse proxy every connection comes
//! from the proxy, so the client's address must be read from `X-Forwarded-For`, to which each
//! proxy appends the address it received the request from. A client can send that header itself,
//! so it is believed only when the TCP peer is a trusted proxy, and only as far as trusted
//! proxies vouch for it: walking the list from the right, trusted proxies are skipped and the
//! first address that is not one is the client ("rightmost untrusted hop"). Whatever a client
//! writes further left is never read. An entry that is not an address ends the walk at the last
//! address a trusted proxy vouched for.
//!
//! One header is read, the one the proxies write (`FORWARDED_HEADER`): `X-Forwarded-For` by
//! default (what nginx, HAProxy, Traefik, Envoy and cloud load balancers send), or the RFC 7239
//! `Forwarded` header (its `for=` parameters, quoted or not, IPv6 in brackets, with or without a
//! port). The other one is ignored, so a client cannot use it to override what the proxy wrote;
//! a `for=` that is not an address (`unknown`, an obfuscated `_name`) ends the walk like any
//! entry that is not an address. With `TRUSTED_PROXIES` empty (the default) the TCP peer is the
//! client, whatever the headers say.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// Which header the trusted proxies write the client's address to (`FORWARDED_HEADER`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, …`.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1;proto=https, …`.
    Forwarded,
}

impl ForwardedHeader {
    /// Parses `x-forwarded-for` or `forwarded` (any case).
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(ForwardedHeader::XForwardedFor),
            "forwarded" => Ok(ForwardedHeader::Forwarded),
            other => Err(format!("`{other}` is not x-forwarded-for or forwarded")),
        }
    }
}

/// The networks of the reverse proxies whose forwarded address is believed, and the header they
/// write it to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>, ForwardedHeader);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses (`10.0.0.5`, `::1`) and networks in CIDR
    /// notation (`10.0.0.0/8`, `fd00::/8`).
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| {
                        format!("`{entry}` is not an IP address or a network like 10.0.0.0/8")
                    })
            })
            .collect::<Result<_, _>>()
            .map(|nets| TrustedProxies(nets, ForwardedHeader::default()))
    }

    /// The same proxies, writing the client's address to `header`.
    #[must_use]
    pub fn reading(self, header: ForwardedHeader) -> Self {
        TrustedProxies(self.0, header)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request that arrived from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let name = match self.1 {
            ForwardedHeader::XForwardedFor => "x-forwarded-for",
            ForwardedHeader::Forwarded => "forwarded",
        };
        let hops: Vec<&str> = headers
            .get_all(name)
            .iter()
            .map(|value| value.to_str().unwrap_or(""))
            .flat_map(|value| value.split(','))
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let address = match self.1 {
                ForwardedHeader::XForwardedFor => hop_address(hop),
                ForwardedHeader::Forwarded => forwarded_for(hop).and_then(hop_address),
            };
            let Some(ip) = address else {
                break;
            };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

/// The `for=` value of one RFC 7239 element (`for=1.2.3.4;proto=https`, `For="[::1]:80"`),
/// unquoted; `None` when the element has none.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`).
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .or_else(|_| hop.trim_start_matches('[').trim_end_matches(']').parse())
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("x-forwarded-for", v.parse().expect("header value"));
        }
        headers
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").expect("valid");
        let headers = forwarded(&["203.0.113.9"]);
        assert_eq!(
            proxies.client(ip("198.51.100.1"), &headers),
            ip("198.51.100.1")
        );
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.0.2.7").expect("valid");
        // The client forged the first entry; the proxies appended the rest.
        let headers = forwarded(&["1.1.1.1, 203.0.113.9", "192.0.2.7"]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &headers), ip("203.0.113.9"));
        // Every hop trusted: the leftmost one is as far as anyone vouches.
        let headers = forwarded(&["10.1.1.1, 192.0.2.7"]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &headers), ip("10.1.1.1"));
        // No header: the proxy itself.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn garbage_ends_the_walk_and_ports_and_mapped_addresses_are_understood() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").expect("valid");
        let headers = forwarded(&["203.0.113.9, unknown, 10.0.0.3"]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &headers), ip("10.0.0.3"));
        let headers = forwarded(&["[2001:db8::1]:443"]);
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.2"), &headers),
            ip("2001:db8::1")
        );
        let headers = forwarded(&["203.0.113.9:5000"]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &headers), ip("203.0.113.9"));
    }

    fn rfc7239(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("forwarded", v.parse().expect("header value"));
        }
        headers
    }

    #[test]
    fn the_forwarded_header_is_read_when_the_proxies_write_it() {
        let proxies = TrustedProxies::parse("10.0.0.0/8")
            .expect("valid")
            .reading(ForwardedHeader::Forwarded);
        // The client forged the first element; the proxy appended the second.
        let headers =
            rfc7239(&["for=1.1.1.1, For=\"[2001:db8:cafe::17]:4711\";proto=https;by=10.0.0.2"]);
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &headers),
            ip("2001:db8:cafe::17")
        );
        let headers = rfc7239(&["for=203.0.113.9:5000", "proto=http;for=10.0.0.3"]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &headers), ip("203.0.113.9"));
        // Not an address: the walk ends at the last address a trusted proxy vouched for.
        let headers = rfc7239(&["for=203.0.113.9, for=unknown, for=10.0.0.3"]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &headers), ip("10.0.0.3"));
        let headers = rfc7239(&["for=_hidden"]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &headers), ip("10.0.0.2"));
        // The header the proxies do not write is never read, either way round.
        let spoofed = forwarded(&["203.0.113.66"]);
        assert_eq!(proxies.client(ip("10.0.0.2"), &spoofed), ip("10.0.0.2"));
        let default = TrustedProxies::parse("10.0.0.0/8").expect("valid");
        assert_eq!(
            default.client(ip("10.0.0.2"), &rfc7239(&["for=203.0.113.66"])),
            ip("10.0.0.2")
        );
        assert!(ForwardedHeader::parse("Forwarded").is_ok());
        assert!(ForwardedHeader::parse("x-real-ip").is_err());
    }

    #[test]
    fn bad_entries_are_refused() {
        for raw in ["10.0.0.0/33", "proxy.internal", "10.0.0.1-10.0.0.9", "*"] {
            assert!(TrustedProxies::parse(raw).is_err(), "{raw}");
        }
        assert_eq!(
            TrustedProxies::parse(" ").expect("valid"),
            TrustedProxies::default()
        );
    }
}
