//! The bookkeeping shared by the memory and file ledgers: plain data, serializable, no
//! I/O, the time passed in.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use l402_core::{Amount, PaymentHash};
use serde::{Deserialize, Serialize};

use super::{Reservation, Reserved};
use crate::error::{BudgetScope, ReserveError};
use crate::spending::{OriginSpending, SpendingSummary};

/// Milliseconds since the unix epoch (0 before it).
pub(crate) fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Totals of payments folded out of the list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Totals {
    amount: Amount,
    fees: Amount,
    payments: u64,
}

/// One committed payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Spent {
    origin: String,
    payment_hash: PaymentHash,
    amount: Amount,
    fee: Amount,
    /// Unix milliseconds.
    at: u64,
}

/// One held reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Held {
    origin: String,
    amount: Amount,
    max_fee: Amount,
    /// Unix milliseconds.
    at: u64,
}

impl Held {
    fn cost(&self) -> Amount {
        self.amount.saturating_add(self.max_fee)
    }
}

/// A ledger's content.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct State {
    /// Per origin, the payments older than the retention.
    #[serde(default)]
    folded: BTreeMap<String, Totals>,
    /// Committed payments, oldest first.
    #[serde(default)]
    spent: Vec<Spent>,
    /// Reservations not resolved yet.
    #[serde(default)]
    held: BTreeMap<PaymentHash, Held>,
}

impl State {
    /// Folds payments older than `retention` into the all-time totals.
    fn prune(&mut self, now: u64, retention: Duration) {
        let cutoff = now.saturating_sub(ms(retention));
        let old = self.spent.iter().take_while(|s| s.at < cutoff).count();
        for s in self.spent.drain(..old) {
            let t = self.folded.entry(s.origin).or_default();
            t.amount = t.amount.saturating_add(s.amount);
            t.fees = t.fees.saturating_add(s.fee);
            t.payments = t.payments.saturating_add(1);
        }
    }

    /// Whether committed spending at unix-ms `at` is inside `window` at `now`. A time
    /// in the future (a clock set back) counts.
    fn inside(at: u64, now: u64, window: Option<Duration>) -> bool {
        window.is_none_or(|w| now.saturating_sub(at) < ms(w))
    }

    /// Whether the folded totals count for `window`: without a window, or a window
    /// reaching past the retention (over-counting rather than under-counting).
    fn folded_count(window: Option<Duration>, retention: Duration) -> bool {
        window.is_none_or(|w| w > retention)
    }

    /// Committed plus reserved costs (fees included), in total and for `origin`.
    fn used(
        &self,
        origin: &str,
        now: u64,
        window: Option<Duration>,
        retention: Duration,
    ) -> (Amount, Amount) {
        let mut total = Amount::ZERO;
        let mut mine = Amount::ZERO;
        let mut add = |o: &str, cost: Amount| {
            total = total.saturating_add(cost);
            if o == origin {
                mine = mine.saturating_add(cost);
            }
        };
        if Self::folded_count(window, retention) {
            for (o, t) in &self.folded {
                add(o, t.amount.saturating_add(t.fees));
            }
        }
        for s in &self.spent {
            if Self::inside(s.at, now, window) {
                add(&s.origin, s.amount.saturating_add(s.fee));
            }
        }
        for h in self.held.values() {
            add(&h.origin, h.cost());
        }
        (total, mine)
    }

