//! Backend errors and their kinds.

use core::fmt;

/// Boxed error source.
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Whether retrying a failed call may help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The node could not be reached or timed out: the same call may succeed later.
    Transient,
    /// The node refused the request (invalid, not allowed, no route, expired…): retrying
    /// the same call will fail the same way.
    Permanent,
    /// The backend does not offer this call.
    Unsupported,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
            ErrorKind::Unsupported => "unsupported",
        })
    }
}

/// A failed backend call.
///
/// The message may hold the node's own error text: fine for logs, never for an HTTP
/// response (the server layer answers with fixed text).
#[derive(Debug)]
pub struct BackendError {
    kind: ErrorKind,
    message: String,
    source: Option<BoxError>,
}

impl BackendError {
    /// An error of `kind`.
    #[must_use]
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        BackendError {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// A [`ErrorKind::Transient`] error.
    #[must_use]
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Transient, message)
    }

    /// A [`ErrorKind::Permanent`] error.
    #[must_use]
    pub fn permanent(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Permanent, message)
    }

    /// An [`ErrorKind::Unsupported`] error for `operation`.
    #[must_use]
    pub fn unsupported(operation: &str) -> Self {
        Self::new(
            ErrorKind::Unsupported,
            format!("{operation} is not supported by this backend"),
        )
    }

    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The kind.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the same call may succeed later.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }

    /// The message (for logs).
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} backend error: {}", self.kind, self.message)
    }
}

impl std::error::Error for BackendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Why a payment failed, when the node says it definitely failed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureReason {
    /// No route to the payee within the fee cap.
    NoRoute,
    /// Not enough outbound balance.
    InsufficientBalance,
    /// The invoice expired.
    InvoiceExpired,
    /// The node already paid this invoice, or has a payment for it in flight (LND's
    /// `ALREADY_EXISTS`: "invoice is already paid", "payment is in transition"; CLN's
    /// "already paid" and "payment in progress"). Not a sign that nothing was paid:
    /// [`PayError::is_definitely_unpaid`] is `false` for it, and the outcome is that of
    /// the earlier payment: look it up by hash.
    AlreadyPaid,
    /// The invoice is malformed, for another network, or needs an amount that was not given.
    InvalidInvoice,
    /// The payee rejected the payment details (unknown payment hash, wrong amount).
    IncorrectPaymentDetails,
    /// The node gave up within the timeout with nothing in flight.
    Timeout,
    /// Another reason, in the node's words.
    Other(String),
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::NoRoute => f.write_str("no route"),
            FailureReason::InsufficientBalance => f.write_str("insufficient balance"),
            FailureReason::InvoiceExpired => f.write_str("invoice expired"),
            FailureReason::AlreadyPaid => f.write_str("invoice already paid"),
            FailureReason::InvalidInvoice => f.write_str("invalid invoice"),
            FailureReason::IncorrectPaymentDetails => f.write_str("incorrect payment details"),
            FailureReason::Timeout => f.write_str("timed out"),
            FailureReason::Other(s) => write!(f, "{s}"),
        }
    }
}

/// A payment that did not succeed: definitely not paid, or outcome unknown.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayError {
    /// The node reported a final failure: nothing was paid (except for
    /// [`FailureReason::AlreadyPaid`], where an earlier payment exists).
    #[error("payment failed: {0}")]
    Failed(FailureReason),
    /// The payment never started (the node was unreachable, or refused the request before
    /// sending anything): nothing was paid. The error's kind says whether retrying helps.
    #[error("payment not attempted")]
    NotAttempted(#[source] BackendError),
    /// The payment may or may not complete (a call cut off after the node accepted it).
    /// Look it up by hash before paying anything else.
    #[error("payment outcome unknown")]
    OutcomeUnknown(#[source] BackendError),
}

impl PayError {
    /// Whether nothing was paid, for certain. `false` for
    /// [`OutcomeUnknown`](Self::OutcomeUnknown) and for
    /// [`Failed`](Self::Failed)`(`[`AlreadyPaid`](FailureReason::AlreadyPaid)`)`: a
    /// payment for the hash exists (settled or in flight), so look it up by hash.
    #[must_use]
    pub fn is_definitely_unpaid(&self) -> bool {
        !matches!(
            self,
            PayError::OutcomeUnknown(_) | PayError::Failed(FailureReason::AlreadyPaid)
        )
    }
}
