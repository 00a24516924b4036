//! The proxy's configuration: typed structs (serde), validated in full before anything
//! is built.
//!
//! Nothing here reads a configuration file: an application fills these structs itself,
//! or deserializes them from whatever format it uses (the `l402` command reads TOML, see
//! `crates/l402-cli/examples/proxy.toml`). [`ProxyConfig::validate`] checks everything a
//! proxy needs; [`ProxyBuilder::build`](crate::ProxyBuilder::build) runs it again.
//!
//! ```toml
//! upstream_timeout_secs = 30            # default for every service
//!
//! [revocation]                          # optional
//! kind = "memory"                       # revoked token ids (hex), one per line, re-read
//! file = "revoked.txt"                  # when the file changes
//!
//! [[services]]
//! name = "weather"
//! host = "api.example.com"              # optional; `*.example.com` matches subdomains
//! path = "/weather"                     # optional path prefix
//! upstream = "http://127.0.0.1:9000"
//! price_sat = 10                        # or price_msat = 10500, or free = true (never 0)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use l402_core::{Amount, Service};
use serde::Deserialize;
use url::Url;

use crate::target::{Authority, canonical_path};

/// Longest Payment challenge lifetime accepted: one day (it is capped by the invoice's
/// expiry anyway).
pub const MAX_PAYMENT_EXPIRY_SECS: u64 = 86_400;
/// Default bound on waiting for an upstream's response headers: 30 s, longer than any
/// API call a client will sit through, short enough that stuck upstreams do not pile up
/// connections.
pub const DEFAULT_UPSTREAM_TIMEOUT_SECS: u64 = 30;
/// Default bound on connecting to an upstream: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT_SECS: u64 = 10;
/// Default longest silence of a body: 5 minutes.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 300;
/// Longest upstream timeout accepted: one hour.
pub const MAX_UPSTREAM_TIMEOUT_SECS: u64 = 3600;
/// Default interval between checks of a revocation file, in seconds.
pub const DEFAULT_REVOCATION_RELOAD_SECS: u64 = 2;

/// Longest regular expression accepted, in bytes.
pub const MAX_REGEX_LEN: usize = 1024;
/// Largest compiled regular expression (the `regex` crate's size limit): 1 MiB. Matching
/// takes time linear in the input whatever the expression.
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Largest file a header value is read from: 64 KiB (a macaroon is well under 1 KiB).
pub const MAX_HEADER_FILE_LEN: u64 = 64 * 1024;
const FILE_HEX: &str = "!file+hex:";
const FILE_BASE64: &str = "!file+base64:";

/// Compiles a routing regular expression, bounded in length and compiled size.
pub(crate) fn compile_regex(re: &str) -> Result<regex::Regex, String> {
    if re.len() > MAX_REGEX_LEN {
        return Err(format!(
            "a regular expression is longer than {MAX_REGEX_LEN} bytes"
        ));
    }
    regex::RegexBuilder::new(re)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(64)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => "the regular expression is too large".to_owned(),
            // The syntax error's text quotes the pattern and points at the fault.
            e => format!("invalid regular expression: {e}"),
        })
}

/// Expands `${NAME}` from the environment, then a `!file+hex:` / `!file+base64:` value.
fn header_value(raw: &str) -> Result<String, String> {
    let value = expand_env(raw)?;
    let (path, hex) = if let Some(p) = value.strip_prefix(FILE_HEX) {
        (p, true)
    } else if let Some(p) = value.strip_prefix(FILE_BASE64) {
        (p, false)
    } else if value.starts_with("!file") {
        return Err("a file value must be !file+hex:PATH or !file+base64:PATH".to_owned());
    } else {
        return Ok(value);
    };
    let path = Path::new(path);
    let len = std::fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .len();
    if len > MAX_HEADER_FILE_LEN {
        return Err(format!(
            "{} is larger than {MAX_HEADER_FILE_LEN} bytes",
            path.display()
        ));
    }
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
    );
    Ok(if hex {
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes.iter() {
            use std::fmt::Write as _;
            let _ = write!(out, "{b:02x}");
        }
        out
    } else {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&*bytes)
    })
}

