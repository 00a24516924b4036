//! [`L402Layer`] and its builder.

use core::fmt;
use core::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderValue;
use l402_core::backend::DEFAULT_INVOICE_EXPIRY;
use l402_core::caveat::{CONDITION_PREIMAGE, CONDITION_SERVICES};
use l402_core::{
    Amount, Caveat, CaveatError, Credential, InvoiceBackend, MintRequest, Preimage, RootKey,
    RootKeyStore, Service, TokenId, Verifier, VerifyContext, VerifyError,
};
use tower_layer::Layer;

use l402_core::MasterSecret;
use l402_core::payment_scheme::{
    ChallengeIdSecret, ChargeStore, DynChargeStore, MemoryChargeStore,
};

use crate::allowance::FreeAllowance;
use crate::body::{EmptyBody, TextBody};
use crate::payment::{DEFAULT_PAYMENT_EXPIRY, MAX_PAYMENT_REALM_LEN, Offers, PaymentConfig};
use crate::pricing::{DynPricer, PriceRequest, Pricer, Route};
use crate::service::L402Service;

/// Default token location, as Aperture writes it. The location is not signed; clients
/// ignore it.
pub const DEFAULT_LOCATION: &str = "lsat";
/// Default `Retry-After` of a 503: five seconds.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);
/// Longest invoice description a BOLT11 invoice can hold (the `d` field: 639 bytes).
pub const MAX_MEMO_LEN: usize = 639;
/// Shortest token validity accepted: caveats count whole seconds, so anything shorter could
/// mint tokens that are already expired.
pub const MIN_VALIDITY: Duration = Duration::from_secs(1);

/// Why an [`L402LayerBuilder`] could not build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No service name was given.
    #[error("no service name: call service()")]
    MissingService,
    /// The service name is not a valid caveat value.
    #[error("invalid service name")]
    Service(#[source] CaveatError),
    /// No default price: neither `price`, `price_sat` nor `pricer` was called.
    #[error("no default price: call price(), price_sat() or pricer()")]
    MissingPrice,
    /// A price in satoshis does not fit in a `u64` of millisatoshis.
    #[error("price in satoshis does not fit in millisatoshis")]
    PriceOverflow,
    /// A capability is empty or holds `,` or white space.
    #[error("invalid capability")]
    Capability(#[source] CaveatError),
    /// A route requires a capability that the tokens minted for it would not grant: clients
    /// would pay and still be refused.
    #[error("capability {0:?} is required but tokens minted for it do not grant it")]
    CapabilityNotGranted(String),
    /// The required tier is above the tier minted tokens carry.
    #[error("required tier {required} is above the service tier {tier}")]
    TierTooLow {
        /// The service tier minted tokens carry.
        tier: u8,
        /// The required tier.
        required: u8,
    },
    /// An extra caveat uses a condition the layer writes itself.
    #[error("caveat condition {0:?} is written by the layer and cannot be added")]
    ReservedCaveat(String),
    /// An extra caveat has a condition the verifier would reject (unknown conditions are
    /// rejected unless a satisfier handles them or the policy ignores them).
    #[error("caveat condition {0:?} would be rejected by the verifier")]
    UnverifiableCaveat(String),
    /// The token validity is shorter than [`MIN_VALIDITY`].
    #[error("token validity must be at least one second")]
    ValidityTooShort,
    /// The invoice expiry is zero.
    #[error("invoice expiry must be positive")]
    ZeroInvoiceExpiry,
    /// The invoice memo is longer than [`MAX_MEMO_LEN`] bytes.
    #[error("invoice memo of {0} bytes exceeds the bolt11 limit")]
    MemoTooLong(usize),
    /// Minted tokens would be too large.
    #[error("tokens would exceed the macaroon size limits")]
    TokenTooLarge,
    /// A freshly minted token failed verification for another reason.
    #[error("minted tokens would not verify")]
    SelfTest(#[source] VerifyError),
    /// A token sold on a cheaper route (or at a dynamic price) would be accepted on a
    /// route with a higher static price: clients could buy the cheap token and use the
    /// dear route. Give the dearer route a capability the cheaper tokens do not grant
    /// ([`Route::capability`] with [`Route::grants`]), use a layer per price, or accept it
    /// with [`L402LayerBuilder::allow_cheap_tokens_on_dear_routes`].
    #[error(
        "tokens sold for {cheap} would open {dear}, which costs more: \
         restrict {dear} with a capability the cheaper tokens do not grant"
    )]
    CheapTokenOpensDearRoute {
        /// Where the cheaper tokens are sold: a route, or requests no route matches.
        cheap: String,
        /// The dearer route they would open.
        dear: String,
    },
    /// The `Payment` scheme is offered but no challenge-id secret was given: call
    /// [`payment_master_secret`](L402LayerBuilder::payment_master_secret) (with the master
    /// secret of the root keys) or [`payment_id_secret`](L402LayerBuilder::payment_id_secret).
    #[error(
        "the payment scheme is offered but has no challenge id secret: \
         call payment_master_secret() or payment_id_secret()"
    )]
    MissingPaymentSecret,
    /// The Payment realm is empty, longer than [`MAX_PAYMENT_REALM_LEN`], or holds a
    /// control character.
    #[error("invalid payment realm")]
    InvalidPaymentRealm,
    /// The Payment challenge expiry is zero.
    #[error("payment challenge expiry must be positive")]
    ZeroPaymentExpiry,
    /// The root-key store forgets a revocation after `retention`
    /// ([`RootKeyStore::revocation_retention`], for example a Redis revocation list's
    /// `max_token_lifetime`), but minted tokens would live longer: a revoked token would
    /// be accepted again. Set a [`validity`](L402LayerBuilder::validity) of at most
    /// `retention`.
    #[error(
        "revocations are forgotten after {retention:?} but tokens would be minted {}: \
         set validity() to at most the retention",
        show_validity(.validity.as_ref())
    )]
    RevocationForgotten {
        /// How long the store remembers a revocation.
        retention: Duration,
        /// The validity tokens would be minted with (`None`: no expiry).
        validity: Option<Duration>,
    },
}

