//! The `l402 proxy` configuration file (TOML).
//!
//! ```toml
//! listen = "127.0.0.1:8402"
//!
//! [backend]
//! kind = "lnd"                          # or "cln" with rune_file and tls_cert_file = "ca.pem"
//! url = "https://127.0.0.1:8080"
//! macaroon_file = "invoice.macaroon"     # invoices:write invoices:read is enough
//! tls_cert_file = "tls.cert"
//!
//! [root_keys]
//! master_secret_file = "master.secret"  # or master_secret_env = "L402_MASTER_SECRET"
//!
//! [revocation]                          # optional
//! kind = "memory"                       # revoked token ids (hex), one per line, re-read
//! file = "revoked.txt"                  # when the file changes
//! # kind = "redis", url = "redis://127.0.0.1:6379/", prefix = "l402",
//! # max_token_lifetime_secs = 86400     # tokens minted here never outlive this
//!
//! upstream_timeout_secs = 30            # (top level) default for every service
//!
//! [[services]]
//! name = "weather"
//! host = "api.example.com"              # optional; `*.example.com` matches subdomains
//! path = "/weather"                     # optional path prefix
//! upstream = "http://127.0.0.1:9000"
//! price_sat = 10                        # or price_msat = 10500, or free = true (never 0)
//! capabilities = ["forecast"]
//! validity_secs = 86400
//! headers = { "X-Api-Key" = "upstream-secret" }
//! upstream_timeout_secs = 60            # optional, overrides the default
//! auth_scheme = "l402"                  # or "payment", or "l402+payment" (both offers)
//! payment_realm = "api.example.com"     # Payment challenges' realm (default: the name)
//! payment_expiry_secs = 900             # Payment challenge lifetime (default 15 minutes)
//! ```
//!
//! Relative file paths are relative to the configuration file's directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use l402_core::{Amount, Service};
use reqwest::Url;
use serde::Deserialize;

use crate::backend::{BackendKind, NodeSettings};
use crate::cmd::proxy::target::{Authority, canonical_path};
use crate::exit::CliError;

/// Environment variable read for the master secret when the file names none.
pub(crate) const DEFAULT_MASTER_SECRET_ENV: &str = "L402_MASTER_SECRET";
/// Longest Payment challenge lifetime accepted: one day (it is capped by the invoice's
/// expiry anyway).
const MAX_PAYMENT_EXPIRY_SECS: u64 = 86_400;
/// Largest configuration file read.
const MAX_CONFIG_LEN: u64 = 1024 * 1024;
/// Default bound on waiting for an upstream's response headers: 30 s, longer than any
/// API call a client will sit through, short enough that stuck upstreams do not pile up
/// connections.
pub(crate) const DEFAULT_UPSTREAM_TIMEOUT_SECS: u64 = 30;
/// Longest upstream timeout accepted: one hour.
const MAX_UPSTREAM_TIMEOUT_SECS: u64 = 3600;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProxyConfig {
    /// Address to listen on.
    #[serde(default = "default_listen")]
    pub(crate) listen: SocketAddr,
    /// The node that creates invoices.
    pub(crate) backend: BackendConfig,
    /// Where root keys come from.
    #[serde(default)]
    pub(crate) root_keys: RootKeysConfig,
    /// Revoked tokens (none by default).
    pub(crate) revocation: Option<RevocationConfig>,
    /// Default bound, in seconds, on waiting for an upstream's response headers.
    pub(crate) upstream_timeout_secs: Option<u64>,
    /// The services, matched in order.
    pub(crate) services: Vec<ServiceConfig>,
}

/// `127.0.0.1:8402`.
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8402))
}

/// `[backend]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct BackendConfig {
    /// Node implementation (`lnd` or `cln`).
    #[serde(default = "default_kind")]
    pub(crate) kind: BackendKind,
    /// REST URL.
    pub(crate) url: String,
    /// Macaroon file (LND).
    pub(crate) macaroon_file: Option<PathBuf>,
    /// Rune file (CLN).
    pub(crate) rune_file: Option<PathBuf>,
    /// LND: `tls.cert` to pin; CLN: `ca.pem` to trust.
    pub(crate) tls_cert_file: Option<PathBuf>,
    /// CLN: the certificate name to check (`cln` or `localhost`) when the URL uses an IP.
    pub(crate) tls_server_name: Option<String>,
    /// Start even though the credential can spend (off: the proxy refuses such a one).
    #[serde(default)]
    pub(crate) allow_spending_credential: bool,
}

