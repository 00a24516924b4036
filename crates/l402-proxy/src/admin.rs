//! The admin API: an HTTP JSON service for the operator, on its own listener, never on
//! the paying one. Off unless `[admin]` is configured.
//!
//! Every call needs `Authorization: Bearer <secret>`, the secret read from
//! `bearer_secret_file` (at least [`MIN_SECRET_LEN`] characters, no spaces; on Unix the
//! file must not be readable or writable by its group or others). The presented value
//! and the secret are compared through their SHA-256 digests, in constant time (neither
//! the secret's length nor its content shows in the answer's timing). A request without
//! it, or with another value, gets 401 with `WWW-Authenticate: Bearer` and the body
//! `{"error":"unauthorized"}`, before anything else is looked at (an unknown path is 401
//! too).
//!
//! | call | answer |
//! |---|---|
//! | `GET /v1/health` | `{"status":"ok","version":…}` |
//! | `GET /v1/info` | version, uptime, number of services, backend kind, revocation kind |
//! | `GET /v1/services` | each service's configuration as currently served (after the last reload); upstreams without credentials, header names without values |
//! | `POST /v1/tokens/{id}/revoke` (or `POST /v1/revocations` with `{"token_id": id}`) | revokes the token through the revocation list; 409 when none is configured |
//! | `GET /v1/tokens/recent?limit=N` | the latest sales: token id (L402) or payment hash (Payment), service, amount, scheme, time; never a preimage or a macaroon |
//! | `GET /v1/stats` | revenue per service per UTC day since the process started |
//!
//! Errors are JSON (`{"error": "…"}`) with 400 (bad query or body), 404, 405 (with
//! `Allow`), 409 (no revocation list), 503 (the revocation store cannot be reached);
//! bodies are read up to 4 KiB.
//!
//! Every call is logged (`tracing`, target `l402_proxy::admin`, level `info`): method,
//! path (at most 128 bytes), status and the caller's address. The secret is never
//! logged; token ids appear only in the path of a revocation (the audit trail of who
//! revoked what), never from the other calls.
//!
//! Sales and revenue are what this process saw ([`Sales`], fed by the paywalls through
//! [`SalesObserver`]): in a fleet, sum the instances. A token is counted once per
//! process (the first time it opens a priced service), at the service's static price;
//! tokens of a service priced by `price_url` are not counted (their price is not known
//! when they are accepted).
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use l402_core::{BoxInvoiceBackend, MemoryRootKeyStore};
//! use l402_proxy::admin::{Admin, BearerSecret, Sales};
//! use l402_proxy::{Proxy, ProxyConfig, ServiceConfig};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut weather = ServiceConfig::new("weather", "http://127.0.0.1:9000");
//! weather.price_sat = Some(10);
//! let node = l402_mock::MockNetwork::new().node("seller").build()?;
//! let sales = Arc::new(Sales::new(1000));
//! let proxy = Proxy::builder(
//!     ProxyConfig::new(vec![weather]),
//!     BoxInvoiceBackend::new(node),
//!     Arc::new(MemoryRootKeyStore::new()),
//! )
//! .sales(Arc::clone(&sales))
//! .build()?;
//! // `live` returns the proxy serving now; an application that reloads swaps it.
//! let admin = Admin::builder(
//!     BearerSecret::new("a-long-random-secret-from-a-file-0123456789")?,
//!     Arc::new(move || proxy.clone()),
//!     sales,
//! )
//! .build();
//!
//! let request = http::Request::get("/v1/health").body(l402_proxy::Body::empty())?;
//! assert_eq!(admin.clone().oneshot(request).await?.status(), 401);
//! let request = http::Request::get("/v1/health")
//!     .header("authorization", "Bearer a-long-random-secret-from-a-file-0123456789")
//!     .body(l402_proxy::Body::empty())?;
//! assert_eq!(admin.oneshot(request).await?.status(), 200);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use l402_core::{Amount, TokenId};
use l402_tower::{MetricsObserver, Observer, Scheme};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::admin_call::{self, Call, CallError, MAX_BODY_LEN};
use crate::revocation::{Revocations, RevokeError, Revoked};
use crate::route::ClientAddr;
use crate::{AuthScheme, Proxy, ProxyConfig, ServiceConfig};