/// Why [`BuildError::RevocationForgotten`] formats a validity as it does.
fn show_validity(validity: Option<&Duration>) -> String {
    match validity {
        Some(v) => format!("valid for {v:?}"),
        None => "without an expiry".to_owned(),
    }
}

/// The layer's default price.
pub(crate) enum DefaultPrice {
    Static(Amount),
    Dynamic(Box<dyn DynPricer>),
}

/// A resolved route decision: which price applies and what the token must allow.
pub(crate) enum PriceSource {
    Static(Amount),
    Dynamic,
}

type KeyFn = dyn Fn(&PriceRequest<'_>) -> Option<String> + Send + Sync + 'static;

pub(crate) struct Allowance {
    pub(crate) counter: Arc<dyn FreeAllowance>,
    pub(crate) key: Box<KeyFn>,
}

/// Everything the service needs, shared by every clone through an `Arc`.
pub(crate) struct Shared<B, K> {
    pub(crate) backend: B,
    pub(crate) store: K,
    pub(crate) verifier: Verifier,
    pub(crate) service: Service,
    pub(crate) default_price: DefaultPrice,
    pub(crate) routes: Vec<Route>,
    pub(crate) capability: Option<String>,
    pub(crate) grants: Option<Vec<String>>,
    pub(crate) min_tier: Option<u8>,
    pub(crate) validity: Option<Duration>,
    pub(crate) caveats: Vec<Caveat>,
    pub(crate) location: Option<String>,
    pub(crate) memo: String,
    pub(crate) invoice_expiry: Duration,
    pub(crate) unauthorized_on_invalid: bool,
    pub(crate) retry_after: HeaderValue,
    pub(crate) allowance: Option<Allowance>,
    pub(crate) offers: Offers,
    pub(crate) payment: Option<PaymentConfig>,
    pub(crate) ops: crate::ops::LiveOps,
}

impl<B, K> Shared<B, K> {
    /// What a request on `route` is offered: the route's choice, else the layer's.
    pub(crate) fn offers(&self, route: Option<usize>) -> Offers {
        route
            .and_then(|i| self.routes.get(i))
            .and_then(|r| r.offers)
            .unwrap_or(self.offers)
    }

    /// The index of the first route matching the request, if any.
    pub(crate) fn route_index(&self, method: &http::Method, path: &str) -> Option<usize> {
        self.routes.iter().position(|r| r.matches(method, path))
    }

    /// The price source for a request on `route`.
    pub(crate) fn price_source(&self, route: Option<usize>) -> PriceSource {
        if let Some(price) = route.and_then(|i| self.routes.get(i)).and_then(|r| r.price) {
            return PriceSource::Static(price);
        }
        match &self.default_price {
            DefaultPrice::Static(a) => PriceSource::Static(*a),
            DefaultPrice::Dynamic(_) => PriceSource::Dynamic,
        }
    }

    /// `route` for error messages.
    pub(crate) fn describe(&self, route: Option<usize>) -> String {
        match route.and_then(|i| self.routes.get(i)) {
            Some(r) => format!("route {}", r.describe()),
            None => "requests no route matches".to_owned(),
        }
    }

    /// The capability a request on `route` needs.
    pub(crate) fn required_capability(&self, route: Option<usize>) -> Option<&str> {
        route
            .and_then(|i| self.routes.get(i))
            .and_then(|r| r.capability.as_deref())
            .or(self.capability.as_deref())
    }

    /// The capabilities tokens minted on `route` carry (`None`: unrestricted).
    pub(crate) fn grants(&self, route: Option<usize>) -> Option<&[String]> {
        route
            .and_then(|i| self.routes.get(i))
            .and_then(|r| r.grants.as_deref())
            .or(self.grants.as_deref())
    }

    /// The mint request for a token paid by `payment_hash`, for a request on `route`.
    pub(crate) fn mint_request(
        &self,
        payment_hash: l402_core::PaymentHash,
        route: Option<usize>,
        now: SystemTime,
    ) -> Result<MintRequest, l402_core::MintError> {
        let mut request = MintRequest::new(payment_hash).service(self.service.clone());
        if let Some(grants) = self.grants(route) {
            request = request.capabilities(&self.service, grants)?;
        }
        // A validity too long for the clock to represent means no expiry.
        if let Some(until) = self.validity.and_then(|v| now.checked_add(v)) {
            request = request.valid_until(until);
        }
        for caveat in &self.caveats {
            request = request.caveat(caveat.clone());
        }
        if let Some(location) = &self.location {
            request = request.location(location.clone());
        }
        Ok(request)
    }
}

/// A tower [`Layer`] that puts a service behind L402: requests without a valid token get a
/// `402 Payment Required` with a fresh Lightning invoice and macaroon.
///
/// Build it with [`L402Layer::builder`]. Cloning is cheap (the configuration is shared
/// through an `Arc`). `M` chooses how the layer's own response bodies are made: see
/// [`MakeBody`](crate::MakeBody).
///
/// See the [crate documentation](crate) for the request flow and an axum example.
pub struct L402Layer<B, K, M = TextBody> {
    pub(crate) shared: Arc<Shared<B, K>>,
    _body: PhantomData<fn() -> M>,
}

impl<B, K, M> Clone for L402Layer<B, K, M> {
    fn clone(&self) -> Self {
        L402Layer {
            shared: Arc::clone(&self.shared),
            _body: PhantomData,
        }
    }
}

impl<B, K, M> fmt::Debug for L402Layer<B, K, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L402Layer")
            .field("service", &self.shared.service)
            .field("routes", &self.shared.routes.len())
            .finish_non_exhaustive()
    }
}

