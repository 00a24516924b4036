//! The shared ledger: balances, invoices, payments and faults of every node on a network.
//!
//! All of it lives behind one `std::sync::Mutex` (in [`Shared`](crate::network::Shared)),
//! and every operation here is synchronous, so that each payment moves money atomically
//! and no lock is ever held across an `.await`.
//!
//! Invariant, after every operation:
//! `sum(balances) + fees + locked == deposited`, where `locked` is what in-flight payments
//! hold (amount and fee, debited from the payer, not yet credited to anyone).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use l402_core::backend::{
    FailureReason, InvoiceState, NodeId, PayParams, PaymentStatus, PaymentSuccess,
};
use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::{Amount, PaymentHash, Preimage};
use tokio::time::Instant;

use crate::error::MockError;
use crate::fault::{FaultState, Outcome, PaymentFault};
use crate::network::NetworkConfig;
use crate::node::NodeInner;
use crate::record::{InvoiceRecord, PaymentRecord};

/// A moment on both clocks: wall time for invoices (their timestamps are wall time) and
/// tokio's clock for in-flight payments (so that tests may pause time).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment {
    pub(crate) wall: SystemTime,
    pub(crate) mono: Instant,
}

impl Moment {
    pub(crate) fn now() -> Self {
        Moment {
            wall: SystemTime::now(),
            mono: Instant::now(),
        }
    }
}

/// A node as the ledger knows it.
#[derive(Debug)]
struct NodeState {
    handle: Arc<NodeInner>,
    balance: Amount,
    faults: FaultState,
}

/// The payee's side of an invoice.
#[derive(Debug, Clone, Copy)]
enum EntryState {
    Open,
    /// A payment is in flight for it.
    Held,
    Settled {
        at: SystemTime,
        amount: Amount,
    },
    Canceled,
}

#[derive(Debug)]
struct InvoiceEntry {
    payee: usize,
    invoice: Bolt11Invoice,
    payment_hash: PaymentHash,
    preimage: Preimage,
    amount: Option<Amount>,
    memo: String,
    state: EntryState,
}

/// The payer's side of a payment.
#[derive(Debug, Clone)]
enum PayState {
    InFlight {
        due: Instant,
        settle_at: SystemTime,
        then: Outcome,
    },
    Succeeded(Preimage),
    Failed(FailureReason),
}

#[derive(Debug)]
struct PaymentEntry {
    payer: usize,
    payee: NodeId,
    /// The invoice it pays, once a route reached the payee's open invoice.
    invoice: Option<usize>,
    payment_hash: PaymentHash,
    amount: Amount,
    fee: Amount,
    started_at: SystemTime,
    state: PayState,
}

/// What happened when a node sent a payment.
#[derive(Debug)]
pub(crate) enum Started {
    /// Refused by the payer's local checks; nothing recorded.
    Rejected(FailureReason),
    /// Final at once.
    Done {
        result: Result<PaymentSuccess, FailureReason>,
        /// The answer must be cut ([`PaymentFault::CutAfterSettle`]).
        cut: bool,
    },
    /// In flight until `due`; look `payment` up then.
    InFlight { payment: usize, due: Instant },
}

/// Money totals of the network.
#[derive(Debug, Default, Clone, Copy)]
struct Totals {
    deposited: Amount,
    paid: Amount,
    fees: Amount,
    locked: Amount,
}

/// Everything the network knows. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    nodes: Vec<NodeState>,
    node_index: HashMap<NodeId, usize>,
    invoices: Vec<InvoiceEntry>,
    invoice_index: HashMap<PaymentHash, usize>,
    payments: Vec<PaymentEntry>,
    latest_payment: HashMap<(usize, PaymentHash), usize>,
    in_flight: Vec<usize>,
    totals: Totals,
}

/// How far away "never" is for an in-flight payment whose duration overflows the clock.
const FOREVER: Duration = Duration::from_secs(365 * 24 * 3600);

