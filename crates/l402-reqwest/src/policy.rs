//! What the middleware may spend: [`SpendingPolicy`], and per-request overrides
//! ([`PaymentOptions`]).

use std::time::Duration;

use l402_core::Amount;
use l402_core::lightning_invoice::Currency;

use crate::error::{BudgetScope, BuildError};

/// Default per-request price cap: 1,000 sat. An L402 token usually costs a few sat; a
/// cap keeps a misbehaving or hostile server from asking for more.
pub const DEFAULT_MAX_PRICE: Amount = Amount::from_msat(1_000_000);
/// Default fixed part of the fee cap: 10 sat (small payments have a base fee of about
/// one sat per hop on the real network).
pub const DEFAULT_MAX_FEE_BASE: Amount = Amount::from_msat(10_000);
/// Default proportional part of the fee cap: 1 % (10,000 ppm) of the amount.
pub const DEFAULT_MAX_FEE_PPM: u32 = 10_000;
/// Default time the node may take to pay: 60 s.
pub const DEFAULT_PAY_TIMEOUT: Duration = Duration::from_secs(60);
/// Default time a request waits for a payment that is in flight (its own, another
/// request's, or one from before a restart) before failing with
/// [`L402Error::PaymentInFlight`](crate::L402Error::PaymentInFlight): 30 s.
pub const DEFAULT_IN_FLIGHT_WAIT: Duration = Duration::from_secs(30);
/// Default interval between lookups of an in-flight payment: 250 ms.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Default limit on the blocks a payment may stay locked (the route's total CLTV delta):
/// 1,008 blocks, about a week. Invoices usually ask for a final delta of 18 to 80
/// blocks; a hold-invoice server asking for more could lock the payer's liquidity for
/// weeks. Nodes default to 2016.
pub const DEFAULT_MAX_CLTV_DELTA: u32 = 1_008;
/// Default time payments to an origin stay suspended after it answered 402 again to the
/// token it had just been paid for: one hour.
pub const DEFAULT_SUSPEND_AFTER_UNPAID: Duration = Duration::from_secs(3600);
/// Default margin before an invoice's expiry under which it is refused: 10 s (time to
/// route the payment).
pub const DEFAULT_EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// The money rules of a middleware.
///
/// Every payment is checked against them before it is made: the invoice must carry an
/// amount, at most [`max_price`](Self::max_price); amount plus fee cap must fit the
/// [total](Self::budget) and [per-origin](Self::origin_budget) budgets (over an optional
/// [window](Self::budget_window)); the invoice must not be about to expire and must be
/// for the [expected network](Self::network) if one is set, and must not ask for a final
/// CLTV delta above [`max_cltv_delta`](Self::max_cltv_delta). Every payment carries a fee
/// cap of [`max_fee_base`](Self::max_fee_base) plus [`max_fee_ppm`](Self::max_fee_ppm)
/// of the amount, and the CLTV limit. An origin that answers 402 again right after being
/// paid is [suspended](Self::suspend_after_unpaid).
///
/// Budgets are counted by the middleware's
/// [`SpendingLedger`](crate::ledger::SpendingLedger): per process with the default
/// [`MemoryLedger`](crate::MemoryLedger), per machine with a
/// [`FileLedger`](crate::FileLedger), per fleet with a Redis ledger. There is no budget
/// by default (only the per-request cap).
///
/// ```
/// use std::time::Duration;
/// use l402_core::Amount;
/// use l402_core::lightning_invoice::Currency;
/// use l402_reqwest::SpendingPolicy;
///
/// let policy = SpendingPolicy::new()
///     .max_price(Amount::from_msat(100_000))          // 100 sat per request
///     .budget(Amount::from_msat(10_000_000))          // 10,000 sat in all...
///     .origin_budget(Amount::from_msat(1_000_000))    // ...1,000 sat per origin...
///     .budget_window(Duration::from_secs(24 * 3600))  // ...per day
///     .network(Currency::Bitcoin);
/// # let _ = policy;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpendingPolicy {
    pub(crate) max_price: Amount,
    pub(crate) max_fee_base: Amount,
    pub(crate) max_fee_ppm: u32,
    pub(crate) budget: Option<Amount>,
    pub(crate) origin_budget: Option<Amount>,
    pub(crate) budget_window: Option<Duration>,
    pub(crate) network: Option<Currency>,
    pub(crate) pay_timeout: Duration,
    pub(crate) in_flight_wait: Duration,
    pub(crate) poll_interval: Duration,
    pub(crate) expiry_margin: Duration,
    pub(crate) max_cltv_delta: u32,
    pub(crate) suspend_after_unpaid: Duration,
}