impl<B, K> L402Layer<B, K> {
    /// A builder for a layer that mints invoices with `backend` and root keys in `store`.
    pub fn builder(backend: B, store: K) -> L402LayerBuilder<B, K> {
        L402LayerBuilder::new(backend, store)
    }
}

impl<B, K, M> L402Layer<B, K, M> {
    /// The same layer, writing empty bodies (`ResBody: Default`) in its own responses: for
    /// tonic and other services whose body type has no `From<&'static str>`.
    #[must_use]
    pub fn empty_bodies(self) -> L402Layer<B, K, EmptyBody> {
        L402Layer {
            shared: self.shared,
            _body: PhantomData,
        }
    }

    /// The same layer, writing short fixed texts (`ResBody: From<&'static str>`) in its own
    /// responses (the default).
    #[must_use]
    pub fn text_bodies(self) -> L402Layer<B, K, TextBody> {
        L402Layer {
            shared: self.shared,
            _body: PhantomData,
        }
    }

    /// The service name tokens are minted for and checked against.
    #[must_use]
    pub fn service_name(&self) -> &str {
        self.shared.service.name()
    }
}

impl<S, B, K, M> Layer<S> for L402Layer<B, K, M> {
    type Service = L402Service<S, B, K, M>;

    fn layer(&self, inner: S) -> Self::Service {
        L402Service::new(inner, Arc::clone(&self.shared))
    }
}

