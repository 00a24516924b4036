//! The Lightning node behind L402: traits that servers and clients plug nodes into.
//!
//! A server needs an [`InvoiceBackend`] (create invoices, look them up); a paying client
//! needs a [`PaymentBackend`] (pay invoices, look payments up). They are separate so that a
//! server can run with an invoice-only node credential and an agent with a pay-only one.
//! [`LightningBackend`] names a node that does both; every type implementing the two
//! implements it.
//!
//! The traits use this crate's types ([`PaymentHash`], [`Preimage`], [`Amount`] in msat)
//! and [`lightning_invoice::Bolt11Invoice`], never a node's wire types. Methods are native
//! `async fn`s (returning `Send` futures); [`BoxInvoiceBackend`], [`BoxPaymentBackend`] and
//! [`BoxLightningBackend`] erase the type so that an application can choose a backend at
//! run time from its configuration.
//!
//! # Errors and retry safety
//!
//! Every error carries an [`ErrorKind`]: [`Transient`](ErrorKind::Transient) (node
//! unreachable, timeout: the same call may succeed later) or
//! [`Permanent`](ErrorKind::Permanent) (invalid request, no route, expired invoice: do not
//! retry as is). Payments add a third answer: [`PayError::OutcomeUnknown`], which means
//! the payment may or may not complete. A client must then resolve it with
//! [`PaymentBackend::lookup_payment`] before paying any other invoice.

mod erased;
mod error;

pub use erased::{
    BoxInvoiceBackend, BoxLightningBackend, BoxPaymentBackend, DynInvoiceBackend,
    DynLightningBackend, DynPaymentBackend,
};
pub use error::{BackendError, ErrorKind, FailureReason, PayError};

use core::fmt;
use core::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use lightning_invoice::{Bolt11Invoice, Currency};

use crate::encoding::hex_encode;
use crate::{Amount, PaymentHash, Preimage};

/// Default invoice expiry: one hour, well below LND's one day and CLN's one week, so that
/// unpaid challenges do not pile up on the node.
pub const DEFAULT_INVOICE_EXPIRY: Duration = Duration::from_secs(3600);

/// What invoice to create.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InvoiceRequest {
    /// The amount; the invoice asks for exactly this. [`Amount::ZERO`] asks for an
    /// amountless invoice (as LND's `value: 0` does); an L402 server never does that.
    pub amount: Amount,
    /// The description (BOLT11 `d` field).
    pub memo: String,
    /// How long the invoice can be paid; at least one second (BOLT11 counts whole
    /// seconds), else backends refuse the request with a permanent error.
    pub expiry: Duration,
}

impl InvoiceRequest {
    /// An invoice for `amount`, with no memo and [`DEFAULT_INVOICE_EXPIRY`].
    #[must_use]
    pub fn new(amount: Amount) -> Self {
        InvoiceRequest {
            amount,
            memo: String::new(),
            expiry: DEFAULT_INVOICE_EXPIRY,
        }
    }

    /// Sets the description.
    #[must_use]
    pub fn memo(mut self, memo: impl Into<String>) -> Self {
        self.memo = memo.into();
        self
    }

    /// Sets the expiry.
    #[must_use]
    pub fn expiry(mut self, expiry: Duration) -> Self {
        self.expiry = expiry;
        self
    }
}

/// An invoice the node created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedInvoice {
    /// The BOLT11 invoice.
    pub invoice: Bolt11Invoice,
    /// Its payment hash.
    pub payment_hash: PaymentHash,
}

impl CreatedInvoice {
    /// Wraps an invoice, taking the payment hash from it.
    #[must_use]
    pub fn new(invoice: Bolt11Invoice) -> Self {
        let payment_hash = PaymentHash::from(&invoice);
        CreatedInvoice {
            invoice,
            payment_hash,
        }
    }
}

