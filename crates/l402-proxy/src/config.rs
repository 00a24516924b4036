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
//! [redis]                               # optional: shared by a fleet (freebies,
//! url = "redis://127.0.0.1:6379/"       # Payment charges, rate-limit buckets, and
//! prefix = "l402"                       # revocations of kind = "redis" without a url)
//! timeout_ms = 250
//!
//! [blocklist]                           # optional: 403 before routing
//! file = "blocked.txt"                  # CIDR networks, one per line, `#` comments;
//! reload_secs = 2                       # re-read when it changes (and on SIGHUP)
//!
//! [[services]]
//! name = "weather"
//! host = "api.example.com"              # optional; `*.example.com` matches subdomains
//! path = "/weather"                     # optional path prefix
//! upstream = "http://127.0.0.1:9000"
//! price_sat = 10                        # or price_msat = 10500, or free = true (never 0)
//!
//! [services.rate_limit]                 # optional: 429 with Retry-After, no invoice
//! paid = { requests = 10, per_secs = 1, burst = 20 }  # per token id
//! unpaid = { requests = 30, per_secs = 60 }           # per client network
//! ipv4_prefix = 24                      # default 32; ipv6_prefix: default 64
//! fail_closed = false                   # Redis down: let through (true: 503)
//! ```
//!
//! The state these settings describe (buckets, counters, the blocklist, the Redis
//! connection) is built once by [`SharedState::from_config`](crate::SharedState::from_config)
//! and outlives reloads.

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
    /// The `[redis]` settings are refused.
    #[error("[redis]: {0}")]
    Redis(String),
    /// The `[blocklist]` settings are refused, or its file cannot be read or parsed.
    #[error("[blocklist]: {0}")]
    Blocklist(String),
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
    /// State shared by a fleet of proxies through Redis: freebies, Payment charges,
    /// rate-limit buckets and (unless `[revocation]` names its own) revocations. None by
    /// default: each instance keeps them in memory.
    #[serde(default)]
    pub redis: Option<RedisConfig>,
    /// Client networks refused with 403 before anything else (none by default).
    #[serde(default)]
    pub blocklist: Option<BlocklistConfig>,
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
        /// `redis://` or `rediss://` URL; left out, the connection of `[redis]` (and its
        /// prefix) is used. Given, it also holds the Payment charges when there is no
        /// `[redis]`.
        #[serde(default)]
        url: Option<String>,
        /// Key prefix of the deployment (keys are `<prefix>:rev:<token id hex>`; default
        /// `l402`, or `[redis]`'s prefix when `url` is left out).
        #[serde(default)]
        prefix: Option<String>,
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

/// Default key prefix in Redis.
pub const DEFAULT_REDIS_PREFIX: &str = "l402";
/// Default bound on every Redis call, in milliseconds (`l402-redis`'s default).
pub const DEFAULT_REDIS_TIMEOUT_MS: u64 = 250;
/// Longest Redis timeout accepted, in milliseconds: 60 s.
pub const MAX_REDIS_TIMEOUT_MS: u64 = 60_000;

/// `[redis]`: one Redis shared by every instance of a fleet.
///
/// With it, freebies are counted once for the fleet (a client gets `freebies` in total,
/// not per instance), each Payment charge is accepted once by the whole fleet, rate-limit
/// buckets are shared (a token or a network draws from one bucket whichever instance it
/// reaches), and `[revocation] kind = "redis"` without a `url` uses this connection.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port/[db]` (or `rediss://`).
    pub url: String,
    /// Key prefix of the deployment: every key is `<prefix>:<kind>:...` (default `l402`).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Bound on every Redis call, reconnection included, in milliseconds (default 250).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

impl RedisConfig {
    /// A connection to `url` with the default prefix and timeout.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: None,
            timeout_ms: None,
        }
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(DEFAULT_REDIS_PREFIX)
    }

    /// The bound on every call.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.unwrap_or(DEFAULT_REDIS_TIMEOUT_MS))
    }
}

/// Default interval between checks of the blocklist file, in seconds.
pub const DEFAULT_BLOCKLIST_RELOAD_SECS: u64 = 2;

