//! Error types: [`L402Error`] (what a request through the middleware can fail with),
//! [`BuildError`] (an inconsistent builder) and [`StoreError`] (a token store failed).

use l402_core::lightning_invoice::{Currency, ParseOrSemanticError};
use l402_core::payment_scheme::{
    ChallengeExpiryError, ChargeInvoiceError, DecodeChargeRequestError,
};
use l402_core::{Amount, BackendError, IdentifierError, PayError, PaymentHash};

/// Which budget a payment would exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BudgetScope {
    /// The budget over all origins.
    Total,
    /// The budget of one origin (one token key).
    Origin,
}

impl core::fmt::Display for BudgetScope {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BudgetScope::Total => "total",
            BudgetScope::Origin => "per-origin",
        })
    }
}

/// Why the middleware did not complete a request.
///
/// Returned inside [`reqwest_middleware::Error::Middleware`]; get it back with
/// [`L402Error::from_middleware_error`] (or `anyhow`'s `downcast_ref`).
///
/// The *refusal* variants ([`NoAmount`](Self::NoAmount),
/// [`PriceTooHigh`](Self::PriceTooHigh), [`BudgetExceeded`](Self::BudgetExceeded),
/// [`InvoiceExpired`](Self::InvoiceExpired), [`WrongNetwork`](Self::WrongNetwork),
/// [`PaymentHashMismatch`](Self::PaymentHashMismatch),
/// [`BodyNotReplayable`](Self::BodyNotReplayable), [`InvalidInvoice`](Self::InvalidInvoice),
/// [`InvalidIdentifier`](Self::InvalidIdentifier), [`CltvDeltaTooHigh`](Self::CltvDeltaTooHigh),
/// [`CrossOriginRedirect`](Self::CrossOriginRedirect),
/// [`OriginSuspended`](Self::OriginSuspended), and for the `Payment` scheme
/// [`InvalidChargeRequest`](Self::InvalidChargeRequest),
/// [`ChargeMismatch`](Self::ChargeMismatch), [`ChallengeExpired`](Self::ChallengeExpired),
/// [`InvalidChallengeExpiry`](Self::InvalidChallengeExpiry)) are decided before any payment: nothing
/// was paid. [`L402Error::nothing_paid`] says so for every variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum L402Error {
    /// The invoice has no amount: paying it would let the server name its price.
    #[error("refusing an invoice without an amount")]
    NoAmount,
    /// The price is above the per-request cap (the policy's, or a lower per-request one).
    #[error("price of {price} exceeds the per-request cap of {max}")]
    PriceTooHigh {
        /// The invoice amount.
        price: Amount,
        /// The cap.
        max: Amount,
    },
    /// Paying (amount plus the fee cap) would exceed a budget.
    #[error("paying {needed} (fee cap included) would exceed the {scope} budget, {remaining} left")]
    BudgetExceeded {
        /// Which budget.
        scope: BudgetScope,
        /// Amount plus the most fee the payment may cost.
        needed: Amount,
        /// What is left of that budget.
        remaining: Amount,
    },
    /// The invoice has expired, or would expire within the policy's margin.
    #[error("invoice is expired or about to expire")]
    InvoiceExpired,
    /// The invoice is for another network than the policy expects.
    #[error("invoice is for network {found:?}, expected {expected:?}")]
    WrongNetwork {
        /// What the policy expects.
        expected: Currency,
        /// What the invoice says.
        found: Currency,
    },
    /// The invoice asks for a final CLTV delta above the policy's limit: a payee could
    /// keep the payment locked (a hold invoice) for that long.
    #[error("invoice final cltv delta of {delta} blocks exceeds the limit of {max}")]
    CltvDeltaTooHigh {
        /// The invoice's `min_final_cltv_expiry_delta`.
        delta: u64,
        /// The limit.
        max: u32,
    },
    /// The 402 came from another origin than the request's, after a redirect. A token
    /// bought there would be stored and sent for the request's origin (where it is
    /// useless), and the other origin would be paid again on every request. Refused by
    /// default, nothing paid; see
    /// [`L402MiddlewareBuilder::follow_cross_origin_redirects`](crate::L402MiddlewareBuilder::follow_cross_origin_redirects).
    #[error("refusing to pay a challenge from {to} after a redirect from {from}")]
    CrossOriginRedirect {
        /// The request's origin.
        from: String,
        /// The origin that answered 402.
        to: String,
    },
    /// Payments to this origin are suspended: it answered 402 again to the token it had
    /// just been paid for ([`StillPaymentRequired`](Self::StillPaymentRequired)). Nothing
    /// was paid; see [`SpendingPolicy::suspend_after_unpaid`](crate::SpendingPolicy::suspend_after_unpaid).
    #[error("payments to {origin} are suspended for {}s: it still required payment after being paid", retry_after.as_secs())]
    OriginSuspended {
        /// The origin.
        origin: String,
        /// When payments resume (from now).
        retry_after: std::time::Duration,
    },
    /// The invoice's payment hash is not the one the macaroon's identifier commits to:
    /// paying would not produce a usable token.
    #[error("invoice payment hash does not match the macaroon identifier")]
    PaymentHashMismatch,
    /// The invoice in the challenge does not decode.
    #[error("invalid invoice in challenge")]
    InvalidInvoice(#[source] ParseOrSemanticError),
    /// The macaroon's identifier is not a version-0 L402 identifier.
    #[error("invalid token identifier in challenge")]
    InvalidIdentifier(#[source] IdentifierError),
    /// The request body is a stream that cannot be sent a second time, so the request
    /// could not be retried after paying. Nothing was paid.
    #[error("request body cannot be replayed, refusing to pay")]
    BodyNotReplayable,
    /// The node reported that the payment failed, or never started: nothing was paid.
    #[error(transparent)]
    PaymentFailed(PayError),
    /// A payment for this origin is still in flight (now or from before a restart). The
    /// middleware does not pay again while it is; retry later.
    #[error("payment {payment_hash} is still in flight")]
    PaymentInFlight {
        /// The payment's hash.
        payment_hash: PaymentHash,
    },
    /// A pending payment could not be looked up, so its outcome is unknown. The
    /// middleware does not pay again until it is resolved; retry later.
    #[error("could not look up pending payment {payment_hash}")]
    Lookup {
        /// The payment's hash.
        payment_hash: PaymentHash,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// The node returned a preimage that does not hash to the invoice's payment hash.
    #[error("node returned a preimage that does not match payment {payment_hash}")]
    BadPreimage {
        /// The payment's hash.
        payment_hash: PaymentHash,
    },
    /// The server answered 402 again after the middleware paid and presented the token.
    /// The middleware pays at most once per request.
    #[error("server still requires payment after paying once")]
    StillPaymentRequired,
    /// The token store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The spending ledger failed before paying, so the budgets could not be checked.
    /// Nothing was paid.
    #[error(transparent)]
    Ledger(LedgerError),
    /// The `request` of a `Payment` charge challenge does not decode as a Lightning
    /// charge request. Nothing was paid.
    #[error("invalid charge request in Payment challenge")]
    InvalidChargeRequest(#[source] DecodeChargeRequestError),
    /// The invoice of a `Payment` charge disagrees with the charge request (amount,
    /// payment hash or network), or does not decode: the server is lying about what is
    /// being paid for. Nothing was paid.
    #[error("Payment charge invoice does not match its request")]
    ChargeMismatch(#[source] ChargeInvoiceError),
    /// The `Payment` challenge's `expires` is past, or within the policy's expiry margin.
    /// Nothing was paid.
    #[error("Payment challenge is expired or about to expire")]
    ChallengeExpired,
    /// The `Payment` challenge's `expires` is not an RFC 3339 time. Nothing was paid.
    #[error("Payment challenge has an invalid expiry")]
    InvalidChallengeExpiry(#[source] ChallengeExpiryError),
    /// The request URL has no host, so no token key can be derived.
    #[error("request url has no host")]
    NoHost,
    /// A credential could not be put in a header (never happens with valid tokens).
    #[error("credential is not a valid header value")]
    InvalidHeader,
}

impl L402Error {
    /// Finds an `L402Error` inside a [`reqwest_middleware::Error`].
    #[must_use]
    pub fn from_middleware_error(error: &reqwest_middleware::Error) -> Option<&L402Error> {
        match error {
            reqwest_middleware::Error::Middleware(e) => e.downcast_ref::<L402Error>(),
            reqwest_middleware::Error::Reqwest(_) => None,
        }
    }

    /// Whether the error implies that nothing was paid for this request. `false` for
    /// [`PaymentInFlight`](Self::PaymentInFlight), [`Lookup`](Self::Lookup),
    /// [`BadPreimage`](Self::BadPreimage), [`StillPaymentRequired`](Self::StillPaymentRequired)
    /// and [`Store`](Self::Store) errors, where a payment may have happened.
    #[must_use]
    pub fn nothing_paid(&self) -> bool {
        match self {
            L402Error::PaymentFailed(e) => e.is_definitely_unpaid(),
            L402Error::PaymentInFlight { .. }
            | L402Error::Lookup { .. }
            | L402Error::BadPreimage { .. }
            | L402Error::StillPaymentRequired
            | L402Error::Store(_) => false,
            _ => true,
        }
    }
}

impl From<L402Error> for reqwest_middleware::Error {
    fn from(e: L402Error) -> Self {
        reqwest_middleware::Error::middleware(e)
    }
}

/// Why a [`SpendingLedger`](crate::ledger::SpendingLedger) operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// A file operation failed.
    #[error("spending ledger i/o error: {0}")]
    Io(std::io::Error),
    /// The ledger's content does not parse. It is never reset on its own: move the file
    /// away (or repair it) to start again.
    #[error("spending ledger is corrupt: {0}")]
    Corrupt(String),
    /// A blocking task failed (panicked or was cancelled).
    #[error("spending ledger task failed")]
    Task,
    /// A ledger backend (a database) failed.
    #[error("spending ledger backend failed: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl LedgerError {
    /// A backend failure (for ledgers kept in a database).
    pub fn backend(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        LedgerError::Backend(error.into())
    }
}

impl From<std::io::Error> for LedgerError {
    fn from(e: std::io::Error) -> Self {
        LedgerError::Io(e)
    }
}

/// Why [`SpendingLedger::reserve`](crate::ledger::SpendingLedger::reserve) reserved
/// nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReserveError {
    /// The reservation's cost (amount plus fee cap) does not fit a budget.
    #[error(
        "reserving {needed} (fee cap included) would exceed the {scope} budget, {remaining} left"
    )]
    BudgetExceeded {
        /// Which budget.
        scope: BudgetScope,
        /// Amount plus the most fee the payment may cost.
        needed: Amount,
        /// What is left of that budget.
        remaining: Amount,
    },
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

impl PartialEq for ReserveError {
    /// Budget refusals compare by value; ledger failures never compare equal.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                ReserveError::BudgetExceeded {
                    scope: a,
                    needed: b,
                    remaining: c,
                },
                ReserveError::BudgetExceeded {
                    scope: x,
                    needed: y,
                    remaining: z,
                },
            ) => a == x && b == y && c == z,
            _ => false,
        }
    }
}

