//! Prices: static, per route, or computed per request by a [`Pricer`].

use core::future::Future;

use http::request::Parts;
use http::{Extensions, HeaderMap, Method, Uri};
use l402_core::Amount;
use l402_core::root_key::BoxError;

/// A read-only view of a request, given to a [`Pricer`] and to the free-allowance key
/// function: method, URI (path and query), headers and extensions (where axum puts
/// `ConnectInfo`).
#[derive(Debug, Clone, Copy)]
pub struct PriceRequest<'a> {
    method: &'a Method,
    uri: &'a Uri,
    headers: &'a HeaderMap,
    extensions: &'a Extensions,
}

impl<'a> PriceRequest<'a> {
    /// A view of a request's head.
    #[must_use]
    pub fn from_parts(parts: &'a Parts) -> Self {
        PriceRequest {
            method: &parts.method,
            uri: &parts.uri,
            headers: &parts.headers,
            extensions: &parts.extensions,
        }
    }

    /// A view of a request (the body is not visible).
    #[must_use]
    pub fn from_request<B>(request: &'a http::Request<B>) -> Self {
        PriceRequest {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            extensions: request.extensions(),
        }
    }

    /// The method.
    #[must_use]
    pub fn method(&self) -> &'a Method {
        self.method
    }

    /// The URI.
    #[must_use]
    pub fn uri(&self) -> &'a Uri {
        self.uri
    }

    /// The path of the URI.
    #[must_use]
    pub fn path(&self) -> &'a str {
        self.uri.path()
    }

    /// The headers.
    #[must_use]
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }

    /// The extensions (for example axum's `ConnectInfo<SocketAddr>`).
    #[must_use]
    pub fn extensions(&self) -> &'a Extensions {
        self.extensions
    }
}

/// What a [`Pricer`] asks for a request: nothing, explicitly, or an amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Price {
    /// The request is free: it passes through with no credential.
    Free,
    /// The request costs this much (in millisatoshis). Must be positive: a pricer that
    /// answers zero is treated as failing (503), so that a price computed as zero by
    /// mistake never serves the route free. Answer [`Price::Free`] for free requests.
    Amount(Amount),
}

impl Price {
    /// A price in satoshis.
    ///
    /// # Errors
    /// [`PricingError::Overflow`] if `sat` satoshis do not fit in a `u64` of
    /// millisatoshis.
    pub fn from_sat(sat: u64) -> Result<Self, PricingError> {
        Amount::from_sat(sat)
            .map(Price::Amount)
            .ok_or(PricingError::Overflow)
    }

    /// A price in millisatoshis.
    #[must_use]
    pub const fn from_msat(msat: u64) -> Self {
        Price::Amount(Amount::from_msat(msat))
    }
}

/// Why a [`Pricer`] could not price a request.
///
/// The layer answers such a request with `503 Service Unavailable` and `Retry-After`
/// (gRPC: `grpc-status: 14`), never with free access. The error is logged through
/// `tracing`; its text never reaches the client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PricingError {
    /// What the price depends on could not be read (a database, a rate feed…); retrying
    /// later may work.
    #[error("price source unavailable")]
    Unavailable(#[source] BoxError),
    /// The computed price does not fit in a `u64` of millisatoshis.
    #[error("price does not fit in millisatoshis")]
    Overflow,
}

impl PricingError {
    /// A price source failure, with its cause (kept for the logs).
    pub fn unavailable(source: impl Into<BoxError>) -> Self {
        PricingError::Unavailable(source.into())
    }
}

/// Prices a request at run time.
///
/// Answers [`Price::Free`] (the request passes through with no credential), a positive
/// [`Price::Amount`], or a [`PricingError`] (the client gets a 503 and retries later;
/// never free access). The pricer runs only for requests that do not carry a valid token
/// (a token pays for access to the service until it expires, not for one request), and
/// only on routes that no [`Route`] prices statically.
///
/// The returned future must not borrow the request: copy what it needs first. Closures
/// `Fn(&PriceRequest<'_>) -> impl Future<Output = Result<Price, PricingError>>` implement
/// the trait:
///
/// ```
/// use l402_tower::{Price, PriceRequest, PricingError};
///
/// let pricer = |req: &PriceRequest<'_>| {
///     // Longer paths cost more; premium clients pay double; /status is free.
///     let free = req.path() == "/status";
///     let len = req.path().len() as u64;
///     let premium = req.headers().contains_key("x-premium");
///     async move {
///         if free {
///             return Ok(Price::Free);
///         }
///         let msat = len
///             .checked_mul(if premium { 2_000 } else { 1_000 })
///             .ok_or(PricingError::Overflow)?;
///         Ok(Price::from_msat(msat))
///     }
/// };
/// # fn is_pricer<P: l402_tower::Pricer>(_: &P) {}
/// # is_pricer(&pricer);
/// ```
pub trait Pricer: Send + Sync + 'static {
    /// The future of a price.
    type Future: Future<Output = Result<Price, PricingError>> + Send + 'static;

    /// The price of `request`.
    fn price(&self, request: &PriceRequest<'_>) -> Self::Future;
}

