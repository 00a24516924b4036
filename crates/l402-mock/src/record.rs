//! Snapshots of invoices and payments, for assertions.

use std::time::SystemTime;

use l402_core::backend::{InvoiceState, NodeId, PaymentStatus};
use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::{Amount, PaymentHash, Preimage};

/// An invoice a mock node issued, as it stands when the snapshot is taken.
///
/// `Debug` does not show the preimage.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvoiceRecord {
    /// The issuing node.
    pub payee: NodeId,
    /// The payment hash.
    pub payment_hash: PaymentHash,
    /// The signed invoice.
    pub invoice: Bolt11Invoice,
    /// The preimage, which the payee reveals to whoever pays.
    pub preimage: Preimage,
    /// The amount asked for, `None` for an amountless invoice.
    pub amount: Option<Amount>,
    /// The description.
    pub memo: String,
    /// The invoice timestamp (whole seconds, as encoded in the invoice).
    pub created_at: SystemTime,
    /// When the invoice stops being payable (`None` if beyond what `SystemTime` holds).
    pub expires_at: Option<SystemTime>,
    /// The state, as [`lookup_invoice`](l402_core::InvoiceBackend::lookup_invoice) reports it.
    pub state: InvoiceState,
}

/// One payment attempt by a mock node, as it stands when the snapshot is taken.
///
/// Only attempts that the node actually sent are recorded: calls refused by its local
/// checks (wrong network, missing or extra amount, expired invoice, already paid,
/// self-payment) or made while it was unreachable leave no record, as on a real node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PaymentRecord {
    /// The paying node.
    pub payer: NodeId,
    /// The payee named by the invoice (possibly not on this network).
    pub payee: NodeId,
    /// The payment hash.
    pub payment_hash: PaymentHash,
    /// The amount sent to the payee, fees excluded.
    pub amount: Amount,
    /// The routing fee (charged only if the payment succeeds; zero if it failed before a
    /// route was found).
    pub fee: Amount,
    /// When the payment was sent.
    pub started_at: SystemTime,
    /// The status, as [`lookup_payment`](l402_core::PaymentBackend::lookup_payment) reports
    /// it for the latest attempt.
    pub status: PaymentStatus,
}
