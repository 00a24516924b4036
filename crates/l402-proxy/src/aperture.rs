//! Reading an Aperture YAML configuration (feature `aperture`).
//!
//! [`from_yaml`] is a pure function from the YAML text of an Aperture configuration to
//! the proxy's [`ProxyConfig`], the LND settings of Aperture's `authenticator`, the
//! listener's address and certificate, and the equivalent TOML of the `l402 proxy`
//! command ([`ApertureConfig::toml`]). It reads no file and resolves no name. Every key
//! is either mapped, accepted without effect (logging, Aperture's own database and
//! listener tuning), or refused: a key set to something this proxy does not do is named
//! in [`ApertureError::Unsupported`], all of them at once, so that nothing is silently
//! dropped. The result is not yet validated: [`ProxyConfig::validate`] (which reads
//! header files) checks it, as the [builder](crate::ProxyBuilder) does.
//!
//! | Aperture | `l402 proxy` |
//! |---|---|
//! | `listenaddr` | `listen` (`localhost` is `127.0.0.1`, `:8081` every address) |
//! | `insecure: false` (no `autocert`) | `[tls]` with `<basedir>/tls.cert` and `tls.key` |
//! | `authenticator.lndhost`, `tlspath`, `macdir` | `[backend]` (LND REST, `invoice.macaroon`) |
//! | `authenticator.enablempp`, `mpprealm` | `auth_scheme = "l402+payment"`, `payment_realm` |
//! | `services[].name`, `hostregexp`, `pathregexp` | `name`, `host_regex`, `path_regex` |
//! | `address`, `protocol`, `rewrite.prefix` | `upstream` (`https` talks h2 through ALPN) |
//! | `tlscertpath` | `upstream_cert_file` (pinned) |
//! | `auth` (`on`, `off`, `freebie N`) | priced, `free = true`, `freebies = N` |
//! | `authscheme` (`l402`, `mpp`, `l402+mpp`) | `auth_scheme` |
//! | `price` (0 is 1 sat, as in Aperture), `timeout`, `capabilities`, `headers`, `authwhitelistpaths` | `price_sat`, `validity_secs`, `capabilities`, `headers`, `auth_whitelist_paths` |
//!
//! ```
//! use std::path::Path;
//! use l402_proxy::aperture::{ApertureOptions, from_yaml};
//!
//! let yaml = r#"
//! listenaddr: "localhost:8081"
//! insecure: true
//! authenticator:
//!   lndhost: "localhost:10009"
//!   macdir: "/lnd/data/chain/bitcoin/mainnet"
//! services:
//!   - name: "weather"
//!     pathregexp: '^/weather/.*$'
//!     address: "127.0.0.1:9000"
//!     protocol: http
//!     price: 10
//! "#;
//! let options = ApertureOptions::new("/srv", "/home/op/.aperture");
//! let c = from_yaml(yaml, &options).unwrap();
//! assert_eq!(c.listen.unwrap().to_string(), "127.0.0.1:8081");
//! assert_eq!(c.lnd.rest_url, "https://localhost:8080");
//! assert_eq!(c.proxy.services[0].upstream, "http://127.0.0.1:9000");
//! assert_eq!(c.proxy.services[0].price_sat, Some(10));
//! assert!(c.toml().contains("path_regex"));
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use crate::config::{ProxyConfig, ServiceConfig};

/// Largest Aperture configuration read, in bytes.
pub const MAX_APERTURE_LEN: usize = 1024 * 1024;

/// What the YAML cannot say: where relative paths start, Aperture's default directory,
/// LND's REST URL.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApertureOptions {
    /// Relative paths are made absolute against it (Aperture resolves them against its
    /// working directory).
    pub working_dir: PathBuf,
    /// Aperture's `basedir` when the file gives none (Aperture's `~/.aperture`).
    pub default_base_dir: PathBuf,
    /// LND's REST URL, overriding the one derived from `authenticator.lndhost` (which
    /// names LND's gRPC address; its port 10009 becomes REST's 8080).
    pub lnd_rest_url: Option<String>,
}

impl ApertureOptions {
    /// Options with these directories and no LND REST URL.
    pub fn new(working_dir: impl Into<PathBuf>, default_base_dir: impl Into<PathBuf>) -> Self {
        ApertureOptions {
            working_dir: working_dir.into(),
            default_base_dir: default_base_dir.into(),
            lnd_rest_url: None,
        }
    }

