//! [`L402Mcp`]: the MCP server, its builder and its tools.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use l402_core::lightning_invoice::Currency;
use l402_core::{Amount, BoxPaymentBackend, PaymentBackend};
use l402_reqwest::{
    Event, EventHandler, L402Middleware, L402MiddlewareBuilder, PaymentOptions, PaymentOutcome,
    SchemePreference, SpendingLedger, SpendingPolicy, TokenStore,
};
use reqwest::Url;
use reqwest_middleware::ClientWithMiddleware;
use rmcp::handler::server::tool::{parse_json_object, schema_for_input, schema_for_output};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::body::{self, Body, BodyLimits};
use crate::error::{self, Limit, ToolError};
use crate::net::{CheckingResolver, Destinations, HostPattern, redirect_policy};
use crate::tools::*;

/// Default largest body returned inline: 64 KiB.
pub const DEFAULT_MAX_INLINE_BYTES: usize = 64 * 1024;
/// Default largest body saved to the download directory: 16 MiB.
pub const DEFAULT_MAX_DOWNLOAD_BYTES: u64 = 16 * 1024 * 1024;
/// Default request timeout: 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest request body a tool call may send: 1 MiB.
pub const MAX_REQUEST_BODY: usize = 1024 * 1024;
/// Largest total size of the request headers a tool call may set: 16 KiB.
pub const MAX_REQUEST_HEADERS: usize = 16 * 1024;
/// Payments kept in the `payments` history.
const MAX_JOURNAL: usize = 1_000;

