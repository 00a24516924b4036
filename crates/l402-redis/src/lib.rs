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
//!
//! All three share one [`RedisConnection`]: a `redis` [`ConnectionManager`] (one
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
//!
//! ## Keys
//!
//! | key | value | expiry |
//! |---|---|---|
//! | `<prefix>:rk:<token id hex>` | the 32-byte root key (secret) | the token's expiry |
//! | `<prefix>:rev:<token id hex>` | `1` | the longest token lifetime |
//! | `<prefix>:free:<scope>:<hex SHA-256 of the client key>` | a counter | the window |
//!
//! No key name holds a secret: token ids are public (they are in every macaroon), and
//! client keys are hashed. See `docs/operations.md` for running a fleet.

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

mod allowance;
mod connection;
mod error;
#[cfg(feature = "ledger")]
mod ledger;
mod revocation;
mod root_key;

pub use allowance::{DEFAULT_SCOPE, RedisFreeAllowance, RedisFreeAllowanceBuilder};
pub use connection::{DEFAULT_TIMEOUT, MAX_PREFIX_LEN, RedisConnection, RedisConnectionBuilder};
pub use error::{BuildError, StoreError};
#[cfg(feature = "ledger")]
pub use ledger::{DEFAULT_LEDGER_SCOPE, RedisLedger, RedisLedgerBuilder};
pub use revocation::{
    DEFAULT_CACHE_CAPACITY, DEFAULT_STALENESS, RedisRevocationList, RedisRevocationListBuilder,
};
pub use root_key::{DEFAULT_TTL_WITHOUT_EXPIRY, RedisRootKeyStore, RedisRootKeyStoreBuilder};
