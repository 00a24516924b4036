//! # l402-reqwest
//!
//! A [`reqwest_middleware`] middleware that pays [L402] APIs (and the `Payment` scheme's
//! Lightning charges, see below): when a server answers
//! `402 Payment Required` with an L402 (or legacy LSAT) challenge, the middleware checks
//! the invoice against a [`SpendingPolicy`], pays it through a Lightning node (any
//! [`l402_core::PaymentBackend`]), stores the token, and retries the request with
//! `Authorization: L402 <macaroon>:<preimage>`. Later requests to the same origin reuse
//! the token at no cost. Built for agents that pay on their own: every rule that keeps
//! money safe is enforced before a payment, and a payment happens at most once.
//!
//! [L402]: https://github.com/lightninglabs/L402
//!
//! ## Example
//!
//! ```no_run
//! use std::time::Duration;
//! use l402_core::Amount;
//! use l402_reqwest::{FileTokenStore, L402Error, L402Middleware, SpendingPolicy};
//! # use l402_core::backend::{PayParams, PaymentStatus, PaymentSuccess};
//! # use l402_core::lightning_invoice::Bolt11Invoice;
//! # use l402_core::{BackendError, PayError, PaymentBackend, PaymentHash};
//! # /// Stand-in for a node (`l402-lnd`, `l402-cln`, or `l402-mock` in tests).
//! # struct MyNode;
//! # impl PaymentBackend for MyNode {
//! #     async fn pay_invoice(&self, _: &Bolt11Invoice, _: &PayParams) -> Result<PaymentSuccess, PayError> {
//! #         Err(PayError::NotAttempted(BackendError::transient("not a real node")))
//! #     }
//! #     async fn lookup_payment(&self, _: &PaymentHash) -> Result<PaymentStatus, BackendError> {
//! #         Ok(PaymentStatus::Unknown)
//! #     }
//! # }
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! # let node = MyNode;
//!
//! let l402 = L402Middleware::builder(node)
//!     .store(FileTokenStore::open("/var/lib/my-agent/l402-tokens")?)
//!     .policy(
//!         SpendingPolicy::new()
//!             .max_price(Amount::from_msat(100_000))        // 100 sat per request
//!             .budget(Amount::from_msat(5_000_000))         // 5,000 sat a day
//!             .budget_window(Duration::from_secs(24 * 3600)),
//!     )
//!     .build()?;
//! // Resolve payments interrupted by a crash before doing anything else (optional: the
//! // first request does it otherwise).
//! l402.recover().await?;
//!
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(l402.clone())
//!     .build();
//!
//! match client.get("https://api.example.com/forecast").send().await {
//!     Ok(res) => println!("{}", res.text().await?),
//!     Err(e) => match L402Error::from_middleware_error(&e) {
//!         Some(L402Error::PriceTooHigh { price, .. }) => println!("too expensive: {price}"),
//!         Some(other) => println!("not paid: {other}"),
//!         None => return Err(e.into()),
//!     },
//! }
//! println!("spent so far: {:?}", l402.spending());
//! # Ok(()) }
//! ```
//!
//! ## What happens on each request
//!
//! 0. A request that already carries an `Authorization` header is the caller's: it is
//!    sent as it is, never paid for, and its answer (a 402 too, with the parsed
//!    [`Challenge`](l402_core::Challenge) in its extensions) comes back unchanged.
//! 1. The token stored for the request's key (its origin `scheme://host:port`, or origin
//!    and path prefix, see [`KeyScope`]) is attached, if there is one.
//! 2. The request is sent. Anything but a 402 carrying an L402/LSAT challenge (or a
//!    `Payment` charge offer, below) is returned as is (a 402 without one too). The challenge belongs to the origin that answered
//!    (the final URL, after the redirects reqwest followed): a 402 from another origin
//!    than the request's is [`L402Error::CrossOriginRedirect`], nothing paid, unless
//!    [`L402MiddlewareBuilder::follow_cross_origin_redirects`] is set; then the token is
//!    bought and kept for that origin, and the retry goes straight to the final URL.
//! 3. On a 402: with [`PaymentOptions::never_pay`] the response is returned with the
//!    parsed [`Challenge`](l402_core::Challenge) in its extensions. Otherwise, if the body
//!    is a stream that cannot be sent again, [`L402Error::BodyNotReplayable`] (nothing
//!    paid). The request was cloned (`try_clone`) before it was first sent for this.
//! 4. One request per key at a time (single flight) goes on; the others wait, then use
//!    the token it got. If the key has a pending payment (an answer lost, a crash), the
//!    node is asked how it ended ([`PaymentBackend::lookup_payment`](l402_core::PaymentBackend::lookup_payment))
//!    before anything else: succeeded → its token is used; failed or unknown → dropped;
//!    in flight → wait up to [`SpendingPolicy::in_flight_wait`], then
//!    [`L402Error::PaymentInFlight`]. A stored token the server just refused is dropped.
//! 5. Checks, all before paying: the origin is not suspended (below), the invoice
//!    decodes, its payment hash is the one the macaroon identifier commits to, it is for
//!    the expected network, not about to expire, asks for a final CLTV delta within
//!    [`SpendingPolicy::max_cltv_delta`], has an amount, within the per-request cap; then
//!    amount plus fee cap is reserved in the [`ledger`] against the budgets.
//! 6. A pending record is stored, then the invoice is paid with a fee cap and the CLTV
//!    limit; the token (macaroon, preimage, amount, fee) replaces the pending record and
//!    the payment's real cost replaces its reservation, then the request is retried with
//!    it. An unknown outcome, or the node's "already paid" / "payment in transition", is
//!    looked up by hash (the record and the reservation stay until it resolves). A 402 to
//!    the retry is [`L402Error::StillPaymentRequired`]: at most one payment per request,
//!    never a loop, and payments to that origin are suspended for
//!    [`SpendingPolicy::suspend_after_unpaid`] ([`L402Error::OriginSuspended`]).
//!
//! ## The `Payment` scheme (MPP)
//!
//! A 402 may also carry `WWW-Authenticate: Payment …` offers (the IETF draft
//! "Payment HTTP Authentication Scheme", as Aperture 0.5+ sends them). The middleware pays
//! those with method `lightning` and intent `charge` when the 402 has no L402 challenge,
//! or when [`L402MiddlewareBuilder::prefer_scheme`] is [`SchemePreference::PaymentFirst`];
//! it picks exactly one offer per 402 ([`Event::OfferChosen`]) and pays exactly one
//! invoice. Every rule above applies; in addition the charge request must agree with its
//! invoice on amount, payment hash and network ([`L402Error::ChargeMismatch`], checked
//! before paying, unlike lnget), and the challenge must not have expired
//! ([`L402Error::ChallengeExpired`]). A charge credential is single use: it is presented
//! once and never kept as a token, so each challenged request pays its own charge, one
//! request per key at a time (requests queue; budgets bound the total). Its
//! [`ChargeRecord`] (pending, then paid until presented) makes a crash lose no preimage:
//! recovery resolves it by payment hash, and the next challenged request presents a paid,
//! unpresented one instead of paying. A `Payment-Receipt` is parsed into a
//! [`PaymentReceipt`](l402_core::payment_scheme::PaymentReceipt), put in the response's
//! extensions and reported as [`Event::ReceiptReceived`]. See `docs/protocol.md`.
//!
//! One call sends the request at most four times: the original, then once with each
//! token obtained (a stored token, one that another request paid for meanwhile, the one
//! this call paid for); each refused token is dropped.
//!
//! ## Budgets: what they cover
//!
//! Budgets ([`SpendingPolicy::budget`], [`SpendingPolicy::origin_budget`], over an
//! optional [`SpendingPolicy::budget_window`]) are counted by a
//! [`SpendingLedger`], set with
//! [`L402MiddlewareBuilder::ledger`]:
//!
//! * [`MemoryLedger`] (the default): one process; the budget starts from zero on every
//!   start.
//! * [`FileLedger`]: every process on the machine that opens the same file, across
//!   restarts (atomic writes, `flock`, mode 0600; a corrupt file is an error, never reset).
//! * the Redis ledger of `l402-redis`: a fleet of agents sharing one budget.
//!
//! There is no budget by default: only the per-request cap ([`DEFAULT_MAX_PRICE`]), the
//! fee cap ([`DEFAULT_MAX_FEE_BASE`] + [`DEFAULT_MAX_FEE_PPM`]) and the CLTV limit
//! ([`DEFAULT_MAX_CLTV_DELTA`]). A payment still in flight at start-up (a pending record
//! from before a restart) holds amount plus fee cap in the ledger until it resolves.
//!
//! ## Stacking with retry middleware
//!
//! The token is stored *before* the retry, so the order with `reqwest-retry` is safe
//! either way:
//!
//! * **L402 inside retry** (`.with(retry).with(l402)`, the recommended order): each
//!   attempt goes through the L402 middleware, which attaches the stored token; an attempt
//!   retried after a network error after the payment reuses the token instead of paying
//!   again.
//! * **L402 outside retry** (`.with(l402).with(retry)`): transient failures are retried
//!   below the L402 middleware, which sees only the final answer.
//!
//! Failures of the L402 middleware itself (refusals, payment failures) are
//! [`reqwest_middleware::Error::Middleware`], which `reqwest-retry`'s default strategy
//! does not retry.
//!
//! ## Token stores
//!
//! [`TokenStore`] is a small async trait (its docs state the contract).
//! [`MemoryTokenStore`] keeps tokens for the process; [`FileTokenStore`] keeps them in a
//! directory (atomic writes, mode 0600, shareable by several processes under advisory
//! locks). [`aperture::import_token_file`] reads the token file of Aperture's Go client.
//!
//! ## Observability
//!
//! [`Event`]s (challenge seen, payment started/succeeded/failed/recovered, token reused,
//! refusals) go to an [`EventHandler`] (any `Fn(&Event)` closure);
//! [`L402Middleware::spending`] sums what this middleware paid, per origin too, and the
//! ledger's [`summary`](ledger::SpendingLedger::summary) what everyone sharing it paid
//! (and holds in reservations). Logs go through
//! `tracing`; preimages and macaroons are never logged, and the `Authorization` value is
//! marked sensitive.
//!
//! Each answer carries a [`PaymentOutcome`] in its extensions: what that request paid
//! (scheme, amount, fee, payment hash), or that it reused a stored token. For tools built
//! on the middleware (the `l402-mcp` agent server):
//! [`L402Middleware::quote`] checks what an answer asks against every rule applied before
//! paying, the budgets left included, and pays nothing; [`L402Middleware::forget`] drops a
//! stored token; [`TokenStore::tokens`] lists the stored tokens.
//!
//! ## Features
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `rustls-tls` | yes | HTTPS through rustls (`reqwest/rustls-tls`); reqwest's own default features (native TLS) stay off |