/// Whether the invoice can no longer be paid at `now`.
fn is_expired(invoice: &Bolt11Invoice, now: SystemTime) -> bool {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    invoice.expires_at().is_some_and(|at| now > at)
}

impl Ledger {
    // ----- nodes and money -------------------------------------------------------------

    /// Adds a node; its index is `handle.index`, which must be `self.node_count()`.
    pub(crate) fn add_node(
        &mut self,
        handle: Arc<NodeInner>,
        balance: Amount,
    ) -> Result<(), MockError> {
        if self.node_index.contains_key(&handle.id) {
            return Err(MockError::DuplicateNode);
        }
        let deposited = self
            .totals
            .deposited
            .checked_add(balance)
            .ok_or(MockError::BalanceOverflow)?;
        self.totals.deposited = deposited;
        self.node_index.insert(handle.id, self.nodes.len());
        self.nodes.push(NodeState {
            handle,
            balance,
            faults: FaultState::default(),
        });
        Ok(())
    }

    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub(crate) fn node_handles(&self) -> Vec<Arc<NodeInner>> {
        self.nodes.iter().map(|n| Arc::clone(&n.handle)).collect()
    }

    pub(crate) fn node_handle(&self, id: &NodeId) -> Option<Arc<NodeInner>> {
        self.node_index
            .get(id)
            .and_then(|&i| self.nodes.get(i))
            .map(|n| Arc::clone(&n.handle))
    }

    pub(crate) fn faults_mut(&mut self, node: usize) -> Option<&mut FaultState> {
        self.nodes.get_mut(node).map(|n| &mut n.faults)
    }

    pub(crate) fn balance(&self, node: usize) -> Amount {
        self.nodes.get(node).map_or(Amount::ZERO, |n| n.balance)
    }

    pub(crate) fn deposit(&mut self, node: usize, amount: Amount) -> Result<(), MockError> {
        let deposited = self
            .totals
            .deposited
            .checked_add(amount)
            .ok_or(MockError::BalanceOverflow)?;
        // Node indices come from handles of this network, so the node exists.
        if let Some(state) = self.nodes.get_mut(node) {
            // Cannot overflow: every balance is part of `deposited`, which did not.
            state.balance = state.balance.saturating_add(amount);
            self.totals.deposited = deposited;
        }
        Ok(())
    }

    pub(crate) fn total_balance(&self) -> Amount {
        self.nodes
            .iter()
            .fold(Amount::ZERO, |sum, n| sum.saturating_add(n.balance))
    }

    pub(crate) fn total_deposited(&self) -> Amount {
        self.totals.deposited
    }

    pub(crate) fn total_paid(&self) -> Amount {
        self.totals.paid
    }

    pub(crate) fn total_fees(&self) -> Amount {
        self.totals.fees
    }

    pub(crate) fn locked(&self) -> Amount {
        self.totals.locked
    }

    // ----- invoices ----------------------------------------------------------------------

    /// Records an invoice `payee` issued.
    pub(crate) fn insert_invoice(
        &mut self,
        payee: usize,
        invoice: Bolt11Invoice,
        preimage: Preimage,
        amount: Option<Amount>,
        memo: String,
    ) {
        let payment_hash = preimage.payment_hash();
        self.invoice_index.insert(payment_hash, self.invoices.len());
        self.invoices.push(InvoiceEntry {
            payee,
            invoice,
            payment_hash,
            preimage,
            amount,
            memo,
            state: EntryState::Open,
        });
    }

    fn invoice_of(&self, payee: usize, hash: &PaymentHash) -> Option<usize> {
        self.invoice_index
            .get(hash)
            .copied()
            .filter(|&i| self.invoices.get(i).is_some_and(|e| e.payee == payee))
    }