impl From<ReserveError> for L402Error {
    fn from(e: ReserveError) -> Self {
        match e {
            ReserveError::BudgetExceeded {
                scope,
                needed,
                remaining,
            } => L402Error::BudgetExceeded {
                scope,
                needed,
                remaining,
            },
            ReserveError::Ledger(e) => L402Error::Ledger(e),
        }
    }
}

/// Why a token store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file operation failed.
    #[error("token store i/o error")]
    Io(#[from] std::io::Error),
    /// A stored record does not parse.
    #[error("token store record is corrupt: {0}")]
    Corrupt(String),
    /// A blocking task failed (panicked or was cancelled).
    #[error("token store task failed")]
    Task,
}

/// Why [`L402MiddlewareBuilder::build`](crate::L402MiddlewareBuilder::build) refused the
/// configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The per-request price cap is zero: nothing could ever be paid.
    #[error("max price must be above zero")]
    ZeroMaxPrice,
    /// A budget of zero: nothing could ever be paid.
    #[error("{0} budget must be above zero")]
    ZeroBudget(BudgetScope),
    /// The fee rate is above 100 %.
    #[error("max fee rate of {0} ppm exceeds 1000000 ppm")]
    FeeRateTooHigh(u32),
    /// The budget window is zero.
    #[error("budget window must be above zero")]
    ZeroWindow,
    /// The payment timeout is zero.
    #[error("payment timeout must be above zero")]
    ZeroTimeout,
    /// The poll interval for in-flight payments is zero.
    #[error("poll interval must be above zero")]
    ZeroPollInterval,
    /// The CLTV delta limit is zero: no route could ever be used.
    #[error("max cltv delta must be above zero")]
    ZeroCltvDelta,
    /// Keying by path prefix with zero segments (use origin keys instead).
    #[error("path prefix key needs at least one segment")]
    ZeroPathSegments,
}