/// Shortest bearer secret accepted, in characters.
pub const MIN_SECRET_LEN: usize = 32;
/// Largest bearer secret file read.
const MAX_SECRET_FILE_LEN: u64 = 4096;
/// Default number of recent sales kept.
pub const DEFAULT_RECENT_TOKENS: usize = 1000;
/// Largest number of recent sales kept.
pub const MAX_RECENT_TOKENS: usize = 100_000;
/// Days of revenue kept (older days are dropped).
pub const STATS_DAYS: u64 = 400;
/// Sale ids remembered to count each token once.
const SEEN_IDS: usize = 65_536;
/// Longest path written to the log.
const MAX_LOGGED_PATH: usize = 128;

/// `[admin]`: where the admin API listens and its secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct AdminConfig {
    /// Address of the admin API, e.g. `127.0.0.1:8403`. Keep it off the public interface
    /// (it speaks plain HTTP).
    pub listen: SocketAddr,
    /// File holding the bearer secret (at least 32 characters; mode 0600 on Unix).
    pub bearer_secret_file: PathBuf,
    /// How many recent sales `GET /v1/tokens/recent` can show (default 1000).
    pub recent_tokens: Option<usize>,
}

impl AdminConfig {
    /// `listen` and the secret file; defaults for the rest.
    pub fn new(listen: SocketAddr, bearer_secret_file: impl Into<PathBuf>) -> Self {
        AdminConfig {
            listen,
            bearer_secret_file: bearer_secret_file.into(),
            recent_tokens: None,
        }
    }

    /// The number of recent sales kept.
    pub fn recent_capacity(&self) -> usize {
        self.recent_tokens.unwrap_or(DEFAULT_RECENT_TOKENS)
    }

    pub(crate) fn validate(&self) -> Result<(), crate::ConfigError> {
        if let Some(n) = self.recent_tokens
            && !(1..=MAX_RECENT_TOKENS).contains(&n)
        {
            return Err(crate::ConfigError::Setting(format!(
                "[admin] recent_tokens must be between 1 and {MAX_RECENT_TOKENS}"
            )));
        }
        Ok(())
    }
}

/// Why a bearer secret is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The file cannot be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file can be read or written by its group or others.
    #[error("{path} is accessible to its group or others: chmod 600 it")]
    Permissions {
        /// The file.
        path: PathBuf,
    },
    /// The file is larger than a secret.
    #[error("{path} is larger than {MAX_SECRET_FILE_LEN} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The secret is not acceptable.
    #[error(
        "the bearer secret must be at least {MIN_SECRET_LEN} characters of utf-8 without spaces or control characters"
    )]
    Weak,
}

/// The admin API's bearer secret: zeroized when dropped, never printed.
#[derive(Clone)]
pub struct BearerSecret {
    /// SHA-256 of the secret: what presented values are compared with.
    digest: Zeroizing<[u8; 32]>,
}

impl fmt::Debug for BearerSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerSecret(<redacted>)")
    }
}