    fn invoice_state(entry: &InvoiceEntry, now: SystemTime) -> InvoiceState {
        match entry.state {
            EntryState::Open if is_expired(&entry.invoice, now) => InvoiceState::Expired,
            EntryState::Open => InvoiceState::Open,
            EntryState::Held => InvoiceState::Accepted,
            EntryState::Settled { at, amount } => InvoiceState::Settled {
                settled_at: at,
                amount_received: amount,
            },
            EntryState::Canceled => InvoiceState::Canceled,
        }
    }

    pub(crate) fn lookup_invoice(
        &self,
        payee: usize,
        hash: &PaymentHash,
        now: SystemTime,
    ) -> Option<InvoiceState> {
        self.invoice_of(payee, hash)
            .and_then(|i| self.invoices.get(i))
            .map(|e| Self::invoice_state(e, now))
    }

    pub(crate) fn cancel_invoice(
        &mut self,
        payee: usize,
        hash: &PaymentHash,
        now: SystemTime,
    ) -> Result<(), MockError> {
        let entry = self
            .invoice_of(payee, hash)
            .and_then(|i| self.invoices.get_mut(i))
            .ok_or(MockError::UnknownInvoice)?;
        match entry.state {
            EntryState::Open if !is_expired(&entry.invoice, now) => {
                entry.state = EntryState::Canceled;
                Ok(())
            }
            _ => Err(MockError::InvoiceNotOpen),
        }
    }

    fn invoice_record(&self, entry: &InvoiceEntry, now: SystemTime) -> InvoiceRecord {
        let payee = self
            .nodes
            .get(entry.payee)
            .map_or(NodeId::from_bytes([0; 33]), |n| n.handle.id);
        InvoiceRecord {
            payee,
            payment_hash: entry.payment_hash,
            invoice: entry.invoice.clone(),
            preimage: entry.preimage.clone(),
            amount: entry.amount,
            memo: entry.memo.clone(),
            created_at: UNIX_EPOCH + entry.invoice.duration_since_epoch(),
            expires_at: entry
                .invoice
                .expires_at()
                .and_then(|d| UNIX_EPOCH.checked_add(d)),
            state: Self::invoice_state(entry, now),
        }
    }

    /// Every invoice (of `payee`, if given), oldest first.
    pub(crate) fn invoice_records(
        &self,
        payee: Option<usize>,
        now: SystemTime,
    ) -> Vec<InvoiceRecord> {
        self.invoices
            .iter()
            .filter(|e| payee.is_none_or(|p| e.payee == p))
            .map(|e| self.invoice_record(e, now))
            .collect()
    }

    /// The invoice with this hash (issued by `payee`, if given).
    pub(crate) fn invoice_record_by_hash(
        &self,
        payee: Option<usize>,
        hash: &PaymentHash,
        now: SystemTime,
    ) -> Option<InvoiceRecord> {
        self.invoice_index
            .get(hash)
            .and_then(|&i| self.invoices.get(i))
            .filter(|e| payee.is_none_or(|p| e.payee == p))
            .map(|e| self.invoice_record(e, now))
    }

    pub(crate) fn invoice_count(&self) -> usize {
        self.invoices.len()
    }

    // ----- payments ----------------------------------------------------------------------

    fn status_of(&self, entry: &PaymentEntry) -> PaymentStatus {
        match &entry.state {
            PayState::InFlight { .. } => PaymentStatus::InFlight,
            PayState::Succeeded(preimage) => PaymentStatus::Succeeded(PaymentSuccess::new(
                preimage.clone(),
                entry.amount,
                entry.fee,
            )),
            PayState::Failed(reason) => PaymentStatus::Failed(reason.clone()),
        }
    }

    /// The status of payment number `payment`.
    pub(crate) fn payment_status(&self, payment: usize) -> PaymentStatus {
        self.payments
            .get(payment)
            .map_or(PaymentStatus::Unknown, |p| self.status_of(p))
    }