    pub(crate) fn reserve(
        &mut self,
        r: &Reservation,
        now: SystemTime,
        retention: Duration,
    ) -> Result<Reserved, ReserveError> {
        let now = unix_ms(now);
        self.prune(now, retention);
        if self.held.contains_key(&r.payment_hash) {
            return Ok(Reserved::AlreadyHeld);
        }
        if self.spent.iter().any(|s| s.payment_hash == r.payment_hash) {
            return Ok(Reserved::AlreadyCommitted);
        }
        let (total, origin) = self.used(&r.origin, now, r.limits.window, retention);
        let needed = r.cost();
        for (scope, limit, used) in [
            (BudgetScope::Total, r.limits.total, total),
            (BudgetScope::Origin, r.limits.per_origin, origin),
        ] {
            if let Some(limit) = limit {
                let remaining = limit.saturating_sub(used);
                if needed > remaining {
                    return Err(ReserveError::BudgetExceeded {
                        scope,
                        needed,
                        remaining,
                    });
                }
            }
        }
        self.held.insert(
            r.payment_hash,
            Held {
                origin: r.origin.clone(),
                amount: r.amount,
                max_fee: r.max_fee,
                at: now,
            },
        );
        Ok(Reserved::New)
    }

    /// Records a payment; `false` if it was already recorded (nothing changed).
    pub(crate) fn commit(
        &mut self,
        origin: &str,
        hash: &PaymentHash,
        amount: Amount,
        fee: Amount,
        now: SystemTime,
        retention: Duration,
    ) -> bool {
        let now = unix_ms(now);
        self.prune(now, retention);
        let held = self.held.remove(hash).is_some();
        if self.spent.iter().any(|s| s.payment_hash == *hash) {
            return held;
        }
        // Kept in time order even if the clock went back.
        let at = self.spent.last().map_or(now, |l| l.at.max(now));
        self.spent.push(Spent {
            origin: origin.to_owned(),
            payment_hash: *hash,
            amount,
            fee,
            at,
        });
        true
    }

    pub(crate) fn release(&mut self, hash: &PaymentHash) -> bool {
        self.held.remove(hash).is_some()
    }