/// Builds an [`L402Layer`]. Setters consume and return the builder; [`build`] validates.
///
/// Required: a service name ([`service`](Self::service)) and a default price
/// ([`price`](Self::price), [`price_sat`](Self::price_sat) or [`pricer`](Self::pricer);
/// `price(Amount::ZERO)` makes unmatched routes free).
///
/// [`build`]: L402LayerBuilder::build
#[must_use]
pub struct L402LayerBuilder<B, K> {
    backend: B,
    store: K,
    verifier: Verifier,
    service: Option<String>,
    tier: u8,
    default_price: Option<DefaultPrice>,
    price_overflow: bool,
    routes: Vec<Route>,
    capability: Option<String>,
    grants: Option<Vec<String>>,
    min_tier: Option<u8>,
    validity: Option<Duration>,
    caveats: Vec<Caveat>,
    location: Option<String>,
    memo: Option<String>,
    invoice_expiry: Duration,
    unauthorized_on_invalid: bool,
    retry_after: Duration,
    allowance: Option<Allowance>,
    allow_cheap_on_dear: bool,
    offers: Offers,
    payment_secret: Option<ChallengeIdSecret>,
    payment_realm: Option<String>,
    payment_expiry: Duration,
    charge_store: Option<Arc<dyn DynChargeStore>>,
    pub(crate) ops: crate::ops::Ops,
}

impl<B, K> fmt::Debug for L402LayerBuilder<B, K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("L402LayerBuilder")
            .field("service", &self.service)
            .field("tier", &self.tier)
            .field("routes", &self.routes)
            .finish_non_exhaustive()
    }
}

impl<B, K> L402LayerBuilder<B, K> {
    fn new(backend: B, store: K) -> Self {
        L402LayerBuilder {
            backend,
            store,
            verifier: Verifier::new(),
            service: None,
            tier: 0,
            default_price: None,
            price_overflow: false,
            routes: Vec::new(),
            capability: None,
            grants: None,
            min_tier: None,
            validity: None,
            caveats: Vec::new(),
            location: Some(DEFAULT_LOCATION.to_owned()),
            memo: None,
            invoice_expiry: DEFAULT_INVOICE_EXPIRY,
            unauthorized_on_invalid: false,
            retry_after: DEFAULT_RETRY_AFTER,
            allowance: None,
            allow_cheap_on_dear: false,
            offers: Offers::L402,
            payment_secret: None,
            payment_realm: None,
            payment_expiry: DEFAULT_PAYMENT_EXPIRY,
            charge_store: None,
            ops: crate::ops::Ops::default(),
        }
    }

    /// The service name tokens are minted for (`services=<name>:<tier>`) and checked
    /// against. Required.
    pub fn service(mut self, name: impl Into<String>) -> Self {
        self.service = Some(name.into());
        self
    }

    /// The tier minted tokens carry for the service (default 0).
    pub fn tier(mut self, tier: u8) -> Self {
        self.tier = tier;
        self
    }

    /// Requires presented tokens to have at least this tier for the service.
    pub fn min_tier(mut self, tier: u8) -> Self {
        self.min_tier = Some(tier);
        self
    }

    /// A static default price in millisatoshis (zero: requests pass through free).
    pub fn price(mut self, price: Amount) -> Self {
        self.default_price = Some(DefaultPrice::Static(price));
        self.price_overflow = false;
        self
    }

    /// A static default price in satoshis.
    pub fn price_sat(mut self, sat: u64) -> Self {
        match Amount::from_sat(sat) {
            Some(price) => return self.price(price),
            None => self.price_overflow = true,
        }
        self
    }