/// `[blocklist]`: client networks refused with `403 Forbidden` (gRPC
/// `PERMISSION_DENIED`) before routing, whatever the service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct BlocklistConfig {
    /// CIDR networks (`203.0.113.0/24`, `2001:db8::/32`) or addresses, one per line,
    /// `#` starts a comment. Re-read when it changes and on `SIGHUP`; a file that does
    /// not parse is refused at start, and on a re-read keeps the list in force (the bad
    /// line is logged).
    pub file: PathBuf,
    /// How often the file is checked for changes, in seconds (default 2).
    #[serde(default)]
    pub reload_secs: Option<u64>,
}

impl BlocklistConfig {
    /// A blocklist read from `file`.
    pub fn new(file: impl Into<PathBuf>) -> Self {
        BlocklistConfig {
            file: file.into(),
            reload_secs: None,
        }
    }
}

/// Largest burst accepted in a rate limit.
pub const MAX_RATE_BURST: u32 = 100_000;
/// Longest period accepted in a rate limit, in seconds: one day.
pub const MAX_RATE_PERIOD_SECS: u64 = 86_400;
/// Fastest refill accepted: one million requests a second (one per microsecond, the
/// resolution of the Redis buckets).
pub const MAX_RATE_PER_SEC: u64 = 1_000_000;

/// `[services.rate_limit]`: token buckets for one service, in memory or (with
/// `[redis]`) shared by the fleet. A request past its bucket gets `429 Too Many
/// Requests` with `Retry-After` (gRPC `RESOURCE_EXHAUSTED`), and no invoice is created.
///
/// ```toml
/// [services.rate_limit]
/// paid = { requests = 10, per_secs = 1, burst = 20 }   # per token id
/// unpaid = { requests = 30, per_secs = 60 }            # per client network
/// ipv4_prefix = 24                                     # default 32
/// ipv6_prefix = 48                                     # default 64
/// fail_closed = false                                  # Redis down: let requests through
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Requests made with a valid L402 token, per token id. (Payment charges are not
    /// limited: each pays for its own request.)
    #[serde(default)]
    pub paid: Option<RateConfig>,
    /// Requests that would get a challenge (no credential, or one refused), per client
    /// network, counted before an invoice is created.
    #[serde(default)]
    pub unpaid: Option<RateConfig>,
    /// The IPv4 network an unpaid bucket covers: 32 (one per address, the default) to 16
    /// (24 puts a /24 in one bucket).
    #[serde(default)]
    pub ipv4_prefix: Option<u8>,
    /// The IPv6 network an unpaid bucket covers: 128 to 32 (default 64, what one host
    /// usually gets; 48 for a site).
    #[serde(default)]
    pub ipv6_prefix: Option<u8>,
    /// While the rate limiter cannot answer (Redis down): `true` answers 503, `false`
    /// (the default) lets the request through, logged and counted. Payments and
    /// revocations fail closed whatever this says.
    #[serde(default)]
    pub fail_closed: bool,
}

/// A rate: `requests` per `per_secs` seconds, with at most `burst` at once (default
/// `requests`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct RateConfig {
    /// Requests refilled per period.
    pub requests: u32,
    /// The period, in seconds (default 1).
    #[serde(default = "one")]
    pub per_secs: u64,
    /// The most requests at once (default `requests`).
    #[serde(default)]
    pub burst: Option<u32>,
}

fn one() -> u64 {
    1
}

impl RateConfig {
    /// `requests` per `per_secs` seconds, bursts of `requests`.
    pub fn new(requests: u32, per_secs: u64) -> Self {
        RateConfig {
            requests,
            per_secs,
            burst: None,
        }
    }

    /// With bursts of `burst`.
    #[must_use]
    pub fn with_burst(mut self, burst: u32) -> Self {
        self.burst = Some(burst);
        self
    }

    fn check(&self) -> Result<(), String> {
        if self.requests == 0 {
            return Err("requests must be at least 1 (leave the limit out for none)".to_owned());
        }
        if !(1..=MAX_RATE_PERIOD_SECS).contains(&self.per_secs) {
            return Err(format!(
                "per_secs must be between 1 and {MAX_RATE_PERIOD_SECS}"
            ));
        }
        if u64::from(self.requests) > MAX_RATE_PER_SEC.saturating_mul(self.per_secs) {
            return Err(format!(
                "more than {MAX_RATE_PER_SEC} requests a second is not a limit"
            ));
        }
        match self.burst {
            Some(0) => Err("burst must be at least 1".to_owned()),
            Some(b) if b > MAX_RATE_BURST => Err(format!("burst must be at most {MAX_RATE_BURST}")),
            _ if self.requests > MAX_RATE_BURST && self.burst.is_none() => Err(format!(
                "requests is above {MAX_RATE_BURST}: give a burst of at most {MAX_RATE_BURST}"
            )),
            _ => Ok(()),
        }
    }

