//! Reading an Aperture YAML configuration as an `l402 proxy` one.
//!
//! [`convert`] turns the YAML into the TOML text `l402 proxy --config` reads, which the
//! ordinary loader then checks in full. Every key is either mapped, accepted without
//! effect (logging, Aperture's own database and listener tuning), or refused: a key set
//! to something this proxy does not do is named in the error, all of them at once, so
//! that nothing is silently dropped.
//!
//! | Aperture | `l402 proxy` |
//! |---|---|
//! | `listenaddr` | `listen` |
//! | `insecure: false` (no `autocert`) | `[tls]` with `<basedir>/tls.cert` and `tls.key` |
//! | `authenticator.lndhost`, `tlspath`, `macdir` | `[backend]` (LND REST, `invoice.macaroon`) |
//! | `authenticator.enablempp`, `mpprealm` | `auth_scheme = "l402+payment"`, `payment_realm` |
//! | `services[].name`, `hostregexp`, `pathregexp` | `name`, `host_regex`, `path_regex` |
//! | `address`, `protocol`, `rewrite.prefix` | `upstream` (`https` talks h2 through ALPN) |
//! | `tlscertpath` | `upstream_cert_file` (pinned) |
//! | `auth` (`on`, `off`, `freebie N`) | priced, `free = true`, `freebies = N` |
//! | `authscheme` (`l402`, `mpp`, `l402+mpp`) | `auth_scheme` |
//! | `price` (0 is 1 sat, as in Aperture), `timeout`, `capabilities`, `headers`, `authwhitelistpaths` | `price_sat`, `validity_secs`, `capabilities`, `headers`, `auth_whitelist_paths` |

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use crate::exit::CliError;

/// Largest Aperture file read.
pub(crate) const MAX_APERTURE_LEN: u64 = 1024 * 1024;

/// Settings Aperture's file cannot give.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    /// LND's REST URL (Aperture names LND's gRPC address).
    pub(crate) lnd_rest_url: Option<String>,
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

/// Converts the Aperture YAML `text` into `l402 proxy` TOML. Relative paths are made
/// absolute against `cwd` (Aperture resolves them against its working directory).
///
/// # Errors
/// Malformed YAML, a malformed value, or keys this proxy does not support (all named).
pub(crate) fn convert(text: &str, cwd: &Path, overrides: &Overrides) -> Result<String, CliError> {
    if text.len() as u64 > MAX_APERTURE_LEN {
        return Err(CliError::config("the aperture config is too large"));
    }
    let doc: Value = serde_yaml_ng::from_str(text)
        .map_err(|e| CliError::config(format!("malformed aperture config: {e}")))?;
    let Value::Mapping(top) = doc else {
        return Err(CliError::config(
            "malformed aperture config: the top level must be a mapping",
        ));
    };
    let mut w = Walk {
        unsupported: Vec::new(),
        problems: Vec::new(),
        base: cwd.to_owned(),
    };
    let mut out = toml::Table::new();
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
                    match resolve_listen(&addr) {
                        Some(a) => {
                            out.insert("listen".into(), a.to_string().into());
                        }
                        None => w.problem(format!("listenaddr {addr:?} is not host:port")),
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
    if !insecure && !autocert {
        let dir = match basedir {
            Some(d) => PathBuf::from(w.path(&d)),
            None => dirs::home_dir().unwrap_or_default().join(".aperture"),
        };
        let mut tls = toml::Table::new();
        tls.insert(
            "cert_file".into(),
            dir.join("tls.cert").display().to_string().into(),
        );
        tls.insert(
            "key_file".into(),
            dir.join("tls.key").display().to_string().into(),
        );
        out.insert("tls".into(), tls.into());
    }
    let scheme = authenticator(auth.as_ref(), overrides, &mut w, &mut out);
    let mut list = Vec::new();
    for (i, s) in services.iter().enumerate() {
        if let Some(t) = service(i, s, &scheme, &mut w) {
            list.push(toml::Value::Table(t));
        }
    }
    out.insert("services".into(), list.into());
    if !w.problems.is_empty() {
        return Err(CliError::config(format!(
            "malformed aperture config: {}",
            w.problems.join("; ")
        )));
    }
    if !w.unsupported.is_empty() {
        return Err(CliError::config(format!(
            "the aperture config uses what l402 proxy does not support: {}; remove these \
             keys (docs/operations.md, \"Migrating from Aperture\")",
            w.unsupported.join(", ")
        )));
    }
    toml::to_string(&out).map_err(|e| CliError::failure(format!("cannot write toml: {e}")))
}

/// `host:port`, the host resolved (Aperture's `localhost:8081`).
fn resolve_listen(addr: &str) -> Option<SocketAddr> {
    if let Ok(a) = addr.parse() {
        return Some(a);
    }
    addr.to_socket_addrs().ok()?.next()
}

/// The payment scheme settings every service inherits.
#[derive(Default)]
struct Scheme {
    mpp: bool,
    realm: Option<String>,
}

/// `authenticator:` into `[backend]`.
fn authenticator(
    auth: Option<&Mapping>,
    overrides: &Overrides,
    w: &mut Walk,
    out: &mut toml::Table,
) -> Scheme {
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
    let url = match (&overrides.lnd_rest_url, &lndhost) {
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
    if let Some(url) = url {
        backend.insert("url".into(), url.into());
    }
    match macdir {
        Some(dir) => {
            let file = Path::new(&w.path(&dir)).join("invoice.macaroon");
            backend.insert("macaroon_file".into(), file.display().to_string().into());
        }
        None => w.problem("authenticator.macdir is missing".to_owned()),
    }
    if let Some(tls) = tlspath {
        backend.insert("tls_cert_file".into(), w.path(&tls).into());
    }
    out.insert("backend".into(), backend.into());
    scheme
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn conv(text: &str) -> Result<String, CliError> {
        convert(text, Path::new("/srv"), &Overrides::default())
    }

    const MIN: &str = "insecure: true\nauthenticator:\n  lndhost: \"localhost:10009\"\n  macdir: \"/lnd\"\nservices:\n  - name: a\n    address: \"127.0.0.1:9\"\n";

    #[test]
    fn a_minimal_config_maps() {
        let toml = conv(MIN).unwrap();
        let t: toml::Table = toml::from_str(&toml).unwrap();
        assert_eq!(t["backend"]["url"].as_str(), Some("https://localhost:8080"));
        assert_eq!(
            t["backend"]["macaroon_file"].as_str(),
            Some("/lnd/invoice.macaroon")
        );
        assert!(t.get("tls").is_none());
        let s = &t["services"][0];
        assert_eq!(s["upstream"].as_str(), Some("http://127.0.0.1:9"));
        assert_eq!(s["price_sat"].as_integer(), Some(1));
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
            assert_eq!(e.code, crate::exit::CONFIG, "{bad}");
        }
        let big = "#".repeat(MAX_APERTURE_LEN as usize + 1);
        assert!(conv(&big).unwrap_err().message.contains("too large"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = conv(&text);
        }

        #[test]
        fn arbitrary_service_values_never_panic(
            key in "(name|address|price|auth|timeout|capabilities|headers|rewrite|protocol)",
            value in "[ -~]{0,20}",
        ) {
            let _ = conv(&format!("{MIN}    {key}: {value}\n"));
        }
    }
}
