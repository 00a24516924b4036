//! The rune: a secret, sent as-is in the `Rune` header.

use core::fmt;

use reqwest::header::HeaderValue;
use zeroize::Zeroizing;

/// The header clnrest reads the rune from (any case).
pub(crate) const RUNE_HEADER: &str = "rune";

/// A rune string. Zeroized on drop; `Debug` shows nothing of it.
pub(crate) struct RuneSecret {
    text: Zeroizing<String>,
}

impl RuneSecret {
    /// Checks the text: non-empty URL-safe base64 (what `createrune` prints).
    pub(crate) fn new(text: &str) -> Result<Self, &'static str> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty");
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
        {
            return Err("not url-safe base64");
        }
        Ok(RuneSecret {
            text: Zeroizing::new(text.to_owned()),
        })
    }

    /// The header value, marked sensitive (kept out of logs by HTTP libraries).
    pub(crate) fn header_value(&self) -> Option<HeaderValue> {
        let mut value = HeaderValue::from_str(&self.text).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

impl fmt::Debug for RuneSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RuneSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted_and_text_checked() {
        let secret = RuneSecret::new(" abc-_DEF= \n");
        assert!(secret.is_ok());
        if let Ok(secret) = secret {
            assert_eq!(format!("{secret:?}"), "RuneSecret(<redacted>)");
            assert!(secret.header_value().is_some_and(|v| v.is_sensitive()));
        }
        assert!(RuneSecret::new("").is_err());
        assert!(RuneSecret::new("a+b/c").is_err());
    }
}