    pub(crate) fn summary(
        &self,
        window: Option<Duration>,
        now: SystemTime,
        retention: Duration,
    ) -> SpendingSummary {
        let now = unix_ms(now);
        let mut s = SpendingSummary::default();
        let add =
            |s: &mut SpendingSummary, origin: &str, amount: Amount, fees: Amount, payments: u64| {
                s.total = s.total.saturating_add(amount);
                s.fees = s.fees.saturating_add(fees);
                s.payments = s.payments.saturating_add(payments);
                let o: &mut OriginSpending = s.per_origin.entry(origin.to_owned()).or_default();
                o.amount = o.amount.saturating_add(amount);
                o.fees = o.fees.saturating_add(fees);
                o.payments = o.payments.saturating_add(payments);
            };
        if Self::folded_count(window, retention) {
            for (o, t) in &self.folded {
                add(&mut s, o, t.amount, t.fees, t.payments);
            }
        }
        for p in &self.spent {
            if Self::inside(p.at, now, window) {
                add(&mut s, &p.origin, p.amount, p.fee, 1);
            }
        }
        for h in self.held.values() {
            s.reserved = s.reserved.saturating_add(h.cost());
            let o = s.per_origin.entry(h.origin.clone()).or_default();
            o.reserved = o.reserved.saturating_add(h.cost());
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Limits;

    const RET: Duration = Duration::from_secs(3600);

    fn h(n: u8) -> PaymentHash {
        PaymentHash::from_bytes([n; 32])
    }

    fn r(origin: &str, n: u8, cost: u64, limits: Limits) -> Reservation {
        Reservation::new(origin, h(n), Amount::from_msat(cost), Amount::ZERO, limits)
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + secs)
    }

    #[test]
    fn reservations_count_against_both_budgets() {
        let mut s = State::default();
        let l = Limits::new()
            .total(Amount::from_msat(100))
            .per_origin(Amount::from_msat(60));
        assert_eq!(s.reserve(&r("a", 1, 50, l), at(0), RET), Ok(Reserved::New));
        assert_eq!(
            s.reserve(&r("a", 2, 20, l), at(0), RET),
            Err(ReserveError::BudgetExceeded {
                scope: BudgetScope::Origin,
                needed: Amount::from_msat(20),
                remaining: Amount::from_msat(10),
            })
        );
        assert_eq!(s.reserve(&r("b", 3, 50, l), at(0), RET), Ok(Reserved::New));
        assert!(matches!(
            s.reserve(&r("c", 4, 1, l), at(0), RET),
            Err(ReserveError::BudgetExceeded {
                scope: BudgetScope::Total,
                ..
            })
        ));
        assert!(s.release(&h(3)));
        assert!(!s.release(&h(3)));
        // The real cost replaces the reservation.
        s.commit(
            "a",
            &h(1),
            Amount::from_msat(40),
            Amount::from_msat(1),
            at(0),
            RET,
        );
        assert_eq!(s.reserve(&r("c", 4, 59, l), at(0), RET), Ok(Reserved::New));
        let sum = s.summary(None, at(0), RET);
        assert_eq!(sum.total, Amount::from_msat(40));
        assert_eq!(sum.fees, Amount::from_msat(1));
        assert_eq!(sum.payments, 1);
        assert_eq!(sum.reserved, Amount::from_msat(59));
        assert_eq!(sum.per_origin["c"].reserved, Amount::from_msat(59));
    }

    #[test]
    fn reserve_and_commit_are_idempotent_by_hash() {
        let mut s = State::default();
        let l = Limits::new().total(Amount::from_msat(100));
        assert_eq!(s.reserve(&r("a", 1, 80, l), at(0), RET), Ok(Reserved::New));
        // A retried reserve does not reserve twice (and is not refused for lack of room).
        assert_eq!(
            s.reserve(&r("a", 1, 80, l), at(0), RET),
            Ok(Reserved::AlreadyHeld)
        );
        assert_eq!(s.summary(None, at(0), RET).reserved, Amount::from_msat(80));
        assert!(s.commit("a", &h(1), Amount::from_msat(80), Amount::ZERO, at(0), RET));
        assert!(!s.commit("a", &h(1), Amount::from_msat(80), Amount::ZERO, at(0), RET));
        assert_eq!(
            s.reserve(&r("a", 1, 80, l), at(0), RET),
            Ok(Reserved::AlreadyCommitted)
        );
        let sum = s.summary(None, at(0), RET);
        assert_eq!(
            (sum.total, sum.payments, sum.reserved),
            (Amount::from_msat(80), 1, Amount::ZERO)
        );
    }

    #[test]
    fn windows_forget_old_spending_but_not_reservations() {
        let mut s = State::default();
        let l = Limits::new()
            .total(Amount::from_msat(100))
            .window(Duration::from_secs(60));
        s.reserve(&r("a", 1, 100, l), at(0), RET).unwrap();
        s.commit("a", &h(1), Amount::from_msat(100), Amount::ZERO, at(0), RET);
        assert!(s.reserve(&r("a", 2, 1, l), at(59), RET).is_err());
        assert_eq!(
            s.reserve(&r("a", 2, 100, l), at(60), RET),
            Ok(Reserved::New)
        );
        // The reservation counts however old it is.
        assert!(s.reserve(&r("a", 3, 1, l), at(600), RET).is_err());
    }

    #[test]
    fn folded_totals_count_for_lifetime_and_long_windows() {
        let mut s = State::default();
        s.commit(
            "a",
            &h(1),
            Amount::from_msat(70),
            Amount::from_msat(5),
            at(0),
            RET,
        );
        // Past the retention: folded, still counted without a window...
        let later = at(2 * 3600);
        let l = Limits::new().total(Amount::from_msat(100));
        assert!(s.reserve(&r("a", 2, 26, l), later, RET).is_err());
        // ...and for a window longer than the retention...
        let long = l.window(Duration::from_secs(7200 + 3600));
        assert!(s.reserve(&r("a", 2, 26, long), later, RET).is_err());
        // ...but not for a window inside it.
        let short = l.window(Duration::from_secs(60));
        assert_eq!(
            s.reserve(&r("a", 2, 100, short), later, RET),
            Ok(Reserved::New)
        );
        let sum = s.summary(None, later, RET);
        assert_eq!(
            (sum.total, sum.fees, sum.payments),
            (Amount::from_msat(70), Amount::from_msat(5), 1)
        );
        assert!(s.spent.is_empty());
    }

    #[test]
    fn a_clock_set_back_never_frees_budget() {
        let mut s = State::default();
        let l = Limits::new()
            .total(Amount::from_msat(100))
            .window(Duration::from_secs(60));
        s.commit(
            "a",
            &h(1),
            Amount::from_msat(100),
            Amount::ZERO,
            at(600),
            RET,
        );
        assert!(s.reserve(&r("a", 2, 1, l), at(0), RET).is_err());
    }

    mod props {
        use proptest::prelude::*;

        use super::*;

        #[derive(Debug, Clone)]
        enum Op {
            Reserve {
                origin: u8,
                hash: u8,
                amount: u64,
                max_fee: u64,
            },
            /// Commits a held reservation with a fee at most its cap.
            Commit {
                hash: u8,
                fee_part: u64,
            },
            Release {
                hash: u8,
            },
            Advance {
                secs: u64,
            },
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                (0..3u8, 0..12u8, 1..400u64, 0..50u64).prop_map(
                    |(origin, hash, amount, max_fee)| {
                        Op::Reserve {
                            origin,
                            hash,
                            amount,
                            max_fee,
                        }
                    }
                ),
                (0..12u8, 0..100u64).prop_map(|(hash, fee_part)| Op::Commit { hash, fee_part }),
                (0..12u8).prop_map(|hash| Op::Release { hash }),
                (0..120u64).prop_map(|secs| Op::Advance { secs }),
            ]
        }

        proptest! {
            /// Whatever the order of reserves, commits, releases and time passing, a
            /// granted reservation fits: committed costs in the window plus everything
            /// held, itself included, within both budgets. The state survives its file
            /// format unchanged.
            #[test]
            fn budgets_always_hold(ops in proptest::collection::vec(op(), 1..80), window in prop::option::of(1..300u64)) {
                let limits = Limits {
                    total: Some(Amount::from_msat(1_000)),
                    per_origin: Some(Amount::from_msat(600)),
                    window: window.map(Duration::from_secs),
                };
                let ret = Duration::from_secs(200);
                let mut s = State::default();
                let mut now = 0;
                for op in ops {
                    match op {
                        Op::Reserve { origin, hash, amount, max_fee } => {
                            let r = Reservation::new(
                                format!("o{origin}"),
                                h(hash),
                                Amount::from_msat(amount),
                                Amount::from_msat(max_fee),
                                limits,
                            );
                            if s.reserve(&r, at(now), ret) == Ok(Reserved::New) {
                                // Granted: everything counted, this one included, fits.
                                let (total, mine) =
                                    s.used(&r.origin, unix_ms(at(now)), limits.window, ret);
                                prop_assert!(total <= Amount::from_msat(1_000), "total {total}");
                                prop_assert!(mine <= Amount::from_msat(600), "origin {mine}");
                            }
                        }
                        Op::Commit { hash, fee_part } => {
                            if let Some(held) = s.held.get(&h(hash)).cloned() {
                                let fee = Amount::from_msat(held.max_fee.msat() * fee_part / 100);
                                s.commit(&held.origin, &h(hash), held.amount, fee, at(now), ret);
                            }
                        }
                        Op::Release { hash } => {
                            s.release(&h(hash));
                        }
                        Op::Advance { secs } => now += secs,
                    }
                }
                let json = serde_json::to_vec(&s).unwrap();
                let back: State = serde_json::from_slice(&json).unwrap();
                prop_assert_eq!(back, s);
            }

            /// Arbitrary bytes never parse into a panic.
            #[test]
            fn arbitrary_bytes_are_an_error_or_a_state(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = serde_json::from_slice::<State>(&bytes);
            }
        }
    }
}