    /// The status of `payer`'s latest attempt to pay `hash`.
    pub(crate) fn lookup_payment(&self, payer: usize, hash: &PaymentHash) -> PaymentStatus {
        self.latest_payment
            .get(&(payer, *hash))
            .map_or(PaymentStatus::Unknown, |&i| self.payment_status(i))
    }

    fn payment_record(&self, entry: &PaymentEntry) -> PaymentRecord {
        let payer = self
            .nodes
            .get(entry.payer)
            .map_or(NodeId::from_bytes([0; 33]), |n| n.handle.id);
        PaymentRecord {
            payer,
            payee: entry.payee,
            payment_hash: entry.payment_hash,
            amount: entry.amount,
            fee: entry.fee,
            started_at: entry.started_at,
            status: self.status_of(entry),
        }
    }

    /// Every payment attempt (by `payer`, if given), oldest first.
    pub(crate) fn payment_records(&self, payer: Option<usize>) -> Vec<PaymentRecord> {
        self.payments
            .iter()
            .filter(|p| payer.is_none_or(|n| p.payer == n))
            .map(|p| self.payment_record(p))
            .collect()
    }

    /// `payer`'s latest attempt to pay `hash`.
    pub(crate) fn payment_record_by_hash(
        &self,
        payer: usize,
        hash: &PaymentHash,
    ) -> Option<PaymentRecord> {
        self.latest_payment
            .get(&(payer, *hash))
            .and_then(|&i| self.payments.get(i))
            .map(|p| self.payment_record(p))
    }

    pub(crate) fn payment_count(&self) -> usize {
        self.payments.len()
    }

    /// Sends a payment from `payer`: local checks, then routing, then settlement (now or
    /// later, per the node's payment fault).
    pub(crate) fn start_payment(
        &mut self,
        payer: usize,
        invoice: &Bolt11Invoice,
        params: &PayParams,
        config: &NetworkConfig,
        now: Moment,
    ) -> Started {
        let hash = PaymentHash::from(invoice);

        // Local checks, as a node makes them before sending anything.
        if invoice.currency() != config.currency {
            return Started::Rejected(FailureReason::InvalidInvoice);
        }
        let amount = match (invoice.amount_milli_satoshis(), params.amount) {
            (Some(msat), None) if msat > 0 => Amount::from_msat(msat),
            (None, Some(amount)) if !amount.is_zero() => amount,
            _ => return Started::Rejected(FailureReason::InvalidInvoice),
        };
        if is_expired(invoice, now.wall) {
            return Started::Rejected(FailureReason::InvoiceExpired);
        }
        let paid_or_paying = self
            .latest_payment
            .get(&(payer, hash))
            .and_then(|&i| self.payments.get(i))
            .is_some_and(|previous| !matches!(previous.state, PayState::Failed(_)));
        if paid_or_paying {
            return Started::Rejected(FailureReason::AlreadyPaid);
        }
        let Some(payer_state) = self.nodes.get_mut(payer) else {
            return Started::Rejected(FailureReason::Other("unknown payer".into()));
        };
        let payee = NodeId::from_bytes(invoice.get_payee_pub_key().serialize());
        if payee == payer_state.handle.id {
            return Started::Rejected(FailureReason::Other("self-payments are not allowed".into()));
        }

        // The payment is sent: from here on it is recorded.
        let fault = payer_state.faults.take_payment_fault();
        let cut = matches!(fault, Some(PaymentFault::CutAfterSettle));
        // Routes are one hop with no delta of their own: the total lock is the invoice's
        // final delta. Above the payer's limit no route qualifies.
        let too_long = params
            .max_cltv_delta
            .is_some_and(|max| invoice.min_final_cltv_expiry_delta() > u64::from(max));
        let routed = match &fault {
            Some(PaymentFault::Fail(reason)) => Err(reason.clone()),
            _ if too_long => Err(FailureReason::NoRoute),
            _ => self.route(
                payer,
                payee,
                invoice,
                amount,
                config.routing_fee.fee_for(amount),
                params.max_fee,
                now.wall,
            ),
        };
        let payment = self.payments.len();
        self.latest_payment.insert((payer, hash), payment);
        let record = |invoice, fee, state| PaymentEntry {
            payer,
            payee,
            invoice,
            payment_hash: hash,
            amount,
            fee,
            started_at: now.wall,
            state,
        };

        let (invoice_index, fee, total) = match routed {
            Ok(route) => route,
            Err(reason) => {
                tracing::debug!(payment_hash = %hash, %reason, "mock payment failed");
                let state = PayState::Failed(reason.clone());
                self.payments.push(record(None, Amount::ZERO, state));
                return Started::Done {
                    result: Err(reason),
                    cut,
                };
            }
        };

        // Lock the money in the (virtual) HTLCs and hold the invoice.
        if let Some(state) = self.nodes.get_mut(payer) {
            state.balance = state.balance.saturating_sub(total);
        }
        self.totals.locked = self.totals.locked.saturating_add(total);
        if let Some(e) = self.invoices.get_mut(invoice_index) {
            e.state = EntryState::Held;
        }

        match fault {
            Some(PaymentFault::InFlight { duration, then }) => {
                // Beyond what the clock can hold: a year is "forever" for a test.
                let due = now
                    .mono
                    .checked_add(duration)
                    .or_else(|| now.mono.checked_add(FOREVER))
                    .unwrap_or(now.mono);
                let state = PayState::InFlight {
                    due,
                    settle_at: now.wall.checked_add(duration).unwrap_or(now.wall),
                    then,
                };
                self.payments.push(record(Some(invoice_index), fee, state));
                self.in_flight.push(payment);
                Started::InFlight { payment, due }
            }
            _ => {
                // Settled at once; `finish` replaces the state.
                let state = PayState::InFlight {
                    due: now.mono,
                    settle_at: now.wall,
                    then: Outcome::Succeed,
                };
                self.payments.push(record(Some(invoice_index), fee, state));
                let result = self.finish(payment, Outcome::Succeed, now.wall);
                Started::Done { result, cut }
            }
        }
    }

