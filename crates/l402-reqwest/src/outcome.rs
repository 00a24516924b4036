//! What the middleware did for one request: [`PaymentOutcome`] (in the response's
//! extensions) and [`Quote`] (what a request would cost, from
//! [`L402Middleware::quote`](crate::L402Middleware::quote)).

use std::time::SystemTime;

use l402_core::lightning_invoice::Currency;
use l402_core::{Amount, PaymentHash};

use crate::error::L402Error;
use crate::policy::OfferScheme;

/// A payment the middleware made for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PaidFor {
    /// The scheme of the offer paid.
    pub scheme: OfferScheme,
    /// The payment's hash.
    pub payment_hash: PaymentHash,
    /// The amount paid, fees excluded.
    pub amount: Amount,
    /// The routing fee paid.
    pub fee: Amount,
}

/// What the middleware did for a request that got an answer: in the response's
/// extensions (`response.extensions().get::<PaymentOutcome>()`), except for requests that
/// carried their own `Authorization` (the middleware does nothing for those).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PaymentOutcome {
    /// The token key of whoever answered (the final origin after redirects).
    pub key: String,
    /// The payment this request made, if it made one (at most one).
    pub paid: Option<PaidFor>,
    /// A stored token (or one another request paid for meanwhile) was presented and
    /// the answer was not a 402: nothing paid.
    pub token_reused: bool,
}

/// What a request would cost, from [`L402Middleware::quote`](crate::L402Middleware::quote):
/// the offer the middleware would pay, checked against every rule it applies before
/// paying (the policy, the per-request options, the budgets in the ledger), without
/// reserving or paying anything.
#[derive(Debug)]
#[non_exhaustive]
pub struct Quote {
    /// The token key the offer would be paid for.
    pub key: String,
    /// The scheme of the offer.
    pub scheme: OfferScheme,
    /// The invoice amount, if the invoice decodes and has one.
    pub amount: Option<Amount>,
    /// The fee cap a payment of that amount would carry.
    pub max_fee: Option<Amount>,
    /// The invoice's payment hash, if it decodes.
    pub payment_hash: Option<PaymentHash>,
    /// When the invoice expires, if it decodes.
    pub expires_at: Option<SystemTime>,
    /// The invoice's network, if it decodes.
    pub network: Option<Currency>,
    /// What is left of the total budget (`None`: no total budget).
    pub budget_left: Option<Amount>,
    /// What is left of this key's budget (`None`: no per-origin budget).
    pub origin_budget_left: Option<Amount>,
    /// Why the middleware would refuse to pay it (the same error a request would get,
    /// nothing paid); `None` when it would pay.
    pub refusal: Option<L402Error>,
}

impl Quote {
    /// Whether the middleware would pay this offer now.
    #[must_use]
    pub fn payable(&self) -> bool {
        self.refusal.is_none()
    }
}
