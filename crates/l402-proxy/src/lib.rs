//! An Aperture-style paying reverse proxy as a tower service.
//!
//! `l402-proxy` is what the `l402 proxy` command runs, as a library an application can
//! embed or extend (its own listener, middleware, metrics). A request goes through one
//! pipeline, and the modules follow it:
//!
//! 1. [`config`]: typed, validated settings ([`ProxyConfig`], one [`ServiceConfig`] per
//!    upstream), deserializable with serde; nothing here reads files.
//! 2. route: the request target is put in one canonical form (a target with dot
//!    segments, plain or percent-encoded, an encoded `/` or `\`, a backslash, a NUL, a
//!    `;`, an empty segment, double encoding, or a `Host` that disagrees with the
//!    target's authority is refused with 400), then matched against the services in
//!    order, by host and path prefix: the first match serves it, no match is 404.
//! 3. auth: a priced service is behind an [`l402_tower::L402Layer`]: an unpaid request
//!    gets 402 and a challenge (L402, the `Payment` scheme, or both), a paid one goes on
//!    with its receipt.
//! 4. forward: exactly the routed path goes upstream, under the upstream's base path,
//!    bodies streamed both ways, `Authorization` removed, the receipt added as
//!    `X-L402-Token-Id`, `X-L402-Service` (and `X-L402-Capabilities`), hop-by-hop
//!    headers stripped, and `X-Forwarded-For` (the client's address), `X-Forwarded-Host`
//!    and `X-Forwarded-Proto` set by the proxy (what the client sent under those names is
//!    dropped). An unreachable upstream gives 502, one that sends no response headers in
//!    time gives 504.
//!
//! Beside the pipeline, [`admin`] is the operator's HTTP JSON API (health, live services,
//! revoking a token through the [`revocation`] list, recent sales and revenue per day),
//! a separate `tower::Service` for its own listener, authenticated by a bearer secret;
//! [`metrics`] holds the Prometheus exporter and the access log.
//!
//! The [`Proxy`] is a `tower::Service` for any request body; the client's address, for
//! `X-Forwarded-For`, is read from a [`ClientAddr`] extension (or axum's
//! `ConnectInfo<SocketAddr>`).
//!
//! # Routing
//!
//! Each service matches a host and a path, each a literal or a regular expression
//! (Aperture's `hostregexp` and `pathregexp`, unanchored, but tested against the
//! canonical authority and path only); it can rewrite the matched prefix
//! ([`ServiceConfig::path_rewrite`]), set headers upstream from literal text, the
//! environment or files ([`ServiceConfig::headers`]), serve some paths without payment
//! ([`ServiceConfig::auth_whitelist_paths`]), let each client address make some requests
//! free ([`ServiceConfig::freebies`]), and price requests statically or dynamically.
//! Regular expressions are at most [`config::MAX_REGEX_LEN`] bytes and bounded in
//! compiled size; matching time is linear in the input.
//!
//! # Dynamic prices
//!
//! With [`ServiceConfig::price_url`], each unpaid request is priced by `POST price_url`
//! with a JSON body:
//!
//! ```json
//! {"service": "weather", "method": "GET", "path": "/weather/today", "query": "q=1",
//!  "headers": {"accept": "application/json"}}
//! ```
//!
//! `path` is the canonical path (the one routed), `query` is absent when the request has
//! none, and `headers` holds the request's headers but its credentials (`Authorization`,
//! `Macaroon`, `Grpc-Metadata-Macaroon`, `Cookie`, `Proxy-Authorization`); a header sent
//! more than once keeps its first value. The pricer answers `200` with one of
//! `{"price_msat": 1500}`, `{"price_sat": 2}` or `{"free": true}`. Anything else
//! (another status, another body or one larger than 16 KiB, a price of 0, no answer
//! within 10 seconds, a connection failure) is a pricing failure: the client gets 503
//! and `Retry-After`, never free access. Requests with a valid token are not priced.
//!
//! # Rate limits, the blocklist and fleets
//!
//! [`ServiceConfig::rate_limit`] puts token buckets on a priced service: per token id for
//! paid requests, per client network ([`RateLimitConfig::ipv4_prefix`], `ipv6_prefix`)
//! for unpaid ones, checked before an invoice is minted; past a bucket the client gets
//! 429 with `Retry-After`. [`ProxyConfig::blocklist`] refuses listed networks with 403
//! before routing, from a file re-read when it changes. [`ProxyConfig::redis`] shares the
//! freebies, the Payment charges consumed, the buckets and (for `[revocation] kind =
//! "redis"` without a url) the revocations with every instance using the same Redis and
//! prefix. [`SharedState::from_config`] builds all of that once; give it to each
//! [`ProxyBuilder::shared`] so that reloads keep every count.
//!
//! # Example
//!
//! A free service and a priced one, in front of an upstream on port 9000; the invoices
//! come from a mock node so that the example runs anywhere.
//!
//! ```
//! use std::sync::Arc;
//! use l402_core::{BoxInvoiceBackend, MemoryRootKeyStore};
//! use l402_proxy::{Proxy, ProxyConfig, ServiceConfig};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut docs = ServiceConfig::new("docs", "http://127.0.0.1:9000");
//! docs.path = Some("/docs".to_owned());
//! docs.free = true;
//! let mut weather = ServiceConfig::new("weather", "http://127.0.0.1:9000/api");
//! weather.path = Some("/weather".to_owned());
//! weather.price_sat = Some(10);
//!
//! let node = l402_mock::MockNetwork::new().node("seller").build()?;
//! let proxy = Proxy::builder(
//!     ProxyConfig::new(vec![docs, weather]),
//!     BoxInvoiceBackend::new(node),
//!     Arc::new(MemoryRootKeyStore::new()),
//! )
//! .build()?;
//!
//! // An unpaid request for the priced service: 402 with a challenge.
//! let request = http::Request::get("http://api.example.com/weather/today")
//!     .body(l402_proxy::Body::empty())?;
//! let response = proxy.oneshot(request).await?;
//! assert_eq!(response.status(), 402);
//! assert!(response.headers().contains_key("www-authenticate"));
//! # Ok(())
//! # }
//! ```
//!
//! Serving it is the application's business; with axum:
//! `axum::serve(listener, axum::Router::new().fallback_service(proxy)
//! .into_make_service_with_connect_info::<SocketAddr>())`.

