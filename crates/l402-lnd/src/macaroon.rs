//! The node macaroon: a secret, sent hex-encoded in `Grpc-Metadata-macaroon`.

use core::fmt;

use reqwest::header::HeaderValue;
use zeroize::Zeroizing;

/// The header LND reads the macaroon from (any case).
pub(crate) const MACAROON_HEADER: &str = "grpc-metadata-macaroon";

/// A macaroon's bytes. Zeroized on drop; `Debug` shows nothing of it.
pub(crate) struct MacaroonSecret {
    /// The header value, hex (computed once).
    hex: Zeroizing<String>,
}

impl MacaroonSecret {
    pub(crate) fn from_bytes(bytes: &[u8]) -> Self {
        MacaroonSecret {
            hex: Zeroizing::new(l402_core::encoding::hex_encode(bytes)),
        }
    }

    /// The header value, marked sensitive (kept out of logs by HTTP libraries).
    pub(crate) fn header_value(&self) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&self.hex).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl fmt::Debug for MacaroonSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MacaroonSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = MacaroonSecret::from_bytes(&[0xab; 8]);
        assert_eq!(format!("{secret:?}"), "MacaroonSecret(<redacted>)");
        assert!(secret.header_value().is_some_and(|v| v.is_sensitive()));
    }
}