    /// Prices each request at run time (replaces a static default price). See [`Pricer`].
    pub fn pricer(mut self, pricer: impl Pricer) -> Self {
        self.default_price = Some(DefaultPrice::Dynamic(Box::new(pricer)));
        self.price_overflow = false;
        self
    }

    /// Adds a route to the route table (first match wins). See [`Route`].
    pub fn route(mut self, route: Route) -> Self {
        self.routes.push(route);
        self
    }

    /// Requires tokens to allow `capability`, on every route that does not set its own.
    pub fn require_capability(mut self, capability: impl Into<String>) -> Self {
        self.capability = Some(capability.into());
        self
    }

    /// The capabilities minted tokens carry (`<service>_capabilities=…`); by default they
    /// carry none, which leaves them unrestricted.
    pub fn capabilities<S: AsRef<str>>(mut self, capabilities: &[S]) -> Self {
        self.grants = Some(capabilities.iter().map(|c| c.as_ref().to_owned()).collect());
        self
    }

    /// How long minted tokens stay valid (`<service>_valid_until`, computed at mint time).
    /// By default tokens do not expire.
    ///
    /// With a store that forgets revocations after a while
    /// ([`RootKeyStore::revocation_retention`], such as a
    /// [`DerivedRootKeyStore`](l402_core::DerivedRootKeyStore) with a Redis revocation
    /// list), a validity of at most that retention is required.
    pub fn validity(mut self, validity: Duration) -> Self {
        self.validity = Some(validity);
        self
    }

    /// Appends a caveat to every minted token. Its condition must be one the verifier
    /// handles (a satisfier registered with [`verifier`](Self::verifier)), unless unknown
    /// caveats are ignored.
    pub fn caveat(mut self, caveat: Caveat) -> Self {
        self.caveats.push(caveat);
        self
    }

    /// The macaroon location (default [`DEFAULT_LOCATION`], `"lsat"`, as Aperture).
    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    /// Mints macaroons without a location.
    pub fn no_location(mut self) -> Self {
        self.location = None;
        self
    }

    /// The invoice description (default `"L402 access to <service>"`).
    pub fn memo(mut self, memo: impl Into<String>) -> Self {
        self.memo = Some(memo.into());
        self
    }

    /// How long invoices can be paid (default
    /// [`DEFAULT_INVOICE_EXPIRY`](l402_core::backend::DEFAULT_INVOICE_EXPIRY), one hour).
    pub fn invoice_expiry(mut self, expiry: Duration) -> Self {
        self.invoice_expiry = expiry;
        self
    }

    /// The verifier: custom caveat satisfiers and the unknown-caveat policy (default
    /// [`Verifier::new`]: unknown caveats rejected). For Aperture parity:
    /// `Verifier::builder().unknown_caveats(UnknownCaveats::Ignore).build()`.
    pub fn verifier(mut self, verifier: Verifier) -> Self {
        self.verifier = verifier;
        self
    }

    /// Answers an invalid credential (present but wrong, expired or for another service)
    /// with `401 Unauthorized` and a fresh challenge instead of `402` (default `false`, as
    /// Aperture: most clients pay again only on 402). Only on routes that offer L402 alone:
    /// the `Payment` scheme answers every refused credential with 402 and a problem body.
    pub fn unauthorized_on_invalid(mut self, enabled: bool) -> Self {
        self.unauthorized_on_invalid = enabled;
        self
    }

