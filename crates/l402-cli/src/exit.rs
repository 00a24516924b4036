//! Exit codes and the error type every command returns.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other failure (I/O, network, token store); `token verify`: the token is invalid |
//! | 2 | configuration or usage error (bad flag, file, key, URL, config): nothing was attempted |
//! | 3 | `get`: refused by a spending rule (price, budget, network, expiry...): nothing was paid |
//! | 4 | `get`: the payment failed, or its outcome is unknown (see the message) |
//! | 5 | `get`: money moved, but the request did not get what it paid for: the server still asked for payment, or the request failed after the payment (the token is kept) |
//! | 6 | `get`: money moved and the body was written, but the spending ledger could not record the payment |
//! | 7 | `get`: could not connect to the server (as curl) |
//! | 22 | `get`: the server answered with an HTTP error status, 400 or above (as `curl --fail`) |

use core::fmt;

/// Success.
pub(crate) const OK: u8 = 0;
/// Any other failure.
pub(crate) const FAILURE: u8 = 1;
/// Bad configuration or usage.
pub(crate) const CONFIG: u8 = 2;
/// Refused by a spending rule, nothing paid.
pub(crate) const REFUSED: u8 = 3;
/// The payment failed or its outcome is unknown.
pub(crate) const PAYMENT_FAILED: u8 = 4;
/// Paid, but the request did not get what it paid for.
pub(crate) const PAID_NOT_DELIVERED: u8 = 5;
/// Paid and the body written, but the ledger could not record the payment.
pub(crate) const PAID_NOT_RECORDED: u8 = 6;
/// Could not connect.
pub(crate) const CONNECT: u8 = 7;
/// HTTP status 400 or above.
pub(crate) const HTTP_ERROR: u8 = 22;

/// The exit code table, for `--help`.
pub(crate) const EXIT_CODES_HELP: &str = "\
Exit codes:
  0   success
  1   other failure (I/O, network, token store); `token verify`: token invalid
  2   configuration or usage error: nothing was attempted
  3   refused by a spending rule (price, budget, network, expiry): nothing paid
  4   payment failed, or its outcome is unknown
  5   paid, but the request did not get what it paid for (server asked again, or failed)
  6   paid and the body written, but the spending ledger could not record the payment
  7   could not connect to the server
  22  the server answered with HTTP status 400 or above";

/// A failure with its exit code and a message for stderr.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: u8,
    pub(crate) message: String,
    /// Already reported (in a JSON summary): `main` prints nothing more.
    pub(crate) reported: bool,
}

impl CliError {
    /// A configuration or usage error (exit code 2).
    pub(crate) fn config(message: impl Into<String>) -> Self {
        CliError {
            code: CONFIG,
            message: message.into(),
            reported: false,
        }
    }

    /// Any other failure (exit code 1).
    pub(crate) fn failure(message: impl Into<String>) -> Self {
        CliError {
            code: FAILURE,
            message: message.into(),
            reported: false,
        }
    }

    /// A failure with a given code.
    pub(crate) fn with_code(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
            reported: false,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Formats an error with its whole `source()` chain: `a: b: c`. Every error type in the
/// workspace shows its cause either in `Display` or through `source()`, never both, so
/// each cause appears once.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    l402_core::ErrorChain(error).to_string()
}

/// The result of a command: an exit code on success too (a `get` that printed a 404 body
/// exits 22 without being an error of the tool).
pub(crate) type CmdResult = Result<u8, CliError>;
