//! # l402-redis
//!
//! Redis-backed stores for fleets of L402 servers: many instances behind a load balancer,
//! one truth. A token minted by any instance is accepted by every other, a revocation
//! reaches all of them, and free allowances are counted once for the fleet.
//!
//! | type | implements | for |
//! |---|---|---|
//! | [`RedisRootKeyStore`] | [`RootKeyStore`](l402_core::RootKeyStore) | one random root key per token, in Redis (Aperture's model, shared) |
//! | [`RedisRevocationList`] | [`RevocationList`](l402_core::RevocationList) | revocations for [`DerivedRootKeyStore`](l402_core::DerivedRootKeyStore) fleets (stateless keys from a shared master secret), with a bounded local cache |
//! | [`RedisFreeAllowance`] | [`FreeAllowance`](l402_tower::FreeAllowance) | free requests per client, counted fleet-wide |
//! | [`RedisChargeStore`] | [`ChargeStore`](l402_core::payment_scheme::ChargeStore) | single use of `Payment` scheme charges, fleet-wide (atomic, kept until the challenge expires) |
//! | [`RedisRateLimiter`] | [`RateLimiter`](l402_tower::RateLimiter) | token buckets (GCRA, one Lua script) shared by the fleet |
//! | `RedisLedger` (feature `ledger`) | `l402_reqwest::ledger::SpendingLedger` | the client side: one spending budget for a fleet of paying clients |
//!
//! All of them share one [`RedisConnection`]: a `redis` [`ConnectionManager`] (one
//! multiplexed connection, reconnecting by itself), the deployment's key prefix and a
//! timeout bounding every call.
//!
//! [`ConnectionManager`]: redis::aio::ConnectionManager
//!
//! ## Which store
//!
//! * **Master secret + [`RedisRevocationList`]** (recommended): verification needs Redis
//!   only to check revocations, answered mostly from the local cache; minting never needs
//!   it. While Redis is down tokens keep verifying, with revocations degraded as
//!   configured.
//! * **[`RedisRootKeyStore`]**: no secret to distribute, revocation is immediate
//!   fleet-wide, but every mint and every verification is a Redis round trip, and both
//!   fail (503) while Redis is down.
//!
//! ## Example
//!
//! ```no_run
//! use std::time::Duration;
//! use l402_core::{DerivedRootKeyStore, MasterSecret};
//! use l402_redis::{RedisConnection, RedisFreeAllowance, RedisRevocationList};
//! use l402_tower::{L402Layer, PriceRequest};
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
//!
//! # async fn run(node: MyNode, secret_hex: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let validity = Duration::from_secs(24 * 3600);
//! let redis = RedisConnection::builder("redis://10.0.0.5:6379/")
//!     .prefix("weather-prod")               // one namespace per deployment
//!     .timeout(Duration::from_millis(250))  // bound on every Redis call
//!     .build()?;
//!
//! // Stateless keys from the shared secret; revocations shared through Redis.
//! let revocations = RedisRevocationList::builder(redis.clone())
//!     .max_token_lifetime(validity)
//!     .staleness(Duration::from_secs(5))    // revocations reach every instance within 5 s
//!     .build()?;
//! let store = DerivedRootKeyStore::with_revocation_list(
//!     MasterSecret::from_hex(secret_hex)?,
//!     revocations,
//! )
//! .fail_open_on_revocation_error(false);    // Redis down: 503 rather than ignore revocations
//!
//! // Three free requests per API key per hour, for the whole fleet.
//! let allowance = RedisFreeAllowance::builder(redis, 3)
//!     .window(Duration::from_secs(3600))
//!     .build()?;
//!
//! let paywall = L402Layer::builder(node, store)
//!     .service("weather")
//!     .price_sat(10)
//!     .validity(validity)
//!     .free_allowance(allowance, |req: &PriceRequest<'_>| {
//!         req.headers().get("x-api-key")?.to_str().ok().map(str::to_owned)
//!     })
//!     .build()?;
//! // Router::new().route(..).route_layer(paywall)
//! # let _ = paywall;
//! # Ok(())
//! # }
//! ```
//!
//! For the per-token store, replace the store with
//! `l402_redis::RedisRootKeyStore::new(redis.clone())`.
//!
//! ## When Redis is down
//!
//! Every call is bounded by the connection's [timeout](RedisConnectionBuilder::timeout);
//! the connection manager reconnects by itself when Redis returns. Nothing panics and
//! nothing queues without bound.
//!
//! | store | minting | verifying |
//! |---|---|---|
//! | [`RedisRootKeyStore`] | 503 (`create` fails) | 503: fails closed, never a pass |
//! | [`DerivedRootKeyStore`](l402_core::DerivedRootKeyStore) + [`RedisRevocationList`] | works (no Redis needed) | works; revocation checks answered from the fresh local cache, else 503 (default, fail closed) or accepted with a `warn` log (`fail_open_on_revocation_error(true)`) |
//! | [`RedisFreeAllowance`] | | no free requests: clients are asked to pay |
//! | [`RedisChargeStore`] | | `Payment` credentials get 503 and are not consumed: fails closed, never a pass |
//! | [`RedisRateLimiter`] | | no limit (fail open, the default, logged) or 503 (`rate_limit_fail_closed(true)`) |
//!
//! ## Keys
//!
//! | key | value | expiry |
//! |---|---|---|
//! | `<prefix>:rk:<token id hex>` | the 32-byte root key (secret) | the token's expiry |
//! | `<prefix>:rev:<token id hex>` | `1` | the longest token lifetime |
//! | `<prefix>:free:<scope>:<hex SHA-256 of the client key>` | a counter | the window |
//! | `<prefix>:charge:<payment hash hex>` | a random nonce of the consuming call | the challenge's expiry |
//! | `<prefix>:rl:<scope>:<hex SHA-256 of the bucket key>` | the bucket's theoretical arrival time (µs, Redis clock) | when the bucket is full again |
//! | `<prefix>:rl:<scope>:<hex SHA-256 of the bucket key>` | the bucket's theoretical arrival time (µs, Redis clock) | when the bucket is full again |
//! | `<prefix>:ledger:{<scope>}:spent`, `…:pay`, `…:tot`, `…:held` | a budget's payments (sorted by time), their amounts, all-time totals, reservations | none; payments leave `spent`/`pay` after the retention (default 31 days), staying in the totals |
//!
//! No key name holds a secret: token ids are public (they are in every macaroon), payment
//! hashes are public (they are in every invoice), and client keys are hashed. See `docs/operations.md` for running a fleet.

