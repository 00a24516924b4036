//! The `l402 proxy` configuration file (TOML).
//!
//! ```toml
//! listen = "127.0.0.1:8402"
//!
//! [tls]                                 # optional: HTTPS (h2 or HTTP/1.1 by ALPN)
//! cert_file = "cert.pem"                # PEM chain, leaf first; re-read when it changes
//! key_file = "key.pem"                  # PEM private key (PKCS#8, PKCS#1 or SEC1)
//! reload_secs = 5                       # how often the files are checked
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
//! # (with [redis], leave url and prefix out: the fleet's connection is used)
//!
//! [redis]                               # optional: state shared by a fleet
//! url = "redis://127.0.0.1:6379/"       # freebies, Payment charges, rate-limit buckets
//! prefix = "l402"                       # and revocations counted once for every instance
//! timeout_ms = 250                      # bound on every Redis call
//!
//! [blocklist]                           # optional: refused with 403 before routing
//! file = "blocked.txt"                  # CIDR networks, one per line, `#` comments;
//! reload_secs = 2                       # re-read when it changes and on SIGHUP
//!
//! [admin]                               # optional: the admin API (`l402 admin`)
//! listen = "127.0.0.1:8403"             # its own listener, never the paying one
//! bearer_secret_file = "admin.secret"   # at least 32 characters, chmod 600
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
//!
//! [services.rate_limit]                 # optional: 429 with Retry-After past a bucket
//! paid = { requests = 10, per_secs = 1, burst = 20 }  # per token id
//! unpaid = { requests = 30, per_secs = 60 }           # per client network, no invoice
//! ipv4_prefix = 24                      # one bucket per /24 (default 32)
//! ipv6_prefix = 48                      # one bucket per /48 (default 64)
//! fail_closed = false                   # Redis down: let requests through (true: 503)
//! ```
//!
//! Relative file paths are relative to the configuration file's directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use l402_proxy::{RevocationConfig, ServiceConfig};
use serde::Deserialize;

use crate::backend::{BackendKind, NodeSettings};
use crate::exit::CliError;

/// Environment variable read for the master secret when the file names none.
pub(crate) const DEFAULT_MASTER_SECRET_ENV: &str = "L402_MASTER_SECRET";
/// Largest configuration file read.
const MAX_CONFIG_LEN: u64 = 1024 * 1024;

/// The whole file, as read: what the CLI uses (listener, node, root keys) and the
/// proxy's own settings (`l402_proxy::ProxyConfig`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    tls: Option<TlsConfig>,
    backend: BackendConfig,
    #[serde(default)]
    root_keys: RootKeysConfig,
    revocation: Option<RevocationConfig>,
    upstream_timeout_secs: Option<u64>,
    #[serde(default)]
    trust_forwarded_headers: bool,
    metrics: Option<l402_proxy::metrics::MetricsConfig>,
    redis: Option<l402_proxy::RedisConfig>,
    blocklist: Option<l402_proxy::BlocklistConfig>,
    admin: Option<l402_proxy::admin::AdminConfig>,
    services: Vec<ServiceConfig>,
}

/// The configuration file, checked.
#[derive(Debug)]
pub(crate) struct ProxyConfig {
    /// Address to listen on.
    pub(crate) listen: SocketAddr,
    /// The listener's certificate (none: plain HTTP).
    pub(crate) tls: Option<TlsConfig>,
    /// The node that creates invoices.
    pub(crate) backend: BackendConfig,
    /// Where root keys come from.
    pub(crate) root_keys: RootKeysConfig,
    /// Revocation, timeouts and services.
    pub(crate) proxy: l402_proxy::ProxyConfig,
}

/// `127.0.0.1:8402`.
fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8402))
}

/// Default interval between checks of the certificate files, in seconds.
pub(crate) const DEFAULT_TLS_RELOAD_SECS: u64 = 5;

/// `[tls]`: the listener serves HTTPS with this certificate.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub(crate) cert_file: PathBuf,
    /// PEM private key of the leaf.
    pub(crate) key_file: PathBuf,
    /// How often the files are checked for a new certificate, in seconds.
    pub(crate) reload_secs: Option<u64>,
}

