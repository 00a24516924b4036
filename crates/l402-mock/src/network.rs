//! [`MockNetwork`]: the shared ledger that mock nodes attach to.

use core::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bitcoin::secp256k1::{All, Secp256k1};
use l402_core::backend::NodeId;
use l402_core::lightning_invoice::Currency;
use l402_core::{Amount, PaymentHash};

use crate::ledger::{Ledger, Moment};
use crate::node::{MockNode, NodeBuilder};
use crate::record::{InvoiceRecord, PaymentRecord};

/// The `min_final_cltv_expiry_delta` put in invoices unless the network says otherwise:
/// 80 blocks, LND's default.
pub const DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA: u64 = 80;

/// Parts per million.
const PPM: u128 = 1_000_000;

/// The routing fee every payment on a mock network pays: `base + amount * ppm / 1_000_000`
/// (rounded down, as LND computes a channel's fee).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RoutingFee {
    /// The fixed part.
    pub base: Amount,
    /// The proportional part, in millionths of the amount.
    pub ppm: u32,
}

impl RoutingFee {
    /// No fee.
    pub const ZERO: RoutingFee = RoutingFee {
        base: Amount::ZERO,
        ppm: 0,
    };

    /// A fee of `base` plus `ppm` millionths of the amount.
    #[must_use]
    pub const fn new(base: Amount, ppm: u32) -> Self {
        RoutingFee { base, ppm }
    }

    /// The fee for sending `amount`, or `None` if it does not fit in a `u64` of msat.
    #[must_use]
    pub fn fee_for(&self, amount: Amount) -> Option<Amount> {
        let proportional = u128::from(amount.msat()) * u128::from(self.ppm) / PPM;
        let proportional = u64::try_from(proportional).ok()?;
        self.base.checked_add(Amount::from_msat(proportional))
    }
}

/// Settings shared by every node of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NetworkConfig {
    pub(crate) currency: Currency,
    pub(crate) routing_fee: RoutingFee,
    pub(crate) min_final_cltv_expiry_delta: u64,
}

/// What nodes of a network share: settings, a signing context, and the ledger.
pub(crate) struct Shared {
    pub(crate) config: NetworkConfig,
    pub(crate) secp: Secp256k1<All>,
    ledger: Mutex<Ledger>,
}

impl Shared {
    /// Locks the ledger, first ending the in-flight payments that are due.
    ///
    /// The guard must never be held across an `.await` (it is not `Send`, so a backend
    /// future that did would not compile).
    pub(crate) fn lock(&self) -> MutexGuard<'_, Ledger> {
        // A panic while the lock was held cannot leave the ledger half-updated: every
        // operation checks before it writes. So a poisoned lock is still usable.
        let mut ledger = self.ledger.lock().unwrap_or_else(PoisonError::into_inner);
        ledger.resolve_due(Moment::now().mono);
        ledger
    }
}

/// Builds a [`MockNetwork`].
#[derive(Debug, Clone)]
#[must_use]
pub struct MockNetworkBuilder {
    config: NetworkConfig,
}

impl MockNetworkBuilder {
    /// The network (BOLT11 currency) of every invoice; default [`Currency::Regtest`].
    /// Nodes refuse to pay invoices for another network.
    pub fn currency(mut self, currency: Currency) -> Self {
        self.config.currency = currency;
        self
    }

    /// The routing fee of every payment; default [`RoutingFee::ZERO`].
    pub fn routing_fee(mut self, fee: RoutingFee) -> Self {
        self.config.routing_fee = fee;
        self
    }

    /// The `min_final_cltv_expiry_delta` of every invoice; default
    /// [`DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA`].
    pub fn min_final_cltv_expiry_delta(mut self, blocks: u64) -> Self {
        self.config.min_final_cltv_expiry_delta = blocks;
        self
    }

    /// The network, with no nodes yet.
    #[must_use]
    pub fn build(self) -> MockNetwork {
        MockNetwork {
            shared: Arc::new(Shared {
                config: self.config,
                secp: Secp256k1::new(),
                ledger: Mutex::new(Ledger::default()),
            }),
        }
    }
}

/// An in-process Lightning network: a ledger shared by any number of [`MockNode`]s.
///
/// Cloning is cheap and gives another handle to the same network. All state sits behind
/// one mutex, never held across an `.await`, so concurrent payments stay consistent to the
/// msat: at every moment
/// `total_balance() + total_fees() + in_flight() == total_deposited()`.
///
/// The accessors here and on [`MockNode`] are the test's view from above: they ignore
/// injected faults and never wait.
#[derive(Clone)]
pub struct MockNetwork {
    shared: Arc<Shared>,
}

impl Default for MockNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl MockNetwork {
    /// A regtest network with no routing fee.
    #[must_use]
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder for a network with other settings.
    pub fn builder() -> MockNetworkBuilder {
        MockNetworkBuilder {
            config: NetworkConfig {
                currency: Currency::Regtest,
                routing_fee: RoutingFee::ZERO,
                min_final_cltv_expiry_delta: DEFAULT_MIN_FINAL_CLTV_EXPIRY_DELTA,
            },
        }
    }