    /// LND's REST URL, instead of the one derived from `authenticator.lndhost`.
    #[must_use]
    pub fn lnd_rest_url(mut self, url: impl Into<String>) -> Self {
        self.lnd_rest_url = Some(url.into());
        self
    }
}

/// An Aperture configuration, converted.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ApertureConfig {
    /// `listenaddr` (none: the embedding application's default).
    pub listen: Option<SocketAddr>,
    /// The listener's certificate (none: `insecure: true`, plain HTTP).
    pub tls: Option<ListenerTls>,
    /// The LND node that creates invoices.
    pub lnd: LndSettings,
    /// The services, in Aperture's order.
    pub proxy: ProxyConfig,
    toml: String,
}

impl ApertureConfig {
    /// The same configuration as the TOML the `l402 proxy --config` command reads, as
    /// converted (changes made to the fields afterwards are not in it).
    pub fn toml(&self) -> &str {
        &self.toml
    }
}

/// The listener's certificate and key files (`<basedir>/tls.cert`, `tls.key`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerTls {
    /// PEM certificate chain.
    pub cert_file: PathBuf,
    /// PEM private key.
    pub key_file: PathBuf,
}

/// Aperture's `authenticator`, as LND REST settings.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LndSettings {
    /// LND's REST URL.
    pub rest_url: String,
    /// `<macdir>/invoice.macaroon`.
    pub macaroon_file: PathBuf,
    /// LND's `tls.cert`, to pin (`tlspath`).
    pub tls_cert_file: Option<PathBuf>,
}

/// Why an Aperture configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApertureError {
    /// The text is longer than [`MAX_APERTURE_LEN`].
    #[error("the aperture config is too large ({len} bytes, at most {MAX_APERTURE_LEN})")]
    TooLarge {
        /// Its length in bytes.
        len: usize,
    },
    /// Not YAML, or not a mapping at the top.
    #[error("malformed aperture config: {0}")]
    Syntax(String),
    /// Values of the wrong type or form, missing settings, unknown keys: each named.
    #[error("malformed aperture config: {}", problems.join("; "))]
    Invalid {
        /// What is wrong, one entry a key.
        problems: Vec<String>,
    },
    /// Keys set to what this proxy does not do, all of them.
    #[error(
        "the aperture config uses what l402 proxy does not support: {}; remove these keys \
         (docs/operations.md, \"Migrating from Aperture\")",
        keys.join(", ")
    )]
    Unsupported {
        /// The keys, as `services[0].ratelimits`.
        keys: Vec<String>,
    },
}

/// Top-level keys accepted without effect here.
const IGNORED: &[&str] = &[
    "debuglevel",
    "configfile",
    "servername",
    "staticroot",
    "strictverify",
    "invoicebatchsize",
    "profile",
    "dbbackend",
    "sqlite",
    "postgres",
    "etcd",
    "logging",
    "idletimeout",
    "readtimeout",
    "writetimeout",
    "wspinginterval",
    "wspongwait",
];

/// LND's default gRPC port, which Aperture's `lndhost` names; its REST port is 8080.
const LND_GRPC_PORT: u16 = 10009;

/// What the conversion found: refused keys, collected so that all are named at once.
struct Walk {
    unsupported: Vec<String>,
    problems: Vec<String>,
    base: PathBuf,
}

impl Walk {
    /// `path` made absolute against the working directory, as Aperture reads it.
    fn path(&self, p: &str) -> String {
        let p = Path::new(p);
        if p.is_absolute() {
            p.display().to_string()
        } else {
            self.base.join(p).display().to_string()
        }
    }

    fn unsupported(&mut self, key: &str) {
        self.unsupported.push(key.to_owned());
    }

    fn problem(&mut self, msg: String) {
        self.problems.push(msg);
    }
}

fn mapping<'a>(v: &'a Value, key: &str, w: &mut Walk) -> Option<&'a Mapping> {
    match v {
        Value::Mapping(m) => Some(m),
        Value::Null => None,
        _ => {
            w.problem(format!("{key} must be a mapping"));
            None
        }
    }
}

fn string(v: &Value, key: &str, w: &mut Walk) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        _ => {
            w.problem(format!("{key} must be a string"));
            None
        }
    }
}

fn boolean(v: &Value, key: &str, w: &mut Walk) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::Null => false,
        _ => {
            w.problem(format!("{key} must be true or false"));
            false
        }
    }
}

fn integer(v: &Value, key: &str, w: &mut Walk) -> Option<i64> {
    match v {
        Value::Number(n) if n.as_i64().is_some() => n.as_i64(),
        Value::Null => None,
        _ => {
            w.problem(format!("{key} must be an integer"));
            None
        }
    }
}