impl TlsConfig {
    /// The interval between checks of the files.
    pub(crate) fn reload_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.reload_secs.unwrap_or(DEFAULT_TLS_RELOAD_SECS))
    }
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
#[derive(Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RootKeysConfig {
    /// File holding the master secret in hex (at least 32 bytes).
    pub(crate) master_secret_file: Option<PathBuf>,
    /// Environment variable holding it instead (default `L402_MASTER_SECRET`).
    pub(crate) master_secret_env: Option<String>,
    /// The previous master secret, still accepted for verification (rotation).
    pub(crate) previous_master_secret_file: Option<PathBuf>,
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
        Self::parse(&text, path)
    }

    /// Reads an Aperture YAML file and checks the configuration it converts to, with
    /// the TOML it converts to; relative paths are relative to the working directory,
    /// as in Aperture.
    pub(crate) fn load_aperture(
        path: &Path,
        lnd_rest_url: Option<&str>,
    ) -> Result<(Self, String), CliError> {
        use l402_proxy::aperture::{ApertureOptions, MAX_APERTURE_LEN, from_yaml};
        let meta = std::fs::metadata(path)
            .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
        if meta.len() > MAX_APERTURE_LEN as u64 {
            return Err(CliError::config(format!("{} is too large", path.display())));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
        let cwd = std::env::current_dir()
            .map_err(|e| CliError::config(format!("no working directory: {e}")))?;
        let mut options =
            ApertureOptions::new(&cwd, dirs::home_dir().unwrap_or_default().join(".aperture"));
        if let Some(url) = lnd_rest_url {
            options = options.lnd_rest_url(url);
        }
        let converted = from_yaml(&text, &options)
            .map_err(|e| CliError::config(format!("{}: {e}", path.display())))?;
        let toml = converted.toml().to_owned();
        let config = ProxyConfig {
            listen: converted.listen.unwrap_or_else(default_listen),
            tls: converted.tls.map(|t| TlsConfig {
                cert_file: t.cert_file,
                key_file: t.key_file,
                reload_secs: None,
            }),
            backend: BackendConfig {
                kind: BackendKind::Lnd,
                url: converted.lnd.rest_url,
                macaroon_file: Some(converted.lnd.macaroon_file),
                rune_file: None,
                tls_cert_file: converted.lnd.tls_cert_file,
                tls_server_name: None,
                allow_spending_credential: false,
            },
            root_keys: RootKeysConfig::default(),
            proxy: converted.proxy,
        };
        config
            .proxy
            .validate()
            .map_err(|e| CliError::config(format!("{} (converted): {e}", path.display())))?;
        Ok((config, toml))
    }

    /// Parses and checks `text`, read from `path`.
    pub(crate) fn parse(text: &str, path: &Path) -> Result<Self, CliError> {
        let file: File = toml::from_str(text)
            .map_err(|e| CliError::config(format!("{}: {e}", path.display())))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        let mut proxy = l402_proxy::ProxyConfig::new(file.services);
        proxy.revocation = file.revocation;
        proxy.upstream_timeout_secs = file.upstream_timeout_secs;
        if let Some(tls) = &file.tls
            && tls.reload_secs.is_some_and(|s| !(1..=3600).contains(&s))
        {
            return Err(CliError::config(format!(
                "{}: [tls] reload_secs must be between 1 and 3600",
                path.display()
            )));
        }
        proxy.trust_forwarded_headers = file.trust_forwarded_headers;
        proxy.metrics = file.metrics;
        proxy.redis = file.redis;
        proxy.blocklist = file.blocklist;
        proxy.admin = file.admin;
        let mut config = ProxyConfig {
            listen: file.listen,
            tls: file.tls,
            backend: file.backend,
            root_keys: file.root_keys,
            proxy,
        };
        config.resolve(base);
        config
            .proxy
            .validate()
            .map_err(|e| CliError::config(e.to_string()))?;
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
        if let Some(tls) = &mut self.tls {
            for p in [&mut tls.cert_file, &mut tls.key_file] {
                if p.is_relative() {
                    *p = base.join(&*p);
                }
            }
        }
        self.proxy.resolve_paths(base);
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
        ProxyConfig::parse(text, Path::new("/etc/l402/proxy.toml"))
    }

    const BASE: &str = r#"
[backend]
url = "https://127.0.0.1:8080"
macaroon_file = "m.macaroon"
"#;

    #[test]
    fn sample_config_parses() {
        let text = include_str!("../examples/proxy.toml");
        let c = ProxyConfig::parse(text, Path::new("proxy.toml")).unwrap();
        assert!(!c.proxy.services.is_empty());
    }

    #[test]
    fn relative_paths() {
        let c = parse(&format!(
            "{BASE}\n[revocation]\nkind = \"memory\"\nfile = \"revoked.txt\"\n\
             [[services]]\nname = \"a\"\nupstream = \"http://x\"\nprice_msat = 1500\n"
        ))
        .unwrap();
        assert_eq!(
            c.backend.macaroon_file.unwrap(),
            Path::new("/etc/l402/m.macaroon")
        );
        assert!(matches!(
            &c.proxy.revocation,
            Some(RevocationConfig::Memory { file, .. }) if file == Path::new("/etc/l402/revoked.txt")
        ));
        assert_eq!(c.listen.to_string(), "127.0.0.1:8402");
    }

    #[test]
    fn bad_configs_are_config_errors() {
        for bad in [
            "[[services]]\nname = \"a\"\nupstream = \"http://x\"\nprice_sat = 1\n", // no backend
            &format!("{BASE}\n[[services]]\nname = \"a\"\nupstream = \"http://x\"\n"), // no price
            &format!(
                "{BASE}\nbogus = 1\n[[services]]\nname = \"a\"\nupstream = \"http://x\"\nfree = true\n"
            ),
            &format!(
                "{BASE}\n[[services]]\nname = \"a\"\nupstream = \"http://x\"\nfree = true\nbogus = 1\n"
            ),
            &format!("{BASE}\n"),
        ] {
            assert_eq!(parse(bad).unwrap_err().code, crate::exit::CONFIG, "{bad}");
        }
        let e = parse(&format!(
            "{BASE}\n[[services]]\nname = \"svc\"\nupstream = \"http://x\"\nprice_sat = 0\n"
        ))
        .unwrap_err();
        assert_eq!(
            e.message,
            "service \"svc\": a price of 0 is not accepted: set free = true for a free service"
        );
    }
}
