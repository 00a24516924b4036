//! The spending ledger: what was paid, what is reserved, and the budget checks.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use l402_core::{Amount, PaymentHash};

use crate::error::{BudgetScope, L402Error};

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
}

/// What the middleware has paid since it was built (payments recovered after a restart
/// included), from [`L402Middleware::spending`](crate::L402Middleware::spending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpendingSummary {
    /// Amounts paid, fees excluded.
    pub total: Amount,
    /// Routing fees paid.
    pub fees: Amount,
    /// Number of payments.
    pub payments: u64,
    /// The same, per token key.
    pub per_origin: BTreeMap<String, OriginSpending>,
}

#[derive(Debug)]
struct Spent {
    at: Instant,
    key: String,
    cost: Amount,
}

/// Budget bookkeeping. Reservations (amount plus fee cap) are taken before paying, so
/// that concurrent payments to different origins cannot overshoot a budget together.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    summary: SpendingSummary,
    /// Costs (amount + fee) with their time, oldest first, for windowed budgets.
    spent: VecDeque<Spent>,
    reserved: HashMap<PaymentHash, (String, Amount)>,
}

impl Ledger {
    fn usage(&mut self, key: &str, window: Option<Duration>, now: Instant) -> (Amount, Amount) {
        if let Some(window) = window {
            while self
                .spent
                .front()
                .is_some_and(|s| now.saturating_duration_since(s.at) >= window)
            {
                self.spent.pop_front();
            }
        }
        let mut total = Amount::ZERO;
        let mut origin = Amount::ZERO;
        for s in &self.spent {
            total = total.saturating_add(s.cost);
            if s.key == key {
                origin = origin.saturating_add(s.cost);
            }
        }
        for (k, cost) in self.reserved.values() {
            total = total.saturating_add(*cost);
            if k == key {
                origin = origin.saturating_add(*cost);
            }
        }
        (total, origin)
    }

    /// Checks the budgets for `cost` and reserves it under `hash`.
    pub(crate) fn reserve(
        &mut self,
        key: &str,
        hash: PaymentHash,
        cost: Amount,
        budgets: (Option<Amount>, Option<Amount>),
        window: Option<Duration>,
    ) -> Result<(), L402Error> {
        let (total, origin) = self.usage(key, window, Instant::now());
        for (scope, budget, used) in [
            (BudgetScope::Total, budgets.0, total),
            (BudgetScope::Origin, budgets.1, origin),
        ] {
            if let Some(budget) = budget {
                let remaining = budget.saturating_sub(used);
                if cost > remaining {
                    return Err(L402Error::BudgetExceeded {
                        scope,
                        needed: cost,
                        remaining,
                    });
                }
            }
        }
        self.reserved.insert(hash, (key.to_owned(), cost));
        Ok(())
    }

    /// Drops a reservation (the payment definitely failed).
    pub(crate) fn release(&mut self, hash: &PaymentHash) {
        self.reserved.remove(hash);
    }

    /// Records a completed payment, replacing its reservation if any.
    pub(crate) fn record(&mut self, key: &str, hash: &PaymentHash, amount: Amount, fee: Amount) {
        self.reserved.remove(hash);
        self.spent.push_back(Spent {
            at: Instant::now(),
            key: key.to_owned(),
            cost: amount.saturating_add(fee),
        });
        let s = &mut self.summary;
        s.total = s.total.saturating_add(amount);
        s.fees = s.fees.saturating_add(fee);
        s.payments = s.payments.saturating_add(1);
        let o = s.per_origin.entry(key.to_owned()).or_default();
        o.amount = o.amount.saturating_add(amount);
        o.fees = o.fees.saturating_add(fee);
        o.payments = o.payments.saturating_add(1);
    }

    pub(crate) fn summary(&self) -> SpendingSummary {
        self.summary.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> PaymentHash {
        PaymentHash::from_bytes([n; 32])
    }

    #[test]
    fn reservations_count_against_budgets() {
        let mut l = Ledger::default();
        let b = (Some(Amount::from_msat(100)), Some(Amount::from_msat(60)));
        l.reserve("a", h(1), Amount::from_msat(50), b, None)
            .unwrap();
        assert!(matches!(
            l.reserve("a", h(2), Amount::from_msat(20), b, None),
            Err(L402Error::BudgetExceeded {
                scope: BudgetScope::Origin,
                ..
            })
        ));
        l.reserve("b", h(3), Amount::from_msat(50), b, None)
            .unwrap();
        assert!(matches!(
            l.reserve("c", h(4), Amount::from_msat(1), b, None),
            Err(L402Error::BudgetExceeded {
                scope: BudgetScope::Total,
                ..
            })
        ));
        l.release(&h(3));
        l.record("a", &h(1), Amount::from_msat(40), Amount::from_msat(1));
        l.reserve("c", h(4), Amount::from_msat(59), b, None)
            .unwrap();
        let s = l.summary();
        assert_eq!(s.total, Amount::from_msat(40));
        assert_eq!(s.payments, 1);
    }

    #[test]
    fn window_forgets_old_spending() {
        let mut l = Ledger::default();
        l.spent.push_back(Spent {
            at: Instant::now()
                .checked_sub(Duration::from_secs(10))
                .unwrap_or_else(Instant::now),
            key: "a".into(),
            cost: Amount::from_msat(100),
        });
        let b = (Some(Amount::from_msat(100)), None);
        l.reserve(
            "a",
            h(1),
            Amount::from_msat(100),
            b,
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    }
}