#![warn(missing_docs)]

pub mod admin;
mod admin_call;
#[cfg(feature = "aperture")]
pub mod aperture;
mod auth;
mod blocklist;
pub mod config;
mod forward;
pub mod metrics;
mod price_answer;
mod pricer;
pub mod revocation;
mod route;
mod shared;
mod target;

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use l402_core::payment_scheme::{ChallengeIdSecret, DynChargeStore};
use l402_core::{BoxInvoiceBackend, RootKeyStore};

pub use axum::body::Body;
pub use blocklist::BlocklistFile;
pub use config::{
    AuthScheme, BlocklistConfig, ConfigError, ProxyConfig, RateConfig, RateLimitConfig,
    RedisConfig, RevocationConfig, ServiceConfig, UpstreamProtocol,
};
pub use route::{ClientAddr, Proto};
pub use shared::SharedState;

use auth::{PaymentSettings, Pricing};
use forward::Forward;
use pricer::HttpPricer;
use route::{Entry, Matcher, Rewrite, Table};
use tower::ServiceExt as _;
use tower::util::BoxCloneSyncService;

/// Why a [`ProxyBuilder`] could not build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The configuration is refused.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A service's paywall could not be built.
    #[error("service {service:?}")]
    Paywall {
        /// The service's name.
        service: String,
        /// Why.
        #[source]
        source: l402_tower::BuildError,
    },
    /// The http client for the upstreams could not be built.
    #[error("cannot build the http client")]
    Client(#[source] reqwest::Error),
}

/// The proxy: a `tower::Service` answering every request (400, 402, 404, 502, 504 or the
/// upstream's response), never failing.
///
/// Built by [`Proxy::builder`]; cheap to clone (the route table is shared).
#[derive(Clone)]
pub struct Proxy {
    table: Arc<Table>,
    /// `[blocklist]`: refuses listed client networks before routing.
    blocklist: Option<l402_tower::IpBlocklistLayer>,
    /// Kept alive with the proxy: the blocklist file is watched while it is.
    _shared: Arc<SharedState>,
    config: Arc<ProxyConfig>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("services", &self.table.len())
            .finish_non_exhaustive()
    }
}

