//! # l402-tower
//!
//! A [tower] layer that puts any HTTP service behind [L402]: requests pay in bitcoin over
//! Lightning. Works with axum routers, plain hyper services and tonic servers (it is
//! generic over the request and response bodies and never names a framework type), and is
//! byte-compatible with Lightning Labs' Aperture and the clients written for it (lnget,
//! lsat-js, Alby's fetchWithL402).
//!
//! [tower]: https://docs.rs/tower
//! [L402]: https://github.com/lightninglabs/L402
//!
//! ## Example: an axum API with a paid route
//!
//! ```
//! use std::time::Duration;
//! use axum::{Extension, Router, routing::get};
//! use l402_core::MemoryRootKeyStore;
//! use l402_tower::{L402Layer, Receipt, Route};
//! # use l402_core::backend::{BackendError, CreatedInvoice, InvoiceBackend, InvoiceRequest, InvoiceState};
//! # /// Stand-in for a node (`l402-lnd`, `l402-cln`, or `l402-mock` in tests).
//! # struct MyNode;
//! # impl InvoiceBackend for MyNode {
//! #     async fn create_invoice(&self, _: &InvoiceRequest) -> Result<CreatedInvoice, BackendError> {
//! #         Err(BackendError::transient("not a real node"))
//! #     }
//! #     async fn lookup_invoice(&self, _: &l402_core::PaymentHash) -> Result<Option<InvoiceState>, BackendError> {
//! #         Ok(None)
//! #     }
//! # }
//! # let node = MyNode;
//!
//! // With the `axum` feature, `l402_tower::L402Receipt` extracts the receipt too.
//! async fn forecast(Extension(receipt): Extension<Receipt>) -> String {
//!     format!("sunny, paid by token {}", receipt.token_id())
//! }
//!
//! let paywall = L402Layer::builder(node, MemoryRootKeyStore::new())
//!     .service("weather")
//!     .price_sat(10)                                  // default price of a token
//!     .capabilities(&["basic"])                       // what those tokens allow
//!     .route(
//!         Route::exact("/forecast/premium")
//!             .price_sat(100)
//!             .capability("premium")                  // what this route needs
//!             .grants(&["basic", "premium"]),         // what tokens bought here allow
//!     )
//!     .validity(Duration::from_secs(24 * 3600))       // tokens expire after a day
//!     .memo("weather API access")
//!     .build()?;
//!
//! let app: Router = Router::new()
//!     .route("/forecast", get(forecast))
//!     .route("/forecast/premium", get(forecast))
//!     // route_layer: unknown paths stay 404 instead of 402.
//!     .route_layer(paywall)
//!     .route("/health", get(|| async { "ok" })); // added after the layer: free
//! # Ok::<(), l402_tower::BuildError>(())
//! ```
//!
//! Use [`Router::route_layer`](https://docs.rs/axum/latest/axum/struct.Router.html#method.route_layer)
//! rather than `Router::layer`: `layer` also wraps the fallback, so a request for a path
//! that does not exist would be asked to pay (402) before learning it does not exist.
//! Routes added after `route_layer` are not behind it.
//!
//! ## Request flow
//!
//! For each request the service:
//!
//! 1. finds the price source: the first matching [`Route`], else the layer's default
//!    (a static price or a [`Pricer`]). A static price of zero passes the request through
//!    at once, with no credential needed and no work done;
//! 2. if a credential is present (`Authorization: L402|LSAT <macaroon>:<preimage>`, or the
//!    `Macaroon` / `Grpc-Metadata-Macaroon` headers, via
//!    [`Credential::from_headers`](l402_core::Credential::from_headers)), verifies it:
//!    preimage against payment hash before any store access
//!    ([`Verifier::check_payment`](l402_core::Verifier::check_payment)), then
//!    [`RootKeyStore::lookup`](l402_core::RootKeyStore::lookup), then signature and
//!    caveats ([`PaidCredential::verify`](l402_core::PaidCredential::verify)) for the
//!    layer's service, the route's required capability and tier. If valid, the
//!    [`Receipt`] goes into the request extensions and the inner
//!    service is called;
//! 3. otherwise prices the request ([`Price::Free`] from the pricer passes through; a
//!    [`PricingError`], or a zero amount, answers 503: a failing pricer never makes a
//!    request free),
//!    consults the [free allowance](FreeAllowance) if one is configured, and finally
//!    creates an invoice for exactly the price and mints a token bound to its payment
//!    hash: the challenge.
//!
//! A token pays for access to the service (with its capabilities, until it expires), not
//! for one request: a valid token is accepted on every route whose required capability it
//! allows, whatever the route's price. Sell routes separately with capabilities (as above:
//! a 10-sat token allows only `basic`, so it does not open the 100-sat route) or with
//! separate services (one layer each). [`build`](L402LayerBuilder::build) checks this: it
//! refuses a configuration in which a token sold for less opens a route with a higher
//! static price ([`BuildError::CheapTokenOpensDearRoute`]), unless
//! [`allow_cheap_tokens_on_dear_routes`](L402LayerBuilder::allow_cheap_tokens_on_dear_routes)
//! says that is intended.
//!
//! Only minting needs the Lightning node; verification is pure computation plus one
//! root-key lookup.
//!
//! ## The `Payment` scheme
//!
//! Besides L402, the layer can sell requests with the IETF `Payment` HTTP authentication
//! scheme ("MPP") and the Lightning `charge` intent, as Aperture 0.5+ does: per layer with
//! [`offers`](L402LayerBuilder::offers), per route with [`Route::offers`]:
//!
//! | [`Offers`] | the 402 carries | accepted |
//! |---|---|---|
//! | [`L402`](Offers::L402) (default) | `LSAT …`, `L402 …`, exactly as without this feature | L402 tokens |
//! | [`Payment`](Offers::Payment) | `Payment id=…, method="lightning", intent="charge", request=…, expires=…` | charge credentials, each once |
//! | [`Both`](Offers::Both) | `LSAT …`, `L402 …`, then `Payment …` with its own invoice (two invoices) | either |
//!
//! A charge pays for one request at the route's price, not for access: the credential
//! (`Authorization: Payment <base64url JSON>`) is verified in one pass
//! ([`verify_authorization`](l402_core::payment_scheme::verify_authorization): challenge
//! id recomputed under the id secret, realm, `expires` in the future, amount equal to
//! the route's price in whole satoshis (rounded up), `sha256(preimage)` equal to the
//! payment hash), then consumed once in a
//! [`ChargeStore`](l402_core::payment_scheme::ChargeStore) (in memory by default;
//! `l402-redis`'s `RedisChargeStore` for a fleet). The request then carries the
//! [`VerifiedCharge`] and its [`PaymentReceipt`] in its extensions, and the response
//! `Payment-Receipt` and `Cache-Control: private`.
//!
//! ```
//! use axum::{Extension, Router, routing::get};
//! use l402_core::{MasterSecret, MemoryRootKeyStore};
//! use l402_tower::{L402Layer, Offers, Route, VerifiedCharge};
//! # use l402_core::backend::{BackendError, CreatedInvoice, InvoiceBackend, InvoiceRequest, InvoiceState};
//! # struct MyNode;
//! # impl InvoiceBackend for MyNode {
//! #     async fn create_invoice(&self, _: &InvoiceRequest) -> Result<CreatedInvoice, BackendError> {
//! #         Err(BackendError::transient("not a real node"))
//! #     }
//! #     async fn lookup_invoice(&self, _: &l402_core::PaymentHash) -> Result<Option<InvoiceState>, BackendError> {
//! #         Ok(None)
//! #     }
//! # }
//! # let node = MyNode;
//! # let master = MasterSecret::from_bytes(&[7; 32]).unwrap();
//!
//! async fn search(charge: Option<Extension<VerifiedCharge>>) -> String {
//!     match charge {
//!         Some(Extension(c)) => format!("results, paid {} sat", c.amount_sat),
//!         None => "results, paid with an L402 token".to_owned(),
//!     }
//! }
//!
//! let paywall = L402Layer::builder(node, MemoryRootKeyStore::new())
//!     .service("search")
//!     .price_sat(2)
//!     .offers(Offers::Both)                 // LSAT, L402, then Payment
//!     .payment_master_secret(&master)       // challenge ids survive restarts
//!     .payment_realm("api.example.com")     // default: the service name
//!     .route(Route::exact("/search/bulk").price_sat(50).offers(Offers::Payment))
//!     .build()?;
//! let app: Router = Router::new()
//!     .route("/search", get(search))
//!     .route("/search/bulk", get(search))
//!     .route_layer(paywall);
//! # Ok::<(), l402_tower::BuildError>(())
//! ```
//!
//! Each challenge's `expires` is [`payment_expiry`](L402LayerBuilder::payment_expiry)
//! after minting (default [`DEFAULT_PAYMENT_EXPIRY`], 15 minutes), never later than its
//! invoice's expiry. [`build`](L402LayerBuilder::build) refuses a configuration that
//! offers `Payment` anywhere without an id secret
//! ([`BuildError::MissingPaymentSecret`]). On a route that offers only L402, a `Payment`
//! credential is not looked at (the plain L402 402); on a route that offers only
//! `Payment`, L402 tokens are not accepted, so they do not count in the cheap-token check.
//!
//! ## Responses
//!
//! | situation | response |
//! |---|---|
//! | no credential, priced route | `402`, two `WWW-Authenticate` fields (`LSAT` first, then `L402`), `Cache-Control: no-store` |
//! | invalid, expired, wrong-service, unknown or malformed credential | the same 402 with a fresh challenge; `401` with the challenge if [`unauthorized_on_invalid`](L402LayerBuilder::unauthorized_on_invalid) |
//! | the node cannot create an invoice, the store fails, or the [`Pricer`] fails | `503` with `Retry-After` and a fixed text; the error is logged through `tracing`, never sent |
//! | route offering `Payment`: no, malformed, forged, tampered, expired, replayed, underpaid or wrongly proven charge credential | `402`, every offered challenge (fresh), `Cache-Control: no-store`, an RFC 9457 `application/problem+json` body (`payment-required`, `malformed-credential`, `invalid-challenge`, `payment-expired`, `verification-failed`, `payment-insufficient`); nothing consumed |
//! | a `Payment` credential of another method | `400`, `method-unsupported` problem body |
//! | valid charge credential | the inner service's response, with `Payment-Receipt` and `Cache-Control: private` |
//! | the charge store fails | `503` with `Retry-After`: never a pass |
//! | gRPC request (`content-type: application/grpc…`) | `200` with `grpc-status: 13`, `grpc-message: payment required` and the challenge headers, as Aperture (`grpc-status: 14` instead of a 503; `3` for `method-unsupported`) |
//! | free route, valid token, free allowance | the inner service's response |
//!
//! No input makes the layer answer 500 or panic; header parsers are size-capped in
//! `l402-core`.
//!
//! ## Floods
//!
//! Every request without a valid token on a priced route makes the node create an invoice
//! and the store keep a root key. Keys of unpaid tokens expire with their invoice: the layer
//! creates them with [`RootKeyStore::create_unpaid`](l402_core::RootKeyStore::create_unpaid)
//! and marks a token paid
//! ([`RootKeyStore::mark_paid`](l402_core::RootKeyStore::mark_paid)) when it first
//! verifies; [`MemoryRootKeyStore`](l402_core::MemoryRootKeyStore) also caps the unpaid
//! keys it holds. Invoices are the node's to bound, so put a concurrency or rate limit in
//! front of the paywall, for example tower's, shedding excess load with a 503:
//!
//! ```
//! use axum::error_handling::HandleErrorLayer;
//! use axum::http::{StatusCode, header::RETRY_AFTER};
//! use axum::{BoxError, Router, routing::get};
//! use tower::ServiceBuilder;
//! use tower::limit::GlobalConcurrencyLimitLayer;
//!
//! let limit = ServiceBuilder::new()
//!     .layer(HandleErrorLayer::new(|_: BoxError| async {
//!         (StatusCode::SERVICE_UNAVAILABLE, [(RETRY_AFTER, "1")], "busy, retry later")
//!     }))
//!     .load_shed()
//!     .layer(GlobalConcurrencyLimitLayer::new(64)); // requests in flight, paid or not
//! let app: Router = Router::new()
//!     .route("/forecast", get(|| async { "sunny" }))
//!     // .route_layer(paywall)
//!     .layer(limit); // outside the paywall: excess requests never reach it
//! # let _ = app;
//! ```
//!
//! A per-client rate limit (keyed on the client's IP address) goes in the same place.
//!
//! ## Response bodies
//!
//! The layer writes its own responses in the inner service's body type. By default it
//! writes a short fixed text, which needs `ResBody: From<&'static str>` (axum's `Body`,
//! `http_body_util::Full<Bytes>`, `String`). For body types without that conversion
//! (tonic's `Body`, boxed bodies), call [`L402Layer::empty_bodies`], which needs only
//! `ResBody: Default`, as tower-http's layers do.
//!
//! ## CORS
//!
//! CORS is not this layer's business: compose it with tower-http's `CorsLayer`, outside
//! the paywall (so preflight `OPTIONS` requests are answered before they are priced), and
//! expose `WWW-Authenticate` (and, with the `Payment` scheme, `Payment-Receipt`) so browser
//! clients can read the challenge and the receipt:
//!
//! ```
//! use http::header::WWW_AUTHENTICATE;
//! use l402_core::payment_scheme::PAYMENT_RECEIPT;
//! use tower_http::cors::{Any, CorsLayer};
//!
//! let cors = CorsLayer::new()
//!     .allow_origin(Any)
//!     .allow_headers(Any)
//!     .expose_headers([WWW_AUTHENTICATE, PAYMENT_RECEIPT]);
//! // Router::new().route(..).route_layer(paywall).layer(cors)
//! # let _ = cors;
//! ```
//!
//! ## Features
//!
//! | feature | enables |
//! |---|---|
//! | `axum` | [`L402Receipt`] and [`PaymentCharge`], axum extractors for the receipt of a verified request and the `Payment` charge that paid for it |
//! | `metrics` | [`MetricsObserver`]: the layer's events (challenges, verification reasons, payments, node and store calls, rate-limit decisions) through the `metrics` facade |
//! | `rate-limit` | [`MemoryRateLimiter`]: in-memory token buckets (GCRA, the `governor` crate) for [`L402LayerBuilder::paid_rate_limit`] and [`L402LayerBuilder::unpaid_rate_limit`] |
//!
//! Without features the crate depends on `l402-core`, `http`, `tower-layer`,
//! `tower-service`, `pin-project-lite` (the response future), `async-trait` (the
//! object-safe [`FreeAllowance`] and [`RateLimiter`]), `thiserror`, `tracing`, `ipnet` (the
//! blocklist) and `lru` (payments already counted): no HTTP server, no framework, no async
//! runtime.
//!
//! ## Metrics, rate limits, blocklist
//!
//! [`L402LayerBuilder::observer`] reports every event to an [`Observer`] (bounded labels:
//! the service and fixed reasons, never token ids or paths);
//! [`L402LayerBuilder::paid_rate_limit`] limits each token,
//! [`L402LayerBuilder::unpaid_rate_limit`] each client network before any invoice is
//! created (429 with `Retry-After`; gRPC `RESOURCE_EXHAUSTED`); [`IpBlocklistLayer`]
//! refuses listed networks. See `docs/operations.md`.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod allowance;
mod body;
#[cfg(feature = "axum")]
mod extract;
mod future;
mod layer;
mod observe;
mod ops;
mod payment;
mod pricing;
mod ratelimit;
mod response;
mod service;

