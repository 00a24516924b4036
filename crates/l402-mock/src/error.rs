//! [`MockError`]: what the mock's own (non-trait) methods can fail with.

use l402_core::BackendError;
use l402_core::lightning_invoice::CreationError;

/// A failed call to one of the mock's own methods (building nodes, issuing or canceling
/// invoices directly, depositing funds).
///
/// The [`InvoiceBackend`](l402_core::InvoiceBackend) and
/// [`PaymentBackend`](l402_core::PaymentBackend) methods answer with
/// [`BackendError`] and [`PayError`](l402_core::PayError) instead, like every backend.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// The operating system had no randomness to give (for a key, preimage or secret).
    #[error("no randomness available")]
    Randomness(#[source] getrandom::Error),
    /// The 32 bytes given as a node's secret key are not a valid secp256k1 secret key.
    #[error("invalid node secret key")]
    InvalidSecretKey,
    /// A node with the same public key is already attached to this network.
    #[error("a node with this key is already on the network")]
    DuplicateNode,
    /// The invoice expiry is shorter than one second (BOLT11 counts whole seconds).
    #[error("invoice expiry must be at least one second")]
    ExpiryTooShort,
    /// The memo does not fit in a BOLT11 description (639 bytes at most).
    #[error("invoice memo is too long")]
    MemoTooLong,
    /// The amount cannot be encoded in a BOLT11 invoice.
    #[error("invoice amount is too large")]
    AmountTooLarge,
    /// The invoice timestamp is before 1970 or beyond what BOLT11 can encode.
    #[error("invoice timestamp is out of range")]
    TimestampOutOfRange,
    /// `lightning-invoice` refused to build the invoice for another reason.
    #[error("invoice could not be built")]
    Invoice(#[source] CreationError),
    /// The node issued no invoice with this payment hash.
    #[error("unknown invoice")]
    UnknownInvoice,
    /// The invoice is settled, canceled, expired or has a payment in flight.
    #[error("invoice is not open")]
    InvoiceNotOpen,
    /// Adding the amount would overflow the network's total supply (`u64::MAX` msat).
    #[error("amount overflows the network's total balance")]
    BalanceOverflow,
}

impl From<CreationError> for MockError {
    fn from(e: CreationError) -> Self {
        match e {
            CreationError::DescriptionTooLong => MockError::MemoTooLong,
            CreationError::InvalidAmount => MockError::AmountTooLarge,
            CreationError::TimestampOutOfBounds => MockError::TimestampOutOfRange,
            other => MockError::Invoice(other),
        }
    }
}

impl MockError {
    /// The error as a backend would report it: a request the node refuses is permanent,
    /// a lack of randomness is transient.
    pub(crate) fn into_backend_error(self) -> BackendError {
        let message = self.to_string();
        match self {
            MockError::Randomness(_) => BackendError::transient(message),
            _ => BackendError::permanent(message),
        }
    }
}