/// Which offer to pay when a 402 carries both an L402 (or LSAT) challenge and a
/// `Payment` scheme charge offer (Aperture's `l402+mpp` mode sends both, each with its
/// own invoice). Exactly one is paid, whatever the preference; when only one kind is
/// offered, that one is paid.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SchemePreference {
    /// L402 when offered, else the `Payment` charge (the default, as lnget).
    #[default]
    L402First,
    /// The `Payment` charge when offered, else L402.
    PaymentFirst,
}

/// The scheme of an offer the middleware paid or is paying.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum OfferScheme {
    /// An L402 (or LSAT) challenge: a reusable token.
    L402,
    /// A `Payment` scheme charge (method `lightning`, intent `charge`): a single-use
    /// credential.
    Payment,
}

impl OfferScheme {
    /// `l402` or `payment`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            OfferScheme::L402 => "l402",
            OfferScheme::Payment => "payment",
        }
    }
}

impl core::fmt::Display for OfferScheme {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Default for SpendingPolicy {
    fn default() -> Self {
        SpendingPolicy {
            max_price: DEFAULT_MAX_PRICE,
            max_fee_base: DEFAULT_MAX_FEE_BASE,
            max_fee_ppm: DEFAULT_MAX_FEE_PPM,
            budget: None,
            origin_budget: None,
            budget_window: None,
            network: None,
            pay_timeout: DEFAULT_PAY_TIMEOUT,
            in_flight_wait: DEFAULT_IN_FLIGHT_WAIT,
            poll_interval: DEFAULT_POLL_INTERVAL,
            expiry_margin: DEFAULT_EXPIRY_MARGIN,
            max_cltv_delta: DEFAULT_MAX_CLTV_DELTA,
            suspend_after_unpaid: DEFAULT_SUSPEND_AFTER_UNPAID,
        }
    }
}

impl SpendingPolicy {
    /// The defaults: [`DEFAULT_MAX_PRICE`] per request, fee cap [`DEFAULT_MAX_FEE_BASE`]
    /// + [`DEFAULT_MAX_FEE_PPM`], no budget, any network.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The most one request may pay (fees excluded).
    #[must_use]
    pub fn max_price(mut self, max: Amount) -> Self {
        self.max_price = max;
        self
    }

    /// The fixed part of the fee cap.
    #[must_use]
    pub fn max_fee_base(mut self, base: Amount) -> Self {
        self.max_fee_base = base;
        self
    }

    /// The proportional part of the fee cap, in parts per million of the amount.
    #[must_use]
    pub fn max_fee_ppm(mut self, ppm: u32) -> Self {
        self.max_fee_ppm = ppm;
        self
    }

    /// The most all payments together may cost, fees included (over the
    /// [window](Self::budget_window) if one is set).
    #[must_use]
    pub fn budget(mut self, budget: Amount) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The most the payments for one origin (one token key) may cost, fees included.
    #[must_use]
    pub fn origin_budget(mut self, budget: Amount) -> Self {
        self.origin_budget = Some(budget);
        self
    }

    /// Counts budgets over a sliding window (for example a day) instead of the
    /// middleware's lifetime.
    #[must_use]
    pub fn budget_window(mut self, window: Duration) -> Self {
        self.budget_window = Some(window);
        self
    }

