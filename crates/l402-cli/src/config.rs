//! The `l402 proxy` configuration file (TOML).
//!
//! ```toml
//! listen = "127.0.0.1:8402"
//!
//! [backend]
//! kind = "lnd"                          # or "cln" with rune_file, tls_cert_file = ca.pem"
//! url = "https://127.0.0.1:8080"
//! macaroon_file = "invoice.macaroon"     # invoices:write invoices:read is enough
//! tls_cert_file = "tls.cert"
//!
//! [root_keys]
//! master_secret_file = "master.secret"  # or master_secret_env = "L402_MASTER_SECRET"
//!
//! [[services]]
//! name = "weather"
//! host = "api.example.com"              # optional; `*.example.com` matches subdomains
//! path = "/weather"                     # optional path prefix
//! upstream = "http://127.0.0.1:9000"
//! price_sat = 10                        # or price_msat = 10500, or free = true
//! capabilities = ["forecast"]
//! validity_secs = 86400
//! headers = { "X-Api-Key" = "upstream-secret" }
//! ```
//!
//! Relative file paths are relative to the configuration file's directory.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use l402_core::{Amount, Service};
use reqwest::Url;
use serde::Deserialize;

use crate::backend::{BackendKind, NodeSettings};
use crate::exit::CliError;

/// Environment variable read for the master secret when the file names none.
pub(crate) const DEFAULT_MASTER_SECRET_ENV: &str = "L402_MASTER_SECRET";
/// Largest configuration file read.
const MAX_CONFIG_LEN: u64 = 1024 * 1024;

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
}

impl ServiceConfig {
    /// The price; `None` for a free service.
    pub(crate) fn price(&self) -> Result<Option<Amount>, CliError> {
        let err = |m: &str| CliError::config(format!("service {:?}: {m}", self.name));
        match (self.free, self.price_sat, self.price_msat) {
            (true, None, None) => Ok(None),
            (false, Some(sat), None) => match Amount::from_sat(sat) {
                Some(a) if a.is_zero() => Ok(None),
                Some(a) => Ok(Some(a)),
                None => Err(err("price_sat is too large")),
            },
            (false, None, Some(0)) => Ok(None),
            (false, None, Some(msat)) => Ok(Some(Amount::from_msat(msat))),
            (false, None, None) => Err(err("give price_sat, price_msat or free = true")),
            _ => Err(err(
                "give only one of price_sat, price_msat and free = true",
            )),
        }
    }

    /// The upstream base URL.
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
            if let Some(p) = &s.path
                && !p.starts_with('/')
            {
                return Err(CliError::config(format!(
                    "service {:?}: path must start with '/'",
                    s.name
                )));
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
        Ok(())
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
}
