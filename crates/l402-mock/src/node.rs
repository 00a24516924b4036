//! [`MockNode`]: a Lightning node on a [`MockNetwork`](crate::MockNetwork), implementing
//! [`InvoiceBackend`] and [`PaymentBackend`].

use core::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bitcoin::hashes::{Hash as _, sha256};
use bitcoin::secp256k1::{PublicKey, SecretKey};
use l402_core::backend::{
    CreatedInvoice, InvoiceRequest, InvoiceState, NodeId, NodeInfo, PayParams, PaymentStatus,
    PaymentSuccess,
};
use l402_core::lightning_invoice::{Bolt11Invoice, InvoiceBuilder, PaymentSecret};
use l402_core::{
    Amount, BackendError, InvoiceBackend, PayError, PaymentBackend, PaymentHash, Preimage,
};
use tokio::time::Instant;
use zeroize::Zeroizing;

use crate::error::MockError;
use crate::fault::{FaultState, Faults};
use crate::ledger::{Moment, Started};
use crate::network::{MockNetwork, Shared};
use crate::record::{InvoiceRecord, PaymentRecord};

/// 32 random bytes from the operating system.
fn random_bytes() -> Result<Zeroizing<[u8; 32]>, MockError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut()).map_err(MockError::Randomness)?;
    Ok(bytes)
}

/// The fixed identity of a node.
pub(crate) struct NodeInner {
    /// Position in the ledger.
    pub(crate) index: usize,
    pub(crate) id: NodeId,
    public_key: PublicKey,
    secret_key: SecretKey,
    alias: String,
}

impl Drop for NodeInner {
    fn drop(&mut self) {
        self.secret_key.non_secure_erase();
    }
}

impl fmt::Debug for NodeInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeInner")
            .field("index", &self.index)
            .field("id", &self.id)
            .field("alias", &self.alias)
            .finish_non_exhaustive()
    }
}

/// Adds a node to a network; from [`MockNetwork::node`].
#[must_use]
pub struct NodeBuilder {
    shared: Arc<Shared>,
    alias: String,
    balance: Amount,
    secret_key: Option<Zeroizing<[u8; 32]>>,
}

impl NodeBuilder {
    pub(crate) fn new(shared: Arc<Shared>, alias: String) -> Self {
        NodeBuilder {
            shared,
            alias,
            balance: Amount::ZERO,
            secret_key: None,
        }
    }

    /// The node's starting balance; default zero.
    pub fn balance(mut self, balance: Amount) -> Self {
        self.balance = balance;
        self
    }

    /// A fixed secret key, for a node id that stays the same from run to run; default a
    /// random key.
    pub fn secret_key(mut self, secret_key: [u8; 32]) -> Self {
        self.secret_key = Some(Zeroizing::new(secret_key));
        self
    }

    /// Attaches the node to the network.
    ///
    /// # Errors
    /// * [`MockError::InvalidSecretKey`] if the fixed secret key is not a valid secp256k1
    ///   key (zero, or not below the curve order).
    /// * [`MockError::DuplicateNode`] if a node with this key is already on the network.
    /// * [`MockError::BalanceOverflow`] if the network's total would exceed `u64::MAX` msat.
    /// * [`MockError::Randomness`] if no random key could be made.
    pub fn build(self) -> Result<MockNode, MockError> {
        let bytes = match self.secret_key {
            Some(bytes) => bytes,
            None => random_bytes()?,
        };
        let secret_key =
            SecretKey::from_slice(bytes.as_ref()).map_err(|_| MockError::InvalidSecretKey)?;
        let public_key = PublicKey::from_secret_key(&self.shared.secp, &secret_key);
        let id = NodeId::from_bytes(public_key.serialize());
        let inner = {
            let mut ledger = self.shared.lock();
            let inner = Arc::new(NodeInner {
                index: ledger.node_count(),
                id,
                public_key,
                secret_key,
                alias: self.alias,
            });
            ledger.add_node(Arc::clone(&inner), self.balance)?;
            inner
        };
        tracing::debug!(node_id = %inner.id, alias = %inner.alias, "mock node added");
        Ok(MockNode::from_parts(self.shared, inner))
    }
}