impl BearerSecret {
    /// A secret from its text (trimmed).
    ///
    /// # Errors
    /// [`SecretError::Weak`] for fewer than [`MIN_SECRET_LEN`] characters, or spaces or
    /// control characters inside.
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        let secret = secret.trim();
        if secret.chars().count() < MIN_SECRET_LEN
            || secret.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(SecretError::Weak);
        }
        Ok(BearerSecret {
            digest: Zeroizing::new(Sha256::digest(secret.as_bytes()).into()),
        })
    }

    /// Reads the secret from `path`: refused when the file is accessible to its group or
    /// others (Unix), larger than 4 KiB, or holds a weak secret.
    ///
    /// # Errors
    /// [`SecretError`].
    pub fn from_file(path: &Path) -> Result<Self, SecretError> {
        let read = |source| SecretError::Read {
            path: path.to_owned(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(SecretError::Permissions {
                    path: path.to_owned(),
                });
            }
        }
        if meta.len() > MAX_SECRET_FILE_LEN {
            return Err(SecretError::TooLarge {
                path: path.to_owned(),
            });
        }
        let bytes = Zeroizing::new(std::fs::read(path).map_err(read)?);
        let text = std::str::from_utf8(&bytes).map_err(|_| SecretError::Weak)?;
        BearerSecret::new(text)
    }

    /// Whether an `Authorization` value is `Bearer <this secret>` (the scheme in any
    /// case). Constant time in the presented value and the secret.
    pub fn matches(&self, authorization: Option<&HeaderValue>) -> bool {
        let presented = authorization
            .map(HeaderValue::as_bytes)
            .and_then(|v| {
                let (scheme, rest) = v.split_at_checked(7)?;
                scheme.eq_ignore_ascii_case(b"bearer ").then_some(rest)
            })
            .unwrap_or_default();
        let digest = Zeroizing::new(<[u8; 32]>::from(Sha256::digest(presented)));
        // An empty value never matches: a secret is at least 32 characters.
        let ok = digest.ct_eq(&*self.digest);
        bool::from(ok) && !presented.is_empty()
    }
}

/// One sale: a token (or a `Payment` charge) accepted for the first time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Sale {
    /// The token id (L402) or the payment hash (`Payment`), hex.
    pub token_id: String,
    /// The service.
    pub service: String,
    /// What it paid, in millisatoshis.
    pub amount_msat: u64,
    /// `l402` or `payment`.
    pub scheme: &'static str,
    /// When, in unix seconds.
    pub at: u64,
    /// When, RFC 3339 (UTC).
    pub time: String,
}

/// Sales this process saw: the latest ones and revenue per service per UTC day. Shared
/// by every paywall (through [`SalesObserver`]) and outliving reloads.
pub struct Sales {
    inner: Mutex<SalesInner>,
    capacity: usize,
}

impl fmt::Debug for Sales {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sales")
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct SalesInner {
    recent: VecDeque<Sale>,
    /// (day since the epoch, service) to (count, msat).
    days: BTreeMap<(u64, String), (u64, u64)>,
    /// Ids already counted, oldest first.
    seen: HashSet<[u8; 32]>,
    seen_order: VecDeque<[u8; 32]>,
}

/// One line of `GET /v1/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DayRevenue {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// The service.
    pub service: String,
    /// Sales.
    pub count: u64,
    /// Revenue, in millisatoshis.
    pub msat: u64,
}

impl Sales {
    /// Keeps the latest `capacity` sales (at least one).
    pub fn new(capacity: usize) -> Self {
        Sales {
            inner: Mutex::new(SalesInner::default()),
            capacity: capacity.max(1),
        }
    }

    /// Records a sale at `at`; an id already recorded (among the last 65,536) is not
    /// counted again.
    pub fn record(
        &self,
        service: &str,
        scheme: Scheme,
        amount: Amount,
        id: &[u8; 32],
        at: SystemTime,
    ) {
        let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if !inner.seen.insert(*id) {
            return;
        }
        inner.seen_order.push_back(*id);
        if inner.seen_order.len() > SEEN_IDS
            && let Some(old) = inner.seen_order.pop_front()
        {
            inner.seen.remove(&old);
        }
        let day = secs / 86_400;
        let entry = inner.days.entry((day, service.to_owned())).or_default();
        entry.0 = entry.0.saturating_add(1);
        entry.1 = entry.1.saturating_add(amount.msat());
        while inner
            .days
            .first_key_value()
            .is_some_and(|((d, _), _)| day.saturating_sub(*d) >= STATS_DAYS)
        {
            inner.days.pop_first();
        }
        if inner.recent.len() == self.capacity {
            inner.recent.pop_front();
        }
        inner.recent.push_back(Sale {
            token_id: admin_call::hex32(id),
            service: service.to_owned(),
            amount_msat: amount.msat(),
            scheme: scheme.as_str(),
            at: secs,
            time: rfc3339(secs),
        });
    }