/// Why [`L402McpBuilder::build`] refused the configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The middleware's configuration is inconsistent.
    #[error(transparent)]
    Middleware(#[from] l402_reqwest::BuildError),
    /// A host pattern is not a host name, `*.` plus a domain, or an address.
    #[error("{0}")]
    HostPattern(String),
    /// The payment history file cannot be read.
    #[error("payment history {path}: {message}")]
    History {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A zero timeout or size limit.
    #[error("{0} must be above zero")]
    Zero(&'static str),
    /// The HTTP client could not be built.
    #[error("cannot build the http client")]
    Http(#[source] reqwest::Error),
}

/// Builds an [`L402Mcp`]; from [`L402Mcp::builder`].
#[must_use]
pub struct L402McpBuilder {
    middleware: L402MiddlewareBuilder<BoxPaymentBackend>,
    events: Option<Arc<dyn EventHandler>>,
    allowed: Vec<String>,
    denied: Vec<String>,
    allow_private: bool,
    allowed_addresses: BTreeSet<IpAddr>,
    max_inline: usize,
    max_download: u64,
    download_dir: Option<PathBuf>,
    timeout: Duration,
    policy: SpendingPolicy,
    history: Option<PathBuf>,
}

impl core::fmt::Debug for L402McpBuilder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("L402McpBuilder")
            .field("allowed", &self.allowed)
            .field("denied", &self.denied)
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl L402McpBuilder {
    /// The spending rules: per-request cap, fee cap, budgets and their window, network
    /// (default [`SpendingPolicy::new`]). These are the operator's hard limits; a tool
    /// argument can only lower the price cap and the timeout.
    pub fn policy(mut self, policy: SpendingPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Where tokens are kept (default: in memory).
    pub fn store(mut self, store: impl TokenStore) -> Self {
        self.middleware = self.middleware.store(store);
        self
    }

    /// Where budgets are counted (default: in memory; a
    /// [`FileLedger`](l402_reqwest::FileLedger) makes them hold across restarts).
    pub fn ledger(mut self, ledger: impl SpendingLedger) -> Self {
        self.middleware = self.middleware.ledger(ledger);
        self
    }

    /// One token per origin and first `segments` path segments.
    pub fn key_by_path_prefix(mut self, segments: usize) -> Self {
        self.middleware = self.middleware.key_by_path_prefix(segments);
        self
    }

    /// Which offer to pay when a 402 carries both an L402 and a `Payment` offer.
    pub fn prefer_scheme(mut self, preference: SchemePreference) -> Self {
        self.middleware = self.middleware.prefer_scheme(preference);
        self
    }

    /// Also receives the middleware's [`Event`]s.
    pub fn events(mut self, handler: impl EventHandler) -> Self {
        self.events = Some(Arc::new(handler));
        self
    }

    /// Only these hosts may be fetched (`api.example.com`, `*.example.com`); default:
    /// any public host.
    pub fn allow_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed.extend(hosts.into_iter().map(Into::into));
        self
    }

    /// These hosts are never fetched (checked before the allow list).
    pub fn deny_hosts<I, S>(mut self, hosts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.denied.extend(hosts.into_iter().map(Into::into));
        self
    }

    /// Whether private, loopback, link-local and other non-public addresses may be
    /// fetched (default `false`: the agent cannot be turned against the local network or
    /// a cloud metadata service). Checked on the URL, each redirect, and every address a
    /// host name resolves to.
    pub fn allow_private(mut self, allow: bool) -> Self {
        self.allow_private = allow;
        self
    }

    /// Allows one non-public address (a dev node on `127.0.0.1`), the others staying
    /// refused.
    pub fn allow_address(mut self, address: IpAddr) -> Self {
        self.allowed_addresses.insert(address);
        self
    }

    /// Largest text body returned inline (default [`DEFAULT_MAX_INLINE_BYTES`]).
    pub fn max_inline_bytes(mut self, bytes: usize) -> Self {
        self.max_inline = bytes;
        self
    }

    /// Largest body read at all, saved to the download directory (default
    /// [`DEFAULT_MAX_DOWNLOAD_BYTES`]); a larger one is a `response_size` error.
    pub fn max_download_bytes(mut self, bytes: u64) -> Self {
        self.max_download = bytes;
        self
    }

    /// Where binary bodies and bodies above the inline limit are saved (default none:
    /// they are omitted, and the result says so).
    pub fn download_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.download_dir = Some(dir.into());
        self
    }

    /// The request timeout (default [`DEFAULT_TIMEOUT`]), for each HTTP request of a
    /// call, body included.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Keeps the `payments` history in this file (JSON lines, mode 0600, appended), so that
    /// it survives restarts (default: in memory, this process's payments only). The last
    /// 1,000 payments are read back at start.
    pub fn history_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.history = Some(path.into());
        self
    }

    /// Checks the configuration and builds the server.
    ///
    /// # Errors
    /// [`BuildError`] for an inconsistent policy, a bad host pattern or a zero limit.
    pub fn build(self) -> Result<L402Mcp, BuildError> {
        if self.timeout.is_zero() {
            return Err(BuildError::Zero("the timeout"));
        }
        if self.max_inline == 0 || self.max_download == 0 {
            return Err(BuildError::Zero("the body size limit"));
        }
        let parse = |v: &[String]| {
            v.iter()
                .map(|p| HostPattern::parse(p))
                .collect::<Result<Vec<_>, _>>()
                .map_err(BuildError::HostPattern)
        };
        let rules = Arc::new(Destinations {
            allowed: parse(&self.allowed)?,
            denied: parse(&self.denied)?,
            allow_private: self.allow_private,
            allowed_addresses: self.allowed_addresses,
        });
        let journal = Arc::new(Mutex::new(match &self.history {
            Some(path) => Journal::load(path)?,
            None => Journal::default(),
        }));
        let sink = Arc::clone(&journal);
        let user = self.events;
        let middleware = self
            .middleware
            .policy(self.policy)
            // A challenge from another origin than the request's is never paid.
            .follow_cross_origin_redirects(false)
            .events(move |e: &Event| {
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .record(e);
                if let Some(u) = &user {
                    u.on_event(e);
                }
            })
            .build()?;
        let client = reqwest::Client::builder()
            .user_agent(concat!("l402-mcp/", env!("CARGO_PKG_VERSION")))
            // A proxy from the environment would reach addresses the resolver never saw.
            .no_proxy()
            .dns_resolver(Arc::new(CheckingResolver {
                rules: Arc::clone(&rules),
            }))
            .redirect(redirect_policy(Arc::clone(&rules)))
            .timeout(self.timeout)
            .connect_timeout(self.timeout)
            .build()
            .map_err(BuildError::Http)?;
        let http = reqwest_middleware::ClientBuilder::new(client)
            .with(middleware.clone())
            .build();
        Ok(L402Mcp {
            inner: Arc::new(Inner {
                middleware,
                http,
                rules,
                body: BodyLimits {
                    max_inline: self.max_inline,
                    max_download: self.max_download,
                    dir: self.download_dir,
                },
                timeout: self.timeout,
                journal,
            }),
        })
    }
}

/// An MCP server whose tools let an agent pay for L402 (and `Payment` scheme) APIs within
/// the operator's hard limits. Cheap to clone; serve it with rmcp's
/// [`ServiceExt::serve`](rmcp::ServiceExt::serve) on any transport.
#[derive(Clone)]
pub struct L402Mcp {
    inner: Arc<Inner>,
}

impl core::fmt::Debug for L402Mcp {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("L402Mcp")
            .field("middleware", &self.inner.middleware)
            .finish_non_exhaustive()
    }
}