impl fmt::Debug for NodeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeBuilder")
            .field("alias", &self.alias)
            .field("balance", &self.balance)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

/// A Lightning node on a [`MockNetwork`]: issues real signed BOLT11 invoices and pays
/// those of the other nodes, through the [`InvoiceBackend`] and [`PaymentBackend`] traits.
///
/// Cloning is cheap and gives another handle to the same node. `Debug` shows the alias
/// and node id, never the secret key.
///
/// Besides the traits, a node has methods for tests: its [`balance`](Self::balance), its
/// [`invoices`](Self::invoices) and [`payments`](Self::payments), its
/// [`faults`](Self::faults), and direct actions
/// ([`create_invoice_at`](Self::create_invoice_at), [`cancel_invoice`](Self::cancel_invoice),
/// [`deposit`](Self::deposit)). Those ignore faults and never wait.
///
/// # Behavior of the trait methods
/// * Every call first waits for the injected latency, then fails with a
///   [transient](l402_core::ErrorKind::Transient) error if the node is made unreachable.
///   Without latency or in-flight faults no call ever waits, so the node works under any
///   executor; with them it needs a tokio runtime with timers.
/// * [`create_invoice`](InvoiceBackend::create_invoice): an invoice signed with the node's
///   key, for the network's currency, with a random preimage and payment secret, the
///   request's amount, memo (as the description) and expiry, and the network's
///   `min_final_cltv_expiry_delta`. An amount of zero makes an amountless invoice (as LND
///   does). An expiry below one second is refused.
/// * [`pay_invoice`](PaymentBackend::pay_invoice) refuses, without sending anything, an
///   invoice for another network or with a wrong amount
///   ([`InvalidInvoice`](l402_core::backend::FailureReason::InvalidInvoice)), an expired one
///   ([`InvoiceExpired`](l402_core::backend::FailureReason::InvoiceExpired)), one it paid
///   or is paying ([`AlreadyPaid`](l402_core::backend::FailureReason::AlreadyPaid)), and
///   its own. Then it sends: an unknown payee, a fee above `max_fee` or a
///   `min_final_cltv_expiry_delta` above [`PayParams::max_cltv_delta`] (routes are one
///   hop with no delta of their own) fails with
///   [`NoRoute`](l402_core::backend::FailureReason::NoRoute), a balance below amount plus
///   fee with [`InsufficientBalance`](l402_core::backend::FailureReason::InsufficientBalance),
///   and an invoice the payee does not have open (unknown hash, wrong payment secret,
///   settled, canceled) with
///   [`IncorrectPaymentDetails`](l402_core::backend::FailureReason::IncorrectPaymentDetails).
#[derive(Clone)]
pub struct MockNode {
    shared: Arc<Shared>,
    inner: Arc<NodeInner>,
}

impl MockNode {
    pub(crate) fn from_parts(shared: Arc<Shared>, inner: Arc<NodeInner>) -> Self {
        MockNode { shared, inner }
    }

    fn index(&self) -> usize {
        self.inner.index
    }

    /// The node's public key.
    #[must_use]
    pub fn node_id(&self) -> NodeId {
        self.inner.id
    }

    /// The node's alias.
    #[must_use]
    pub fn alias(&self) -> &str {
        &self.inner.alias
    }

    /// What [`node_info`](InvoiceBackend::node_info) answers, without faults.
    #[must_use]
    pub fn info(&self) -> NodeInfo {
        NodeInfo::new(
            self.shared.config.currency.clone(),
            self.inner.id,
            self.inner.alias.clone(),
        )
    }

    /// The network the node is on.
    #[must_use]
    pub fn network(&self) -> MockNetwork {
        MockNetwork::from_shared(Arc::clone(&self.shared))
    }

    /// The node's fault switches.
    #[must_use]
    pub fn faults(&self) -> Faults {
        Faults::new(self.clone())
    }