/// Whether a value says something: not null, false, 0, "" or empty.
fn is_set(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Sequence(s) => !s.is_empty(),
        Value::Mapping(m) => !m.is_empty(),
        Value::Tagged(_) => true,
    }
}

fn key_str(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => format!("{other:?}"),
    }
}

/// Converts the Aperture YAML `text`. Relative paths are made absolute against
/// [`ApertureOptions::working_dir`]; nothing is read or resolved.
///
/// # Errors
/// Text longer than [`MAX_APERTURE_LEN`], malformed YAML, malformed values (all named),
/// or keys this proxy does not support (all named).
pub fn from_yaml(text: &str, options: &ApertureOptions) -> Result<ApertureConfig, ApertureError> {
    if text.len() > MAX_APERTURE_LEN {
        return Err(ApertureError::TooLarge { len: text.len() });
    }
    let doc: Value =
        serde_yaml_ng::from_str(text).map_err(|e| ApertureError::Syntax(e.to_string()))?;
    let Value::Mapping(top) = doc else {
        return Err(ApertureError::Syntax(
            "the top level must be a mapping".to_owned(),
        ));
    };
    let mut w = Walk {
        unsupported: Vec::new(),
        problems: Vec::new(),
        base: options.working_dir.clone(),
    };
    let mut out = toml::Table::new();
    let mut listen = None;
    let mut insecure = false;
    let mut autocert = false;
    let mut basedir = None;
    let mut services = Vec::new();
    let mut auth = None;
    for (k, v) in &top {
        let key = key_str(k);
        match key.as_str() {
            "listenaddr" => {
                if let Some(addr) = string(v, &key, &mut w) {
                    match listen_addr(&addr) {
                        Some(a) => {
                            out.insert("listen".into(), a.to_string().into());
                            listen = Some(a);
                        }
                        None => w.problem(format!(
                            "listenaddr {addr:?} is not an ip address (or localhost) and port"
                        )),
                    }
                }
            }
            "insecure" => insecure = boolean(v, &key, &mut w),
            "autocert" => autocert = boolean(v, &key, &mut w),
            "basedir" => basedir = string(v, &key, &mut w),
            "servestatic" => {
                if boolean(v, &key, &mut w) {
                    w.unsupported("servestatic");
                }
            }
            "authenticator" => auth = mapping(v, &key, &mut w).cloned(),
            "services" => match v {
                Value::Sequence(s) => services = s.clone(),
                Value::Null => {}
                _ => w.problem("services must be a list".to_owned()),
            },
            "blocklist" | "tor" => {
                if is_set(v) {
                    w.unsupported(&key);
                }
            }
            "hashmail" | "prometheus" | "admin" => {
                if let Some(m) = mapping(v, &key, &mut w)
                    && m.get("enabled").is_some_and(is_set)
                {
                    w.unsupported(&key);
                }
            }
            k if IGNORED.contains(&k) => {}
            _ => w.problem(format!("unknown aperture key {key:?}")),
        }
    }
    if autocert {
        w.unsupported("autocert");
    }
    let mut tls = None;
    if !insecure && !autocert {
        let dir = match basedir {
            Some(d) => PathBuf::from(w.path(&d)),
            None => options.default_base_dir.clone(),
        };
        let files = ListenerTls {
            cert_file: dir.join("tls.cert"),
            key_file: dir.join("tls.key"),
        };
        let mut t = toml::Table::new();
        t.insert(
            "cert_file".into(),
            files.cert_file.display().to_string().into(),
        );
        t.insert(
            "key_file".into(),
            files.key_file.display().to_string().into(),
        );
        out.insert("tls".into(), t.into());
        tls = Some(files);
    }
    let (scheme, lnd) = authenticator(auth.as_ref(), options, &mut w, &mut out);
    let mut list = Vec::new();
    for (i, s) in services.iter().enumerate() {
        if let Some(t) = service(i, s, &scheme, &mut w) {
            list.push(toml::Value::Table(t));
        }
    }
    if !w.problems.is_empty() {
        return Err(ApertureError::Invalid {
            problems: w.problems,
        });
    }
    if !w.unsupported.is_empty() {
        return Err(ApertureError::Unsupported {
            keys: w.unsupported,
        });
    }
    let Some(lnd) = lnd else {
        return Err(ApertureError::Invalid {
            problems: vec!["authenticator is incomplete".to_owned()],
        });
    };
    // The services are read as the TOML loader reads them, so that what runs is what
    // `toml` prints.
    let services: Vec<ServiceConfig> =
        toml::Value::Array(list.clone())
            .try_into()
            .map_err(|e: toml::de::Error| ApertureError::Invalid {
                problems: vec![format!("services: {}", e.message())],
            })?;
    out.insert("services".into(), list.into());
    let toml = toml::to_string(&out).map_err(|e| ApertureError::Invalid {
        problems: vec![format!("cannot write toml: {e}")],
    })?;
    let mut proxy = ProxyConfig::new(services);
    proxy.resolve_paths(&options.working_dir);
    Ok(ApertureConfig {
        listen,
        tls,
        lnd,
        proxy,
        toml,
    })
}