    /// The latest `limit` sales, newest first.
    pub fn recent(&self, limit: usize) -> Vec<Sale> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.recent.iter().rev().take(limit).cloned().collect()
    }

    /// Revenue per UTC day and service, oldest day first.
    pub fn revenue(&self) -> Vec<DayRevenue> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner
            .days
            .iter()
            .map(|((day, service), (count, msat))| DayRevenue {
                day: rfc3339(day * 86_400)[..10].to_owned(),
                service: service.clone(),
                count: *count,
                msat: *msat,
            })
            .collect()
    }
}

/// The paywalls' observer when the admin API is on: every sale recorded in [`Sales`],
/// and, when metrics are on, the metrics of [`MetricsObserver`].
#[derive(Debug, Clone)]
pub struct SalesObserver {
    sales: Arc<Sales>,
    metrics: Option<MetricsObserver>,
}

impl SalesObserver {
    /// Records into `sales`, and reports no metrics.
    pub fn new(sales: Arc<Sales>) -> Self {
        SalesObserver {
            sales,
            metrics: None,
        }
    }

    /// Also reports every event to `metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: MetricsObserver) -> Self {
        self.metrics = Some(metrics);
        self
    }
}

impl Observer for SalesObserver {
    fn challenge_issued(&self, label: &str, scheme: Scheme) {
        if let Some(metrics) = &self.metrics {
            metrics.challenge_issued(label, scheme);
        }
    }

    fn verified(&self, label: &str, scheme: Scheme, reason: l402_tower::Reason) {
        if let Some(metrics) = &self.metrics {
            metrics.verified(label, scheme, reason);
        }
    }

    fn payment(&self, label: &str, scheme: Scheme, amount: Amount) {
        if let Some(metrics) = &self.metrics {
            metrics.payment(label, scheme, amount);
        }
    }

    fn payment_detail(&self, label: &str, scheme: Scheme, amount: Amount, id: &[u8; 32]) {
        self.sales
            .record(label, scheme, amount, id, SystemTime::now());
    }

    fn call(&self, label: &str, operation: l402_tower::Operation, ok: bool, latency: Duration) {
        if let Some(metrics) = &self.metrics {
            metrics.call(label, operation, ok, latency);
        }
    }

    fn rate_limited(&self, label: &str, decision: l402_tower::Limited) {
        if let Some(metrics) = &self.metrics {
            metrics.rate_limited(label, decision);
        }
    }
}

/// The proxy currently serving (after the last reload): what `GET /v1/services` shows.
pub type LiveProxy = Arc<dyn Fn() -> Proxy + Send + Sync>;

/// The admin API: a `tower::Service` answering every request, never failing. Cheap to
/// clone. Built by [`Admin::builder`].
#[derive(Clone)]
pub struct Admin {
    inner: Arc<Inner>,
}

struct Inner {
    secret: BearerSecret,
    live: LiveProxy,
    sales: Arc<Sales>,
    revocations: Option<Arc<Revocations>>,
    backend: String,
    started: Instant,
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("backend", &self.inner.backend)
            .finish_non_exhaustive()
    }
}

impl Admin {
    /// A builder: calls authenticated by `secret`, services read from `live`, sales
    /// from `sales` (the same the proxy's [`ProxyBuilder::sales`](crate::ProxyBuilder::sales)
    /// records into).
    pub fn builder(secret: BearerSecret, live: LiveProxy, sales: Arc<Sales>) -> AdminBuilder {
        AdminBuilder {
            secret,
            live,
            sales,
            revocations: None,
            backend: None,
        }
    }
}