fn default_kind() -> BackendKind {
    BackendKind::Lnd
}

/// `[root_keys]`: a stateless master secret; root key = HMAC(secret, token id).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RootKeysConfig {
    /// File holding the master secret in hex (at least 32 bytes).
    pub(crate) master_secret_file: Option<PathBuf>,
    /// Environment variable holding it instead (default `L402_MASTER_SECRET`).
    pub(crate) master_secret_env: Option<String>,
    /// The previous master secret, still accepted for verification (rotation).
    pub(crate) previous_master_secret_file: Option<PathBuf>,
}

/// `[revocation]`: where revoked token ids come from.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum RevocationConfig {
    /// Kept in memory, loaded from a file the operator edits.
    Memory {
        /// Revoked token ids in hex, one per line (`#` starts a comment).
        file: PathBuf,
        /// How often the file is checked for changes, in seconds (default 2).
        reload_secs: Option<u64>,
    },
    /// Shared through Redis (`l402-redis`'s `RedisRevocationList`).
    Redis {
        /// `redis://` or `rediss://` URL.
        url: String,
        /// Key prefix of the deployment (keys are `<prefix>:rev:<token id hex>`).
        #[serde(default = "default_redis_prefix")]
        prefix: String,
        /// The longest validity of any token (revocations expire after it). Every priced
        /// service's tokens are made to expire within it.
        max_token_lifetime_secs: u64,
        /// How long a "not revoked" answer is cached, in seconds (default 5).
        staleness_secs: Option<u64>,
        /// Accept tokens while Redis cannot answer (default false: answer 503).
        #[serde(default)]
        fail_open: bool,
    },
}

fn default_redis_prefix() -> String {
    "l402".to_owned()
}

/// Default interval between checks of a revocation file.
pub(crate) const DEFAULT_REVOCATION_RELOAD_SECS: u64 = 2;

/// `[[services]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceConfig {
    /// Service name, written in tokens (`services=<name>:0`).
    pub(crate) name: String,
    /// Host to match (case-insensitive, port ignored); `*.example.com` matches subdomains.
    pub(crate) host: Option<String>,
    /// Path prefix to match, at a segment boundary (`/api` matches `/api` and `/api/x`).
    pub(crate) path: Option<String>,
    /// Upstream base URL; the request path and query are appended.
    pub(crate) upstream: String,
    /// Price in satoshis.
    pub(crate) price_sat: Option<u64>,
    /// Price in millisatoshis.
    pub(crate) price_msat: Option<u64>,
    /// No payment needed.
    #[serde(default)]
    pub(crate) free: bool,
    /// Capabilities granted by tokens for this service.
    #[serde(default)]
    pub(crate) capabilities: Vec<String>,
    /// Token validity in seconds (default: no expiry).
    pub(crate) validity_secs: Option<u64>,
    /// Invoice description.
    pub(crate) memo: Option<String>,
    /// Headers added to every request sent upstream.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// Bound, in seconds, on waiting for the upstream's response headers (504 after).
    pub(crate) upstream_timeout_secs: Option<u64>,
    /// Which payment schemes the service offers (default `l402`).
    #[serde(default)]
    pub(crate) auth_scheme: AuthScheme,
    /// The realm of Payment challenges (default: the service name).
    pub(crate) payment_realm: Option<String>,
    /// How long a Payment challenge can be paid and presented, in seconds (default 900).
    pub(crate) payment_expiry_secs: Option<u64>,
}

/// `auth_scheme`: which offers a priced service's 402 makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub(crate) enum AuthScheme {
    /// L402 only (`LSAT` and `L402` challenges), as before.
    #[default]
    #[serde(rename = "l402")]
    L402,
    /// The `Payment` scheme (charge intent) only.
    #[serde(rename = "payment")]
    Payment,
    /// Both, in one 402: `LSAT`, `L402`, then `Payment` (Aperture's `l402+mpp`).
    #[serde(rename = "l402+payment")]
    Both,
}