    /// Starts adding a node with this alias (aliases need not be unique).
    pub fn node(&self, alias: impl Into<String>) -> NodeBuilder {
        NodeBuilder::new(Arc::clone(&self.shared), alias.into())
    }

    pub(crate) fn from_shared(shared: Arc<Shared>) -> Self {
        MockNetwork { shared }
    }

    /// The network of every invoice.
    #[must_use]
    pub fn currency(&self) -> Currency {
        self.shared.config.currency.clone()
    }

    /// The routing fee of every payment.
    #[must_use]
    pub fn routing_fee(&self) -> RoutingFee {
        self.shared.config.routing_fee
    }

    /// The `min_final_cltv_expiry_delta` of every invoice.
    #[must_use]
    pub fn min_final_cltv_expiry_delta(&self) -> u64 {
        self.shared.config.min_final_cltv_expiry_delta
    }

    /// Every node, in the order they were added.
    #[must_use]
    pub fn nodes(&self) -> Vec<MockNode> {
        let handles = self.shared.lock().node_handles();
        handles
            .into_iter()
            .map(|inner| MockNode::from_parts(Arc::clone(&self.shared), inner))
            .collect()
    }

    /// The node with this public key.
    #[must_use]
    pub fn node_by_id(&self, id: &NodeId) -> Option<MockNode> {
        let handle = self.shared.lock().node_handle(id);
        handle.map(|inner| MockNode::from_parts(Arc::clone(&self.shared), inner))
    }

    /// Every invoice of every node, oldest first.
    #[must_use]
    pub fn invoices(&self) -> Vec<InvoiceRecord> {
        self.shared.lock().invoice_records(None, Moment::now().wall)
    }

    /// The invoice with this payment hash, whichever node issued it.
    #[must_use]
    pub fn invoice(&self, payment_hash: &PaymentHash) -> Option<InvoiceRecord> {
        self.shared
            .lock()
            .invoice_record_by_hash(None, payment_hash, Moment::now().wall)
    }

    /// How many invoices the nodes issued.
    #[must_use]
    pub fn invoice_count(&self) -> usize {
        self.shared.lock().invoice_count()
    }

    /// Every payment attempt of every node, oldest first.
    #[must_use]
    pub fn payments(&self) -> Vec<PaymentRecord> {
        self.shared.lock().payment_records(None)
    }

    /// How many payment attempts the nodes sent.
    #[must_use]
    pub fn payment_count(&self) -> usize {
        self.shared.lock().payment_count()
    }

    /// What payees received in total (fees excluded).
    #[must_use]
    pub fn total_paid(&self) -> Amount {
        self.shared.lock().total_paid()
    }

    /// The routing fees paid in total (they leave the network: routing nodes keep them).
    #[must_use]
    pub fn total_fees(&self) -> Amount {
        self.shared.lock().total_fees()
    }

    /// What in-flight payments hold: debited from their payers, not yet credited.
    #[must_use]
    pub fn in_flight(&self) -> Amount {
        self.shared.lock().locked()
    }

    /// The sum of all node balances.
    #[must_use]
    pub fn total_balance(&self) -> Amount {
        self.shared.lock().total_balance()
    }

    /// Everything ever deposited into nodes (initial balances and
    /// [`MockNode::deposit`]).
    #[must_use]
    pub fn total_deposited(&self) -> Amount {
        self.shared.lock().total_deposited()
    }
}

impl fmt::Debug for MockNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockNetwork")
            .field("currency", &self.shared.config.currency)
            .field("routing_fee", &self.shared.config.routing_fee)
            .field(
                "min_final_cltv_expiry_delta",
                &self.shared.config.min_final_cltv_expiry_delta,
            )
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fee_is_base_plus_proportional_rounded_down() {
        let fee = RoutingFee::new(Amount::from_msat(1_000), 2_500);
        assert_eq!(fee.fee_for(Amount::ZERO), Some(Amount::from_msat(1_000)));
        // 2_500 ppm of 1_000_399 msat = 2_500.9975 -> 2_500
        assert_eq!(
            fee.fee_for(Amount::from_msat(1_000_399)),
            Some(Amount::from_msat(3_500))
        );
        assert_eq!(RoutingFee::ZERO.fee_for(Amount::MAX), Some(Amount::ZERO));
    }

    #[test]
    fn fee_overflow_is_none() {
        let fee = RoutingFee::new(Amount::MAX, 0);
        assert_eq!(fee.fee_for(Amount::from_msat(1)), Some(Amount::MAX));
        let fee = RoutingFee::new(Amount::from_msat(1), 2_000_000);
        assert_eq!(fee.fee_for(Amount::MAX), None);
        let fee = RoutingFee::new(Amount::MAX, 1_000_000);
        assert_eq!(fee.fee_for(Amount::from_msat(1)), None);
    }
}
