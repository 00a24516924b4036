//! Host patterns and address classes, with no dependency beyond `std` (the fuzz target
//! `mcp_destination` compiles this file as is).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A host pattern: `api.example.com` (that host) or `*.example.com` (any host below
/// `example.com`, not `example.com` itself). Case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct HostPattern(String);

impl HostPattern {
    pub(crate) fn parse(p: &str) -> Result<Self, String> {
        let p = p.trim().trim_end_matches('.').to_ascii_lowercase();
        let bare = p.strip_prefix("*.").unwrap_or(&p);
        let valid = !bare.is_empty()
            && bare
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b));
        if valid {
            Ok(HostPattern(p))
        } else {
            Err(format!("invalid host pattern {p:?}"))
        }
    }

    pub(crate) fn matches(&self, host: &str) -> bool {
        match self.0.strip_prefix("*.") {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|rest| rest.ends_with('.')),
            None => self.0 == host,
        }
    }
}

impl core::fmt::Display for HostPattern {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

/// An IPv4-mapped IPv6 address as its IPv4 address.
pub(crate) fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether an address is globally routable: not loopback, private, link-local (the cloud
/// metadata address 169.254.169.254 is one), shared (CGNAT), unspecified, broadcast,
/// multicast, documentation, benchmarking or reserved; for IPv6 also not unique-local,
/// site-local, or an IPv4-mapped, IPv4-compatible, NAT64 or 6to4 form of such an IPv4
/// address.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_public_v4(a),
        IpAddr::V6(a) => is_public_v6(a),
    }
}

fn is_public_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_documentation()
        || o[0] == 0
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, shared address space
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0.0/24, protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18.0.0/15, benchmarking
        || o[0] >= 240) // reserved
}

fn is_public_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = a.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    // ::a.b.c.d (deprecated IPv4-compatible) and 64:ff9b::a.b.c.d (NAT64).
    if s[..6] == [0, 0, 0, 0, 0, 0] && !a.is_unspecified() && !a.is_loopback() {
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded_v4(s[6], s[7]));
    }
    // 2002::/16 (6to4) embeds an IPv4 address in bits 16..48.
    if s[0] == 0x2002 {
        return is_public_v4(embedded_v4(s[1], s[2]));
    }
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // fc00::/7 unique local
        || (s[0] & 0xffc0) == 0xfe80 // fe80::/10 link-local
        || (s[0] & 0xffc0) == 0xfec0 // fec0::/10 site-local
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])) // 100::/64 discard
}

/// The invariants the fuzz target `mcp_destination` checks over arbitrary input (and the
/// unit tests over its seed corpus): nothing panics; a host pattern reads back as itself;
/// an address is classified the same in every form (IPv4, IPv4-mapped IPv6, canonical).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn fuzz_check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    for line in text.lines().chain(std::iter::once(text.as_ref())) {
        if let Ok(p) = HostPattern::parse(line) {
            assert_eq!(
                HostPattern::parse(&p.to_string()),
                Ok(p.clone()),
                "{line:?}"
            );
            let bare = p.0.strip_prefix("*.").unwrap_or(&p.0);
            assert_eq!(p.matches(bare), !p.0.starts_with("*."), "{line:?}");
            if p.0.starts_with("*.") {
                assert!(p.matches(&format!("a.{bare}")), "{line:?}");
            }
        }
        if let Ok(ip) = line.trim().parse::<IpAddr>() {
            assert_eq!(is_public(ip), is_public(canonical(ip)), "{ip}");
            if let IpAddr::V4(v4) = ip {
                assert_eq!(
                    is_public(ip),
                    is_public(IpAddr::V6(v4.to_ipv6_mapped())),
                    "{ip}"
                );
                assert!(
                    !is_public(ip) || !(v4.is_loopback() || v4.is_private() || v4.is_link_local()),
                    "{ip}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_seed_corpus() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/mcp_destination"
        );
        let mut n = 0;
        for entry in std::fs::read_dir(dir).expect("seed corpus") {
            fuzz_check(&std::fs::read(entry.expect("seed").path()).expect("seed"));
            n += 1;
        }
        assert!(n >= 10, "{n} seeds");
    }
}
