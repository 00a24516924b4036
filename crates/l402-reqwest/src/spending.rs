//! Spending reports: [`SpendingSummary`] and [`OriginSpending`].

use std::collections::BTreeMap;

use l402_core::Amount;

/// What one origin (token key) cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OriginSpending {
    /// Amounts paid, fees excluded.
    pub amount: Amount,
    /// Routing fees paid.
    pub fees: Amount,
    /// Number of payments.
    pub payments: u64,
    /// Held by reservations of payments not resolved yet (amount plus fee cap); only
    /// in a ledger's [`summary`](crate::ledger::SpendingLedger::summary).
    pub reserved: Amount,
}

/// What was paid: from [`L402Middleware::spending`](crate::L402Middleware::spending)
/// (what one middleware paid since it was built, payments recovered after a restart
/// included) or from a ledger's [`summary`](crate::ledger::SpendingLedger::summary)
/// (what everyone sharing the ledger paid in a window).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpendingSummary {
    /// Amounts paid, fees excluded.
    pub total: Amount,
    /// Routing fees paid.
    pub fees: Amount,
    /// Number of payments.
    pub payments: u64,
    /// Held by reservations of payments not resolved yet (amount plus fee cap); only
    /// in a ledger's [`summary`](crate::ledger::SpendingLedger::summary).
    pub reserved: Amount,
    /// The same, per token key.
    pub per_origin: BTreeMap<String, OriginSpending>,
}

/// What one middleware paid since it was built, for [`L402Middleware::spending`](crate::L402Middleware::spending).
#[derive(Debug, Default)]
pub(crate) struct Tally(SpendingSummary);

impl Tally {
    pub(crate) fn record(&mut self, key: &str, amount: Amount, fee: Amount) {
        let s = &mut self.0;
        s.total = s.total.saturating_add(amount);
        s.fees = s.fees.saturating_add(fee);
        s.payments = s.payments.saturating_add(1);
        let o = s.per_origin.entry(key.to_owned()).or_default();
        o.amount = o.amount.saturating_add(amount);
        o.fees = o.fees.saturating_add(fee);
        o.payments = o.payments.saturating_add(1);
    }

    pub(crate) fn summary(&self) -> SpendingSummary {
        self.0.clone()
    }
}