/// The state of an invoice the node issued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvoiceState {
    /// Not paid yet, and still payable.
    Open,
    /// A payment reached the node and is held (its HTLCs are locked in) but the invoice is
    /// not settled yet: not payable by anyone else, not paid either.
    Accepted,
    /// Paid.
    Settled {
        /// When the node settled it.
        settled_at: SystemTime,
        /// What the node received (may exceed the invoice amount).
        amount_received: Amount,
    },
    /// Canceled by the node; can no longer be paid.
    Canceled,
    /// Expired unpaid.
    Expired,
}

/// A node's public key: 33 bytes, printed as 66 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NodeId([u8; 33]);

impl NodeId {
    /// Wraps a compressed public key.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 33]) -> Self {
        NodeId(bytes)
    }

    /// The 33 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 33] {
        &self.0
    }

    /// Parses 66 hex characters.
    ///
    /// # Errors
    /// [`HexError`](crate::encoding::HexError) if not 33 bytes of hex.
    pub fn from_hex(s: &str) -> Result<Self, crate::encoding::HexError> {
        crate::encoding::hex_decode_array(s).map(NodeId)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex_encode(&self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// What a node says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// The network the node's invoices are for.
    pub network: Currency,
    /// The node's public key.
    pub node_id: NodeId,
    /// The node's alias, possibly empty.
    pub alias: String,
}

impl NodeInfo {
    /// Node info.
    #[must_use]
    pub fn new(network: Currency, node_id: NodeId, alias: impl Into<String>) -> Self {
        NodeInfo {
            network,
            node_id,
            alias: alias.into(),
        }
    }
}

/// How to pay an invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PayParams {
    /// The most routing fee to pay. Always set: a payment without a cap can cost anything.
    pub max_fee: Amount,
    /// How long the node may try before giving up.
    pub timeout: Duration,
    /// The amount for an invoice that has none; must be `None` when the invoice has one.
    pub amount: Option<Amount>,
    /// The most blocks the payment's HTLCs may stay locked: the total CLTV delta of the
    /// route, the invoice's final delta included (LND's `cltv_limit`, CLN's `maxdelay`).
    /// A route above it is not used; `None` leaves the node's default (2016 blocks on
    /// LND and CLN). Bounds how long a payee holding the payment (a hold invoice) can
    /// lock the payer's liquidity.
    pub max_cltv_delta: Option<u32>,
}

impl PayParams {
    /// Pay with at most `max_fee` in fees, trying for at most `timeout`.
    #[must_use]
    pub fn new(max_fee: Amount, timeout: Duration) -> Self {
        PayParams {
            max_fee,
            timeout,
            amount: None,
            max_cltv_delta: None,
        }
    }

    /// Limits the route's total CLTV delta to `blocks`.
    #[must_use]
    pub fn max_cltv_delta(mut self, blocks: u32) -> Self {
        self.max_cltv_delta = Some(blocks);
        self
    }

    /// The amount to pay an amountless invoice.
    #[must_use]
    pub fn amount(mut self, amount: Amount) -> Self {
        self.amount = Some(amount);
        self
    }
}

/// A completed payment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PaymentSuccess {
    /// The preimage: proof of payment. Backends check that it hashes to the invoice's
    /// payment hash before returning it.
    pub preimage: Preimage,
    /// The amount delivered to the payee, fees excluded.
    pub amount: Amount,
    /// The routing fee paid.
    pub fee: Amount,
}

impl PaymentSuccess {
    /// A completed payment.
    #[must_use]
    pub fn new(preimage: Preimage, amount: Amount, fee: Amount) -> Self {
        PaymentSuccess {
            preimage,
            amount,
            fee,
        }
    }
}

/// What the node knows of a payment, by payment hash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PaymentStatus {
    /// It completed: here is the preimage.
    Succeeded(PaymentSuccess),
    /// It is still being attempted: wait, do not pay again.
    InFlight,
    /// It failed: nothing was paid, and paying again is safe.
    Failed(FailureReason),
    /// The node has no record of it: it never started (nothing was paid).
    Unknown,
}