pub use allowance::{DEFAULT_MAX_KEYS, FreeAllowance, MemoryFreeAllowance};
pub use body::{EmptyBody, MakeBody, TextBody};
#[cfg(feature = "axum")]
pub use extract::{L402Receipt, MissingCharge, MissingReceipt, PaymentCharge};
pub use future::ResponseFuture;
pub use layer::{
    BuildError, DEFAULT_LOCATION, DEFAULT_RETRY_AFTER, L402Layer, L402LayerBuilder, MAX_MEMO_LEN,
    MIN_VALIDITY,
};
#[cfg(feature = "metrics")]
pub use observe::MetricsObserver;
pub use observe::{Limited, Observer, Operation, Reason, Scheme};
pub use ops::PAID_TOKENS_REMEMBERED;
pub use payment::{DEFAULT_PAYMENT_EXPIRY, MAX_PAYMENT_REALM_LEN, Offers};
pub use pricing::{Price, PriceRequest, Pricer, PricingError, Route};
#[cfg(feature = "rate-limit")]
pub use ratelimit::MemoryRateLimiter;
/// The response future of an [`IpBlocklistService`].
pub use ratelimit::futures_either::Either as BlocklistFuture;
pub use ratelimit::{
    BlocklistTextError, Decision, InvalidBlocklist, InvalidPrefix, InvalidRate, IpBlocklist,
    IpBlocklistLayer, IpBlocklistService, IpPrefix, MAX_BLOCKLIST_LEN, MAX_BLOCKLIST_TEXT_LEN,
    Rate, RateLimitError, RateLimiter,
};
pub use service::L402Service;

/// The receipt a verified request carries in its extensions (re-exported from
/// `l402-core`).
pub use l402_core::Receipt;
/// What a verified `Payment` charge paid for, in the request extensions (re-exported
/// from `l402-core`), next to its [`PaymentReceipt`].
pub use l402_core::payment_scheme::{PaymentReceipt, VerifiedCharge};