    /// Refuses invoices for any other network.
    #[must_use]
    pub fn network(mut self, network: Currency) -> Self {
        self.network = Some(network);
        self
    }

    /// How long the node may try to pay (the backend's
    /// [`PayParams::timeout`](l402_core::backend::PayParams::timeout)).
    #[must_use]
    pub fn pay_timeout(mut self, timeout: Duration) -> Self {
        self.pay_timeout = timeout;
        self
    }

    /// How long a request waits for an in-flight payment before failing with
    /// [`L402Error::PaymentInFlight`](crate::L402Error::PaymentInFlight). Zero: look once.
    #[must_use]
    pub fn in_flight_wait(mut self, wait: Duration) -> Self {
        self.in_flight_wait = wait;
        self
    }

    /// Interval between lookups of an in-flight payment.
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Refuses invoices that expire within this margin.
    #[must_use]
    pub fn expiry_margin(mut self, margin: Duration) -> Self {
        self.expiry_margin = margin;
        self
    }

    /// The most blocks a payment may stay locked (default [`DEFAULT_MAX_CLTV_DELTA`]):
    /// an invoice whose final CLTV delta alone is above it is refused before paying
    /// ([`L402Error::CltvDeltaTooHigh`](crate::L402Error::CltvDeltaTooHigh)), and the
    /// node is given it as the route's limit
    /// ([`PayParams::max_cltv_delta`](l402_core::backend::PayParams::max_cltv_delta)).
    #[must_use]
    pub fn max_cltv_delta(mut self, blocks: u32) -> Self {
        self.max_cltv_delta = blocks;
        self
    }

    /// How long payments to an origin are refused
    /// ([`L402Error::OriginSuspended`](crate::L402Error::OriginSuspended)) after it
    /// answered 402 again to the token it had just been paid for
    /// ([`L402Error::StillPaymentRequired`](crate::L402Error::StillPaymentRequired)):
    /// a server that takes the money without serving is not paid again and again.
    /// Default [`DEFAULT_SUSPEND_AFTER_UNPAID`]; zero turns the suspension off.
    #[must_use]
    pub fn suspend_after_unpaid(mut self, duration: Duration) -> Self {
        self.suspend_after_unpaid = duration;
        self
    }

    /// The per-request price cap (set with [`max_price`](Self::max_price)).
    #[must_use]
    pub fn price_cap(&self) -> Amount {
        self.max_price
    }

    /// The fixed part of the fee cap (set with [`max_fee_base`](Self::max_fee_base)).
    #[must_use]
    pub fn fee_base(&self) -> Amount {
        self.max_fee_base
    }

    /// The proportional part of the fee cap, in ppm (set with
    /// [`max_fee_ppm`](Self::max_fee_ppm)).
    #[must_use]
    pub fn fee_ppm(&self) -> u32 {
        self.max_fee_ppm
    }

    /// The network invoices must be for, if one is set (with [`network`](Self::network)).
    #[must_use]
    pub fn expected_network(&self) -> Option<&Currency> {
        self.network.as_ref()
    }

    /// The fee cap for a payment of `amount`: base plus ppm of the amount (rounded up).
    #[must_use]
    pub fn fee_cap(&self, amount: Amount) -> Amount {
        let prop = (u128::from(amount.msat()) * u128::from(self.max_fee_ppm)).div_ceil(1_000_000);
        let prop = Amount::from_msat(u64::try_from(prop).unwrap_or(u64::MAX));
        self.max_fee_base.saturating_add(prop)
    }