/// Replaces each `${NAME}` (`NAME`: a letter or `_`, then letters, digits, `_`) with the
/// environment variable's value. A `$` not followed by such a reference stays as is.
fn expand_env(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let name_len = after
            .char_indices()
            .find(|&(j, c)| !(c == '_' || c.is_ascii_alphabetic() || (j > 0 && c.is_ascii_digit())))
            .map_or(after.len(), |(j, _)| j);
        if name_len > 0 && after[name_len..].starts_with('}') {
            let name = &after[..name_len];
            let v = std::env::var(name)
                .map_err(|_| format!("environment variable {name} is not set"))?;
            out.push_str(&v);
            rest = &after[name_len + 1..];
        } else {
            out.push_str("${");
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The service list is empty.
    #[error("no [[services]] configured")]
    NoServices,
    /// Two services share a name.
    #[error("service {0:?} is configured twice")]
    DuplicateService(String),
    /// A service name that is not a valid token service name.
    #[error("invalid service name {name:?}: {reason}")]
    InvalidName {
        /// The name as configured.
        name: String,
        /// Why it is refused.
        reason: String,
    },
    /// A service's settings are refused.
    #[error("service {service:?}: {reason}")]
    Service {
        /// The service's name.
        service: String,
        /// What is wrong.
        reason: String,
    },
    /// A setting for the whole proxy is refused.
    #[error("{0}")]
    Setting(String),
    /// The `[revocation]` settings are refused, or its list cannot be opened.
    #[error("[revocation]: {0}")]
    Revocation(String),
}

/// Everything the proxy itself is configured with (the invoice backend and the root key
/// store are given to the [builder](crate::ProxyBuilder) as values).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ProxyConfig {
    /// Revoked tokens (none by default).
    #[serde(default)]
    pub revocation: Option<RevocationConfig>,
    /// Default bound, in seconds, on waiting for an upstream's response headers.
    #[serde(default)]
    pub upstream_timeout_secs: Option<u64>,
    /// Trust the `X-Forwarded-For`, `-Proto` and `-Host` headers clients send (default
    /// false). Off, the proxy is the first hop: what a client sends under those names
    /// (and `Forwarded`, `X-Real-IP`) is dropped and the proxy's own values are set. On,
    /// for a proxy behind a load balancer that sets them, the client's address is
    /// appended to `X-Forwarded-For` and the other two are kept when present. Turn it
    /// on only when every client reaches the proxy through such a balancer: anyone else
    /// could claim any address.
    #[serde(default)]
    pub trust_forwarded_headers: bool,
    /// The Prometheus endpoint and the access log (none by default).
    #[serde(default)]
    pub metrics: Option<crate::metrics::MetricsConfig>,
    /// The admin API (off by default).
    #[serde(default)]
    pub admin: Option<crate::admin::AdminConfig>,
    /// The services, matched in order: the first that matches a request serves it.
    #[serde(default)]
    pub services: Vec<ServiceConfig>,
}

