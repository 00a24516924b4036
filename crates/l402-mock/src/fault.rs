//! Fault injection: make a mock node misbehave the way real nodes do.
//!
//! Every fault is set on one node through its [`Faults`] handle
//! ([`MockNode::faults`](crate::MockNode::faults)) and lasts either for the next *n* calls
//! or until cleared. Faults concern the node's API (the connection between the
//! application and its node): an unreachable node still receives payments, like an LND
//! node whose REST port is down.

use core::fmt;
use std::collections::VecDeque;
use std::time::Duration;

use l402_core::backend::FailureReason;

use crate::node::MockNode;

/// How a payment that was held in flight ends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The payee settles: the payer learns the preimage.
    Succeed,
    /// The payment fails for this reason: the payer gets its money (and fee) back.
    Fail(FailureReason),
}

/// A fault for one payment sent by a node.
///
/// A payment fault is consumed by the next payment that the node actually sends, that is
/// a [`pay_invoice`](l402_core::PaymentBackend::pay_invoice) call that reached the node and
/// passed its local checks (network, amount, expiry, not already paid). Calls refused by
/// those checks leave the fault in place.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaymentFault {
    /// The payment fails at once with this reason; nothing moves.
    Fail(FailureReason),
    /// The payment stays in flight for `duration`, then ends with `then`.
    ///
    /// Meanwhile the payer's amount and fee are locked (its balance is already debited),
    /// the payee's invoice is still open but cannot be paid by anyone else, and
    /// [`lookup_payment`](l402_core::PaymentBackend::lookup_payment) answers
    /// [`InFlight`](l402_core::backend::PaymentStatus::InFlight).
    /// [`pay_invoice`](l402_core::PaymentBackend::pay_invoice) waits for the outcome or for
    /// [`PayParams::timeout`](l402_core::backend::PayParams::timeout), whichever comes first;
    /// on timeout it returns [`PayError::OutcomeUnknown`](l402_core::PayError::OutcomeUnknown)
    /// and the payment still ends as planned, even if the call's future is dropped.
    InFlight {
        /// How long the payment stays in flight.
        duration: Duration,
        /// How it ends.
        then: Outcome,
    },
    /// The payment goes through as usual, but the connection is cut before the answer
    /// arrives: [`pay_invoice`](l402_core::PaymentBackend::pay_invoice) returns
    /// [`PayError::OutcomeUnknown`](l402_core::PayError::OutcomeUnknown).
    ///
    /// Normally the payee's invoice is then settled, the payer's balance debited, and
    /// [`lookup_payment`](l402_core::PaymentBackend::lookup_payment) answers `Succeeded` with
    /// the preimage: the situation a client's crash-recovery code must handle. If the
    /// payment failed for a real reason (say, insufficient balance), the answer is cut all
    /// the same and `lookup_payment` reports the failure.
    CutAfterSettle,
}

/// How long a fault lasts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum Budget {
    /// Not active.
    #[default]
    Off,
    /// Active for this many more calls (never zero).
    Next(u32),
    /// Active until cleared.
    Always,
}

impl Budget {
    fn from_flag(on: bool) -> Self {
        if on { Budget::Always } else { Budget::Off }
    }

    fn next(calls: u32) -> Self {
        if calls == 0 {
            Budget::Off
        } else {
            Budget::Next(calls)
        }
    }

    /// Whether the fault applies to this call; uses one call of a `Next` budget.
    pub(crate) fn take(&mut self) -> bool {
        match *self {
            Budget::Off => false,
            Budget::Always => true,
            Budget::Next(n) => {
                *self = Budget::next(n.saturating_sub(1));
                true
            }
        }
    }
}

/// What the faults say about one API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CallFaults {
    /// Wait this long before handling the call.
    pub(crate) latency: Duration,
    /// Fail the call as if the node could not be reached.
    pub(crate) unreachable: bool,
}

/// A node's active faults (kept in the network's ledger, under its lock).
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    unreachable: Budget,
    latency: Duration,
    latency_budget: Budget,
    fail_invoices: Budget,
    next_payments: VecDeque<PaymentFault>,
    every_payment: Option<PaymentFault>,
}

impl FaultState {
    /// Consumes the per-call faults for one API call.
    pub(crate) fn enter_call(&mut self) -> CallFaults {
        let latency = if self.latency_budget.take() {
            self.latency
        } else {
            Duration::ZERO
        };
        CallFaults {
            latency,
            unreachable: self.unreachable.take(),
        }
    }

    /// Whether this invoice creation must fail.
    pub(crate) fn take_invoice_failure(&mut self) -> bool {
        self.fail_invoices.take()
    }

    /// The fault for the payment being sent, if any.
    pub(crate) fn take_payment_fault(&mut self) -> Option<PaymentFault> {
        self.next_payments
            .pop_front()
            .or_else(|| self.every_payment.clone())
    }
}