/// `host:port` with an IP address, `localhost` (`127.0.0.1`) or nothing (Go's `:8081`,
/// every address) as the host. No name is resolved.
fn listen_addr(addr: &str) -> Option<SocketAddr> {
    if let Ok(a) = addr.parse() {
        return Some(a);
    }
    let (host, port) = addr.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    match host.to_ascii_lowercase().as_str() {
        "localhost" => Some(SocketAddr::from((Ipv4Addr::LOCALHOST, port))),
        "" => Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))),
        _ => None,
    }
}

/// The payment scheme settings every service inherits.
#[derive(Default)]
struct Scheme {
    mpp: bool,
    realm: Option<String>,
}

/// `authenticator:` into `[backend]` and [`LndSettings`] (none when incomplete: the
/// problem is recorded).
fn authenticator(
    auth: Option<&Mapping>,
    options: &ApertureOptions,
    w: &mut Walk,
    out: &mut toml::Table,
) -> (Scheme, Option<LndSettings>) {
    let mut scheme = Scheme::default();
    let mut backend = toml::Table::new();
    backend.insert("kind".into(), "lnd".into());
    let (mut lndhost, mut tlspath, mut macdir) = (None, None, None);
    if let Some(auth) = auth {
        for (k, v) in auth {
            let key = format!("authenticator.{}", key_str(k));
            match key_str(k).as_str() {
                "network" => {
                    if let Some(n) = string(v, &key, w)
                        && ![
                            "mainnet", "testnet", "testnet4", "regtest", "simnet", "signet",
                        ]
                        .contains(&n.as_str())
                    {
                        w.problem(format!("{key}: unknown network {n:?}"));
                    }
                }
                "lndhost" => lndhost = string(v, &key, w),
                "tlspath" => tlspath = string(v, &key, w),
                "macdir" => macdir = string(v, &key, w),
                "enablempp" => scheme.mpp = boolean(v, &key, w),
                "mpprealm" => scheme.realm = string(v, &key, w),
                "disable"
                | "passphrase"
                | "mailboxaddress"
                | "devserver"
                | "enablesessions"
                | "sessiondepositmultiplier"
                | "sessionidletimeout" => {
                    if is_set(v) {
                        w.unsupported(&key);
                    }
                }
                _ => w.problem(format!("unknown aperture key {key:?}")),
            }
        }
    }
    let url = match (&options.lnd_rest_url, &lndhost) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(host)) => match host.rsplit_once(':') {
            Some((h, port)) if port.parse() == Ok(LND_GRPC_PORT) => {
                Some(format!("https://{h}:8080"))
            }
            _ => {
                w.problem(format!(
                    "authenticator.lndhost {host:?} is LND's gRPC address and l402 proxy \
                     talks to LND's REST API: give it with --lnd-rest-url URL"
                ));
                None
            }
        },
        (None, None) => {
            w.problem("authenticator.lndhost is missing (or give --lnd-rest-url)".to_owned());
            None
        }
    };
    if let Some(url) = &url {
        backend.insert("url".into(), url.clone().into());
    }
    let macaroon_file = match macdir {
        Some(dir) => {
            let file = Path::new(&w.path(&dir)).join("invoice.macaroon");
            backend.insert("macaroon_file".into(), file.display().to_string().into());
            Some(file)
        }
        None => {
            w.problem("authenticator.macdir is missing".to_owned());
            None
        }
    };
    let tls_cert_file = tlspath.map(|tls| {
        let path = w.path(&tls);
        backend.insert("tls_cert_file".into(), path.clone().into());
        PathBuf::from(path)
    });
    out.insert("backend".into(), backend.into());
    let lnd = match (url, macaroon_file) {
        (Some(rest_url), Some(macaroon_file)) => Some(LndSettings {
            rest_url,
            macaroon_file,
            tls_cert_file,
        }),
        _ => None,
    };
    (scheme, lnd)
}