/// `[revocation]`: where revoked token ids come from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
#[non_exhaustive]
pub enum RevocationConfig {
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

/// `[[services]]`: one upstream and how it is sold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceConfig {
    /// Service name, written in tokens (`services=<name>:0`).
    pub name: String,
    /// Host to match (case-insensitive, port ignored); `*.example.com` matches subdomains.
    pub host: Option<String>,
    /// Path prefix to match, at a segment boundary (`/api` matches `/api` and `/api/x`).
    pub path: Option<String>,
    /// A regular expression the request's host must match instead (Aperture's
    /// `hostregexp`): tested, unanchored, against the canonical `host[:port]` (lower
    /// case, no trailing dot). Anchor it (`^api\.example\.com$`) to match one host.
    pub host_regex: Option<String>,
    /// A regular expression the request's path must match instead (Aperture's
    /// `pathregexp`): tested, unanchored, against the canonical path (escapes of
    /// unreserved characters decoded, others in upper case).
    pub path_regex: Option<String>,
    /// What the matched `path` prefix is replaced with before forwarding (`path =
    /// "/weather"` and `path_rewrite = "/v2"` send `/weather/today` as `/v2/today`, under
    /// the upstream's base path). Needs `path`.
    pub path_rewrite: Option<String>,
    /// Regular expressions of paths served without payment (Aperture's
    /// `authwhitelistpaths`), tested, unanchored, against the canonical path.
    #[serde(default)]
    pub auth_whitelist_paths: Vec<String>,
    /// A dynamic price: each unpaid request is priced by a JSON `POST` to this URL (see
    /// the crate docs); a failing pricer answers 503, never free access.
    pub price_url: Option<String>,
    /// Requests each client IP address may make free before it must pay (Aperture's
    /// freebies), per day.
    pub freebies: Option<u32>,
    /// Upstream base URL; the request path and query are appended.
    pub upstream: String,
    /// Price in satoshis.
    pub price_sat: Option<u64>,
    /// Price in millisatoshis.
    pub price_msat: Option<u64>,
    /// No payment needed.
    #[serde(default)]
    pub free: bool,
    /// Capabilities granted by tokens for this service.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Token validity in seconds (default: no expiry).
    pub validity_secs: Option<u64>,
    /// Invoice description.
    pub memo: Option<String>,
    /// Headers added to every request sent upstream (replacing what the client sent).
    /// A value is literal text, in which `${NAME}` is replaced by the environment
    /// variable `NAME`; then `!file+hex:PATH` or `!file+base64:PATH` is replaced by the
    /// contents of the file `PATH`, hex or base64 encoded (Aperture's forms).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Bound, in seconds, on waiting for the upstream's response headers (504 after):
    /// the first-byte timeout.
    pub upstream_timeout_secs: Option<u64>,
    /// Bound, in seconds, on connecting to the upstream (TCP and TLS; default 10).
    pub connect_timeout_secs: Option<u64>,
    /// Longest time, in seconds, a request or response body may go without sending
    /// anything (default 300); the exchange is then cut.
    pub idle_timeout_secs: Option<u64>,
    /// The protocol spoken to the upstream: `http1` (default) or `h2` (HTTP/2; over
    /// `http` with prior knowledge, as gRPC servers expect, over `https` through ALPN).
    #[serde(default)]
    pub upstream_protocol: UpstreamProtocol,
    /// An `https` upstream is verified against this CA file (PEM or DER) instead of
    /// the Mozilla roots.
    pub upstream_ca_file: Option<PathBuf>,
    /// An `https` upstream must present exactly this certificate (PEM or DER), whatever
    /// its name and chain: a self-signed one, such as LND's `tls.cert`.
    pub upstream_cert_file: Option<PathBuf>,
    /// Which payment schemes the service offers (default `l402`).
    #[serde(default)]
    pub auth_scheme: AuthScheme,
    /// The realm of Payment challenges (default: the service name).
    pub payment_realm: Option<String>,
    /// How long a Payment challenge can be paid and presented, in seconds (default 900).
    pub payment_expiry_secs: Option<u64>,
}

/// `upstream_protocol`: HTTP/1.1 or HTTP/2 to the upstream.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (upgrades such as WebSocket work only over it).
    #[default]
    #[serde(rename = "http1")]
    Http1,
    /// HTTP/2 only (gRPC).
    #[serde(rename = "h2")]
    Http2,
}

/// `auth_scheme`: which offers a priced service's 402 makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub enum AuthScheme {
    /// L402 only (`LSAT` and `L402` challenges).
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
    pub fn offers(self) -> l402_tower::Offers {
        match self {
            AuthScheme::L402 => l402_tower::Offers::L402,
            AuthScheme::Payment => l402_tower::Offers::Payment,
            AuthScheme::Both => l402_tower::Offers::Both,
        }
    }
}