    /// Finds a route to the payee's open invoice within the fee cap and the payer's
    /// balance: the invoice index, fee and total to debit, or why the payment fails.
    #[allow(clippy::too_many_arguments)]
    fn route(
        &self,
        payer: usize,
        payee: NodeId,
        invoice: &Bolt11Invoice,
        amount: Amount,
        fee: Option<Amount>,
        max_fee: Amount,
        now: SystemTime,
    ) -> Result<(usize, Amount, Amount), FailureReason> {
        let payee = *self.node_index.get(&payee).ok_or(FailureReason::NoRoute)?;
        // A fee that overflows cannot fit any cap.
        let fee = fee
            .filter(|fee| *fee <= max_fee)
            .ok_or(FailureReason::NoRoute)?;
        let total = amount
            .checked_add(fee)
            .ok_or(FailureReason::InsufficientBalance)?;
        if self.balance(payer) < total {
            return Err(FailureReason::InsufficientBalance);
        }
        // The payee checks the HTLC against its invoice.
        let index = self
            .invoice_of(payee, &PaymentHash::from(invoice))
            .ok_or(FailureReason::IncorrectPaymentDetails)?;
        let entry = self
            .invoices
            .get(index)
            .ok_or(FailureReason::IncorrectPaymentDetails)?;
        let open = matches!(entry.state, EntryState::Open) && !is_expired(&entry.invoice, now);
        let details_match = entry.invoice.payment_secret() == invoice.payment_secret()
            && entry.amount.is_none_or(|asked| amount >= asked);
        if !open || !details_match {
            return Err(FailureReason::IncorrectPaymentDetails);
        }
        Ok((index, fee, total))
    }