/// The fault switches of one node; from [`MockNode::faults`].
///
/// Every setter applies at once (to calls that start afterwards) and returns `&Self`, so
/// that settings can be chained:
///
/// ```
/// use std::time::Duration;
/// use l402_mock::{MockNetwork, Outcome, PaymentFault};
///
/// let network = MockNetwork::new();
/// let node = network.node("flaky").build()?;
/// node.faults()
///     .latency(Duration::from_millis(20))
///     .unreachable_next(1)
///     .next_payment(PaymentFault::InFlight {
///         duration: Duration::from_secs(1),
///         then: Outcome::Succeed,
///     });
/// assert_eq!(node.faults().pending_payment_faults(), 1);
/// node.faults().clear();
/// assert_eq!(node.faults().pending_payment_faults(), 0);
/// # Ok::<(), l402_mock::MockError>(())
/// ```
#[derive(Clone)]
pub struct Faults {
    node: MockNode,
}

impl Faults {
    pub(crate) fn new(node: MockNode) -> Self {
        Faults { node }
    }

    fn update(&self, f: impl FnOnce(&mut FaultState)) -> &Self {
        self.node.with_faults(f);
        self
    }

    /// Makes every API call fail (`true`) until set back to `false`: trait calls answer a
    /// [transient](l402_core::ErrorKind::Transient) [`BackendError`](l402_core::BackendError),
    /// and `pay_invoice` answers [`PayError::NotAttempted`](l402_core::PayError::NotAttempted)
    /// with one. The node still receives payments.
    pub fn unreachable(&self, on: bool) -> &Self {
        self.update(|s| s.unreachable = Budget::from_flag(on))
    }

    /// Makes the next `calls` API calls fail as if the node were unreachable.
    pub fn unreachable_next(&self, calls: u32) -> &Self {
        self.update(|s| s.unreachable = Budget::next(calls))
    }

    /// Delays every API call by `latency` (with [`tokio::time::sleep`]) until set back to
    /// [`Duration::ZERO`]. The delay comes before the node handles the call and does not
    /// count against [`PayParams::timeout`](l402_core::backend::PayParams::timeout).
    pub fn latency(&self, latency: Duration) -> &Self {
        self.update(|s| {
            s.latency = latency;
            s.latency_budget = Budget::from_flag(!latency.is_zero());
        })
    }

    /// Delays the next `calls` API calls by `latency`.
    pub fn latency_next(&self, calls: u32, latency: Duration) -> &Self {
        self.update(|s| {
            s.latency = latency;
            s.latency_budget = if latency.is_zero() {
                Budget::Off
            } else {
                Budget::next(calls)
            };
        })
    }

    /// Makes every invoice creation fail with a transient error (`true`) until set back to
    /// `false`.
    pub fn fail_invoices(&self, on: bool) -> &Self {
        self.update(|s| s.fail_invoices = Budget::from_flag(on))
    }

    /// Makes the next `count` invoice creations fail with a transient error.
    pub fn fail_next_invoices(&self, count: u32) -> &Self {
        self.update(|s| s.fail_invoices = Budget::next(count))
    }

    /// Queues a fault for the next payment the node sends. Queued faults apply one per
    /// payment, in order, before any [`every_payment`](Self::every_payment) fault.
    pub fn next_payment(&self, fault: PaymentFault) -> &Self {
        self.update(|s| s.next_payments.push_back(fault))
    }

    /// Applies `fault` to every payment the node sends (once the queue of
    /// [`next_payment`](Self::next_payment) faults is empty) until set to `None`.
    pub fn every_payment(&self, fault: Option<PaymentFault>) -> &Self {
        self.update(|s| s.every_payment = fault)
    }

    /// How many queued [`next_payment`](Self::next_payment) faults are not used yet.
    #[must_use]
    pub fn pending_payment_faults(&self) -> usize {
        self.node.with_faults(|s| s.next_payments.len())
    }

    /// Clears every fault of this node.
    pub fn clear(&self) -> &Self {
        self.update(|s| *s = FaultState::default())
    }
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults")
            .field("node", &self.node.node_id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_budget_runs_out() {
        let mut b = Budget::next(2);
        assert!(b.take());
        assert!(b.take());
        assert!(!b.take());
        assert_eq!(b, Budget::Off);
        assert_eq!(Budget::next(0), Budget::Off);
    }

    #[test]
    fn always_budget_lasts() {
        let mut b = Budget::from_flag(true);
        for _ in 0..10 {
            assert!(b.take());
        }
        assert!(!Budget::from_flag(false).take());
    }

    #[test]
    fn queued_payment_faults_come_before_the_standing_one() {
        let mut s = FaultState {
            every_payment: Some(PaymentFault::CutAfterSettle),
            ..FaultState::default()
        };
        s.next_payments
            .push_back(PaymentFault::Fail(FailureReason::NoRoute));
        assert_eq!(
            s.take_payment_fault(),
            Some(PaymentFault::Fail(FailureReason::NoRoute))
        );
        assert_eq!(s.take_payment_fault(), Some(PaymentFault::CutAfterSettle));
        assert_eq!(s.take_payment_fault(), Some(PaymentFault::CutAfterSettle));
    }

    #[test]
    fn latency_applies_only_while_budgeted() {
        let mut s = FaultState {
            latency: Duration::from_millis(5),
            latency_budget: Budget::next(1),
            ..FaultState::default()
        };
        assert_eq!(s.enter_call().latency, Duration::from_millis(5));
        assert_eq!(s.enter_call().latency, Duration::ZERO);
        assert!(!s.enter_call().unreachable);
    }
}