impl ServiceConfig {
    /// A service named `name` forwarding to `upstream`; it has no price yet (set
    /// [`price_sat`](Self::price_sat), [`price_msat`](Self::price_msat) or
    /// [`free`](Self::free)).
    pub fn new(name: impl Into<String>, upstream: impl Into<String>) -> Self {
        ServiceConfig {
            name: name.into(),
            upstream: upstream.into(),
            ..ServiceConfig::default()
        }
    }

    fn err(&self, reason: impl Into<String>) -> ConfigError {
        ConfigError::Service {
            service: self.name.clone(),
            reason: reason.into(),
        }
    }

    /// The static price; `None` for a free service or one priced by `price_url`.
    ///
    /// # Errors
    /// A price of 0, none at all, or more than one.
    pub fn price(&self) -> Result<Option<Amount>, ConfigError> {
        let zero = "a price of 0 is not accepted: set free = true for a free service";
        if self.price_url.is_some() {
            return match (self.free, self.price_sat, self.price_msat) {
                (false, None, None) => Ok(None),
                _ => Err(self.err("give price_url or a static price, not both")),
            };
        }
        match (self.free, self.price_sat, self.price_msat) {
            (true, None, None) => Ok(None),
            (false, Some(0), None) | (false, None, Some(0)) => Err(self.err(zero)),
            (false, Some(sat), None) => match Amount::from_sat(sat) {
                Some(a) => Ok(Some(a)),
                None => Err(self.err("price_sat is too large")),
            },
            (false, None, Some(msat)) => Ok(Some(Amount::from_msat(msat))),
            (false, None, None) => Err(self.err("give price_sat, price_msat or free = true")),
            _ => Err(self.err("give only one of price_sat, price_msat and free = true")),
        }
    }

