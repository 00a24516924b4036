//! The `l402 token decode` view: what is inside a macaroon, an `Authorization` value, a
//! `WWW-Authenticate` challenge (L402, LSAT or `Payment`), a `Payment` credential or
//! receipt, or a BOLT 11 invoice, as JSON.
//!
//! ```
//! let v = l402_mcp::decode::decode("AgJCAACqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqru7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7AAAGIBeQvG3BlkRWNVkmvUhj4gTZa0JinpQIeryQb4XpHM+T")?;
//! assert_eq!(v["kind"], "macaroon");
//! assert_eq!(v["identifier"]["version"], 0);
//! # Ok::<(), l402_mcp::decode::DecodeError>(())
//! ```

pub mod describe;
mod payment;

use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::{Challenge, Credential, Macaroon, Scheme};
use serde_json::{Value, json};

/// Longest input [`decode`] reads (a challenge with a long invoice is a few kilobytes).
pub const MAX_INPUT_LEN: usize = 64 * 1024;

/// Why a value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(String);

impl DecodeError {
    fn msg(message: impl Into<String>) -> Self {
        DecodeError(message.into())
    }

    fn new(what: &str, e: &dyn std::error::Error) -> Self {
        DecodeError(format!("{what}: {}", l402_core::ErrorChain(e)))
    }
}

/// Strips a leading header name (`Authorization:`, `WWW-Authenticate:`), case-insensitive.
fn strip_header_name(value: &str) -> (&str, Option<&'static str>) {
    let trimmed = value.trim();
    for (name, kind) in [
        ("authorization:", "authorization"),
        ("www-authenticate:", "challenge"),
        ("payment-receipt:", "receipt"),
    ] {
        if let Some(head) = trimmed.get(..name.len())
            && head.eq_ignore_ascii_case(name)
        {
            return (
                trimmed.get(name.len()..).unwrap_or_default().trim(),
                Some(kind),
            );
        }
    }
    (trimmed, None)
}

/// Whether `value` starts with `L402` or `LSAT` followed by white space.
fn has_scheme(value: &str) -> bool {
    value
        .split_once([' ', '\t'])
        .is_some_and(|(scheme, _)| Scheme::from_name(scheme).is_some())
}

/// Decodes any of the accepted forms into the JSON description.
///
/// Accepts a bare macaroon (standard or URL-safe base64, or hex), an `Authorization`
/// value (`L402 <macaroon>:<preimage>`), a `WWW-Authenticate` value, a `Payment`
/// challenge, credential or receipt, or a BOLT 11 invoice; a leading `Authorization:`,
/// `WWW-Authenticate:` or `Payment-Receipt:` is ignored. An L402 credential's preimage
/// is shown (it is the caller's own input); a `Payment` credential's is redacted.
///
/// # Errors
/// [`DecodeError`] when the value is none of these, or longer than [`MAX_INPUT_LEN`].
pub fn decode(input: &str) -> Result<Value, DecodeError> {
    if input.len() > MAX_INPUT_LEN {
        return Err(DecodeError::msg(format!(
            "input of {} bytes is longer than the {MAX_INPUT_LEN} bytes decoded",
            input.len()
        )));
    }
    let (value, header) = strip_header_name(input);
    if value.is_empty() {
        return Err(DecodeError::msg("nothing to decode"));
    }
    if header.is_none()
        && value.len() > 4
        && value.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("ln"))
        && let Ok(invoice) = value.parse::<Bolt11Invoice>()
    {
        let mut out = json!({ "kind": "invoice" });
        merge(&mut out, describe::invoice(&invoice));
        return Ok(out);
    }
    if header == Some("receipt") {
        return payment::receipt(value);
    }
    if value.eq_ignore_ascii_case("payment") {
        return payment::credential(value);
    }
    if payment::has_payment_scheme(value) && payment::is_token68_after_scheme(value) {
        // One token68 after the scheme: a credential.
        return payment::credential(value);
    }
    // A challenge list holding a `Payment` challenge (maybe after another scheme's).
    if (header == Some("challenge") || value.contains('='))
        && value.to_ascii_lowercase().contains("payment ")
        && let Some(decoded) = payment::challenges(value)?
    {
        return Ok(decoded);
    }
    // Bare base64url of a JSON object (`eyJ` is `{"`): a Payment receipt. Macaroons
    // start with other bytes.
    if header.is_none() && value.starts_with("eyJ") {
        return payment::receipt(value);
    }
    let looks_like_challenge = header == Some("challenge")
        || (has_scheme(value) && (value.contains("macaroon=") || value.contains("token=")));
    if looks_like_challenge {
        let challenge =
            Challenge::parse(value).map_err(|e| DecodeError::new("invalid challenge", &e))?;
        let mut out = json!({ "kind": "challenge" });
        merge(&mut out, describe::challenge(&challenge));
        return Ok(out);
    }
    if has_scheme(value) || header == Some("authorization") {
        let credential = Credential::parse_authorization(value)
            .map_err(|e| DecodeError::new("invalid credential", &e))?
            .ok_or_else(|| DecodeError::msg("not an L402 or LSAT credential"))?;
        return Ok(credential_json(&credential));
    }
    let macaroon = Macaroon::from_base64(value).or_else(|b64| {
        if value.bytes().all(|b| b.is_ascii_hexdigit()) {
            Macaroon::from_hex(value).map_err(|e| DecodeError::new("invalid macaroon (hex)", &e))
        } else {
            Err(DecodeError::new("invalid macaroon", &b64))
        }
    })?;
    let mut out = json!({ "kind": "macaroon" });
    merge(&mut out, describe::macaroon(&macaroon));
    Ok(out)
}

fn credential_json(credential: &Credential) -> Value {
    let mut out = json!({ "kind": "credential" });
    merge(&mut out, describe::macaroon(credential.macaroon()));
    let preimage = credential.preimage();
    let matches = l402_core::Identifier::decode(credential.macaroon().identifier())
        .ok()
        .map(|id| id.payment_hash().matches(preimage));
    out["preimage"] = json!(preimage.expose_hex().as_str());
    out["preimage_matches_payment_hash"] = json!(matches);
    out
}

fn merge(into: &mut Value, from: Value) {
    if let (Value::Object(into), Value::Object(from)) = (into, from) {
        into.extend(from);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const VS5_1: &str = "AgJCAACqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqru7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7u7AAAGIBeQvG3BlkRWNVkmvUhj4gTZa0JinpQIeryQb4XpHM+T";

    #[test]
    fn header_names_are_stripped() {
        assert_eq!(
            strip_header_name(" authorization: L402 x:y"),
            ("L402 x:y", Some("authorization"))
        );
        assert_eq!(strip_header_name("abc"), ("abc", None));
    }

    #[test]
    fn bare_macaroon_in_both_alphabets() {
        let std = decode(VS5_1).unwrap();
        let url = VS5_1.replace('+', "-").replace('/', "_");
        assert_eq!(decode(&url).unwrap(), std);
        assert_eq!(std["identifier"]["version"], 0);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(decode("not a token!").is_err());
        assert!(decode("").is_err());
        assert!(decode(&"A".repeat(MAX_INPUT_LEN + 1)).is_err());
    }
}
