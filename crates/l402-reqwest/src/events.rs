//! Observability: [`Event`]s reported to an [`EventHandler`].

use l402_core::payment_scheme::PaymentReceipt;
use l402_core::{Amount, PaymentHash};

use crate::policy::OfferScheme;

/// Something the middleware did. Events never carry secrets (no preimage, no macaroon).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A server answered 402 with an L402 challenge or a `Payment` charge offer (the
    /// amount is the offer's that [`OfferChosen`](Self::OfferChosen) names).
    ChallengeSeen {
        /// The token key (origin, or origin and path prefix).
        key: String,
        /// The invoice amount, if it decodes and has one.
        amount: Option<Amount>,
    },
    /// The offer the middleware is about to pay (or refuse) was picked among those of a
    /// 402: an L402 (or LSAT) challenge, or a `Payment` charge (see
    /// [`SchemePreference`](crate::SchemePreference)). Exactly one per 402.
    OfferChosen {
        /// The token key.
        key: String,
        /// The scheme of the offer.
        scheme: OfferScheme,
    },
    /// A server answered a `Payment` credential with a `Payment-Receipt` (parsed; it
    /// never holds the preimage).
    ReceiptReceived {
        /// The token key.
        key: String,
        /// The payment hash of the charge presented.
        payment_hash: PaymentHash,
        /// The receipt.
        receipt: PaymentReceipt,
    },
    /// The middleware refused to pay (a policy rule, or a body that cannot be replayed).
    PaymentRefused {
        /// The token key.
        key: String,
        /// Why, in the error's words.
        reason: String,
    },
    /// A payment is about to be sent (its pending record is stored).
    PaymentStarted {
        /// The token key.
        key: String,
        /// The invoice's payment hash.
        payment_hash: PaymentHash,
        /// The amount.
        amount: Amount,
        /// The fee cap.
        max_fee: Amount,
    },
    /// A payment succeeded; its token is stored.
    PaymentSucceeded {
        /// The token key.
        key: String,
        /// The payment hash.
        payment_hash: PaymentHash,
        /// The amount paid.
        amount: Amount,
        /// The routing fee paid.
        fee: Amount,
    },
    /// A payment failed; nothing was paid.
    PaymentFailed {
        /// The token key.
        key: String,
        /// The payment hash.
        payment_hash: PaymentHash,
        /// Why, in the error's words.
        reason: String,
    },
    /// A pending payment (from an earlier answer that was lost, or from before a restart)
    /// was found to have succeeded: its token was recovered without paying again.
    PaymentRecovered {
        /// The token key.
        key: String,
        /// The payment hash.
        payment_hash: PaymentHash,
        /// The amount paid, fees excluded: what the node reports, or (when it reports
        /// none) the amount recorded before paying.
        amount: Amount,
        /// The routing fee paid, as the node reports it.
        fee: Amount,
        /// The scheme of the offer that was paid.
        scheme: OfferScheme,
    },
    /// A pending payment was found to have failed or never started, and was dropped.
    PendingDropped {
        /// The token key.
        key: String,
        /// The payment hash.
        payment_hash: PaymentHash,
    },
    /// A stored token was attached to a request that then succeeded without paying.
    TokenReused {
        /// The token key.
        key: String,
    },
    /// A stored token was answered with a new 402 and was dropped.
    TokenRejected {
        /// The token key.
        key: String,
    },
}

/// Receives [`Event`]s. Implemented for every `Fn(&Event) + Send + Sync` closure.
///
/// Called synchronously on the request's task: keep it quick (count, log, send on a
/// channel).
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event.
    fn on_event(&self, event: &Event);
}

impl<F> EventHandler for F
where
    F: Fn(&Event) + Send + Sync + 'static,
{
    fn on_event(&self, event: &Event) {
        self(event);
    }
}