    pub(crate) fn with_faults<R>(&self, f: impl FnOnce(&mut FaultState) -> R) -> R {
        let mut ledger = self.shared.lock();
        match ledger.faults_mut(self.index()) {
            Some(state) => f(state),
            // Unreachable: a node's index always exists in its own network's ledger.
            None => f(&mut FaultState::default()),
        }
    }

    /// The node's spendable balance. Payments in flight are already debited.
    #[must_use]
    pub fn balance(&self) -> Amount {
        self.shared.lock().balance(self.index())
    }

    /// Adds funds to the node (they count in
    /// [`MockNetwork::total_deposited`](crate::MockNetwork::total_deposited)).
    ///
    /// # Errors
    /// [`MockError::BalanceOverflow`] if the network's total would exceed `u64::MAX` msat.
    pub fn deposit(&self, amount: Amount) -> Result<(), MockError> {
        self.shared.lock().deposit(self.index(), amount)
    }

    /// Every invoice the node issued, oldest first.
    #[must_use]
    pub fn invoices(&self) -> Vec<InvoiceRecord> {
        self.shared
            .lock()
            .invoice_records(Some(self.index()), SystemTime::now())
    }

    /// The invoice the node issued with this payment hash.
    #[must_use]
    pub fn invoice(&self, payment_hash: &PaymentHash) -> Option<InvoiceRecord> {
        self.shared.lock().invoice_record_by_hash(
            Some(self.index()),
            payment_hash,
            SystemTime::now(),
        )
    }

    /// Every payment attempt the node sent, oldest first.
    #[must_use]
    pub fn payments(&self) -> Vec<PaymentRecord> {
        self.shared.lock().payment_records(Some(self.index()))
    }

    /// The node's latest attempt to pay this payment hash.
    #[must_use]
    pub fn payment(&self, payment_hash: &PaymentHash) -> Option<PaymentRecord> {
        self.shared
            .lock()
            .payment_record_by_hash(self.index(), payment_hash)
    }

    /// Issues an invoice as [`create_invoice`](InvoiceBackend::create_invoice) does, but
    /// with the given timestamp and without faults or waiting. A timestamp in the past
    /// makes an invoice that is already expired.
    ///
    /// # Errors
    /// [`MockError::ExpiryTooShort`], [`MockError::MemoTooLong`],
    /// [`MockError::AmountTooLarge`], [`MockError::TimestampOutOfRange`] if the request
    /// cannot be encoded; [`MockError::Randomness`] if no preimage could be made.
    pub fn create_invoice_at(
        &self,
        request: &InvoiceRequest,
        timestamp: SystemTime,
    ) -> Result<CreatedInvoice, MockError> {
        if request.expiry < Duration::from_secs(1) {
            return Err(MockError::ExpiryTooShort);
        }
        let since_epoch = timestamp
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_err(|_| MockError::TimestampOutOfRange)?;
        let preimage = Preimage::from_bytes(*random_bytes()?);
        let payment_secret = PaymentSecret(*random_bytes()?);
        let payment_hash = sha256::Hash::from_byte_array(*preimage.payment_hash().as_bytes());
        let config = &self.shared.config;
        let mut builder = InvoiceBuilder::new(config.currency.clone())
            .description(request.memo.clone())
            .payment_hash(payment_hash)
            .payment_secret(payment_secret)
            .basic_mpp()
            .duration_since_epoch(since_epoch)
            .min_final_cltv_expiry_delta(config.min_final_cltv_expiry_delta)
            .expiry_time(request.expiry)
            .payee_pub_key(self.inner.public_key);
        let amount = (!request.amount.is_zero()).then_some(request.amount);
        if let Some(amount) = amount {
            builder = builder.amount_milli_satoshis(amount.msat());
        }
        let invoice: Bolt11Invoice = builder.build_signed(|message| {
            self.shared
                .secp
                .sign_ecdsa_recoverable(message, &self.inner.secret_key)
        })?;
        let created = CreatedInvoice::new(invoice.clone());
        self.shared.lock().insert_invoice(
            self.index(),
            invoice,
            preimage,
            amount,
            request.memo.clone(),
        );
        tracing::debug!(payment_hash = %created.payment_hash, amount = ?amount, "mock invoice created");
        Ok(created)
    }