    /// The upstream base URL; its path must be canonical (as request paths are).
    ///
    /// # Errors
    /// Not an http or https URL, a query or fragment, or a path the canonicaliser
    /// refuses or rewrites.
    pub fn upstream_url(&self) -> Result<Url, ConfigError> {
        let url = Url::parse(&self.upstream)
            .map_err(|e| self.err(format!("invalid upstream url: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
            return Err(self.err("upstream must be an http or https url"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(self.err("the upstream url must have no query or fragment"));
        }
        canonical_path(url.path())
            .map_err(|e| self.err(format!("the upstream url's path is refused: {e}")))?;
        Ok(url)
    }

    /// Checks everything about the service alone.
    fn validate(&self) -> Result<(), ConfigError> {
        Service::new(self.name.clone()).map_err(|e| ConfigError::InvalidName {
            name: self.name.clone(),
            reason: e.to_string(),
        })?;
        self.price()?;
        self.upstream_url()?;
        if let Some(p) = &self.path {
            // Routing compares canonical paths: a prefix in any other form would
            // never match, or match what it should not.
            match canonical_path(p) {
                Ok(c) if c == *p => {}
                Ok(c) => return Err(self.err(format!("path must be written {c:?}"))),
                Err(e) => return Err(self.err(format!("path {p:?} is refused: {e}"))),
            }
        }
        if let Some(h) = &self.host {
            let name = h.strip_prefix("*.").unwrap_or(h);
            match Authority::parse(name) {
                Ok(a) if a.host() == name.to_ascii_lowercase() => {}
                _ => {
                    return Err(self.err(format!(
                        "host {h:?} must be a host name without port or trailing dot"
                    )));
                }
            }
        }
        if self.host.is_some() && self.host_regex.is_some() {
            return Err(self.err("give host or host_regex, not both"));
        }
        if self.path.is_some() && self.path_regex.is_some() {
            return Err(self.err("give path or path_regex, not both"));
        }
        for (key, re) in [
            ("host_regex", &self.host_regex),
            ("path_regex", &self.path_regex),
        ] {
            if let Some(re) = re {
                compile_regex(re).map_err(|e| self.err(format!("{key}: {e}")))?;
            }
        }
        for re in &self.auth_whitelist_paths {
            compile_regex(re).map_err(|e| self.err(format!("auth_whitelist_paths: {e}")))?;
        }
        if let Some(to) = &self.path_rewrite {
            if self.path.is_none() {
                return Err(self.err("path_rewrite needs path"));
            }
            match canonical_path(to) {
                Ok(c) if c == *to => {}
                Ok(c) => return Err(self.err(format!("path_rewrite must be written {c:?}"))),
                Err(e) => return Err(self.err(format!("path_rewrite {to:?} is refused: {e}"))),
            }
        }
        if let Some(u) = &self.price_url {
            match Url::parse(u) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                _ => return Err(self.err("price_url must be an http or https url")),
            }
        }
        if self.freebies == Some(0) {
            return Err(self.err("freebies must be at least 1 (or left out)"));
        }
        if self.free && (self.freebies.is_some() || !self.auth_whitelist_paths.is_empty()) {
            return Err(self.err(
                "a free service takes no freebies or auth_whitelist_paths: all of it is free",
            ));
        }
        for (key, t) in [
            ("upstream_timeout_secs", self.upstream_timeout_secs),
            ("connect_timeout_secs", self.connect_timeout_secs),
            ("idle_timeout_secs", self.idle_timeout_secs),
        ] {
            if let Some(t) = t
                && !(1..=MAX_UPSTREAM_TIMEOUT_SECS).contains(&t)
            {
                return Err(self.err(format!(
                    "{key} must be between 1 and {MAX_UPSTREAM_TIMEOUT_SECS}"
                )));
            }
        }
        if self.upstream_ca_file.is_some() && self.upstream_cert_file.is_some() {
            return Err(self.err("give upstream_ca_file or upstream_cert_file, not both"));
        }
        if (self.upstream_ca_file.is_some() || self.upstream_cert_file.is_some())
            && !self.upstream.starts_with("https:")
        {
            return Err(self.err("upstream_ca_file and upstream_cert_file need an https upstream"));
        }
        let payment_keys = self.payment_realm.is_some() || self.payment_expiry_secs.is_some();
        if payment_keys && !self.auth_scheme.offers().payment() {
            return Err(self.err(
                "payment_realm and payment_expiry_secs need auth_scheme = \"payment\" or \
                 \"l402+payment\"",
            ));
        }
        if self.free && self.auth_scheme != AuthScheme::L402 {
            return Err(self.err("a free service takes no auth_scheme"));
        }
        if let Some(realm) = &self.payment_realm
            && (realm.is_empty()
                || realm.len() > l402_tower::MAX_PAYMENT_REALM_LEN
                || realm
                    .chars()
                    .any(|c| c.is_control() || c == '"' || c == '\\'))
        {
            return Err(self.err(format!(
                "payment_realm must be 1 to {} printable characters without quotes or \
                 backslashes",
                l402_tower::MAX_PAYMENT_REALM_LEN
            )));
        }
        if let Some(e) = self.payment_expiry_secs
            && !(1..=MAX_PAYMENT_EXPIRY_SECS).contains(&e)
        {
            return Err(self.err(format!(
                "payment_expiry_secs must be between 1 and {MAX_PAYMENT_EXPIRY_SECS}"
            )));
        }
        if self.validity_secs == Some(0) {
            return Err(self.err("validity_secs must be at least 1"));
        }
        for k in self.headers.keys() {
            http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| self.err(format!("invalid header name {k:?}")))?;
        }
        self.header_values()?;
        Ok(())
    }

    /// The headers sent upstream, their values resolved (environment variables, files),
    /// marked sensitive (they often hold credentials: never logged).
    ///
    /// # Errors
    /// An invalid name or value, a missing environment variable, a file that cannot be
    /// read or is larger than [`MAX_HEADER_FILE_LEN`].
    pub fn header_values(&self) -> Result<Vec<(http::HeaderName, http::HeaderValue)>, ConfigError> {
        let mut out = Vec::with_capacity(self.headers.len());
        for (k, v) in &self.headers {
            let name = http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| self.err(format!("invalid header name {k:?}")))?;
            let text = header_value(v).map_err(|e| self.err(format!("header {k:?}: {e}")))?;
            let mut value = http::HeaderValue::from_str(&text)
                .map_err(|_| self.err(format!("invalid value for header {k:?}")))?;
            value.set_sensitive(true);
            out.push((name, value));
        }
        Ok(out)
    }
}

impl ProxyConfig {
    /// A configuration serving `services`, in order.
    pub fn new(services: Vec<ServiceConfig>) -> Self {
        ProxyConfig {
            services,
            ..ProxyConfig::default()
        }
    }