    /// The layer's rate: a bucket of `burst`, refilled one request every
    /// `per_secs / requests`.
    ///
    /// # Errors
    /// The settings [`ProxyConfig::validate`] refuses.
    pub fn rate(&self) -> Result<l402_tower::Rate, String> {
        self.check()?;
        let burst = self.burst.unwrap_or(self.requests);
        // The refill interval times the burst, in nanoseconds: at most 86,400 s times
        // 100,000, well within u128.
        let period_ns = u128::from(self.per_secs) * 1_000_000_000 * u128::from(burst)
            / u128::from(self.requests);
        let period = Duration::from_nanos(u64::try_from(period_ns).unwrap_or(u64::MAX));
        l402_tower::Rate::new(burst, period).map_err(|e| e.to_string())
    }
}

impl RateLimitConfig {
    /// The network unpaid buckets cover.
    ///
    /// # Errors
    /// A prefix out of range.
    pub fn prefix(&self) -> Result<l402_tower::IpPrefix, String> {
        let v4 = self.ipv4_prefix.unwrap_or(32);
        let v6 = self.ipv6_prefix.unwrap_or(64);
        if !(16..=32).contains(&v4) {
            return Err("ipv4_prefix must be between 16 and 32 (24 or 32 are usual)".to_owned());
        }
        if !(32..=128).contains(&v6) {
            return Err("ipv6_prefix must be between 32 and 128 (48 or 64 are usual)".to_owned());
        }
        l402_tower::IpPrefix::new(v4, v6).map_err(|e| e.to_string())
    }

