//! Where the agent may send requests: schemes, allowed and denied hosts, and private,
//! loopback and link-local addresses (refused unless the operator allows them), checked
//! on the URL, on every redirect hop and on every address a host name resolves to.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;

use crate::error::Limit;
pub(crate) use crate::hosts::{HostPattern, canonical, is_public};

/// The operator's rules on destinations.
#[derive(Debug, Clone, Default)]
pub(crate) struct Destinations {
    pub(crate) allowed: Vec<HostPattern>,
    pub(crate) denied: Vec<HostPattern>,
    pub(crate) allow_private: bool,
    /// Non-public addresses allowed one by one (the dev-node loop on one address).
    pub(crate) allowed_addresses: BTreeSet<IpAddr>,
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Refused {
    pub(crate) limit: Limit,
    pub(crate) message: String,
}

impl Refused {
    fn new(limit: Limit, message: String) -> Self {
        Refused { limit, message }
    }
}

impl Destinations {
    /// Checks a URL (the request's or a redirect's): scheme, host lists, and an IP
    /// literal host against the address rules. Host names are checked again when they
    /// resolve ([`CheckingResolver`]).
    pub(crate) fn check_url(&self, url: &Url) -> Result<(), Refused> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Refused::new(
                Limit::Scheme,
                format!(
                    "only http and https urls are fetched, not {}:",
                    url.scheme()
                ),
            ));
        }
        let Some(host) = url.host_str() else {
            return Err(Refused::new(Limit::Scheme, "the url has no host".into()));
        };
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        if let Some(p) = self.denied.iter().find(|p| p.matches(&name)) {
            return Err(Refused::new(
                Limit::DeniedHost,
                format!("host {name} is denied by the operator ({p})"),
            ));
        }
        if !self.allowed.is_empty() && !self.allowed.iter().any(|p| p.matches(&name)) {
            return Err(Refused::new(
                Limit::AllowedHosts,
                format!("host {name} is not in the operator's allowed hosts"),
            ));
        }
        let ip = name
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        if let Some(ip) = ip {
            self.check_ip(&name, ip)?;
        }
        Ok(())
    }

    /// Checks one address `host` is reached at.
    pub(crate) fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        if self.allow_private || is_public(ip) || self.allowed_addresses.contains(&canonical(ip)) {
            return Ok(());
        }
        Err(Refused::new(
            Limit::PrivateAddress,
            format!(
                "{host} is (or resolves to) {ip}, a private, loopback, link-local or otherwise \
                 non-public address; the operator has not allowed those"
            ),
        ))
    }
}

/// A DNS resolver that refuses a host name when any address it resolves to is refused,
/// so that the connection only ever goes to checked addresses (no rebinding between a
/// check and the connect).
#[derive(Debug, Clone)]
pub(crate) struct CheckingResolver {
    pub(crate) rules: Arc<Destinations>,
}

impl reqwest::dns::Resolve for CheckingResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let rules = Arc::clone(&self.rules);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            check_resolved(&rules, &host, &addrs)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Every resolved address must pass.
pub(crate) fn check_resolved(
    rules: &Destinations,
    host: &str,
    addrs: &[SocketAddr],
) -> Result<(), Refused> {
    for a in addrs {
        rules.check_ip(host, a.ip())?;
    }
    Ok(())
}

/// The most redirects followed for one request.
pub(crate) const MAX_REDIRECTS: usize = 10;