impl AuthScheme {
    /// The layer's offers.
    pub(crate) fn offers(self) -> l402_tower::Offers {
        match self {
            AuthScheme::L402 => l402_tower::Offers::L402,
            AuthScheme::Payment => l402_tower::Offers::Payment,
            AuthScheme::Both => l402_tower::Offers::Both,
        }
    }
}

impl ServiceConfig {
    /// The price; `None` for a free service.
    pub(crate) fn price(&self) -> Result<Option<Amount>, CliError> {
        let err = |m: &str| CliError::config(format!("service {:?}: {m}", self.name));
        let zero = "a price of 0 is not accepted: set free = true for a free service";
        match (self.free, self.price_sat, self.price_msat) {
            (true, None, None) => Ok(None),
            (false, Some(0), None) | (false, None, Some(0)) => Err(err(zero)),
            (false, Some(sat), None) => match Amount::from_sat(sat) {
                Some(a) => Ok(Some(a)),
                None => Err(err("price_sat is too large")),
            },
            (false, None, Some(msat)) => Ok(Some(Amount::from_msat(msat))),
            (false, None, None) => Err(err("give price_sat, price_msat or free = true")),
            _ => Err(err(
                "give only one of price_sat, price_msat and free = true",
            )),
        }
    }

    /// The bound on waiting for the upstream's response headers.
    pub(crate) fn upstream_timeout(&self) -> Duration {
        Duration::from_secs(
            self.upstream_timeout_secs
                .unwrap_or(DEFAULT_UPSTREAM_TIMEOUT_SECS),
        )
    }