struct Inner {
    middleware: L402Middleware<BoxPaymentBackend>,
    http: ClientWithMiddleware,
    rules: Arc<Destinations>,
    body: BodyLimits,
    timeout: Duration,
    journal: Arc<Mutex<Journal>>,
}

/// The payments this server made, from the middleware's events.
#[derive(Default)]
struct Journal {
    entries: VecDeque<PaymentEntry>,
    /// Where entries are appended, if anywhere.
    file: Option<PathBuf>,
    /// Entries ever recorded (a marker for "paid since").
    recorded: u64,
    /// The scheme of the last offer chosen per key.
    scheme: HashMap<String, String>,
}

/// A line of the history file: a payment, or the receipt of an earlier one.
#[derive(Serialize, serde::Deserialize)]
#[serde(untagged)]
enum Line {
    Receipt {
        receipt_for: String,
        receipt: serde_json::Value,
    },
    Payment(PaymentEntry),
}

/// Largest history file read at start.
const MAX_HISTORY_FILE: u64 = 64 * 1024 * 1024;

impl Journal {
    /// Reads the history file (missing: empty). A line that does not parse (a write cut
    /// short by a crash) is skipped.
    fn load(path: &std::path::Path) -> Result<Self, BuildError> {
        let err = |message: String| BuildError::History {
            path: path.to_path_buf(),
            message,
        };
        let mut journal = Journal {
            file: Some(path.to_path_buf()),
            ..Journal::default()
        };
        let text = match std::fs::metadata(path) {
            Ok(m) if m.len() > MAX_HISTORY_FILE => {
                return Err(err(format!(
                    "larger than {MAX_HISTORY_FILE} bytes; move it away to start a new one"
                )));
            }
            Ok(_) => std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(journal),
            Err(e) => return Err(err(e.to_string())),
        };
        if !text.is_empty() && !text.ends_with('\n') {
            // A write cut short: end its line, so that the next entry starts its own.
            use std::io::Write;
            std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(b"\n"))
                .map_err(|e| err(e.to_string()))?;
        }
        for line in text.lines() {
            match serde_json::from_str::<Line>(line) {
                Ok(Line::Payment(p)) => {
                    if journal.entries.len() == MAX_JOURNAL {
                        journal.entries.pop_front();
                    }
                    journal.entries.push_back(p);
                }
                Ok(Line::Receipt {
                    receipt_for,
                    receipt,
                }) => {
                    if let Some(p) = journal
                        .entries
                        .iter_mut()
                        .rev()
                        .find(|p| p.payment_hash == receipt_for)
                    {
                        p.receipt = Some(receipt);
                    }
                }
                Err(_) => {
                    tracing::warn!(path = %path.display(), "skipping an unreadable line of the payment history");
                }
            }
        }
        Ok(journal)
    }

    /// Appends a line to the history file; a failure is logged (the ledger, not the
    /// history, is what budgets count).
    fn append(&self, line: &Line) {
        let Some(path) = &self.file else { return };
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut opts = std::fs::OpenOptions::new();
            opts.create(true).append(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(path)?;
            let mut text = serde_json::to_string(line).map_err(std::io::Error::other)?;
            text.push('\n');
            f.write_all(text.as_bytes())
        };
        if let Err(e) = write() {
            tracing::warn!(path = %path.display(), error = %e, "could not append to the payment history");
        }
    }

    fn record(&mut self, e: &Event) {
        let now = unix(SystemTime::now());
        match e {
            Event::OfferChosen { key, scheme } => {
                self.scheme.insert(key.clone(), scheme.as_str().to_owned());
            }
            Event::PaymentSucceeded {
                key,
                payment_hash,
                amount,
                fee,
            } => self.push(PaymentEntry {
                at: now,
                origin: key.clone(),
                scheme: self.scheme.get(key).cloned(),
                amount_msat: amount.msat(),
                fee_msat: fee.msat(),
                payment_hash: payment_hash.to_hex(),
                recovered: false,
                receipt: None,
            }),
            Event::PaymentRecovered {
                key,
                payment_hash,
                amount,
                fee,
                scheme,
            } => self.push(PaymentEntry {
                at: now,
                origin: key.clone(),
                scheme: Some(scheme.as_str().to_owned()),
                amount_msat: amount.msat(),
                fee_msat: fee.msat(),
                payment_hash: payment_hash.to_hex(),
                recovered: true,
                receipt: None,
            }),
            Event::ReceiptReceived {
                payment_hash,
                receipt,
                ..
            } => {
                let hex = payment_hash.to_hex();
                let value = serde_json::to_value(receipt).ok();
                if let Some(entry) = self
                    .entries
                    .iter_mut()
                    .rev()
                    .find(|p| p.payment_hash == hex)
                {
                    entry.receipt.clone_from(&value);
                }
                if let Some(receipt) = value {
                    self.append(&Line::Receipt {
                        receipt_for: hex,
                        receipt,
                    });
                }
            }
            _ => {}
        }
    }

    fn push(&mut self, entry: PaymentEntry) {
        self.append(&Line::Payment(entry.clone()));
        if self.entries.len() == MAX_JOURNAL {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
        self.recorded += 1;
    }

    /// A payment for `key` recorded after `mark`.
    fn paid_since(&self, mark: u64, key: &str) -> Option<PaidOut> {
        let new = usize::try_from(self.recorded.saturating_sub(mark)).unwrap_or(usize::MAX);
        self.entries
            .iter()
            .rev()
            .take(new)
            .find(|p| p.origin == key && !p.recovered)
            .map(|p| PaidOut {
                scheme: p.scheme.clone().unwrap_or_else(|| "l402".into()),
                amount_msat: p.amount_msat,
                fee_msat: p.fee_msat,
                payment_hash: p.payment_hash.clone(),
            })
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `mainnet`, `testnet`, …
fn network_name(c: &Currency) -> String {
    crate::decode::describe::network_name(c).to_owned()
}

/// Response headers worth showing an agent.
const SHOWN_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-disposition",
    "content-encoding",
    "location",
    "retry-after",
    "cache-control",
    "etag",
    "last-modified",
    "payment-receipt",
    "www-authenticate",
];

/// Request headers a tool call may not set: the transport's own, and hop-by-hop ones.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
];