//! ## A budget for a fleet of paying clients
//!
//! With the `ledger` feature, `RedisLedger` is a spending ledger for
//! `l402-reqwest`'s middleware: every client that uses the same prefix and scope shares
//! one budget (total, per origin, over a rolling window or all time), across machines and
//! restarts. Each reservation is one Lua script (sum, check, record in one atomic step),
//! so two clients never both take the room left for one payment; when Redis does not
//! answer, reservations fail and the middleware pays nothing.
//!
//! ```no_run
//! # #[cfg(feature = "ledger")]
//! # async fn run(node: l402_mock::MockNode) -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use l402_core::Amount;
//! use l402_redis::{RedisConnection, RedisLedger};
//! use l402_reqwest::{L402Middleware, SpendingPolicy};
//!
//! let redis = RedisConnection::builder("redis://10.0.0.5:6379/").prefix("agents").build()?;
//! let ledger = RedisLedger::builder(redis).scope("research-team").build()?;
//! let l402 = L402Middleware::builder(node)
//!     .ledger(ledger)
//!     .policy(
//!         SpendingPolicy::new()
//!             .budget(Amount::from_sat(50_000).ok_or("amount")?)   // for the whole fleet
//!             .budget_window(Duration::from_secs(24 * 3600)),       // per rolling day
//!     )
//!     .build()?;
//! # let _ = l402;
//! # Ok(())
//! # }
//! ```
//!
//! ## Features
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `ledger` | no | `RedisLedger`, a `SpendingLedger` for `l402-reqwest` (which it pulls in, with reqwest; servers leave it off) |

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod allowance;
mod charge;
mod connection;
mod error;
#[cfg(feature = "ledger")]
mod ledger;
mod rate_limit;
mod revocation;
mod root_key;

pub use allowance::{DEFAULT_SCOPE, RedisFreeAllowance, RedisFreeAllowanceBuilder};
pub use charge::RedisChargeStore;
pub use connection::{DEFAULT_TIMEOUT, MAX_PREFIX_LEN, RedisConnection, RedisConnectionBuilder};
pub use error::{BuildError, StoreError};
#[cfg(feature = "ledger")]
pub use ledger::{DEFAULT_LEDGER_SCOPE, RedisLedger, RedisLedgerBuilder};
pub use rate_limit::{DEFAULT_RATE_LIMIT_SCOPE, RedisRateLimiter, RedisRateLimiterBuilder};
pub use revocation::{
    DEFAULT_CACHE_CAPACITY, DEFAULT_STALENESS, RedisRevocationList, RedisRevocationListBuilder,
};
pub use root_key::{
    DEFAULT_MARKED_CACHE, DEFAULT_TTL_WITHOUT_EXPIRY, RedisRootKeyStore, RedisRootKeyStoreBuilder,
};
