//! The paying node of `l402 get` and `l402 mcp`, built on first use: a URL that never asks for payment
//! needs no node, and a node misconfiguration is reported only when a payment needs it.

use std::sync::OnceLock;

use l402_core::backend::{PayParams, PaymentStatus, PaymentSuccess};
use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::{BackendError, BoxPaymentBackend, PayError, PaymentBackend, PaymentHash};

use crate::backend::{BackendKind, NodeSettings};
use crate::exit::CliError;

/// Message prefix of the error a payment gets when the node cannot be built; the
/// command maps it back to a configuration error (exit 2).
const NOT_CONFIGURED: &str = "no usable node";

/// Builds the backend from its settings the first time it is asked to pay or look up a
/// payment, and remembers the result (a failed build is not retried).
pub(crate) struct LazyNode {
    settings: NodeSettings,
    node: OnceLock<Result<BoxPaymentBackend, String>>,
}

impl LazyNode {
    /// Checks at once what needs no node and no file (flags of the other backend kind).
    pub(crate) fn new(settings: NodeSettings) -> Result<Self, CliError> {
        let misplaced = match settings.kind {
            BackendKind::Lnd => (settings.rune_file.is_some()
                || settings.tls_server_name.is_some())
            .then_some("a rune and a tls server name are for --backend cln"),
            BackendKind::Cln => settings
                .macaroon_file
                .is_some()
                .then_some("a macaroon is for --backend lnd"),
        };
        if let Some(why) = misplaced {
            return Err(CliError::config(why));
        }
        Ok(LazyNode {
            settings,
            node: OnceLock::new(),
        })
    }

    fn node(&self) -> Result<&BoxPaymentBackend, BackendError> {
        self.node
            .get_or_init(|| {
                self.settings
                    .payment_backend()
                    .map_err(|e| e.message.clone())
            })
            .as_ref()
            .map_err(|message| BackendError::permanent(format!("{NOT_CONFIGURED}: {message}")))
    }

    /// Why the node could not be built, if it was needed and could not be.
    pub(crate) fn config_error(&self) -> Option<&str> {
        match self.node.get() {
            Some(Err(message)) => Some(message),
            _ => None,
        }
    }
}

impl PaymentBackend for LazyNode {
    async fn pay_invoice(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        let node = self.node().map_err(PayError::NotAttempted)?;
        node.pay_invoice(invoice, params).await
    }

    async fn lookup_payment(&self, hash: &PaymentHash) -> Result<PaymentStatus, BackendError> {
        self.node()?.lookup_payment(hash).await
    }
}