/// One `services:` entry into a `[[services]]` table.
fn service(i: usize, s: &Value, scheme: &Scheme, w: &mut Walk) -> Option<toml::Table> {
    let at = format!("services[{i}]");
    let m = mapping(s, &at, w)?;
    let mut t = toml::Table::new();
    let (mut address, mut protocol, mut prefix) = (None, "http".to_owned(), String::new());
    let mut price = None;
    let mut level = String::new();
    let mut authscheme = None;
    for (k, v) in m {
        let name = key_str(k);
        let key = format!("{at}.{name}");
        match name.as_str() {
            "name" => {
                if let Some(n) = string(v, &key, w) {
                    t.insert("name".into(), n.into());
                }
            }
            "hostregexp" => {
                if let Some(r) = string(v, &key, w) {
                    t.insert("host_regex".into(), r.into());
                }
            }
            "pathregexp" => {
                if let Some(r) = string(v, &key, w) {
                    t.insert("path_regex".into(), r.into());
                }
            }
            "address" => address = string(v, &key, w),
            "protocol" => match string(v, &key, w).as_deref() {
                Some(p @ ("http" | "https")) => protocol = p.to_owned(),
                None => {}
                Some(p) => w.problem(format!("{key}: {p:?} is not http or https")),
            },
            "tlscertpath" => {
                if let Some(p) = string(v, &key, w).filter(|p| !p.is_empty()) {
                    t.insert("upstream_cert_file".into(), w.path(&p).into());
                }
            }
            "auth" => level = string(v, &key, w).unwrap_or_default().to_lowercase(),
            "authscheme" => authscheme = string(v, &key, w),
            "headers" => {
                if let Some(h) = mapping(v, &key, w) {
                    let mut headers = toml::Table::new();
                    for (hk, hv) in h {
                        if let Some(val) = string(hv, &key, w) {
                            headers.insert(key_str(hk), val.into());
                        }
                    }
                    t.insert("headers".into(), headers.into());
                }
            }
            "rewrite" => {
                if let Some(r) = mapping(v, &key, w) {
                    for (rk, rv) in r {
                        match key_str(rk).as_str() {
                            "prefix" => prefix = string(rv, &key, w).unwrap_or_default(),
                            other => w.problem(format!("unknown aperture key \"{key}.{other}\"")),
                        }
                    }
                }
            }
            "timeout" => match integer(v, &key, w) {
                Some(secs) if secs > 0 => {
                    t.insert("validity_secs".into(), secs.into());
                }
                Some(secs) if secs < 0 => w.problem(format!("{key} must not be negative")),
                _ => {}
            },
            "capabilities" => {
                if let Some(c) = string(v, &key, w) {
                    let caps: Vec<toml::Value> = c
                        .split(',')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(|c| c.to_owned().into())
                        .collect();
                    if !caps.is_empty() {
                        t.insert("capabilities".into(), caps.into());
                    }
                }
            }
            "price" => price = integer(v, &key, w),
            "authwhitelistpaths" => match v {
                Value::Sequence(paths) => {
                    let list: Vec<toml::Value> = paths
                        .iter()
                        .filter_map(|p| string(p, &key, w))
                        .map(toml::Value::from)
                        .collect();
                    if !list.is_empty() {
                        t.insert("auth_whitelist_paths".into(), list.into());
                    }
                }
                Value::Null => {}
                _ => w.problem(format!("{key} must be a list")),
            },
            "dynamicprice" => {
                if let Some(d) = mapping(v, &key, w)
                    && d.get("enabled").is_some_and(is_set)
                {
                    w.unsupported(&format!(
                        "{key} (a gRPC pricer; l402 proxy prices through an HTTP JSON \
                         endpoint: price_url)"
                    ));
                }
            }
            "constraints" | "authskipinvoicecreationpaths" | "ratelimits" => {
                if is_set(v) {
                    w.unsupported(&key);
                }
            }
            _ => w.problem(format!("unknown aperture key {key:?}")),
        }
    }
    let Some(address) = address else {
        w.problem(format!("{at}.address is missing"));
        return None;
    };
    if !prefix.is_empty() && !prefix.starts_with('/') {
        w.problem(format!("{at}.rewrite.prefix must start with '/'"));
    }
    let prefix = prefix.trim_end_matches('/');
    t.insert(
        "upstream".into(),
        format!("{protocol}://{address}{prefix}").into(),
    );
    if protocol == "https" {
        // Aperture's client negotiates HTTP/2 through ALPN, which gRPC upstreams need.
        t.insert("upstream_protocol".into(), "h2".into());
    }
    let free = match level.as_str() {
        "" | "on" | "true" => false,
        "off" | "false" => true,
        l => match l.strip_prefix("freebie ").map(|n| n.trim().parse::<u32>()) {
            Some(Ok(n)) => {
                t.insert("freebies".into(), i64::from(n).into());
                false
            }
            _ => {
                w.problem(format!("{at}.auth: {l:?} is not on, off or \"freebie N\""));
                false
            }
        },
    };
    if free {
        t.insert("free".into(), true.into());
        return Some(t);
    }
    match price {
        Some(p) if p < 0 => w.problem(format!("{at}.price must not be negative")),
        // Aperture charges its default of 1 sat for a price of 0 or none.
        Some(0) | None => {
            t.insert("price_sat".into(), 1.into());
        }
        Some(p) => {
            t.insert("price_sat".into(), p.into());
        }
    }
    let auth_scheme = match authscheme.as_deref() {
        Some("l402") => "l402",
        Some("mpp") => "payment",
        Some("l402+mpp") => "l402+payment",
        None | Some("") if scheme.mpp => "l402+payment",
        None | Some("") => "l402",
        Some(other) => {
            w.problem(format!(
                "{at}.authscheme: {other:?} is not l402, mpp or l402+mpp"
            ));
            "l402"
        }
    };
    if auth_scheme != "l402" {
        t.insert("auth_scheme".into(), auth_scheme.into());
        if let Some(realm) = &scheme.realm {
            t.insert("payment_realm".into(), realm.clone().into());
        }
    }
    Some(t)
}

