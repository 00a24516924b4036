//! Type-erased backends, for choosing a node implementation at run time.

use core::fmt;
use std::sync::Arc;

use lightning_invoice::Bolt11Invoice;

use super::{
    BackendError, CreatedInvoice, InvoiceBackend, InvoiceRequest, InvoiceState, NodeInfo, PayError,
    PayParams, PaymentBackend, PaymentStatus, PaymentSuccess,
};
use crate::PaymentHash;

/// Object-safe form of [`InvoiceBackend`]; implemented for every `InvoiceBackend`.
#[async_trait::async_trait]
pub trait DynInvoiceBackend: Send + Sync {
    /// See [`InvoiceBackend::create_invoice`].
    async fn create_invoice_dyn(
        &self,
        request: &InvoiceRequest,
    ) -> Result<CreatedInvoice, BackendError>;
    /// See [`InvoiceBackend::lookup_invoice`].
    async fn lookup_invoice_dyn(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<Option<InvoiceState>, BackendError>;
    /// See [`InvoiceBackend::node_info`].
    async fn node_info_dyn(&self) -> Result<NodeInfo, BackendError>;
}

#[async_trait::async_trait]
impl<T: InvoiceBackend> DynInvoiceBackend for T {
    async fn create_invoice_dyn(
        &self,
        request: &InvoiceRequest,
    ) -> Result<CreatedInvoice, BackendError> {
        self.create_invoice(request).await
    }
    async fn lookup_invoice_dyn(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<Option<InvoiceState>, BackendError> {
        self.lookup_invoice(payment_hash).await
    }
    async fn node_info_dyn(&self) -> Result<NodeInfo, BackendError> {
        self.node_info().await
    }
}

/// Object-safe form of [`PaymentBackend`]; implemented for every `PaymentBackend`.
#[async_trait::async_trait]
pub trait DynPaymentBackend: Send + Sync {
    /// See [`PaymentBackend::pay_invoice`].
    async fn pay_invoice_dyn(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError>;
    /// See [`PaymentBackend::lookup_payment`].
    async fn lookup_payment_dyn(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<PaymentStatus, BackendError>;
}

#[async_trait::async_trait]
impl<T: PaymentBackend> DynPaymentBackend for T {
    async fn pay_invoice_dyn(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        self.pay_invoice(invoice, params).await
    }
    async fn lookup_payment_dyn(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<PaymentStatus, BackendError> {
        self.lookup_payment(payment_hash).await
    }
}

/// Object-safe form of a node that does both; implemented for every type that implements
/// [`InvoiceBackend`] and [`PaymentBackend`].
pub trait DynLightningBackend: DynInvoiceBackend + DynPaymentBackend {}

impl<T: DynInvoiceBackend + DynPaymentBackend + ?Sized> DynLightningBackend for T {}

/// An [`InvoiceBackend`] chosen at run time. Cheap to clone.
#[derive(Clone)]
pub struct BoxInvoiceBackend(Arc<dyn DynInvoiceBackend>);

impl BoxInvoiceBackend {
    /// Erases `backend`'s type.
    pub fn new(backend: impl InvoiceBackend + 'static) -> Self {
        BoxInvoiceBackend(Arc::new(backend))
    }
}

impl fmt::Debug for BoxInvoiceBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxInvoiceBackend")
    }
}

impl InvoiceBackend for BoxInvoiceBackend {
    async fn create_invoice(
        &self,
        request: &InvoiceRequest,
    ) -> Result<CreatedInvoice, BackendError> {
        self.0.create_invoice_dyn(request).await
    }
    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<Option<InvoiceState>, BackendError> {
        self.0.lookup_invoice_dyn(payment_hash).await
    }
    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        self.0.node_info_dyn().await
    }
}

/// A [`PaymentBackend`] chosen at run time. Cheap to clone.
#[derive(Clone)]
pub struct BoxPaymentBackend(Arc<dyn DynPaymentBackend>);

impl BoxPaymentBackend {
    /// Erases `backend`'s type.
    pub fn new(backend: impl PaymentBackend + 'static) -> Self {
        BoxPaymentBackend(Arc::new(backend))
    }
}

impl fmt::Debug for BoxPaymentBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxPaymentBackend")
    }
}

impl PaymentBackend for BoxPaymentBackend {
    async fn pay_invoice(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        self.0.pay_invoice_dyn(invoice, params).await
    }
    async fn lookup_payment(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<PaymentStatus, BackendError> {
        self.0.lookup_payment_dyn(payment_hash).await
    }
}

/// A node that both issues and pays invoices, chosen at run time. Cheap to clone; its
/// [`invoices`](Self::invoices) and [`payments`](Self::payments) halves share the node.
#[derive(Clone)]
pub struct BoxLightningBackend(Arc<dyn DynLightningBackend>);

impl BoxLightningBackend {
    /// Erases `backend`'s type.
    pub fn new(backend: impl InvoiceBackend + PaymentBackend + 'static) -> Self {
        BoxLightningBackend(Arc::new(backend))
    }

    /// The invoice half, for a server.
    #[must_use]
    pub fn invoices(&self) -> BoxInvoiceBackend {
        BoxInvoiceBackend(self.0.clone())
    }

    /// The payment half, for a client.
    #[must_use]
    pub fn payments(&self) -> BoxPaymentBackend {
        BoxPaymentBackend(self.0.clone())
    }
}

impl fmt::Debug for BoxLightningBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BoxLightningBackend")
    }
}

impl InvoiceBackend for BoxLightningBackend {
    async fn create_invoice(
        &self,
        request: &InvoiceRequest,
    ) -> Result<CreatedInvoice, BackendError> {
        self.0.create_invoice_dyn(request).await
    }
    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<Option<InvoiceState>, BackendError> {
        self.0.lookup_invoice_dyn(payment_hash).await
    }
    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        self.0.node_info_dyn().await
    }
}

impl PaymentBackend for BoxLightningBackend {
    async fn pay_invoice(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        self.0.pay_invoice_dyn(invoice, params).await
    }
    async fn lookup_payment(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<PaymentStatus, BackendError> {
        self.0.lookup_payment_dyn(payment_hash).await
    }
}