/// Follows redirects whose target passes the same checks as the request's URL.
/// (Cross-origin hops are followed but never paid for: the middleware refuses a 402
/// from another origin than the request's, and reqwest drops `Authorization` on them.)
pub(crate) fn redirect_policy(rules: Arc<Destinations>) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(Refused::new(
                Limit::Redirects,
                format!("more than {MAX_REDIRECTS} redirects"),
            ));
        }
        match rules.check_url(attempt.url()) {
            Ok(()) => attempt.follow(),
            Err(e) => attempt.error(e),
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn non_public_addresses() {
        for a in [
            "127.0.0.1",
            "127.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "::7f00:1",
        ] {
            assert!(!is_public(a.parse().unwrap()), "{a}");
        }
        for a in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1"] {
            assert!(is_public(a.parse().unwrap()), "{a}");
        }
    }

    #[test]
    fn urls_are_checked() {
        let rules = Destinations::default();
        let refused = |u: &str| rules.check_url(&Url::parse(u).unwrap()).unwrap_err().limit;
        assert_eq!(refused("http://127.0.0.1:8080/"), Limit::PrivateAddress);
        assert_eq!(refused("http://[::1]/"), Limit::PrivateAddress);
        assert_eq!(
            refused("http://169.254.169.254/latest/meta-data/"),
            Limit::PrivateAddress
        );
        assert_eq!(refused("http://[::ffff:7f00:1]/"), Limit::PrivateAddress);
        assert_eq!(refused("http://2130706433/"), Limit::PrivateAddress);
        assert_eq!(refused("http://0x7f.1/"), Limit::PrivateAddress);
        assert_eq!(refused("file:///etc/passwd"), Limit::Scheme);
        assert!(
            rules
                .check_url(&Url::parse("https://1.1.1.1/").unwrap())
                .is_ok()
        );
        assert!(
            rules
                .check_url(&Url::parse("https://api.example.com/").unwrap())
                .is_ok()
        );

        let rules = Destinations {
            allowed: vec![HostPattern::parse("*.example.com").unwrap()],
            denied: vec![HostPattern::parse("evil.example.com").unwrap()],
            ..Destinations::default()
        };
        let check = |u: &str| {
            rules
                .check_url(&Url::parse(u).unwrap())
                .map_err(|e| e.limit)
        };
        assert_eq!(check("https://api.example.com/"), Ok(()));
        assert_eq!(check("https://API.Example.com./x"), Ok(()));
        assert_eq!(check("https://example.com/"), Err(Limit::AllowedHosts));
        assert_eq!(check("https://notexample.com/"), Err(Limit::AllowedHosts));
        assert_eq!(check("https://evil.example.com/"), Err(Limit::DeniedHost));
    }

    #[test]
    fn every_resolved_address_must_pass() {
        let mut rules = Destinations::default();
        let public: SocketAddr = "1.1.1.1:0".parse().unwrap();
        let private: SocketAddr = "10.0.0.1:0".parse().unwrap();
        assert!(check_resolved(&rules, "h", &[public]).is_ok());
        assert!(check_resolved(&rules, "h", &[public, private]).is_err());
        rules.allowed_addresses.insert("10.0.0.1".parse().unwrap());
        assert!(check_resolved(&rules, "h", &[public, private]).is_ok());
        rules.allowed_addresses.clear();
        rules.allow_private = true;
        assert!(check_resolved(&rules, "h", &[private]).is_ok());
    }

    #[tokio::test]
    async fn the_resolver_refuses_localhost() {
        use reqwest::dns::Resolve;
        let resolver = CheckingResolver {
            rules: Arc::new(Destinations::default()),
        };
        let name: reqwest::dns::Name = "localhost".parse().unwrap();
        let err = match resolver.resolve(name).await {
            Ok(_) => panic!("localhost resolved"),
            Err(e) => e,
        };
        assert_eq!(
            err.downcast_ref::<Refused>().unwrap().limit,
            Limit::PrivateAddress
        );
    }

    proptest::proptest! {
        /// An IPv4 literal (in any of the forms URLs accept) is fetched iff it is public.
        #[test]
        fn ipv4_literals_are_refused_iff_non_public(ip: u32, port in 1u16..) {
            let rules = Destinations::default();
            let a = Ipv4Addr::from(ip);
            for host in [a.to_string(), ip.to_string(), format!("[::ffff:{a}]")] {
                let url = Url::parse(&format!("http://{host}:{port}/x")).unwrap();
                let refused = rules.check_url(&url).is_err();
                proptest::prop_assert_eq!(refused, !is_public(IpAddr::V4(a)), "{}", url);
            }
        }

        /// Whatever the operator or the agent writes, the checks answer without panicking.
        #[test]
        fn arbitrary_input_never_panics(s in ".{0,200}") {
            let _ = HostPattern::parse(&s);
            if let Ok(url) = Url::parse(&s) {
                let _ = Destinations::default().check_url(&url);
            }
            let _ = crate::decode::decode(&s);
        }
    }
}