    fn check(&self) -> Result<(), String> {
        if self.paid.is_none() && self.unpaid.is_none() {
            return Err("rate_limit needs paid or unpaid".to_owned());
        }
        for (key, rate) in [("paid", &self.paid), ("unpaid", &self.unpaid)] {
            if let Some(r) = rate {
                r.rate().map_err(|e| format!("rate_limit.{key}: {e}"))?;
            }
        }
        if (self.ipv4_prefix.is_some() || self.ipv6_prefix.is_some()) && self.unpaid.is_none() {
            return Err("rate_limit: ipv4_prefix and ipv6_prefix need unpaid".to_owned());
        }
        self.prefix().map_err(|e| format!("rate_limit: {e}"))?;
        Ok(())
    }
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
    /// Rate limits (none by default).
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
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
        if let Some(limit) = &self.rate_limit {
            if self.free {
                return Err(self.err("a free service takes no rate_limit: nothing is sold"));
            }
            limit.check().map_err(|e| self.err(e))?;
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
        if let Some(BlocklistConfig { file, .. }) = &mut self.blocklist
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
        if let Some(redis) = &self.redis {
            let err = |m: &str| Err(ConfigError::Redis(m.to_owned()));
            if redis.url.is_empty() {
                return err("url must not be empty");
            }
            let prefix = redis.prefix();
            if prefix.is_empty()
                || prefix.len() > 64
                || !prefix
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
            {
                return err("prefix must be 1 to 64 of A-Z a-z 0-9 _ - .");
            }
            if let Some(t) = redis.timeout_ms
                && !(1..=MAX_REDIS_TIMEOUT_MS).contains(&t)
            {
                return Err(ConfigError::Redis(format!(
                    "timeout_ms must be between 1 and {MAX_REDIS_TIMEOUT_MS}"
                )));
            }
        }
        if let Some(b) = &self.blocklist
            && b.reload_secs == Some(0)
        {
            return Err(ConfigError::Blocklist(
                "reload_secs must be at least 1".to_owned(),
            ));
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
            Some(RevocationConfig::Redis { url: None, .. }) if self.redis.is_none() => {
                Err(ConfigError::Revocation(
                    "kind = \"redis\" needs a url, or a [redis] section".to_owned(),
                ))
            }
            Some(RevocationConfig::Redis {
                url: None,
                prefix: Some(_),
                ..
            }) => Err(ConfigError::Revocation(
                "prefix needs url: without one, [redis]'s prefix is used".to_owned(),
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

    #[test]
    fn rate_limits_redis_and_blocklist_are_read_and_validated() {
        let c = parse(&format!(
            "[redis]\nurl = \"redis://127.0.0.1/\"\n\
             [blocklist]\nfile = \"blocked.txt\"\n\
             [revocation]\nkind = \"redis\"\nmax_token_lifetime_secs = 600\n{}\
             [services.rate_limit]\npaid = {{ requests = 10, per_secs = 1, burst = 20 }}\n\
             unpaid = {{ requests = 30, per_secs = 60 }}\nipv4_prefix = 24\nipv6_prefix = 48\n\
             fail_closed = true\n",
            service("price_sat = 1")
        ))
        .unwrap();
        let redis = c.redis.as_ref().unwrap();
        assert_eq!(
            (redis.prefix(), redis.timeout()),
            ("l402", Duration::from_millis(250))
        );
        assert_eq!(
            c.blocklist.as_ref().unwrap().file,
            Path::new("/etc/l402/blocked.txt")
        );
        let limit = c.services[0].rate_limit.as_ref().unwrap();
        let paid = limit.paid.unwrap().rate().unwrap();
        assert_eq!(paid.burst(), 20);
        assert_eq!(paid.emission_interval(), Duration::from_millis(100));
        let unpaid = limit.unpaid.unwrap().rate().unwrap();
        assert_eq!(unpaid.burst(), 30);
        assert_eq!(unpaid.emission_interval(), Duration::from_secs(2));
        let p = limit.prefix().unwrap();
        assert_eq!(p.key("192.0.2.9".parse().unwrap()), "ip:192.0.2.0/24");
        assert!(limit.fail_closed);

        for (bad, want) in [
            ("paid = { requests = 0 }", "requests must be at least 1"),
            (
                "paid = { requests = 5, per_secs = 0 }",
                "per_secs must be between",
            ),
            (
                "paid = { requests = 5, burst = 0 }",
                "burst must be at least 1",
            ),
            (
                "paid = { requests = 5, burst = 100001 }",
                "burst must be at most 100000",
            ),
            (
                "paid = { requests = 4000000 }",
                "more than 1000000 requests a second",
            ),
            (
                "unpaid = { requests = 200000, per_secs = 60 }",
                "give a burst",
            ),
            (
                "unpaid = { requests = 5 }\nipv4_prefix = 8",
                "ipv4_prefix must be between",
            ),
            (
                "unpaid = { requests = 5 }\nipv6_prefix = 129",
                "ipv6_prefix must be between",
            ),
            ("paid = { requests = 5 }\nipv4_prefix = 24", "need unpaid"),
            ("fail_closed = true", "needs paid or unpaid"),
            ("paid = { requests = 5, every = 1 }", "unknown field"),
        ] {
            let e = parse(&format!(
                "{}[services.rate_limit]\n{bad}\n",
                service("price_sat = 1")
            ))
            .unwrap_err()
            .to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
        let e = parse(&format!(
            "{}[services.rate_limit]\npaid = {{ requests = 5 }}\n",
            service("free = true")
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("free service takes no rate_limit"), "{e}");
        for (bad, want) in [
            (
                "[redis]\nurl = \"redis://x/\"\ntimeout_ms = 0\n",
                "[redis]: timeout_ms",
            ),
            ("[redis]\nurl = \"\"\n", "[redis]: url must not be empty"),
            (
                "[redis]\nurl = \"redis://x/\"\nprefix = \"a:b\"\n",
                "[redis]: prefix must be",
            ),
            (
                "[blocklist]\nfile = \"b\"\nreload_secs = 0\n",
                "[blocklist]: reload_secs",
            ),
            (
                "[revocation]\nkind = \"redis\"\nmax_token_lifetime_secs = 60\n",
                "needs a url, or a [redis] section",
            ),
            (
                "[redis]\nurl = \"redis://x/\"\n[revocation]\nkind = \"redis\"\nprefix = \"p\"\n\
                 max_token_lifetime_secs = 60\n",
                "prefix needs url",
            ),
        ] {
            let e = parse(&format!("{bad}{}", service("price_sat = 1")))
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}