#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod aperture;
mod error;
mod events;
mod key;
pub mod ledger;
mod middleware;
mod outcome;
mod policy;
mod spending;
pub mod store;

pub use error::{BudgetScope, BuildError, L402Error, LedgerError, ReserveError, StoreError};
pub use events::{Event, EventHandler};
pub use key::KeyScope;
pub use ledger::{FileLedger, MemoryLedger, SpendingLedger};
pub use middleware::{L402Middleware, L402MiddlewareBuilder, RecoveryReport};
pub use outcome::{PaidFor, PaymentOutcome, Quote};
pub use policy::{
    DEFAULT_EXPIRY_MARGIN, DEFAULT_IN_FLIGHT_WAIT, DEFAULT_MAX_CLTV_DELTA, DEFAULT_MAX_FEE_BASE,
    DEFAULT_MAX_FEE_PPM, DEFAULT_MAX_PRICE, DEFAULT_PAY_TIMEOUT, DEFAULT_POLL_INTERVAL,
    DEFAULT_SUSPEND_AFTER_UNPAID, OfferScheme, PaymentOptions, SchemePreference, SpendingPolicy,
};
pub use spending::{OriginSpending, SpendingSummary};
pub use store::{
    ChargeRecord, FileTokenStore, MemoryTokenStore, PendingPayment, StoreLock, StoredToken,
    TokenRecord, TokenStore,
};