/// The invariants the fuzz target `aperture_config` checks, also run over its seed
/// corpus by this crate's tests: nothing panics, and an accepted configuration's TOML
/// reads back as the same services, with every path absolute.
#[doc(hidden)]
pub fn fuzz_check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for options in [
        ApertureOptions::new("/srv", "/home/op/.aperture"),
        ApertureOptions::new("/srv", "/home/op/.aperture").lnd_rest_url("https://lnd:8080"),
    ] {
        let Ok(c) = from_yaml(text, &options) else {
            continue;
        };
        let table: Result<toml::Table, _> = toml::from_str(c.toml());
        assert!(table.is_ok(), "the printed toml parses: {}", c.toml());
        let services: Option<Vec<ServiceConfig>> = table
            .ok()
            .and_then(|mut t| t.remove("services"))
            .and_then(|s| s.try_into().ok());
        let mut again = ProxyConfig::new(services.unwrap_or_default());
        again.resolve_paths(&options.working_dir);
        assert_eq!(
            format!("{:?}", again.services),
            format!("{:?}", c.proxy.services),
            "the printed services are the ones converted"
        );
        assert!(c.lnd.macaroon_file.is_absolute());
        assert!(c.lnd.tls_cert_file.as_deref().is_none_or(Path::is_absolute));
        if let Some(tls) = &c.tls {
            assert!(tls.cert_file.is_absolute() && tls.key_file.is_absolute());
        }
        for s in &c.proxy.services {
            assert!(
                s.upstream_cert_file
                    .as_deref()
                    .is_none_or(Path::is_absolute)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;

    fn conv(text: &str) -> Result<ApertureConfig, ApertureError> {
        from_yaml(text, &ApertureOptions::new("/srv", "/home/op/.aperture"))
    }

    const MIN: &str = "insecure: true\nauthenticator:\n  lndhost: \"localhost:10009\"\n  macdir: \"/lnd\"\nservices:\n  - name: a\n    address: \"127.0.0.1:9\"\n";

    #[test]
    fn a_minimal_config_maps() {
        let c = conv(MIN).unwrap();
        assert_eq!(c.lnd.rest_url, "https://localhost:8080");
        assert_eq!(c.lnd.macaroon_file, Path::new("/lnd/invoice.macaroon"));
        assert_eq!(c.tls, None);
        assert_eq!(c.listen, None);
        let s = &c.proxy.services[0];
        assert_eq!(s.upstream, "http://127.0.0.1:9");
        assert_eq!(s.price_sat, Some(1), "no price is Aperture's 1 sat");
        let t: toml::Table = toml::from_str(c.toml()).unwrap();
        assert_eq!(t["backend"]["url"].as_str(), Some("https://localhost:8080"));
        assert!(t.get("tls").is_none());
    }

    #[test]
    fn listener_and_paths() {
        let text = format!(
            "listenaddr: \"localhost:8081\"\nbasedir: \"ap\"\n{}",
            MIN.replace("insecure: true\n", "")
                .replace("\"/lnd\"", "\"lnd\"\n  tlspath: \"lnd/tls.cert\"")
        );
        let c = conv(&text).unwrap();
        assert_eq!(c.listen, Some(SocketAddr::from(([127, 0, 0, 1], 8081))));
        let tls = c.tls.unwrap();
        assert_eq!(tls.cert_file, Path::new("/srv/ap/tls.cert"));
        assert_eq!(tls.key_file, Path::new("/srv/ap/tls.key"));
        assert_eq!(c.lnd.macaroon_file, Path::new("/srv/lnd/invoice.macaroon"));
        assert_eq!(
            c.lnd.tls_cert_file.as_deref(),
            Some(Path::new("/srv/lnd/tls.cert"))
        );
        // No basedir: the default directory.
        let c = conv(&MIN.replace("insecure: true\n", "")).unwrap();
        assert_eq!(
            c.tls.unwrap().cert_file,
            Path::new("/home/op/.aperture/tls.cert")
        );
        assert_eq!(
            conv(&format!("listenaddr: \":8081\"\n{MIN}"))
                .unwrap()
                .listen,
            Some(SocketAddr::from(([0, 0, 0, 0], 8081)))
        );
        // A name would need resolving: refused, not looked up.
        let e = conv(&format!("listenaddr: \"aperture.example.com:8081\"\n{MIN}")).unwrap_err();
        assert!(e.to_string().contains("listenaddr"), "{e}");
    }

    #[test]
    fn unsupported_keys_are_all_named() {
        let text = format!(
            "{MIN}    ratelimits:\n      - requests: 5\n    constraints:\n      valid_until: 1\nautocert: true\nblocklist: [\"1.1.1.1\"]\n"
        );
        let ApertureError::Unsupported { keys } = conv(&text).unwrap_err() else {
            unreachable!("unsupported keys are their own error")
        };
        for k in [
            "services[0].ratelimits",
            "services[0].constraints",
            "blocklist",
            "autocert",
        ] {
            assert!(keys.iter().any(|x| x == k), "{k}: {keys:?}");
        }
        assert_eq!(keys.len(), 4, "{keys:?}");
    }

    #[test]
    fn malformed_and_unknown_input_is_an_error_not_a_panic() {
        for bad in [
            "services: [",
            "- a list",
            "services: 3",
            "unknownkey: 1",
            "\"\\xff",
            "a: &x [*x]",
        ] {
            let e = conv(bad).unwrap_err();
            assert!(
                matches!(e, ApertureError::Syntax(_) | ApertureError::Invalid { .. }),
                "{bad}: {e}"
            );
        }
        let e = conv("unknownkey: 1").unwrap_err().to_string();
        assert!(e.contains("unknown aperture key \"unknownkey\""), "{e}");
        let big = "#".repeat(MAX_APERTURE_LEN + 1);
        assert_eq!(
            conv(&big).unwrap_err(),
            ApertureError::TooLarge {
                len: MAX_APERTURE_LEN + 1
            }
        );
    }

    #[test]
    fn fuzz_seed_corpus() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/corpus/aperture_config"
        );
        let (mut n, mut accepted) = (0, 0);
        for entry in std::fs::read_dir(dir).unwrap() {
            let data = std::fs::read(entry.unwrap().path()).unwrap();
            fuzz_check(&data);
            n += 1;
            accepted += usize::from(conv(std::str::from_utf8(&data).unwrap()).is_ok());
        }
        assert!(n > 0);
        assert!(accepted >= 3, "the seeds include accepted configurations");
    }

    /// One generated Aperture service and the service it must become.
    #[derive(Debug, Clone)]
    struct Gen {
        name: String,
        path: Option<String>,
        port: u16,
        https: bool,
        prefix: Option<String>,
        price: Option<u32>,
        auth: u8,
        timeout: Option<u32>,
        caps: Vec<String>,
        header: Option<(String, String)>,
        whitelist: Vec<String>,
    }

    fn gen_service() -> impl Strategy<Value = Gen> {
        (
            "[a-z][a-z0-9-]{0,11}",
            proptest::option::of("\\^/[a-z]{1,8}/\\.\\*\\$"),
            1u16..,
            any::<bool>(),
            proptest::option::of("/[a-z]{1,6}"),
            proptest::option::of(0u32..100_000),
            0u8..3,
            proptest::option::of(1u32..100_000_000),
            proptest::collection::vec("[a-z]{1,6}", 0..3),
            proptest::option::of(("X-[A-Z][a-z]{1,6}", "[a-zA-Z0-9]{1,12}")),
            proptest::collection::vec("\\^/[a-z]{1,6}", 0..2),
        )
            .prop_map(
                |(
                    name,
                    path,
                    port,
                    https,
                    prefix,
                    price,
                    auth,
                    timeout,
                    caps,
                    header,
                    whitelist,
                )| {
                    Gen {
                        name,
                        path,
                        port,
                        https,
                        prefix,
                        price,
                        auth,
                        timeout,
                        caps,
                        header,
                        whitelist,
                    }
                },
            )
    }

    impl Gen {
        fn yaml(&self) -> String {
            let mut y = format!(
                "  - name: \"{}\"\n    address: \"127.0.0.1:{}\"\n    protocol: {}\n",
                self.name,
                self.port,
                if self.https { "https" } else { "http" }
            );
            if let Some(p) = &self.path {
                y += &format!("    pathregexp: '{p}'\n");
            }
            if let Some(p) = &self.prefix {
                y += &format!("    rewrite:\n      prefix: \"{p}\"\n");
            }
            if let Some(p) = self.price {
                y += &format!("    price: {p}\n");
            }
            y += match self.auth {
                0 => "",
                1 => "    auth: \"off\"\n",
                _ => "    auth: \"freebie 3\"\n",
            };
            if let Some(t) = self.timeout {
                y += &format!("    timeout: {t}\n");
            }
            if !self.caps.is_empty() {
                y += &format!("    capabilities: \"{}\"\n", self.caps.join(","));
            }
            if let Some((k, v)) = &self.header {
                y += &format!("    headers:\n      {k}: \"{v}\"\n");
            }
            if !self.whitelist.is_empty() {
                y += "    authwhitelistpaths:\n";
                for p in &self.whitelist {
                    y += &format!("      - '{p}'\n");
                }
            }
            y
        }

        fn expected(&self) -> ServiceConfig {
            let scheme = if self.https { "https" } else { "http" };
            let mut s = ServiceConfig::new(
                &self.name,
                format!(
                    "{scheme}://127.0.0.1:{}{}",
                    self.port,
                    self.prefix.as_deref().unwrap_or("")
                ),
            );
            s.path_regex = self.path.clone();
            if self.https {
                s.upstream_protocol = crate::config::UpstreamProtocol::Http2;
            }
            s.validity_secs = self.timeout.map(u64::from);
            s.capabilities = self.caps.clone();
            if let Some((k, v)) = &self.header {
                s.headers.insert(k.clone(), v.clone());
            }
            s.auth_whitelist_paths = self.whitelist.clone();
            if self.auth == 1 {
                s.free = true;
            } else {
                s.price_sat = Some(u64::from(self.price.unwrap_or(0).max(1)));
                if self.auth == 2 {
                    s.freebies = Some(3);
                }
            }
            s
        }
    }

    proptest! {
        #[test]
        fn generated_services_convert_to_the_expected_config(
            services in proptest::collection::vec(gen_service(), 0..5),
        ) {
            let mut text = String::from(
                "insecure: true\nauthenticator:\n  lndhost: \"localhost:10009\"\n  macdir: \"/lnd\"\nservices:\n",
            );
            for s in &services {
                text += &s.yaml();
            }
            if services.is_empty() {
                text = text.replace("services:\n", "services: []\n");
            }
            let c = conv(&text).unwrap();
            let want: Vec<ServiceConfig> = services.iter().map(Gen::expected).collect();
            prop_assert_eq!(format!("{:?}", c.proxy.services), format!("{want:?}"));
            fuzz_check(text.as_bytes());
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            fuzz_check(text.as_bytes());
        }

        #[test]
        fn arbitrary_service_values_never_panic(
            key in "(name|address|price|auth|timeout|capabilities|headers|rewrite|protocol|tlscertpath|authscheme|authwhitelistpaths|dynamicprice)",
            value in "[ -~]{0,20}",
        ) {
            fuzz_check(format!("{MIN}    {key}: {value}\n").as_bytes());
        }

        #[test]
        fn arbitrary_top_level_values_never_panic(
            key in "(listenaddr|insecure|basedir|authenticator|services|blocklist|prometheus|autocert)",
            value in "[ -~]{0,30}",
        ) {
            fuzz_check(format!("{MIN}{key}: {value}\n").as_bytes());
        }
    }
}