/// Builds an [`Admin`].
pub struct AdminBuilder {
    secret: BearerSecret,
    live: LiveProxy,
    sales: Arc<Sales>,
    revocations: Option<Arc<Revocations>>,
    backend: Option<String>,
}

impl fmt::Debug for AdminBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminBuilder").finish_non_exhaustive()
    }
}

impl AdminBuilder {
    /// The revocation list the proxy's root key store consults: what revocations go
    /// through (without it, revoking answers 409).
    pub fn revocations(mut self, revocations: Arc<Revocations>) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// The node backend's kind, shown by `GET /v1/info` (`lnd`, `cln`...).
    pub fn backend(mut self, kind: impl Into<String>) -> Self {
        self.backend = Some(kind.into());
        self
    }

    /// The service.
    pub fn build(self) -> Admin {
        Admin {
            inner: Arc::new(Inner {
                secret: self.secret,
                live: self.live,
                sales: self.sales,
                revocations: self.revocations,
                backend: self.backend.unwrap_or_else(|| "unknown".to_owned()),
                started: Instant::now(),
            }),
        }
    }
}

/// `GET /v1/health`.
#[derive(Debug, Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

/// `GET /v1/info`.
#[derive(Debug, Serialize)]
struct Info {
    version: &'static str,
    uptime_secs: u64,
    services: usize,
    backend: String,
    revocation: &'static str,
}

/// One service of `GET /v1/services`.
#[derive(Debug, Serialize)]
struct ServiceView {
    name: String,
    host: Option<String>,
    path: Option<String>,
    host_regex: Option<String>,
    path_regex: Option<String>,
    path_rewrite: Option<String>,
    upstream: String,
    /// `free`, `static` or `dynamic`.
    pricing: &'static str,
    price_msat: Option<u64>,
    auth_scheme: &'static str,
    validity_secs: Option<u64>,
    freebies: Option<u32>,
    capabilities: Vec<String>,
    auth_whitelist_paths: Vec<String>,
    /// Names only: values may be secrets.
    headers: Vec<String>,
}

/// `GET /v1/services`.
#[derive(Debug, Serialize)]
struct Services {
    services: Vec<ServiceView>,
}

/// A revocation's answer.
#[derive(Debug, Serialize)]
struct RevokeAnswer {
    token_id: String,
    revoked: bool,
    already_revoked: bool,
    revocation: &'static str,
}

/// `GET /v1/tokens/recent`.
#[derive(Debug, Serialize)]
struct Recent {
    tokens: Vec<Sale>,
}

/// `GET /v1/stats`.
#[derive(Debug, Serialize)]
struct Stats {
    scope: &'static str,
    uptime_secs: u64,
    revenue: Vec<DayRevenue>,
}

#[derive(Debug, Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    // Our own plain structs: serializing them cannot fail.
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    json(status, &ErrorBody { error: message })
}