impl Proxy {
    /// A builder for a proxy serving `config`, minting invoices with `backend` and root
    /// keys in `store`.
    pub fn builder<K>(config: ProxyConfig, backend: BoxInvoiceBackend, store: K) -> ProxyBuilder<K>
    where
        K: RootKeyStore + Clone + 'static,
    {
        ProxyBuilder {
            config,
            backend,
            store,
            payment_id_secret: None,
            charges: None,
            shared: None,
            sales: None,
            proto: Proto::Http,
            metrics: None,
        }
    }

    /// The number of services.
    pub fn services(&self) -> usize {
        self.table.len()
    }

    /// The configuration this proxy serves.
    pub fn config(&self) -> &ProxyConfig {
        &self.config
    }
}

/// Builds a [`Proxy`]. Setters consume and return the builder; [`build`](Self::build)
/// validates everything.
pub struct ProxyBuilder<K> {
    config: ProxyConfig,
    backend: BoxInvoiceBackend,
    store: K,
    payment_id_secret: Option<ChallengeIdSecret>,
    charges: Option<Arc<dyn DynChargeStore>>,
    shared: Option<Arc<SharedState>>,
    sales: Option<Arc<admin::Sales>>,
    proto: Proto,
    metrics: Option<bool>,
}

impl<K> fmt::Debug for ProxyBuilder<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProxyBuilder")
            .field("services", &self.config.services.len())
            .field("proto", &self.proto)
            .finish_non_exhaustive()
    }
}