    /// The `Retry-After` of a 503 (default [`DEFAULT_RETRY_AFTER`]; whole seconds, at
    /// least one).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// Lets each client make some requests free before it must pay (Aperture's
    /// "freebies"). `key` derives the client key from the request (an IP address from
    /// axum's `ConnectInfo`, an API key header…); requests it gives no key for always pay.
    /// Requests that carry a valid token do not use the allowance.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use std::time::Duration;
    /// use axum::extract::ConnectInfo;
    /// use l402_tower::{L402LayerBuilder, MemoryFreeAllowance, PriceRequest};
    ///
    /// fn with_freebies<B, K>(builder: L402LayerBuilder<B, K>) -> L402LayerBuilder<B, K> {
    ///     // Five free requests per client IP per day, at most 100,000 IPs tracked.
    ///     let allowance = MemoryFreeAllowance::new(5).window(Duration::from_secs(86_400));
    ///     builder.free_allowance(allowance, |req: &PriceRequest<'_>| {
    ///         req.extensions()
    ///             .get::<ConnectInfo<SocketAddr>>()
    ///             .map(|ConnectInfo(addr)| addr.ip().to_string())
    ///     })
    /// }
    /// // Serve with `app.into_make_service_with_connect_info::<SocketAddr>()` so that axum
    /// // puts `ConnectInfo` in the extensions. Behind a proxy, key on its client-IP header.
    /// ```
    pub fn free_allowance<F>(mut self, allowance: impl FreeAllowance, key: F) -> Self
    where
        F: Fn(&PriceRequest<'_>) -> Option<String> + Send + Sync + 'static,
    {
        self.allowance = Some(Allowance {
            counter: Arc::new(allowance),
            key: Box::new(key),
        });
        self
    }

    /// Lets a token sold on a cheaper route open a dearer one.
    ///
    /// By default [`build`](Self::build) refuses such a configuration
    /// ([`BuildError::CheapTokenOpensDearRoute`]), because a client would buy the cheapest
    /// token and use it everywhere. Call this when that is what you sell: the prices are
    /// then only what a token costs depending on where it is bought, not what each route
    /// costs.
    pub fn allow_cheap_tokens_on_dear_routes(mut self) -> Self {
        self.allow_cheap_on_dear = true;
        self
    }

    /// Which schemes a 402 offers on routes that do not choose (default [`Offers::L402`]:
    /// the L402 challenge exactly as before). See [`Offers`] and [`Route::offers`].
    ///
    /// Offering the `Payment` scheme needs a challenge-id secret
    /// ([`payment_master_secret`](Self::payment_master_secret) or
    /// [`payment_id_secret`](Self::payment_id_secret)).
    pub fn offers(mut self, offers: Offers) -> Self {
        self.offers = offers;
        self
    }

    /// Derives the Payment challenge-id secret from the root-key master secret (the one a
    /// [`DerivedRootKeyStore`](l402_core::DerivedRootKeyStore) is made with): challenges
    /// then verify after a restart and on every instance of a fleet that shares it.
    pub fn payment_master_secret(mut self, master: &MasterSecret) -> Self {
        self.payment_secret = Some(ChallengeIdSecret::derive_from(master));
        self
    }

    /// The Payment challenge-id secret, given explicitly. Keep it stable across restarts
    /// and shared by a fleet, or issued challenges stop verifying.
    pub fn payment_id_secret(mut self, secret: ChallengeIdSecret) -> Self {
        self.payment_secret = Some(secret);
        self
    }

    /// The `realm` of Payment challenges (default: the service name). Credentials for
    /// another realm are refused.
    pub fn payment_realm(mut self, realm: impl Into<String>) -> Self {
        self.payment_realm = Some(realm.into());
        self
    }

    /// How long a Payment challenge can be paid and presented (default
    /// [`DEFAULT_PAYMENT_EXPIRY`], 15 minutes, as Aperture). Each challenge's `expires` is
    /// the earlier of this and its invoice's expiry.
    pub fn payment_expiry(mut self, expiry: Duration) -> Self {
        self.payment_expiry = expiry;
        self
    }

    /// Where consumed charges are recorded (default: a
    /// [`MemoryChargeStore`], right for one server). A fleet needs one shared store, such
    /// as `l402-redis`'s `RedisChargeStore`; with a store per instance a credential could
    /// be spent once on each.
    pub fn charge_store(mut self, store: impl ChargeStore + 'static) -> Self {
        self.charge_store = Some(Arc::new(store));
        self
    }

    /// Validates the configuration and builds the layer.
    ///
    /// Besides checking each setting, it mints a token with a throwaway key for the
    /// default price and for every route, and verifies it as requests would be verified:
    ///
    /// * on its own route: a configuration whose tokens could never be accepted (a
    ///   required capability not granted, a tier too low, a caveat the verifier rejects)
    ///   fails here instead of making clients pay in a loop;
    /// * on every other route with a higher static price: a token that may have cost less
    ///   (a lower static price, or a price from the [`Pricer`]) must not be accepted there,
    ///   unless [`allow_cheap_tokens_on_dear_routes`](Self::allow_cheap_tokens_on_dear_routes)
    ///   was called. Routes are told apart by capabilities ([`Route::capability`],
    ///   [`Route::grants`]); the service and tier are the same for every route of a layer.
    ///
    /// # Errors
    /// [`BuildError`] naming the first problem found.
    pub fn build(self) -> Result<L402Layer<B, K>, BuildError>
    where
        B: InvoiceBackend + 'static,
        K: RootKeyStore + 'static,
    {
        let name = self.service.ok_or(BuildError::MissingService)?;
        let service = Service::with_tier(name, self.tier).map_err(BuildError::Service)?;
        if self.price_overflow || self.routes.iter().any(|r| r.price_overflow) {
            return Err(BuildError::PriceOverflow);
        }
        let default_price = self.default_price.ok_or(BuildError::MissingPrice)?;
        if let Some(validity) = self.validity
            && validity < MIN_VALIDITY
        {
            return Err(BuildError::ValidityTooShort);
        }
        if self.invoice_expiry.is_zero() {
            return Err(BuildError::ZeroInvoiceExpiry);
        }
        let memo = self
            .memo
            .unwrap_or_else(|| format!("L402 access to {}", service.name()));
        if memo.len() > MAX_MEMO_LEN {
            return Err(BuildError::MemoTooLong(memo.len()));
        }
        for caveat in &self.caveats {
            let c = caveat.condition();
            if c == CONDITION_SERVICES
                || c == CONDITION_PREIMAGE
                || !matches!(caveat.kind(), Ok(l402_core::CaveatKind::Other))
            {
                return Err(BuildError::ReservedCaveat(c.to_owned()));
            }
        }
        let capabilities = self
            .routes
            .iter()
            .filter_map(|r| r.capability.as_ref())
            .chain(self.capability.as_ref());
        for capability in capabilities {
            Caveat::capabilities(&service, &[capability]).map_err(BuildError::Capability)?;
        }
        if let Some(retention) = self.store.revocation_retention()
            && self.validity.is_none_or(|v| v > retention)
        {
            return Err(BuildError::RevocationForgotten {
                retention,
                validity: self.validity,
            });
        }
        let offers_payment = self.offers.payment()
            || self
                .routes
                .iter()
                .any(|r| r.offers.is_some_and(Offers::payment));
        let payment = if offers_payment {
            let secret = self
                .payment_secret
                .ok_or(BuildError::MissingPaymentSecret)?;
            let realm = self
                .payment_realm
                .unwrap_or_else(|| service.name().to_owned());
            if realm.is_empty()
                || realm.len() > MAX_PAYMENT_REALM_LEN
                || realm.chars().any(char::is_control)
            {
                return Err(BuildError::InvalidPaymentRealm);
            }
            if self.payment_expiry.is_zero() {
                return Err(BuildError::ZeroPaymentExpiry);
            }
            let store = self
                .charge_store
                .unwrap_or_else(|| Arc::new(MemoryChargeStore::new()));
            Some(PaymentConfig {
                secret,
                realm,
                expiry: self.payment_expiry,
                store,
            })
        } else {
            None
        };
        let retry_secs = self.retry_after.as_secs().max(1);
        let ops = self.ops.build(service.name());
        let shared = Shared {
            ops,
            backend: self.backend,
            store: self.store,
            verifier: self.verifier,
            service,
            default_price,
            routes: self.routes,
            capability: self.capability,
            grants: self.grants,
            min_tier: self.min_tier,
            validity: self.validity,
            caveats: self.caveats,
            location: self.location,
            memo,
            invoice_expiry: self.invoice_expiry,
            unauthorized_on_invalid: self.unauthorized_on_invalid,
            retry_after: HeaderValue::from(retry_secs),
            allowance: self.allowance,
            offers: self.offers,
            payment,
        };
        let points: Vec<Option<usize>> = core::iter::once(None)
            .chain((0..shared.routes.len()).map(Some))
            .collect();
        for &route in &points {
            self_test(&shared, route)?;
        }
        if !self.allow_cheap_on_dear {
            for &dear in &points {
                for &cheap in &points {
                    cross_test(&shared, cheap, dear)?;
                }
            }
        }
        Ok(L402Layer {
            shared: Arc::new(shared),
            _body: PhantomData,
        })
    }
}

/// Mints a token as the layer would for a request on `mint_on`, with a throwaway key, and
/// verifies it as a request on `verify_on` would be verified (without the request's method
/// and path, which the layer's caveats do not depend on per route).
fn trial<B, K>(
    shared: &Shared<B, K>,
    mint_on: Option<usize>,
    verify_on: Option<usize>,
) -> Result<Result<l402_core::Receipt, VerifyError>, BuildError> {
    let preimage = Preimage::from_bytes([0x5a; 32]);
    let key = RootKey::from_bytes([0xa5; 32]);
    let now = SystemTime::now();
    let request = shared
        .mint_request(preimage.payment_hash(), mint_on, now)
        .map_err(mint_error)?;
    let macaroon = request
        .mint_with_key(TokenId::from_bytes([1; 32]), &key)
        .map_err(mint_error)?;
    let credential = Credential::new(macaroon, preimage);
    let mut ctx = VerifyContext::new(shared.service.name(), now);
    if let Some(capability) = shared.required_capability(verify_on) {
        ctx = ctx.capability(capability);
    }
    if let Some(tier) = shared.min_tier {
        ctx = ctx.min_tier(tier);
    }
    let paid = shared
        .verifier
        .check_payment(&credential)
        .map_err(BuildError::SelfTest)?;
    Ok(paid.verify(&[key], &ctx))
}

/// A token minted on `route` must verify on `route`.
fn self_test<B, K>(shared: &Shared<B, K>, route: Option<usize>) -> Result<(), BuildError> {
    match trial(shared, route, route)? {
        // Not satisfied: a caveat needs the request (method, path), absent here.
        Ok(_) | Err(VerifyError::NotSatisfied { .. }) => Ok(()),
        Err(VerifyError::UnknownCaveat { condition, .. }) => {
            Err(BuildError::UnverifiableCaveat(condition))
        }
        Err(VerifyError::CapabilityNotAllowed { capability, .. }) => {
            Err(BuildError::CapabilityNotGranted(capability))
        }
        Err(VerifyError::TierTooLow { tier, required, .. }) => {
            Err(BuildError::TierTooLow { tier, required })
        }
        Err(e) => Err(BuildError::SelfTest(e)),
    }
}

/// A token minted on `cheap` must not verify on `dear` when it may have cost less than
/// `dear`'s static price.
fn cross_test<B, K>(
    shared: &Shared<B, K>,
    cheap: Option<usize>,
    dear: Option<usize>,
) -> Result<(), BuildError> {
    if cheap == dear {
        return Ok(());
    }
    // Only L402 tokens are reusable: a Payment charge pays for one request at its own
    // route's price.
    if !shared.offers(cheap).l402() || !shared.offers(dear).l402() {
        return Ok(());
    }
    let PriceSource::Static(dear_price) = shared.price_source(dear) else {
        // A dynamic price is per request: no static promise to keep.
        return Ok(());
    };
    if dear_price.is_zero() {
        return Ok(());
    }
    let may_cost_less = match shared.price_source(cheap) {
        // Free routes never mint.
        PriceSource::Static(price) => !price.is_zero() && price < dear_price,
        // The pricer's answer is unknown here: it may be lower.
        PriceSource::Dynamic => true,
    };
    if !may_cost_less {
        return Ok(());
    }
    match trial(shared, cheap, dear)? {
        // Not satisfied: a caveat needs the request (method, path); it is the same for
        // tokens of every route, so it does not tell the routes apart.
        Ok(_) | Err(VerifyError::NotSatisfied { .. }) => {
            Err(BuildError::CheapTokenOpensDearRoute {
                cheap: shared.describe(cheap),
                dear: shared.describe(dear),
            })
        }
        Err(_) => Ok(()),
    }
}

fn mint_error(e: l402_core::MintError) -> BuildError {
    match e {
        l402_core::MintError::Caveat(c) => BuildError::Capability(c),
        _ => BuildError::TokenTooLarge,
    }
}
