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
//! Only `X-Forwarded-For` is read (it is what nginx, HAProxy, Traefik, Envoy and cloud load
//! balancers send); the RFC 7239 `Forwarded` header is ignored, so a client cannot use it to
//! override what the proxy wrote. With `TRUSTED_PROXIES` empty (the default) the TCP peer is the
//! client, whatever the headers say.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The networks of the reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

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
            .map(TrustedProxies)
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
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| value.to_str().unwrap_or(""))
            .flat_map(|value| value.split(','))
            .collect();
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop_address(hop) else {
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