/// The server side: create invoices and look them up.
///
/// # Contract
/// * [`create_invoice`](Self::create_invoice) creates a new invoice for exactly
///   `request.amount` msat. Not idempotent: each call makes a new invoice. Safe to retry
///   after an error (an invoice made by a failed call is never shown to a payer and just
///   expires). Implementations bound the call with a timeout and report it as
///   [`ErrorKind::Transient`].
/// * [`lookup_invoice`](Self::lookup_invoice) reads an invoice's state; idempotent and
///   always safe to retry. `Ok(None)` when the node does not know the payment hash.
/// * [`node_info`](Self::node_info) is an optional start-up check; the default answers
///   [`ErrorKind::Unsupported`] (a credential that can only make invoices may not be
///   allowed to call it).
pub trait InvoiceBackend: Send + Sync {
    /// Creates an invoice.
    fn create_invoice(
        &self,
        request: &InvoiceRequest,
    ) -> impl Future<Output = Result<CreatedInvoice, BackendError>> + Send;

    /// Looks an invoice up by payment hash.
    fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> impl Future<Output = Result<Option<InvoiceState>, BackendError>> + Send;

    /// The node's network and identity.
    fn node_info(&self) -> impl Future<Output = Result<NodeInfo, BackendError>> + Send {
        async { Err(BackendError::unsupported("node_info")) }
    }
}

/// The client side: pay invoices and look payments up.
///
/// # Contract
/// * [`pay_invoice`](Self::pay_invoice) pays with a fee of at most `params.max_fee` and
///   gives up after about `params.timeout`. It returns only when the outcome is final
///   (success or [`PayError::Failed`]) or unknowable within the call
///   ([`PayError::OutcomeUnknown`]). Paying the same invoice twice is refused by nodes, but
///   callers must not rely on that: after an error other than
///   [`PayError::NotAttempted`] or [`PayError::Failed`], call
///   [`lookup_payment`](Self::lookup_payment) before paying anything else.
/// * [`lookup_payment`](Self::lookup_payment) reports what the node knows of a payment by
///   hash; idempotent and always safe to retry. This is how a client that crashed
///   mid-payment recovers the preimage instead of paying twice.
pub trait PaymentBackend: Send + Sync {
    /// Pays a BOLT11 invoice.
    fn pay_invoice(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> impl Future<Output = Result<PaymentSuccess, PayError>> + Send;

    /// Looks a payment up by payment hash.
    fn lookup_payment(
        &self,
        payment_hash: &PaymentHash,
    ) -> impl Future<Output = Result<PaymentStatus, BackendError>> + Send;
}

/// A node that both issues and pays invoices.
pub trait LightningBackend: InvoiceBackend + PaymentBackend {}

impl<T: InvoiceBackend + PaymentBackend + ?Sized> LightningBackend for T {}

impl<T: InvoiceBackend + ?Sized> InvoiceBackend for Arc<T> {
    fn create_invoice(
        &self,
        request: &InvoiceRequest,
    ) -> impl Future<Output = Result<CreatedInvoice, BackendError>> + Send {
        (**self).create_invoice(request)
    }

    fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> impl Future<Output = Result<Option<InvoiceState>, BackendError>> + Send {
        (**self).lookup_invoice(payment_hash)
    }

    fn node_info(&self) -> impl Future<Output = Result<NodeInfo, BackendError>> + Send {
        (**self).node_info()
    }
}

impl<T: PaymentBackend + ?Sized> PaymentBackend for Arc<T> {
    fn pay_invoice(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> impl Future<Output = Result<PaymentSuccess, PayError>> + Send {
        (**self).pay_invoice(invoice, params)
    }

    fn lookup_payment(
        &self,
        payment_hash: &PaymentHash,
    ) -> impl Future<Output = Result<PaymentStatus, BackendError>> + Send {
        (**self).lookup_payment(payment_hash)
    }
}