impl<K> ProxyBuilder<K>
where
    K: RootKeyStore + Clone + 'static,
{
    /// The secret challenge ids of the `Payment` scheme are derived from (required when a
    /// service offers it). Derive it from the master secret
    /// ([`ChallengeIdSecret::derive_from`]) so that challenges survive restarts and verify
    /// on every proxy sharing the secret.
    pub fn payment_id_secret(mut self, secret: ChallengeIdSecret) -> Self {
        self.payment_id_secret = Some(secret);
        self
    }

    /// The state shared with the proxies built before and after this one (a reload):
    /// Payment charges, freebie counters, rate-limit buckets, the blocklist, and with
    /// `[redis]` the fleet's connection. Build it once with
    /// [`SharedState::from_config`]. Without it, [`build`](Self::build) makes a fresh one
    /// from the configuration, so counters in memory start from zero.
    pub fn shared(mut self, state: Arc<SharedState>) -> Self {
        self.shared = Some(state);
        self
    }

    /// Where consumed `Payment` charges are recorded, for every service, instead of the
    /// [shared state](Self::shared)'s store (by default: in `[redis]`, else in memory,
    /// right for one proxy; a fleet needs one shared store, such as `l402-redis`'s
    /// `RedisChargeStore`).
    pub fn charge_store(mut self, store: Arc<dyn DynChargeStore>) -> Self {
        self.charges = Some(store);
        self
    }

    /// Records every sale into `sales` (for the [`admin`] API), besides the metrics. Give
    /// each proxy built for a reload the same one: its figures then outlive reloads.
    pub fn sales(mut self, sales: Arc<admin::Sales>) -> Self {
        self.sales = Some(sales);
        self
    }

    /// The scheme clients reach the proxy with, sent upstream as `X-Forwarded-Proto`
    /// (default [`Proto::Http`]).
    pub fn proto(mut self, proto: Proto) -> Self {
        self.proto = proto;
        self
    }

    /// Whether the proxy reports to the `metrics` facade (see [`metrics`]): the paywall's
    /// events and the request and upstream metrics. Default: when the configuration has
    /// a `[metrics]` section ([`ProxyConfig::metrics`]); an application that installs its
    /// own recorder turns it on here. Off, the proxy spends nothing on metrics, not even
    /// a clock read.
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = Some(on);
        self
    }

    /// Validates the configuration and builds the proxy.
    ///
    /// # Errors
    /// [`BuildError`] naming the first problem found.
    ///
    /// # Panics
    /// Without [`shared`](Self::shared) state and with a `[blocklist]`, outside a Tokio
    /// runtime (see [`SharedState::from_config`]).
    pub fn build(self) -> Result<Proxy, BuildError> {
        self.config.validate()?;
        let shared = match self.shared {
            Some(s) => s,
            None => Arc::new(SharedState::from_config(&self.config)?),
        };
        // For HTTP pricers only: upstreams have their own clients.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("l402-proxy/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(BuildError::Client)?;
        let payment = PaymentSettings {
            id_secret: self.payment_id_secret,
            charges: self.charges.unwrap_or_else(|| shared.charges()),
        };
        let metrics = self.metrics.unwrap_or(self.config.metrics.is_some());
        let mut entries = Vec::with_capacity(self.config.services.len());
        for service in &self.config.services {
            let forward = Forward::new(&self.config, service)?;
            let pricing = match (&service.price_url, service.price()?) {
                (Some(url), _) => Pricing::Dynamic(HttpPricer::new(
                    &service.name,
                    url.parse().map_err(|_| ConfigError::Service {
                        service: service.name.clone(),
                        reason: "price_url must be an http or https url".to_owned(),
                    })?,
                    client.clone(),
                )),
                (None, Some(price)) => Pricing::Static(price),
                (None, None) => Pricing::Free,
            };
            let free = matches!(pricing, Pricing::Free);
            let open = (!free && !service.auth_whitelist_paths.is_empty())
                .then(|| BoxCloneSyncService::new(forward.clone().into_service()));
            let pipeline = auth::pipeline(
                service,
                pricing,
                // Capped by the revocation list's token lifetime when revocations expire.
                self.config.validity(service),
                &self.backend,
                &self.store,
                &payment,
                &shared,
                self.sales.as_ref(),
                forward,
                metrics,
            )?;
            let regex = |re: &str| {
                config::compile_regex(re).map_err(|reason| ConfigError::Service {
                    service: service.name.clone(),
                    reason,
                })
            };
            let mut matcher = Matcher::new(service.host.as_deref(), service.path.as_deref());
            if let Some(re) = &service.host_regex {
                matcher = matcher.host_regex(regex(re)?);
            }
            if let Some(re) = &service.path_regex {
                matcher = matcher.path_regex(regex(re)?);
            }
            let whitelist = service
                .auth_whitelist_paths
                .iter()
                .map(|re| regex(re))
                .collect::<Result<_, _>>()?;
            let rewrite = match (&service.path, &service.path_rewrite) {
                (Some(from), Some(to)) => Some(Rewrite::new(from, to)),
                _ => None,
            };
            entries.push(Entry {
                name: service.name.clone(),
                matcher,
                service: pipeline,
                whitelist,
                open,
                rewrite,
                series: metrics::Series::default(),
            });
        }
        let blocklist = shared.blocklist().map(|list| {
            l402_tower::IpBlocklistLayer::new(list.clone(), |req: &l402_tower::PriceRequest<'_>| {
                route::client_addr(req.extensions()).map(|a| a.ip())
            })
        });
        Ok(Proxy {
            blocklist,
            _shared: Arc::clone(&shared),
            table: Arc::new({
                let mut table = Table::new(entries, self.proto);
                table.log_paths = self.config.metrics.as_ref().is_none_or(|m| m.log_paths);
                table.metrics = metrics;
                table
            }),
            config: Arc::new(self.config),
        })
    }
}

/// The future of a [`Proxy`] call.
pub type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

impl<B> tower::Service<Request<B>> for Proxy
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let table = Arc::clone(&self.table);
        let req = req.map(Body::new);
        match &self.blocklist {
            None => Box::pin(async move { Ok(table.serve(req).await) }),
            Some(layer) => {
                let serve = tower::service_fn(move |req: Request<Body>| {
                    let table = Arc::clone(&table);
                    async move { Ok::<_, Infallible>(table.serve(req).await) }
                });
                let blocked = tower::Layer::layer(layer, serve);
                Box::pin(blocked.oneshot(req))
            }
        }
    }
}