const METHODS: &[&str] = &["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

impl L402Mcp {
    /// A builder for a server paying through `payer` (any Lightning
    /// [`PaymentBackend`]: `l402-lnd`, `l402-cln`, `l402-mock` in tests).
    pub fn builder(payer: impl PaymentBackend + 'static) -> L402McpBuilder {
        L402McpBuilder {
            middleware: L402Middleware::boxed(payer),
            events: None,
            allowed: Vec::new(),
            denied: Vec::new(),
            allow_private: false,
            allowed_addresses: BTreeSet::new(),
            max_inline: DEFAULT_MAX_INLINE_BYTES,
            max_download: DEFAULT_MAX_DOWNLOAD_BYTES,
            download_dir: None,
            timeout: DEFAULT_TIMEOUT,
            policy: SpendingPolicy::new(),
            history: None,
        }
    }

    /// The paying middleware (its spending, ledger, store).
    #[must_use]
    pub fn middleware(&self) -> &L402Middleware<BoxPaymentBackend> {
        &self.inner.middleware
    }

    /// The tools, with their schemas.
    #[must_use]
    pub fn tools() -> Vec<Tool> {
        fn tool<A: schemars::JsonSchema + 'static, O: schemars::JsonSchema + 'static>(
            name: &'static str,
            description: &'static str,
            annotations: ToolAnnotations,
        ) -> Tool {
            let input = schema_for_input::<A>().unwrap_or_else(|_| {
                let mut o = JsonObject::new();
                o.insert("type".into(), "object".into());
                Arc::new(o)
            });
            Tool::new(name, description, input)
                .with_raw_output_schema(schema_for_output::<O>())
                .annotate(annotations)
        }
        let read_only = || ToolAnnotations::new().read_only(true).destructive(false);
        vec![
            tool::<FetchArgs, FetchOut>(
                "fetch",
                "Fetch a URL over HTTP(S). When the server answers 402 Payment Required with an \
                 L402 or Payment challenge, pays it over Lightning within the operator's limits \
                 (per-request cap, fee cap, budget), then returns the response; a stored token \
                 is reused without paying. max_cost_sat can only lower the cap. Returns status, \
                 selected headers, the body (text within a size limit, else a file path) and \
                 what was paid. A refusal is a tool error naming the limit; nothing is paid.",
                ToolAnnotations::new()
                    .read_only(false)
                    .destructive(false)
                    .open_world(true)
                    .idempotent(false),
            ),
            tool::<QuoteArgs, QuoteOut>(
                "quote",
                "What a request to a URL would cost, paying nothing: price, invoice expiry, \
                 network, and whether it fits the caps and the remaining budget.",
                read_only().open_world(true),
            ),
            tool::<BudgetArgs, BudgetOut>(
                "budget",
                "The operator's spending limits and what was spent, in the budget window and \
                 per origin.",
                read_only(),
            ),
            tool::<PaymentsArgs, PaymentsOut>(
                "payments",
                "The payments this server made (newest first), with receipts when the server \
                 sent one.",
                read_only(),
            ),
            tool::<TokensArgs, TokensOut>(
                "tokens",
                "The stored L402 tokens, by origin (never their secrets).",
                read_only(),
            ),
            tool::<ForgetArgs, ForgetOut>(
                "forget_token",
                "Remove the stored token of an origin; the next fetch there pays again.",
                ToolAnnotations::new().read_only(false).destructive(true),
            ),
            tool::<DecodeArgs, DecodeOut>(
                "decode",
                "Decode an L402 challenge, token (macaroon or Authorization value), Payment \
                 challenge, credential or receipt, or a BOLT 11 invoice.",
                read_only(),
            ),
        ]
    }

    /// Calls one tool by name with JSON arguments, as an MCP `tools/call` does: a
    /// result (with `isError` for a tool error), or a JSON-RPC error for an unknown
    /// tool or arguments that do not match its schema.
    ///
    /// # Errors
    /// [`ErrorData`] (invalid params) for an unknown tool or bad arguments.
    pub async fn call(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
    ) -> Result<CallToolResult, ErrorData> {
        let args = arguments.unwrap_or_default();
        match name {
            "fetch" => Ok(result(self.fetch(parse(args)?).await)),
            "quote" => Ok(result(self.quote(parse(args)?).await)),
            "budget" => {
                let _: BudgetArgs = parse(args)?;
                Ok(result(self.budget().await))
            }
            "payments" => Ok(result(Ok(self.payments(parse(args)?)))),
            "tokens" => {
                let _: TokensArgs = parse(args)?;
                Ok(result(self.tokens().await))
            }
            "forget_token" => Ok(result(self.forget(parse(args)?).await)),
            "decode" => {
                let a: DecodeArgs = parse(args)?;
                Ok(result(decode(&a.value)))
            }
            other => Err(ErrorData::invalid_params(
                format!("unknown tool {other:?}"),
                None,
            )),
        }
    }

    fn operator_cap(&self) -> Amount {
        self.inner.middleware.policy().price_cap()
    }

    fn parse_url(&self, raw: &str) -> Result<Url, ToolError> {
        let url =
            Url::parse(raw.trim()).map_err(|e| ToolError::invalid(format!("invalid url: {e}")))?;
        self.inner
            .rules
            .check_url(&url)
            .map_err(|r| ToolError::refused(r.limit, r.message))?;
        Ok(url)
    }

    fn timeout(&self, secs: Option<u64>) -> Result<Duration, ToolError> {
        match secs {
            None => Ok(self.inner.timeout),
            Some(0) => Err(ToolError::invalid("timeout_secs must be above zero")),
            Some(s) => Ok(Duration::from_secs(s).min(self.inner.timeout)),
        }
    }

    fn options(max_cost_sat: Option<u64>) -> PaymentOptions {
        match max_cost_sat.and_then(Amount::from_sat) {
            Some(cap) => PaymentOptions::new().max_price(cap),
            None => PaymentOptions::new(),
        }
    }

    async fn fetch(&self, a: FetchArgs) -> Result<FetchOut, ToolError> {
        let url = self.parse_url(&a.url)?;
        let method = parse_method(a.method.as_deref())?;
        let headers = parse_headers(a.headers.as_ref())?;
        if a.body.as_ref().is_some_and(|b| b.len() > MAX_REQUEST_BODY) {
            return Err(ToolError::refused(
                Limit::RequestSize,
                format!("the request body is larger than {MAX_REQUEST_BODY} bytes"),
            ));
        }
        let timeout = self.timeout(a.timeout_secs)?;
        let key = self.inner.middleware.key_for(&url).unwrap_or_default();
        let mark = self.journal().recorded;
        let mut req = self
            .inner
            .http
            .request(method, url)
            .headers(headers)
            .timeout(timeout)
            .with_extension(Self::options(a.max_cost_sat));
        if let Some(b) = a.body {
            req = req.body(b);
        }
        let paid_since = |s: &Self| s.journal().paid_since(mark, &key);
        let mut res = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let mut te = error::from_request(&e, self.operator_cap());
                if let Some(p) = paid_since(self) {
                    te.nothing_paid = false;
                    te.paid = Some(p);
                }
                return Err(te);
            }
        };
        let outcome = res.extensions().get::<PaymentOutcome>().cloned();
        let paid = outcome.as_ref().and_then(|o| o.paid).map(|p| PaidOut {
            scheme: p.scheme.as_str().to_owned(),
            amount_msat: p.amount.msat(),
            fee_msat: p.fee.msat(),
            payment_hash: p.payment_hash.to_hex(),
        });
        let status = res.status().as_u16();
        let final_url = res.url().to_string();
        let shown = shown_headers(res.headers());
        let (body, bytes) = match body::read(&mut res, &self.inner.body).await {
            Ok(b) => b,
            Err(mut te) => {
                if let Some(p) = paid.clone() {
                    te.nothing_paid = false;
                    te.paid = Some(p);
                }
                return Err(te);
            }
        };
        let (body, body_file, body_omitted) = match body {
            Body::Inline(s) => (Some(s), None, None),
            Body::File(p) => (None, Some(p.display().to_string()), None),
            Body::Omitted(why) => (None, None, Some(why)),
        };
        Ok(FetchOut {
            status,
            url: final_url,
            headers: shown,
            body,
            body_file,
            body_omitted,
            body_bytes: bytes,
            token_reused: outcome.is_some_and(|o| o.token_reused),
            paid,
        })
    }

    async fn quote(&self, a: QuoteArgs) -> Result<QuoteOut, ToolError> {
        let url = self.parse_url(&a.url)?;
        let method = parse_method(a.method.as_deref())?;
        let res = self
            .inner
            .http
            .request(method, url.clone())
            .with_extension(PaymentOptions::never_pay())
            .send()
            .await
            .map_err(|e| error::from_request(&e, self.operator_cap()))?;
        let status = res.status().as_u16();
        let quote = self
            .inner
            .middleware
            .quote(&url, &res, &Self::options(a.max_cost_sat))
            .await
            .map_err(|e| error::from_l402(&e, self.operator_cap()))?;
        let Some(q) = quote else {
            return Ok(QuoteOut {
                status,
                payment_required: false,
                scheme: None,
                price_msat: None,
                price_sat: None,
                max_fee_msat: None,
                invoice_expires_at: None,
                network: None,
                origin: None,
                fits: true,
                refusal: None,
                budget_left_msat: None,
                origin_budget_left_msat: None,
            });
        };
        let refusal = q.refusal.as_ref().map(|e| Refusal {
            limit: error::limit_of(e, self.operator_cap())
                .map_or("other", Limit::as_str)
                .to_owned(),
            message: l402_core::ErrorChain(e).to_string(),
        });
        Ok(QuoteOut {
            status,
            payment_required: true,
            scheme: Some(q.scheme.as_str().to_owned()),
            price_msat: q.amount.map(Amount::msat),
            price_sat: q.amount.map(|a| a.msat().div_ceil(1000)),
            max_fee_msat: q.max_fee.map(Amount::msat),
            invoice_expires_at: q.expires_at.map(unix),
            network: q.network.as_ref().map(network_name),
            origin: Some(q.key.clone()),
            fits: q.payable(),
            refusal,
            budget_left_msat: q.budget_left.map(Amount::msat),
            origin_budget_left_msat: q.origin_budget_left.map(Amount::msat),
        })
    }

    async fn budget(&self) -> Result<BudgetOut, ToolError> {
        let mw = &self.inner.middleware;
        let policy = mw.policy();
        let limits = policy.limits();
        let s = mw.ledger().summary(limits.window).await.map_err(|e| {
            ToolError::failed(
                format!("spending ledger: {}", l402_core::ErrorChain(&e)),
                true,
            )
        })?;
        let spent = s.total.saturating_add(s.fees);
        let left =
            |budget: Option<Amount>, used: Amount| budget.map(|b| b.saturating_sub(used).msat());
        let per_origin = s
            .per_origin
            .iter()
            .map(|(k, o)| {
                let used = o.amount.saturating_add(o.fees);
                OriginOut {
                    origin: k.clone(),
                    spent_msat: used.msat(),
                    reserved_msat: o.reserved.msat(),
                    payments: o.payments,
                    left_msat: left(limits.per_origin, used.saturating_add(o.reserved)),
                }
            })
            .collect();
        let rules = &self.inner.rules;
        Ok(BudgetOut {
            max_price_msat: policy.price_cap().msat(),
            max_fee_base_msat: policy.fee_base().msat(),
            max_fee_ppm: policy.fee_ppm(),
            budget_msat: limits.total.map(Amount::msat),
            origin_budget_msat: limits.per_origin.map(Amount::msat),
            window_secs: limits.window.map(|w| w.as_secs()),
            spent_msat: spent.msat(),
            reserved_msat: s.reserved.msat(),
            payments: s.payments,
            left_msat: left(limits.total, spent.saturating_add(s.reserved)),
            per_origin,
            network: policy.expected_network().map(network_name),
            allow_private: rules.allow_private,
            allowed_hosts: rules.allowed.iter().map(ToString::to_string).collect(),
            denied_hosts: rules.denied.iter().map(ToString::to_string).collect(),
            max_inline_bytes: self.inner.body.max_inline as u64,
            timeout_secs: self.inner.timeout.as_secs(),
        })
    }

    fn journal(&self) -> std::sync::MutexGuard<'_, Journal> {
        self.inner
            .journal
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn origin_key(&self, origin: &str) -> Result<String, ToolError> {
        let url = Url::parse(origin.trim())
            .map_err(|e| ToolError::invalid(format!("invalid origin: {e}")))?;
        self.inner
            .middleware
            .key_for(&url)
            .map_err(|e| ToolError::invalid(e.to_string()))
    }

    fn payments(&self, a: PaymentsArgs) -> PaymentsOut {
        let key = a.origin.as_deref().and_then(|o| self.origin_key(o).ok());
        let limit = a.limit.unwrap_or(50) as usize;
        let journal = self.journal();
        PaymentsOut {
            payments: journal
                .entries
                .iter()
                .rev()
                .filter(|p| {
                    key.as_ref()
                        .is_none_or(|k| p.origin.starts_with(k.as_str()))
                })
                .take(limit)
                .cloned()
                .collect(),
        }
    }

    async fn tokens(&self) -> Result<TokensOut, ToolError> {
        let list = self.inner.middleware.store().tokens().await.map_err(|e| {
            ToolError::failed(format!("token store: {}", l402_core::ErrorChain(&e)), true)
        })?;
        Ok(TokensOut {
            tokens: list
                .into_iter()
                .map(|(origin, t)| TokenEntry {
                    origin,
                    scheme: t.scheme.to_string(),
                    amount_msat: t.amount.msat(),
                    fee_msat: t.fee.msat(),
                    payment_hash: t.payment_hash.to_hex(),
                    created_at: unix(t.created_at),
                })
                .collect(),
        })
    }

    async fn forget(&self, a: ForgetArgs) -> Result<ForgetOut, ToolError> {
        let key = self.origin_key(&a.origin)?;
        let removed = self
            .inner
            .middleware
            .forget(&key)
            .await
            .map_err(|e| error::from_l402(&e, self.operator_cap()))?;
        Ok(ForgetOut {
            origin: key,
            removed,
        })
    }
}