impl<F, Fut> Pricer for F
where
    F: Fn(&PriceRequest<'_>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Price, PricingError>> + Send + 'static,
{
    type Future = Fut;

    fn price(&self, request: &PriceRequest<'_>) -> Fut {
        self(request)
    }
}

/// The boxed future of a [`DynPricer`].
pub(crate) type PriceFuture =
    core::pin::Pin<Box<dyn Future<Output = Result<Price, PricingError>> + Send + 'static>>;

/// Object-safe form of [`Pricer`], kept inside the layer.
pub(crate) trait DynPricer: Send + Sync + 'static {
    fn price_boxed(&self, request: &PriceRequest<'_>) -> PriceFuture;
}

impl<P: Pricer> DynPricer for P {
    fn price_boxed(&self, request: &PriceRequest<'_>) -> PriceFuture {
        Box::pin(self.price(request))
    }
}

/// How a route is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathMatch {
    Exact(String),
    Prefix(String),
}

/// A row of the layer's route table: a path (exact or prefix), optionally a method, and
/// what requests there cost and need.
///
/// Routes are tried in the order they were added; the first match wins. A route that sets
/// no price uses the layer's default (static price or [`Pricer`]).
///
/// ```
/// use l402_core::Amount;
/// use l402_tower::Route;
///
/// let forecast = Route::prefix("/forecast/").price_sat(10).capability("forecast");
/// let health = Route::exact("/health").free();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Route {
    path: PathMatch,
    method: Option<Method>,
    pub(crate) price: Option<Amount>,
    pub(crate) price_overflow: bool,
    pub(crate) capability: Option<String>,
    pub(crate) grants: Option<Vec<String>>,
    pub(crate) offers: Option<crate::Offers>,
}

impl Route {
    fn new(path: PathMatch) -> Self {
        Route {
            path,
            method: None,
            price: None,
            price_overflow: false,
            capability: None,
            grants: None,
            offers: None,
        }
    }

    /// Requests whose path is exactly `path`.
    pub fn exact(path: impl Into<String>) -> Self {
        Self::new(PathMatch::Exact(path.into()))
    }

    /// Requests whose path starts with `prefix`.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Self::new(PathMatch::Prefix(prefix.into()))
    }

    /// Only requests with this method.
    pub fn method(mut self, method: Method) -> Self {
        self.method = Some(method);
        self
    }

    /// A static price in millisatoshis (zero = free).
    pub fn price(mut self, price: Amount) -> Self {
        self.price = Some(price);
        self.price_overflow = false;
        self
    }

    /// A static price in satoshis; an amount too large for a `u64` of millisatoshis makes
    /// [`L402LayerBuilder::build`](crate::L402LayerBuilder::build) fail.
    pub fn price_sat(mut self, sat: u64) -> Self {
        match Amount::from_sat(sat) {
            Some(a) => self.price = Some(a),
            None => self.price_overflow = true,
        }
        self
    }

    /// Free: requests pass through with no credential.
    pub fn free(self) -> Self {
        self.price(Amount::ZERO)
    }

    /// Requires tokens to allow `capability` (for the layer's service).
    pub fn capability(mut self, capability: impl Into<String>) -> Self {
        self.capability = Some(capability.into());
        self
    }

    /// The capabilities a token minted for a request on this route carries, instead of
    /// the layer's.
    pub fn grants<S: AsRef<str>>(mut self, capabilities: &[S]) -> Self {
        self.grants = Some(capabilities.iter().map(|c| c.as_ref().to_owned()).collect());
        self
    }

    /// Which schemes a 402 on this route offers, instead of the layer's
    /// ([`L402LayerBuilder::offers`](crate::L402LayerBuilder::offers)).
    pub fn offers(mut self, offers: crate::Offers) -> Self {
        self.offers = Some(offers);
        self
    }

    /// The route for error messages: `GET /exact` or `/prefix*`.
    pub(crate) fn describe(&self) -> String {
        let path = match &self.path {
            PathMatch::Exact(p) => format!("{p:?}"),
            PathMatch::Prefix(p) => format!("{p:?}*"),
        };
        match &self.method {
            Some(m) => format!("{m} {path}"),
            None => path,
        }
    }

    pub(crate) fn matches(&self, method: &Method, path: &str) -> bool {
        if self.method.as_ref().is_some_and(|m| m != method) {
            return false;
        }
        match &self.path {
            PathMatch::Exact(p) => p == path,
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
        }
    }
}