    /// The upstream base URL; its path must be canonical (see the proxy's `target`).
    pub(crate) fn upstream_url(&self) -> Result<Url, CliError> {
        let url = Url::parse(&self.upstream).map_err(|e| {
            CliError::config(format!(
                "service {:?}: invalid upstream url: {e}",
                self.name
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(CliError::config(format!(
                "service {:?}: upstream must be an http or https url",
                self.name
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(CliError::config(format!(
                "service {:?}: the upstream url must have no query or fragment",
                self.name
            )));
        }
        canonical_path(url.path()).map_err(|e| {
            CliError::config(format!(
                "service {:?}: the upstream url's path is refused: {e}",
                self.name
            ))
        })?;
        Ok(url)
    }
}

impl ProxyConfig {
    /// Reads and checks the file; relative paths become relative to its directory.
    pub(crate) fn load(path: &Path) -> Result<Self, CliError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
        if meta.len() > MAX_CONFIG_LEN {
            return Err(CliError::config(format!("{} is too large", path.display())));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
        let mut config: ProxyConfig = toml::from_str(&text)
            .map_err(|e| CliError::config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        config.resolve(base);
        config.check()?;
        Ok(config)
    }

    fn resolve(&mut self, base: &Path) {
        let fix = |p: &mut Option<PathBuf>| {
            if let Some(path) = p
                && path.is_relative()
            {
                *path = base.join(&*path);
            }
        };
        fix(&mut self.backend.macaroon_file);
        fix(&mut self.backend.rune_file);
        fix(&mut self.backend.tls_cert_file);
        fix(&mut self.root_keys.master_secret_file);
        fix(&mut self.root_keys.previous_master_secret_file);
        if let Some(RevocationConfig::Memory { file, .. }) = &mut self.revocation
            && file.is_relative()
        {
            *file = base.join(&*file);
        }
        if let Some(default) = self.upstream_timeout_secs {
            for s in &mut self.services {
                s.upstream_timeout_secs.get_or_insert(default);
            }
        }
    }

    fn check(&self) -> Result<(), CliError> {
        if self.services.is_empty() {
            return Err(CliError::config("no [[services]] configured"));
        }
        let mut names = std::collections::HashSet::new();
        for s in &self.services {
            Service::new(s.name.clone())
                .map_err(|e| CliError::config(format!("invalid service name {:?}: {e}", s.name)))?;
            if !names.insert(s.name.as_str()) {
                return Err(CliError::config(format!(
                    "service {:?} is configured twice",
                    s.name
                )));
            }
            s.price()?;
            s.upstream_url()?;
            let err = |m: String| CliError::config(format!("service {:?}: {m}", s.name));
            if let Some(p) = &s.path {
                // Routing compares canonical paths: a prefix in any other form would
                // never match, or match what it should not.
                match canonical_path(p) {
                    Ok(c) if c == *p => {}
                    Ok(c) => return Err(err(format!("path must be written {c:?}"))),
                    Err(e) => return Err(err(format!("path {p:?} is refused: {e}"))),
                }
            }
            if let Some(h) = &s.host {
                let name = h.strip_prefix("*.").unwrap_or(h);
                match Authority::parse(name) {
                    Ok(a) if a.host() == name.to_ascii_lowercase() => {}
                    _ => {
                        return Err(err(format!(
                            "host {h:?} must be a host name without port or trailing dot"
                        )));
                    }
                }
            }
            let timeout = s.upstream_timeout_secs.or(self.upstream_timeout_secs);
            if let Some(t) = timeout
                && !(1..=MAX_UPSTREAM_TIMEOUT_SECS).contains(&t)
            {
                return Err(err(format!(
                    "upstream_timeout_secs must be between 1 and {MAX_UPSTREAM_TIMEOUT_SECS}"
                )));
            }
            if let Some(RevocationConfig::Redis {
                max_token_lifetime_secs,
                ..
            }) = &self.revocation
                && let Some(v) = s.validity_secs
                && v > *max_token_lifetime_secs
            {
                return Err(err(format!(
                    "validity_secs ({v}) is longer than [revocation] max_token_lifetime_secs \
                     ({max_token_lifetime_secs}): a revoked token would come back when its \
                     revocation expires"
                )));
            }
            let payment_keys = s.payment_realm.is_some() || s.payment_expiry_secs.is_some();
            if payment_keys && !s.auth_scheme.offers().payment() {
                return Err(err(
                    "payment_realm and payment_expiry_secs need auth_scheme = \"payment\" or \
                     \"l402+payment\""
                        .to_owned(),
                ));
            }
            if s.free && s.auth_scheme != AuthScheme::L402 {
                return Err(err("a free service takes no auth_scheme".to_owned()));
            }
            if let Some(realm) = &s.payment_realm
                && (realm.is_empty()
                    || realm.len() > l402_tower::MAX_PAYMENT_REALM_LEN
                    || realm
                        .chars()
                        .any(|c| c.is_control() || c == '"' || c == '\\'))
            {
                return Err(err(format!(
                    "payment_realm must be 1 to {} printable characters without quotes or \
                     backslashes",
                    l402_tower::MAX_PAYMENT_REALM_LEN
                )));
            }
            if let Some(e) = s.payment_expiry_secs
                && !(1..=MAX_PAYMENT_EXPIRY_SECS).contains(&e)
            {
                return Err(err(format!(
                    "payment_expiry_secs must be between 1 and {MAX_PAYMENT_EXPIRY_SECS}"
                )));
            }
            if s.validity_secs == Some(0) {
                return Err(err("validity_secs must be at least 1".to_owned()));
            }
            for (k, v) in &s.headers {
                http::HeaderName::from_bytes(k.as_bytes()).map_err(|_| {
                    CliError::config(format!("service {:?}: invalid header name {k:?}", s.name))
                })?;
                http::HeaderValue::from_str(v).map_err(|_| {
                    CliError::config(format!(
                        "service {:?}: invalid value for header {k:?}",
                        s.name
                    ))
                })?;
            }
        }
        match &self.revocation {
            Some(RevocationConfig::Memory {
                reload_secs: Some(0),
                ..
            }) => Err(CliError::config(
                "[revocation]: reload_secs must be at least 1",
            )),
            Some(RevocationConfig::Redis {
                max_token_lifetime_secs: 0,
                ..
            }) => Err(CliError::config(
                "[revocation]: max_token_lifetime_secs must be at least 1",
            )),
            _ => Ok(()),
        }
    }

    /// The validity of `service`'s tokens: its own, capped by the revocation list's token
    /// lifetime when revocations expire (Redis), so a revoked token cannot come back.
    pub(crate) fn validity(&self, service: &ServiceConfig) -> Option<Duration> {
        let cap = match &self.revocation {
            Some(RevocationConfig::Redis {
                max_token_lifetime_secs,
                ..
            }) => Some(*max_token_lifetime_secs),
            _ => None,
        };
        match (service.validity_secs, cap) {
            (Some(v), Some(c)) => Some(v.min(c)),
            (v, c) => v.or(c),
        }
        .map(Duration::from_secs)
    }

    /// The node settings of `[backend]`.
    pub(crate) fn node(&self) -> NodeSettings {
        NodeSettings {
            kind: self.backend.kind,
            url: Some(self.backend.url.clone()),
            macaroon_file: self.backend.macaroon_file.clone(),
            rune_file: self.backend.rune_file.clone(),
            tls_cert_file: self.backend.tls_cert_file.clone(),
            tls_server_name: self.backend.tls_server_name.clone(),
            allow_spending_credential: self.backend.allow_spending_credential,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<ProxyConfig, CliError> {
        let mut c: ProxyConfig =
            toml::from_str(text).map_err(|e| CliError::config(e.to_string()))?;
        c.resolve(Path::new("/etc/l402"));
        c.check()?;
        Ok(c)
    }

    const BASE: &str = r#"
[backend]
url = "https://127.0.0.1:8080"
macaroon_file = "m.macaroon"
"#;

    #[test]
    fn sample_config_parses() {
        let text = include_str!("../examples/proxy.toml");
        let c: ProxyConfig = toml::from_str(text).unwrap();
        c.check().unwrap();
        assert!(!c.services.is_empty());
    }

    #[test]
    fn relative_paths_and_prices() {
        let c = parse(&format!(
            "{BASE}\n[[services]]\nname = \"a\"\nupstream = \"http://x\"\nprice_msat = 1500\n"
        ))
        .unwrap();
        assert_eq!(
            c.backend.macaroon_file.unwrap(),
            Path::new("/etc/l402/m.macaroon")
        );
        assert_eq!(
            c.services[0].price().unwrap(),
            Some(Amount::from_msat(1500))
        );
        assert_eq!(c.listen.to_string(), "127.0.0.1:8402");
    }

    #[test]
    fn bad_configs_are_config_errors() {
        for bad in [
            "[[services]]\nname = \"a\"\nupstream = \"http://x\"\nprice_sat = 1\n", // no backend
            &format!("{BASE}\n[[services]]\nname = \"a\"\nupstream = \"http://x\"\n"), // no price
            &format!("{BASE}\n[[services]]\nname = \"a\"\nupstream = \"ftp://x\"\nfree = true\n"),
            &format!(
                "{BASE}\n[[services]]\nname = \"a b\"\nupstream = \"http://x\"\nfree = true\n"
            ),
            &format!(
                "{BASE}\n[[services]]\nname = \"a\"\nupstream = \"http://x\"\nfree = true\nprice_sat = 3\n"
            ),
            &format!(
                "{BASE}\n[[services]]\nname = \"a\"\nupstream = \"http://x\"\nfree = true\nbogus = 1\n"
            ),
            &format!(
                "{BASE}\n[[services]]\nname = \"a\"\npath = \"x\"\nupstream = \"http://x\"\nfree = true\n"
            ),
        ] {
            assert_eq!(parse(bad).unwrap_err().code, crate::exit::CONFIG, "{bad}");
        }
    }

    fn service(extra: &str) -> String {
        format!("{BASE}\n[[services]]\nname = \"svc\"\nupstream = \"http://x/api\"\n{extra}\n")
    }

    #[test]
    fn a_zero_price_is_refused_and_names_the_service() {
        for zero in ["price_sat = 0", "price_msat = 0"] {
            let e = parse(&service(zero)).unwrap_err();
            assert_eq!(e.code, crate::exit::CONFIG);
            assert_eq!(
                e.message,
                "service \"svc\": a price of 0 is not accepted: set free = true for a free service"
            );
        }
        assert_eq!(
            parse(&service("free = true")).unwrap().services[0]
                .price()
                .unwrap(),
            None
        );
    }

    #[test]
    fn paths_hosts_and_upstreams_must_be_canonical() {
        for (extra, want) in [
            ("path = \"/a/../b\"\nfree = true", "dot segments"),
            ("path = \"/a%2fb\"\nfree = true", "encoded '/'"),
            (
                "path = \"/%65cho\"\nfree = true",
                "must be written \"/echo\"",
            ),
            ("path = \"/a;b\"\nfree = true", "';'"),
            (
                "host = \"a.test:80\"\nfree = true",
                "host name without port",
            ),
            ("host = \"a.test.\"\nfree = true", "trailing dot"),
            ("host = \"a b\"\nfree = true", "host name"),
        ] {
            let e = parse(&service(extra)).unwrap_err();
            assert!(e.message.contains(want), "{extra}: {}", e.message);
        }
        for upstream in [
            "http://x/a;b",
            "http://x/a%2F",
            "http://x/a?q=1",
            "http://x//a",
        ] {
            let text = format!(
                "{BASE}\n[[services]]\nname = \"svc\"\nupstream = \"{upstream}\"\nfree = true\n"
            );
            assert_eq!(
                parse(&text).unwrap_err().code,
                crate::exit::CONFIG,
                "{upstream}"
            );
        }
        parse(&service(
            "path = \"/v1/\"\nhost = \"*.Example.com\"\nfree = true",
        ))
        .unwrap();
    }

    #[test]
    fn upstream_timeouts() {
        let c = parse(&service("free = true")).unwrap();
        assert_eq!(c.services[0].upstream_timeout(), Duration::from_secs(30));
        let c = parse(&format!(
            "upstream_timeout_secs = 7\n{}",
            service("free = true")
        ))
        .unwrap();
        assert_eq!(c.services[0].upstream_timeout(), Duration::from_secs(7));
        let c = parse(&format!(
            "upstream_timeout_secs = 7\n{}",
            service("free = true\nupstream_timeout_secs = 2")
        ))
        .unwrap();
        assert_eq!(c.services[0].upstream_timeout(), Duration::from_secs(2));
        for bad in ["upstream_timeout_secs = 0", "upstream_timeout_secs = 3601"] {
            assert!(
                parse(&service(&format!("free = true\n{bad}"))).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn redis_revocations_cap_token_validity() {
        let redis = "[revocation]\nkind = \"redis\"\nurl = \"redis://127.0.0.1/\"\nmax_token_lifetime_secs = 600\n";
        // A validity longer than the revocations last: refused.
        let e = parse(&format!(
            "{redis}{}",
            service("price_sat = 1\nvalidity_secs = 601")
        ))
        .unwrap_err();
        assert!(
            e.message.contains("max_token_lifetime_secs"),
            "{}",
            e.message
        );
        // No validity: the lifetime; a shorter one: kept.
        let c = parse(&format!("{redis}{}", service("price_sat = 1"))).unwrap();
        assert_eq!(c.validity(&c.services[0]), Some(Duration::from_secs(600)));
        let c = parse(&format!(
            "{redis}{}",
            service("price_sat = 1\nvalidity_secs = 60")
        ))
        .unwrap();
        assert_eq!(c.validity(&c.services[0]), Some(Duration::from_secs(60)));
        // A file list never expires its entries: validity as configured.
        let file = "[revocation]\nkind = \"memory\"\nfile = \"revoked.txt\"\n";
        let c = parse(&format!("{file}{}", service("price_sat = 1"))).unwrap();
        assert_eq!(c.validity(&c.services[0]), None);
        assert!(matches!(
            &c.revocation,
            Some(RevocationConfig::Memory { file, .. }) if file == Path::new("/etc/l402/revoked.txt")
        ));
        for bad in [
            "[revocation]\nkind = \"redis\"\nurl = \"redis://x/\"\n",
            "[revocation]\nkind = \"redis\"\nurl = \"redis://x/\"\nmax_token_lifetime_secs = 0\n",
            "[revocation]\nkind = \"memory\"\n",
            "[revocation]\nkind = \"memory\"\nfile = \"r\"\nreload_secs = 0\n",
            "[revocation]\nkind = \"disk\"\nfile = \"r\"\n",
        ] {
            assert!(
                parse(&format!("{bad}{}", service("price_sat = 1"))).is_err(),
                "{bad}"
            );
        }
    }
}