/// The `decode` tool: the `l402 token decode` view, with an L402 credential's preimage
/// redacted (tool results end up in transcripts and logs).
fn decode(value: &str) -> Result<DecodeOut, ToolError> {
    let v = crate::decode::decode(value).map_err(|e| ToolError::invalid(e.to_string()))?;
    let serde_json::Value::Object(mut fields) = v else {
        return Err(ToolError::invalid("not a decodable value"));
    };
    if let Some(p) = fields.get_mut("preimage") {
        *p = "<redacted>".into();
    }
    Ok(DecodeOut { fields })
}

fn parse<T: DeserializeOwned>(args: JsonObject) -> Result<T, ErrorData> {
    parse_json_object(args)
}

fn result<T: Serialize>(r: Result<T, ToolError>) -> CallToolResult {
    match r {
        Ok(out) => match serde_json::to_value(out) {
            Ok(v) => CallToolResult::structured(v),
            Err(e) => CallToolResult::structured_error(serde_json::json!({
                "error": "request_failed",
                "message": format!("cannot serialize the result: {e}"),
                "nothing_paid": false,
            })),
        },
        Err(te) => CallToolResult::structured_error(
            serde_json::to_value(&te)
                .unwrap_or_else(|_| serde_json::json!({"error": "request_failed"})),
        ),
    }
}

