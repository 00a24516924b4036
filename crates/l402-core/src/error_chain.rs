//! [`ErrorChain`]: an error and its causes on one line.
//!
//! Every error type in this workspace follows one rule: a variant either shows its cause
//! in its `Display` text or returns it from [`source`](std::error::Error::source), never
//! both. So `Display` alone says what failed at this level, and a chain printer such as
//! this one says each cause exactly once.

use core::fmt;

/// Displays an error followed by each of its [`source`](std::error::Error::source)s,
/// separated by `": "`: `payment outcome unknown: transient backend error: timed out`.
///
/// ```
/// use l402_core::{Credential, ErrorChain};
///
/// let err = Credential::parse_authorization(&format!("L402 !!!:{}", "00".repeat(32))).unwrap_err();
/// assert_eq!(err.to_string(), "invalid macaroon");
/// assert_eq!(
///     ErrorChain(&err).to_string(),
///     "invalid macaroon: invalid base64: invalid base64 character at position 0"
/// );
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a dyn std::error::Error);

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.0, f)?;
        let mut source = self.0.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
