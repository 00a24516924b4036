//! RFC 8785 (JCS) canonical JSON, and the base64url-of-canonical-JSON parameters
//! (`request`, `opaque`) built from it.
//!
//! The encoder is the `serde_json_canonicalizer` crate: it passes every canonicalization
//! vector of Aperture's suite (UTF-16 member order, ECMAScript number rendering through
//! `ryu-js`, no HTML escaping), so this module only wraps it with size limits and typed
//! errors.

use serde::Serialize;

use crate::encoding::{Base64Error, base64url_decode, base64url_encode};

/// Longest JSON text canonicalized or decoded from a parameter, in bytes. A charge
/// request holds one BOLT11 invoice (at most 7,089 characters) and a few short fields.
pub const MAX_JSON_LEN: usize = 16 * 1024;

/// Why a JSON text could not be canonicalized.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalJsonError {
    /// The text is longer than [`MAX_JSON_LEN`].
    #[error("json text of {0} bytes exceeds the size limit")]
    TooLong(usize),
    /// The text is not JSON.
    #[error("not valid json")]
    Syntax(#[source] serde_json::Error),
    /// The value cannot be written as JSON (a non-finite number, a map with non-string
    /// keys).
    #[error("value cannot be canonicalized")]
    Value(#[source] serde_json::Error),
}

/// Why a base64url JSON parameter could not be decoded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeJsonParamError {
    /// The parameter is longer than base64url of [`MAX_JSON_LEN`] bytes.
    #[error("parameter of {0} characters exceeds the size limit")]
    TooLong(usize),
    /// Not strict base64url.
    #[error("parameter is not base64url")]
    Base64(#[source] Base64Error),
    /// The decoded bytes are not the expected JSON.
    #[error("parameter is not the expected json")]
    Json(#[source] serde_json::Error),
    /// The decoded bytes are not JSON of the expected shape (a syntax error, a required
    /// member missing, one repeated or of the wrong type), at this position.
    #[error("parameter is not the expected json (line {line}, column {column})")]
    Syntax {
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
    },
}

/// The canonical (RFC 8785) form of any serializable value.
///
/// # Errors
/// [`CanonicalJsonError::Value`] for a value JSON cannot represent.
pub fn to_canonical_json<T: Serialize>(value: &T) -> Result<String, CanonicalJsonError> {
    serde_json_canonicalizer::to_string(value).map_err(CanonicalJsonError::Value)
}

/// Parses a JSON text and renders it canonically: members sorted by UTF-16 code units,
/// numbers re-rendered as ECMAScript does, strings escaped minimally.
///
/// Idempotent: the canonical form of a canonical text is itself.
///
/// # Errors
/// [`CanonicalJsonError`] for text that is too long or not JSON.
pub fn canonicalize(json: &str) -> Result<String, CanonicalJsonError> {
    if json.len() > MAX_JSON_LEN {
        return Err(CanonicalJsonError::TooLong(json.len()));
    }
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(CanonicalJsonError::Syntax)?;
    to_canonical_json(&value)
}

/// `base64url_nopad(canonical JSON of value)`: how `request` and `opaque` are written.
///
/// # Errors
/// [`CanonicalJsonError::Value`] for a value JSON cannot represent.
pub fn encode_json_param<T: Serialize>(value: &T) -> Result<String, CanonicalJsonError> {
    Ok(base64url_encode(to_canonical_json(value)?.as_bytes()))
}

/// The longest parameter accepted by [`decode_json_param`]: base64url of
/// [`MAX_JSON_LEN`] bytes, with padding.
pub(crate) const MAX_JSON_PARAM_LEN: usize = MAX_JSON_LEN.div_ceil(3) * 4;

/// Decodes a base64url JSON parameter into `T`. The JSON need not be canonical (the
/// parameter is bound by its text, not by its value).
///
/// # Errors
/// [`DecodeJsonParamError`] for an oversized parameter, bad base64url, or JSON that does
/// not match `T`.
pub fn decode_json_param<T: serde::de::DeserializeOwned>(
    param: &str,
) -> Result<T, DecodeJsonParamError> {
    if param.len() > MAX_JSON_PARAM_LEN {
        return Err(DecodeJsonParamError::TooLong(param.len()));
    }
    let bytes = base64url_decode(param).map_err(DecodeJsonParamError::Base64)?;
    serde_json::from_slice(&bytes).map_err(DecodeJsonParamError::Json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_rerenders() {
        assert_eq!(
            canonicalize(r#"{"b":1.0,"a":"<&>","\u00e9":[1e21]}"#).unwrap(),
            r#"{"a":"<&>","b":1,"é":[1e+21]}"#
        );
        assert!(matches!(
            canonicalize("{"),
            Err(CanonicalJsonError::Syntax(_))
        ));
        let long = format!("\"{}\"", "a".repeat(MAX_JSON_LEN));
        assert!(matches!(
            canonicalize(&long),
            Err(CanonicalJsonError::TooLong(_))
        ));
    }

    #[test]
    fn param_round_trip_and_limits() {
        let v = serde_json::json!({"orderId": "123"});
        let p = encode_json_param(&v).unwrap();
        assert_eq!(p, "eyJvcmRlcklkIjoiMTIzIn0");
        let back: serde_json::Value = decode_json_param(&p).unwrap();
        assert_eq!(back, v);
        let too_long = "A".repeat(MAX_JSON_PARAM_LEN + 1);
        assert!(matches!(
            decode_json_param::<serde_json::Value>(&too_long),
            Err(DecodeJsonParamError::TooLong(_))
        ));
        assert!(matches!(
            decode_json_param::<serde_json::Value>("e30+"),
            Err(DecodeJsonParamError::Base64(_))
        ));
    }
}