fn parse_method(m: Option<&str>) -> Result<Method, ToolError> {
    let m = m.unwrap_or("GET").trim().to_ascii_uppercase();
    if !METHODS.contains(&m.as_str()) {
        return Err(ToolError::invalid(format!(
            "method {m:?} is not one of {}",
            METHODS.join(", ")
        )));
    }
    Method::from_bytes(m.as_bytes()).map_err(|e| ToolError::invalid(e.to_string()))
}

fn parse_headers(
    h: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<HeaderMap, ToolError> {
    let mut out = HeaderMap::new();
    let Some(h) = h else { return Ok(out) };
    let size: usize = h.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_REQUEST_HEADERS {
        return Err(ToolError::refused(
            Limit::RequestSize,
            format!("the request headers are larger than {MAX_REQUEST_HEADERS} bytes"),
        ));
    }
    for (k, v) in h {
        let name = HeaderName::from_bytes(k.trim().as_bytes())
            .map_err(|_| ToolError::invalid(format!("invalid header name {k:?}")))?;
        if FORBIDDEN_HEADERS.contains(&name.as_str()) {
            return Err(ToolError::invalid(format!("header {name} cannot be set")));
        }
        let value = HeaderValue::from_str(v)
            .map_err(|_| ToolError::invalid(format!("invalid value for header {name}")))?;
        out.append(name, value);
    }
    Ok(out)
}

fn shown_headers(h: &HeaderMap) -> std::collections::BTreeMap<String, String> {
    SHOWN_HEADERS
        .iter()
        .filter_map(|name| {
            let values: Vec<&str> = h
                .get_all(*name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect();
            (!values.is_empty()).then(|| ((*name).to_owned(), values.join(", ")))
        })
        .collect()
}

impl ServerHandler for L402Mcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("l402-mcp", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Fetch paid APIs with `fetch`: it pays L402 and Payment challenges over \
                 Lightning within limits the operator set (per-request cap, fee cap, budget). \
                 Use `quote` to see a price without paying and `budget` to see what is left. \
                 Refusals are tool errors naming the limit; nothing is paid then.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(Self::tools()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        Self::tools().into_iter().find(|t| t.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(&request.name, request.arguments)
            .await
            .map(Into::into)
    }
}