    /// Ends payment number `payment`, which holds its invoice, with `outcome`.
    fn finish(
        &mut self,
        payment: usize,
        outcome: Outcome,
        settled_at: SystemTime,
    ) -> Result<PaymentSuccess, FailureReason> {
        let Some(entry) = self.payments.get(payment) else {
            return Err(FailureReason::Other("unknown payment".into()));
        };
        let (payer, amount, fee, invoice) = (entry.payer, entry.amount, entry.fee, entry.invoice);
        let total = amount.saturating_add(fee);
        self.totals.locked = self.totals.locked.saturating_sub(total);
        let invoice = invoice.and_then(|i| self.invoices.get_mut(i));
        let state = match (outcome, invoice) {
            (Outcome::Succeed, Some(invoice)) => {
                invoice.state = EntryState::Settled {
                    at: settled_at,
                    amount,
                };
                let (payee, preimage) = (invoice.payee, invoice.preimage.clone());
                if let Some(n) = self.nodes.get_mut(payee) {
                    n.balance = n.balance.saturating_add(amount);
                }
                self.totals.paid = self.totals.paid.saturating_add(amount);
                self.totals.fees = self.totals.fees.saturating_add(fee);
                tracing::debug!(payment_hash = %preimage.payment_hash(), %amount, %fee, "mock payment settled");
                PayState::Succeeded(preimage)
            }
            (outcome, invoice) => {
                if let Some(invoice) = invoice {
                    invoice.state = EntryState::Open;
                }
                if let Some(n) = self.nodes.get_mut(payer) {
                    n.balance = n.balance.saturating_add(total);
                }
                let reason = match outcome {
                    Outcome::Fail(reason) => reason,
                    Outcome::Succeed => FailureReason::IncorrectPaymentDetails,
                };
                tracing::debug!(%reason, "mock payment failed after being in flight");
                PayState::Failed(reason)
            }
        };
        let result = match &state {
            PayState::Succeeded(preimage) => Ok(PaymentSuccess::new(preimage.clone(), amount, fee)),
            PayState::Failed(reason) => Err(reason.clone()),
            PayState::InFlight { .. } => Err(FailureReason::Other("still in flight".into())),
        };
        if let Some(entry) = self.payments.get_mut(payment) {
            entry.state = state;
        }
        result
    }

    /// Ends every in-flight payment that is due at `now`.
    pub(crate) fn resolve_due(&mut self, now: Instant) {
        if self.in_flight.is_empty() {
            return;
        }
        let mut due = Vec::new();
        let payments = &self.payments;
        self.in_flight
            .retain(|&p| match payments.get(p).map(|e| &e.state) {
                Some(PayState::InFlight {
                    due: at,
                    settle_at,
                    then,
                }) if *at <= now => {
                    due.push((p, *settle_at, then.clone()));
                    false
                }
                Some(PayState::InFlight { .. }) => true,
                _ => false,
            });
        for (payment, settle_at, then) in due {
            // The caller of `pay_invoice` (if still waiting) reads the outcome itself.
            let _outcome = self.finish(payment, then, settle_at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MockNetwork;
    use l402_core::backend::InvoiceRequest;

    #[test]
    fn invoice_expires_strictly_after_timestamp_plus_expiry() {
        let node = MockNetwork::new().node("n").build().unwrap();
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let created = node
            .create_invoice_at(
                &InvoiceRequest::new(Amount::from_msat(1)).expiry(Duration::from_secs(10)),
                at,
            )
            .unwrap();
        assert!(!is_expired(&created.invoice, at));
        assert!(!is_expired(&created.invoice, at + Duration::from_secs(10)));
        assert!(is_expired(
            &created.invoice,
            at + Duration::from_millis(10_001)
        ));
        // A clock before the epoch reads as the epoch: nothing is expired then.
        assert!(!is_expired(
            &created.invoice,
            UNIX_EPOCH - Duration::from_secs(1)
        ));
    }
}