/// The 401: this status, header and body, nothing else.
fn unauthorized() -> Response<Body> {
    let mut response = Response::new(Body::from(r#"{"error":"unauthorized"}"#));
    *response.status_mut() = StatusCode::UNAUTHORIZED;
    let headers = response.headers_mut();
    headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The upstream URL without its user name and password.
fn without_credentials(service: &ServiceConfig) -> String {
    match service.upstream_url() {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        Err(_) => "-".to_owned(),
    }
}

fn service_view(config: &ProxyConfig, service: &ServiceConfig) -> ServiceView {
    let (pricing, price_msat) = if service.price_url.is_some() {
        ("dynamic", None)
    } else {
        match service.price() {
            Ok(Some(price)) => ("static", Some(price.msat())),
            _ => ("free", None),
        }
    };
    let priced = pricing != "free";
    ServiceView {
        name: service.name.clone(),
        host: service.host.clone(),
        path: service.path.clone(),
        host_regex: service.host_regex.clone(),
        path_regex: service.path_regex.clone(),
        path_rewrite: service.path_rewrite.clone(),
        upstream: without_credentials(service),
        pricing,
        price_msat,
        auth_scheme: match service.auth_scheme {
            AuthScheme::L402 => "l402",
            AuthScheme::Payment => "payment",
            AuthScheme::Both => "l402+payment",
        },
        validity_secs: priced
            .then(|| config.validity(service).map(|d| d.as_secs()))
            .flatten(),
        freebies: service.freebies,
        capabilities: service.capabilities.clone(),
        auth_whitelist_paths: service.auth_whitelist_paths.clone(),
        headers: service.headers.keys().cloned().collect(),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` for unix seconds.
fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Days to a civil date (H. Hinnant's algorithm), for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Inner {
    async fn answer(&self, call: Call) -> Response<Body> {
        match call {
            Call::Health => json(
                StatusCode::OK,
                &Health {
                    status: "ok",
                    version: env!("CARGO_PKG_VERSION"),
                },
            ),
            Call::Info => json(
                StatusCode::OK,
                &Info {
                    version: env!("CARGO_PKG_VERSION"),
                    uptime_secs: self.started.elapsed().as_secs(),
                    services: (self.live)().services(),
                    backend: self.backend.clone(),
                    revocation: self.revocations.as_ref().map_or("none", |r| r.kind()),
                },
            ),
            Call::Services => {
                let proxy = (self.live)();
                let config = proxy.config();
                json(
                    StatusCode::OK,
                    &Services {
                        services: config
                            .services
                            .iter()
                            .map(|s| service_view(config, s))
                            .collect(),
                    },
                )
            }
            Call::Revoke(id) => self.revoke(TokenId::from_bytes(id)).await,
            Call::Recent { limit } => json(
                StatusCode::OK,
                &Recent {
                    tokens: self.sales.recent(limit),
                },
            ),
            Call::Stats => json(
                StatusCode::OK,
                &Stats {
                    scope: "instance",
                    uptime_secs: self.started.elapsed().as_secs(),
                    revenue: self.sales.revenue(),
                },
            ),
        }
    }

    async fn revoke(&self, id: TokenId) -> Response<Body> {
        let Some(list) = &self.revocations else {
            return error(
                StatusCode::CONFLICT,
                &RevokeError::NotConfigured.to_string(),
            );
        };
        match list.revoke_persistently(&id).await {
            Ok(outcome) => json(
                StatusCode::OK,
                &RevokeAnswer {
                    token_id: id.to_hex(),
                    revoked: true,
                    already_revoked: outcome == Revoked::Already,
                    revocation: list.kind(),
                },
            ),
            Err(RevokeError::NotConfigured) => error(
                StatusCode::CONFLICT,
                &RevokeError::NotConfigured.to_string(),
            ),
            Err(e) => {
                tracing::error!(
                    target: "l402_proxy::admin",
                    error = %l402_core::ErrorChain(&e),
                    "revocation failed"
                );
                let message = match e {
                    RevokeError::File(_) => {
                        "the revocation file cannot be written (the token is refused by this \
                         instance until it restarts; see the log)"
                    }
                    _ => "the revocation store cannot be reached; try again",
                };
                error(StatusCode::SERVICE_UNAVAILABLE, message)
            }
        }
    }
}

/// The future of an [`Admin`] call.
pub type AdminFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl<B> tower::Service<Request<B>> for Admin
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = AdminFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let peer = parts
                .extensions
                .get::<ClientAddr>()
                .map(|a| a.0)
                .or_else(|| {
                    parts
                        .extensions
                        .get::<axum::extract::ConnectInfo<SocketAddr>>()
                        .map(|c| c.0)
                });
            let response = if inner
                .secret
                .matches(parts.headers.get(header::AUTHORIZATION))
            {
                serve(&inner, &parts.method, &parts.uri, body).await
            } else {
                unauthorized()
            };
            log(&parts.method, parts.uri.path(), response.status(), peer);
            Ok(response)
        })
    }
}

async fn serve<B>(inner: &Inner, method: &Method, uri: &http::Uri, body: B) -> Response<Body>
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let body = match axum::body::to_bytes(Body::new(body), MAX_BODY_LEN).await {
        Ok(b) => b,
        Err(_) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the request body is larger than {MAX_BODY_LEN} bytes, or was cut"),
            );
        }
    };
    match admin_call::parse(method.as_str(), uri.path(), uri.query(), &body) {
        Ok(call) => inner.answer(call).await,
        Err(CallError::NotFound) => error(StatusCode::NOT_FOUND, "no such call"),
        Err(CallError::MethodNotAllowed(allow)) => {
            let mut response = error(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
            response
        }
        Err(CallError::BadRequest(message)) => error(StatusCode::BAD_REQUEST, &message),
    }
}

fn log(method: &Method, path: &str, status: StatusCode, peer: Option<SocketAddr>) {
    let mut end = path.len().min(MAX_LOGGED_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    let path = &path[..end];
    let status = status.as_u16();
    match peer {
        Some(peer) => {
            tracing::info!(target: "l402_proxy::admin", %method, path, status, %peer, "admin call")
        }
        None => tracing::info!(target: "l402_proxy::admin", %method, path, status, "admin call"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &str = "an-admin-secret-of-enough-length-0123";

    #[test]
    fn bearer_values() {
        let s = BearerSecret::new(SECRET).unwrap();
        let v = |t: &str| HeaderValue::from_str(t).unwrap();
        assert!(s.matches(Some(&v(&format!("Bearer {SECRET}")))));
        assert!(s.matches(Some(&v(&format!("bearer {SECRET}")))));
        assert!(!s.matches(None));
        assert!(!s.matches(Some(&v(SECRET))));
        assert!(!s.matches(Some(&v(&format!("Basic {SECRET}")))));
        assert!(!s.matches(Some(&v(&format!("Bearer {SECRET}x")))));
        assert!(!s.matches(Some(&v(&format!("Bearer {}", &SECRET[1..])))));
        assert!(!s.matches(Some(&v(&format!("Bearer  {SECRET}")))));
        assert!(!s.matches(Some(&v("Bearer "))));
        assert!(!s.matches(Some(&v("Bearer"))));
        assert_eq!(format!("{s:?}"), "BearerSecret(<redacted>)");
        assert!(BearerSecret::new("short").is_err());
        assert!(BearerSecret::new(&format!("{SECRET} with spaces")).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_798_761_599), "2026-12-31T23:59:59Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn sales_are_counted_once_and_bounded() {
        let sales = Sales::new(2);
        let day = UNIX_EPOCH + Duration::from_secs(1_798_761_000);
        let next = day + Duration::from_secs(3600);
        let a = Amount::from_msat(10_000);
        sales.record("weather", Scheme::L402, a, &[1; 32], day);
        sales.record("weather", Scheme::L402, a, &[1; 32], day);
        sales.record("weather", Scheme::Payment, a, &[2; 32], day);
        sales.record("maps", Scheme::L402, a, &[3; 32], next);
        let recent = sales.recent(10);
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[0].service, "maps");
        assert_eq!(recent[0].token_id, "03".repeat(32));
        assert_eq!(recent[1].scheme, "payment");
        let revenue = sales.revenue();
        assert_eq!(revenue.len(), 2, "{revenue:?}");
        assert_eq!(revenue[0].day, "2026-12-31");
        assert_eq!(revenue[0].service, "weather");
        assert_eq!((revenue[0].count, revenue[0].msat), (2, 20_000));
        assert_eq!(revenue[1].day, "2027-01-01");
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("l402-admin-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("admin.secret");
        std::fs::write(&file, format!("{SECRET}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            BearerSecret::from_file(&file),
            Err(SecretError::Permissions { .. })
        ));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = BearerSecret::from_file(&file).unwrap();
        assert!(s.matches(Some(
            &HeaderValue::from_str(&format!("Bearer {SECRET}")).unwrap()
        )));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