    /// The budgets as ledger [`Limits`](crate::ledger::Limits).
    #[must_use]
    pub fn limits(&self) -> crate::ledger::Limits {
        crate::ledger::Limits {
            total: self.budget,
            per_origin: self.origin_budget,
            window: self.budget_window,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), BuildError> {
        if self.max_price.is_zero() {
            return Err(BuildError::ZeroMaxPrice);
        }
        if self.budget.is_some_and(Amount::is_zero) {
            return Err(BuildError::ZeroBudget(BudgetScope::Total));
        }
        if self.origin_budget.is_some_and(Amount::is_zero) {
            return Err(BuildError::ZeroBudget(BudgetScope::Origin));
        }
        if self.max_fee_ppm > 1_000_000 {
            return Err(BuildError::FeeRateTooHigh(self.max_fee_ppm));
        }
        if self.budget_window.is_some_and(|w| w.is_zero()) {
            return Err(BuildError::ZeroWindow);
        }
        if self.pay_timeout.is_zero() {
            return Err(BuildError::ZeroTimeout);
        }
        if self.poll_interval.is_zero() {
            return Err(BuildError::ZeroPollInterval);
        }
        if self.max_cltv_delta == 0 {
            return Err(BuildError::ZeroCltvDelta);
        }
        Ok(())
    }
}

/// Per-request overrides, passed as a request extension with
/// [`reqwest_middleware::RequestBuilder::with_extension`].
///
/// ```no_run
/// # async fn f(client: reqwest_middleware::ClientWithMiddleware) -> Result<(), Box<dyn std::error::Error>> {
/// use l402_core::{Amount, Challenge};
/// use l402_reqwest::PaymentOptions;
///
/// // Pay at most 50 sat for this one.
/// let res = client
///     .get("https://api.example.com/cheap")
///     .with_extension(PaymentOptions::new().max_price(Amount::from_msat(50_000)))
///     .send()
///     .await?;
///
/// // Never pay: a 402 comes back as is, with the parsed challenge in its extensions.
/// let res = client
///     .get("https://api.example.com/quote")
///     .with_extension(PaymentOptions::never_pay())
///     .send()
///     .await?;
/// if let Some(challenge) = res.extensions().get::<Challenge>() {
///     let price = challenge.decode_invoice()?.amount_milli_satoshis();
/// #   let _ = price;
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PaymentOptions {
    /// A per-request price cap; only lowers the policy's (the lower of the two applies).
    pub max_price: Option<Amount>,
    /// Never pay: return a 402 as is, with the parsed [`Challenge`](l402_core::Challenge)
    /// in the response's extensions. Cached tokens are still attached.
    pub never_pay: bool,
}

impl PaymentOptions {
    /// No override.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Options that never pay.
    #[must_use]
    pub fn never_pay() -> Self {
        PaymentOptions {
            max_price: None,
            never_pay: true,
        }
    }

    /// Lowers the price cap for this request.
    #[must_use]
    pub fn max_price(mut self, max: Amount) -> Self {
        self.max_price = Some(max);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_cap_adds_base_and_rate() {
        let p = SpendingPolicy::new()
            .max_fee_base(Amount::from_msat(1_000))
            .max_fee_ppm(10_000);
        assert_eq!(
            p.fee_cap(Amount::from_msat(100_000)),
            Amount::from_msat(2_000)
        );
        assert_eq!(p.fee_cap(Amount::from_msat(1)), Amount::from_msat(1_001));
    }

    #[test]
    fn validation() {
        assert_eq!(
            SpendingPolicy::new().max_price(Amount::ZERO).validate(),
            Err(BuildError::ZeroMaxPrice)
        );
        assert_eq!(
            SpendingPolicy::new().max_fee_ppm(2_000_000).validate(),
            Err(BuildError::FeeRateTooHigh(2_000_000))
        );
        assert_eq!(
            SpendingPolicy::new().budget(Amount::ZERO).validate(),
            Err(BuildError::ZeroBudget(BudgetScope::Total))
        );
        assert_eq!(
            SpendingPolicy::new()
                .budget_window(Duration::ZERO)
                .validate(),
            Err(BuildError::ZeroWindow)
        );
        assert_eq!(SpendingPolicy::new().validate(), Ok(()));
    }
}