    /// Makes the relative file paths (the revocation file) relative to `base`, the
    /// directory of the file the configuration was read from.
    /// Header values naming a file (`!file+hex:PATH`) are resolved too.
    pub fn resolve_paths(&mut self, base: &Path) {
        for s in &mut self.services {
            for file in [&mut s.upstream_ca_file, &mut s.upstream_cert_file]
                .into_iter()
                .flatten()
            {
                if file.is_relative() {
                    *file = base.join(&*file);
                }
            }
            for v in s.headers.values_mut() {
                for prefix in [FILE_HEX, FILE_BASE64] {
                    if let Some(path) = v.strip_prefix(prefix)
                        && !path.contains("${")
                        && Path::new(path).is_relative()
                    {
                        *v = format!("{prefix}{}", base.join(path).display());
                    }
                }
            }
        }
        if let Some(RevocationConfig::Memory { file, .. }) = &mut self.revocation
            && file.is_relative()
        {
            *file = base.join(&*file);
        }
        if let Some(admin) = &mut self.admin
            && admin.bearer_secret_file.is_relative()
        {
            admin.bearer_secret_file = base.join(&admin.bearer_secret_file);
        }
    }

    /// Checks the whole configuration.
    ///
    /// # Errors
    /// The first setting refused, naming its service.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.services.is_empty() {
            return Err(ConfigError::NoServices);
        }
        if let Some(admin) = &self.admin {
            admin.validate()?;
        }
        if let Some(t) = self.upstream_timeout_secs
            && !(1..=MAX_UPSTREAM_TIMEOUT_SECS).contains(&t)
        {
            return Err(ConfigError::Setting(format!(
                "upstream_timeout_secs must be between 1 and {MAX_UPSTREAM_TIMEOUT_SECS}"
            )));
        }
        let mut names = std::collections::HashSet::new();
        for s in &self.services {
            s.validate()?;
            if !names.insert(s.name.as_str()) {
                return Err(ConfigError::DuplicateService(s.name.clone()));
            }
            if let Some(RevocationConfig::Redis {
                max_token_lifetime_secs,
                ..
            }) = &self.revocation
                && let Some(v) = s.validity_secs
                && v > *max_token_lifetime_secs
            {
                return Err(s.err(format!(
                    "validity_secs ({v}) is longer than [revocation] max_token_lifetime_secs \
                     ({max_token_lifetime_secs}): a revoked token would come back when its \
                     revocation expires"
                )));
            }
        }
        match &self.revocation {
            Some(RevocationConfig::Memory {
                reload_secs: Some(0),
                ..
            }) => Err(ConfigError::Revocation(
                "reload_secs must be at least 1".to_owned(),
            )),
            Some(RevocationConfig::Redis {
                max_token_lifetime_secs: 0,
                ..
            }) => Err(ConfigError::Revocation(
                "max_token_lifetime_secs must be at least 1".to_owned(),
            )),
            _ => Ok(()),
        }
    }

    /// The bound on waiting for `service`'s response headers: its own, else the default
    /// of the configuration, else [`DEFAULT_UPSTREAM_TIMEOUT_SECS`].
    pub fn upstream_timeout(&self, service: &ServiceConfig) -> Duration {
        Duration::from_secs(
            service
                .upstream_timeout_secs
                .or(self.upstream_timeout_secs)
                .unwrap_or(DEFAULT_UPSTREAM_TIMEOUT_SECS),
        )
    }

    /// The bound on connecting to `service`'s upstream.
    pub fn connect_timeout(&self, service: &ServiceConfig) -> Duration {
        Duration::from_secs(
            service
                .connect_timeout_secs
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECS),
        )
    }

    /// How long `service`'s bodies may stay silent.
    pub fn idle_timeout(&self, service: &ServiceConfig) -> Duration {
        Duration::from_secs(
            service
                .idle_timeout_secs
                .unwrap_or(DEFAULT_IDLE_TIMEOUT_SECS),
        )
    }

    /// The validity of `service`'s tokens: its own, capped by the revocation list's token
    /// lifetime when revocations expire (Redis), so a revoked token cannot come back.
    pub fn validity(&self, service: &ServiceConfig) -> Option<Duration> {
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(text: &str) -> Result<ProxyConfig, ConfigError> {
        let mut c: ProxyConfig = toml::from_str(text).map_err(|e| ConfigError::Service {
            service: "-".to_owned(),
            reason: e.to_string(),
        })?;
        c.resolve_paths(Path::new("/etc/l402"));
        c.validate()?;
        Ok(c)
    }

    fn service(extra: &str) -> String {
        format!("[[services]]\nname = \"svc\"\nupstream = \"http://x/api\"\n{extra}\n")
    }

    #[test]
    fn prices() {
        let c = parse(&service("price_msat = 1500")).unwrap();
        assert_eq!(
            c.services[0].price().unwrap(),
            Some(Amount::from_msat(1500))
        );
    }

    #[test]
    fn bad_services_are_refused() {
        for bad in [
            "[[services]]\nname = \"a\"\nupstream = \"http://x\"\n", // no price
            "[[services]]\nname = \"a\"\nupstream = \"ftp://x\"\nfree = true\n",
            "[[services]]\nname = \"a b\"\nupstream = \"http://x\"\nfree = true\n",
            "[[services]]\nname = \"a\"\nupstream = \"http://x\"\nfree = true\nprice_sat = 3\n",
            "[[services]]\nname = \"a\"\nupstream = \"http://x\"\nfree = true\nbogus = 1\n",
            "[[services]]\nname = \"a\"\npath = \"x\"\nupstream = \"http://x\"\nfree = true\n",
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_zero_price_is_refused_and_names_the_service() {
        for zero in ["price_sat = 0", "price_msat = 0"] {
            let e = parse(&service(zero)).unwrap_err();
            assert_eq!(
                e.to_string(),
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
            let e = parse(&service(extra)).unwrap_err().to_string();
            assert!(e.contains(want), "{extra}: {e}");
        }
        for upstream in [
            "http://x/a;b",
            "http://x/a%2F",
            "http://x/a?q=1",
            "http://x//a",
        ] {
            let text =
                format!("[[services]]\nname = \"svc\"\nupstream = \"{upstream}\"\nfree = true\n");
            assert!(parse(&text).is_err(), "{upstream}");
        }
        parse(&service(
            "path = \"/v1/\"\nhost = \"*.Example.com\"\nfree = true",
        ))
        .unwrap();
    }

    #[test]
    fn upstream_timeouts() {
        let c = parse(&service("free = true")).unwrap();
        assert_eq!(c.upstream_timeout(&c.services[0]), Duration::from_secs(30));
        let c = parse(&format!(
            "upstream_timeout_secs = 7\n{}",
            service("free = true")
        ))
        .unwrap();
        assert_eq!(c.upstream_timeout(&c.services[0]), Duration::from_secs(7));
        let c = parse(&format!(
            "upstream_timeout_secs = 7\n{}",
            service("free = true\nupstream_timeout_secs = 2")
        ))
        .unwrap();
        assert_eq!(c.upstream_timeout(&c.services[0]), Duration::from_secs(2));
        for bad in ["upstream_timeout_secs = 0", "upstream_timeout_secs = 3601"] {
            assert!(
                parse(&service(&format!("free = true\n{bad}"))).is_err(),
                "{bad}"
            );
            assert!(
                parse(&format!("{bad}\n{}", service("free = true"))).is_err(),
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
        .unwrap_err()
        .to_string();
        assert!(e.contains("max_token_lifetime_secs"), "{e}");
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