    /// Cancels an open invoice, as LND's `CancelInvoice` does: it can no longer be paid, and
    /// [`lookup_invoice`](InvoiceBackend::lookup_invoice) reports it
    /// [`Canceled`](InvoiceState::Canceled).
    ///
    /// # Errors
    /// [`MockError::UnknownInvoice`] if the node issued no such invoice;
    /// [`MockError::InvoiceNotOpen`] if it is settled, canceled, expired, or has a payment
    /// in flight.
    pub fn cancel_invoice(&self, payment_hash: &PaymentHash) -> Result<(), MockError> {
        self.shared
            .lock()
            .cancel_invoice(self.index(), payment_hash, SystemTime::now())
    }

    /// Applies the per-call faults: waits for the latency, then fails if unreachable.
    async fn enter_call(&self, operation: &str) -> Result<(), BackendError> {
        let call = self.with_faults(FaultState::enter_call);
        if !call.latency.is_zero() {
            tokio::time::sleep(call.latency).await;
        }
        if call.unreachable {
            tracing::debug!(node_id = %self.inner.id, operation, "mock node unreachable");
            return Err(BackendError::transient(format!(
                "{operation}: mock node {} is unreachable",
                self.inner.alias
            )));
        }
        Ok(())
    }

    /// Waits for an in-flight payment to end, or for the deadline.
    async fn await_payment(
        &self,
        payment: usize,
        due: Instant,
        deadline: Option<Instant>,
    ) -> Result<PaymentSuccess, PayError> {
        let wake = deadline.map_or(due, |deadline| due.min(deadline));
        tokio::time::sleep_until(wake).await;
        let status = self.shared.lock().payment_status(payment);
        match status {
            PaymentStatus::Succeeded(success) => Ok(success),
            PaymentStatus::Failed(reason) => Err(PayError::Failed(reason)),
            _ => Err(PayError::OutcomeUnknown(BackendError::transient(
                "payment still in flight when the timeout expired",
            ))),
        }
    }
}

impl InvoiceBackend for MockNode {
    async fn create_invoice(
        &self,
        request: &InvoiceRequest,
    ) -> Result<CreatedInvoice, BackendError> {
        self.enter_call("create_invoice").await?;
        if self.with_faults(FaultState::take_invoice_failure) {
            return Err(BackendError::transient(
                "create_invoice: injected invoice creation failure",
            ));
        }
        self.create_invoice_at(request, SystemTime::now())
            .map_err(MockError::into_backend_error)
    }

    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<Option<InvoiceState>, BackendError> {
        self.enter_call("lookup_invoice").await?;
        Ok(self
            .shared
            .lock()
            .lookup_invoice(self.index(), payment_hash, SystemTime::now()))
    }

    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        self.enter_call("node_info").await?;
        Ok(self.info())
    }
}

impl PaymentBackend for MockNode {
    async fn pay_invoice(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        self.enter_call("pay_invoice")
            .await
            .map_err(PayError::NotAttempted)?;
        let now = Moment::now();
        let started = self.shared.lock().start_payment(
            self.index(),
            invoice,
            params,
            &self.shared.config,
            now,
        );
        match started {
            Started::Rejected(reason) => Err(PayError::Failed(reason)),
            Started::Done { result, cut: false } => result.map_err(PayError::Failed),
            Started::Done { cut: true, .. } => Err(PayError::OutcomeUnknown(
                BackendError::transient("pay_invoice: connection lost before the node answered"),
            )),
            Started::InFlight { payment, due } => {
                let deadline = now.mono.checked_add(params.timeout);
                self.await_payment(payment, due, deadline).await
            }
        }
    }

    async fn lookup_payment(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<PaymentStatus, BackendError> {
        self.enter_call("lookup_payment").await?;
        Ok(self
            .shared
            .lock()
            .lookup_payment(self.index(), payment_hash))
    }
}

impl fmt::Debug for MockNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockNode")
            .field("alias", &self.inner.alias)
            .field("node_id", &self.inner.id)
            .finish_non_exhaustive()
    }
}
