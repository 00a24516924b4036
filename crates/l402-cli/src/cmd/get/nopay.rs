//! The payment backend of `--no-pay`: never pays, so no node is needed.

use l402_core::backend::{PayParams, PaymentStatus, PaymentSuccess};
use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::{BackendError, PayError, PaymentBackend, PaymentHash};

/// Refuses every payment; knows no payment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NoPayment;

impl PaymentBackend for NoPayment {
    async fn pay_invoice(
        &self,
        _invoice: &Bolt11Invoice,
        _params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        Err(PayError::NotAttempted(BackendError::permanent(
            "paying is disabled",
        )))
    }

    async fn lookup_payment(&self, _hash: &PaymentHash) -> Result<PaymentStatus, BackendError> {
        Ok(PaymentStatus::Unknown)
    }
}
