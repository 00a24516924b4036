//! The `Authorization: Payment <base64url JSON>` credential.

use core::fmt;

use http::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::challenge::PaymentChallenge;
use super::{INTENT_CHARGE, INTENT_SESSION, METHOD_LIGHTNING, SCHEME};
use crate::Preimage;
use crate::encoding::{Base64Error, HexError, base64url_decode, base64url_encode};

/// Longest `Authorization` value parsed as a Payment credential: 64 KiB, Aperture's cap.
pub const MAX_PAYMENT_AUTHORIZATION_LEN: usize = 64 * 1024;
/// Most `Authorization` fields examined in one request.
const MAX_AUTHORIZATION_FIELDS: usize = 8;
/// Longest preimage text accepted in a payload (32 bytes of hex).
const MAX_PREIMAGE_HEX_LEN: usize = 64;

/// Why an `Authorization` value is not a usable Payment charge credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParsePaymentCredentialError {
    /// The value is longer than [`MAX_PAYMENT_AUTHORIZATION_LEN`].
    #[error("credential of {0} bytes exceeds the size limit")]
    TooLong(usize),
    /// The scheme is not `Payment`.
    #[error("not a Payment credential")]
    NotPaymentScheme,
    /// `Payment` with no token after it.
    #[error("Payment credential is empty")]
    Empty,
    /// The token is not strict base64url.
    #[error("Payment credential is not base64url")]
    Base64(#[source] Base64Error),
    /// The decoded token is not JSON of the credential's shape (a required field missing,
    /// a field repeated or of the wrong type). Only the position is kept: the text could
    /// hold the preimage.
    #[error("Payment credential is not valid json (line {line}, column {column})")]
    Json {
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
    },
    /// The challenge's `method` is not `lightning`.
    #[error("Payment credential is for an unsupported payment method")]
    UnsupportedMethod,
    /// The challenge's `intent` is `session`, which is recognised but not supported.
    #[error("Payment session credentials are not supported")]
    SessionUnsupported,
    /// The challenge's `intent` is neither `charge` nor `session`.
    #[error("Payment credential has an unknown intent")]
    UnknownIntent,
    /// The charge payload has no `preimage`.
    #[error("Payment charge credential has no preimage")]
    MissingPreimage,
    /// The preimage is empty, longer than 64 characters, or not hex.
    #[error("Payment charge credential preimage is not hex")]
    InvalidPreimage,
    /// Several `Authorization` values carry different Payment credentials.
    #[error("conflicting Payment credentials")]
    Conflicting,
    /// More `Authorization` fields than examined.
    #[error("too many Authorization fields")]
    TooManyFields,
}

/// The proof of a Lightning charge: the payment's preimage as hex.
///
/// A secret: `Debug` is redacted and the text is zeroized on drop. The codec accepts any
/// hex of up to 64 characters (as Aperture's vectors do); [`preimage`](Self::preimage)
/// requires exactly 32 bytes, and verification refuses anything else.
#[derive(Clone, PartialEq, Eq)]
pub struct ChargePayload {
    preimage: Zeroizing<String>,
}

impl ChargePayload {
    /// The payload proving payment with `preimage`.
    #[must_use]
    pub fn new(preimage: &Preimage) -> Self {
        ChargePayload {
            preimage: preimage.expose_hex(),
        }
    }

    /// The preimage.
    ///
    /// # Errors
    /// [`HexError`] unless the payload holds exactly 32 bytes of hex.
    pub fn preimage(&self) -> Result<Preimage, HexError> {
        Preimage::from_hex(&self.preimage)
    }

    /// The preimage text as sent.
    #[must_use]
    pub fn expose_preimage_hex(&self) -> &str {
        &self.preimage
    }
}

impl fmt::Debug for ChargePayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChargePayload { preimage: <redacted> }")
    }
}

/// A Payment credential for a Lightning charge: the challenge echoed unchanged, an
/// optional payer `source`, and the proof.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PaymentCredential {
    /// The challenge, as the server sent it.
    pub challenge: PaymentChallenge,
    /// The payer, if it says (a DID, say).
    pub source: Option<String>,
    /// The proof of payment.
    pub payload: ChargePayload,
}

#[derive(Serialize)]
struct WireOut<'a> {
    challenge: &'a PaymentChallenge,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    payload: PayloadOut<'a>,
}

#[derive(Serialize)]
struct PayloadOut<'a> {
    preimage: &'a str,
}

#[derive(Deserialize)]
struct WireIn {
    challenge: PaymentChallenge,
    #[serde(default)]
    source: Option<String>,
    payload: PayloadIn,
}

/// Any payload object: a charge's `preimage` is read, other members (a session's
/// `action`, `sessionId`, …) are ignored so that such credentials are recognised.
#[derive(Deserialize)]
struct PayloadIn {
    #[serde(default)]
    preimage: Option<SecretText>,
}

/// A string that is zeroized on drop, also when parsing fails after it was read.
struct SecretText(Zeroizing<String>);

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(|s| SecretText(Zeroizing::new(s)))
    }
}

impl PaymentCredential {
    /// A credential answering `challenge` with `preimage`.
    #[must_use]
    pub fn new(challenge: PaymentChallenge, preimage: &Preimage) -> Self {
        PaymentCredential {
            challenge,
            source: None,
            payload: ChargePayload::new(preimage),
        }
    }

    /// The JSON text: `{"challenge":{…},"source"?:…,"payload":{"preimage":"…"}}`, members
    /// in Aperture's order. Zeroized on drop (it holds the preimage).
    #[must_use]
    pub fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let wire = WireOut {
            challenge: &self.challenge,
            source: self.source.as_deref(),
            payload: PayloadOut {
                preimage: &self.payload.preimage,
            },
        };
        // Room for everything up front, so that no reallocation leaves a copy of the
        // preimage behind.
        let c = &self.challenge;
        let estimate = 256
            + [&c.id, &c.realm, &c.method, &c.intent, &c.request]
                .iter()
                .map(|s| 2 * s.len())
                .sum::<usize>()
            + [
                &c.expires,
                &c.description,
                &c.opaque,
                &c.digest,
                &self.source,
            ]
            .iter()
            .map(|s| s.as_ref().map_or(0, |s| 2 * s.len() + 16))
            .sum::<usize>();
        let mut out = Zeroizing::new(Vec::with_capacity(estimate));
        // Serializing strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &wire);
        out
    }

    /// The `Authorization` value: `Payment <base64url JSON, no padding>`. Zeroized on
    /// drop.
    #[must_use]
    pub fn to_header_string(&self) -> Zeroizing<String> {
        let json = self.to_json();
        let mut out = Zeroizing::new(String::with_capacity(8 + json.len().div_ceil(3) * 4));
        out.push_str(SCHEME);
        out.push(' ');
        out.push_str(&Zeroizing::new(base64url_encode(&json)));
        out
    }

    /// The `Authorization` value as a header value, marked sensitive.
    ///
    /// # Errors
    /// [`http::header::InvalidHeaderValue`] never in practice (base64url is visible
    /// ASCII).
    pub fn to_header_value(&self) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
        let mut v = HeaderValue::try_from(self.to_header_string().as_str())?;
        v.set_sensitive(true);
        Ok(v)
    }

    /// Parses one `Authorization` value: `Payment` in any case, one or more spaces or
    /// tabs, then strict base64url (padded or not) of the credential JSON. Charge
    /// credentials for the `lightning` method only; session credentials are recognised
    /// and refused with [`ParsePaymentCredentialError::SessionUnsupported`].
    ///
    /// # Errors
    /// [`ParsePaymentCredentialError`] naming what is wrong.
    pub fn parse_authorization(value: &str) -> Result<Self, ParsePaymentCredentialError> {
        if value.len() > MAX_PAYMENT_AUTHORIZATION_LEN {
            return Err(ParsePaymentCredentialError::TooLong(value.len()));
        }
        let token = payment_token(value).ok_or(ParsePaymentCredentialError::NotPaymentScheme)?;
        if token.is_empty() {
            return Err(ParsePaymentCredentialError::Empty);
        }
        let json =
            Zeroizing::new(base64url_decode(token).map_err(ParsePaymentCredentialError::Base64)?);
        let wire: WireIn =
            serde_json::from_slice(&json).map_err(|e| ParsePaymentCredentialError::Json {
                line: e.line(),
                column: e.column(),
            })?;
        let preimage = wire.payload.preimage.map(|p| p.0);
        let challenge = wire.challenge;
        if challenge.id.is_empty() {
            return Err(ParsePaymentCredentialError::Json { line: 1, column: 1 });
        }
        if challenge.method != METHOD_LIGHTNING {
            return Err(ParsePaymentCredentialError::UnsupportedMethod);
        }
        if challenge.intent == INTENT_SESSION {
            return Err(ParsePaymentCredentialError::SessionUnsupported);
        }
        if challenge.intent != INTENT_CHARGE {
            return Err(ParsePaymentCredentialError::UnknownIntent);
        }
        let preimage = preimage.ok_or(ParsePaymentCredentialError::MissingPreimage)?;
        if preimage.is_empty()
            || preimage.len() > MAX_PREIMAGE_HEX_LEN
            || !preimage.bytes().all(|b| b.is_ascii_hexdigit())
        {
            return Err(ParsePaymentCredentialError::InvalidPreimage);
        }
        Ok(PaymentCredential {
            challenge,
            source: wire.source,
            payload: ChargePayload { preimage },
        })
    }

    /// Whether an `Authorization` value uses the `Payment` scheme (any case), without
    /// parsing it: how a server that speaks both L402 and Payment routes a request.
    #[must_use]
    pub fn is_payment_authorization(value: &str) -> bool {
        payment_token(value).is_some()
    }

    /// The Payment credential among a request's `Authorization` fields: `None` when no
    /// field uses the `Payment` scheme; several are accepted only if they parse to the
    /// same credential.
    ///
    /// # Errors
    /// The first Payment field's [`ParsePaymentCredentialError`], or
    /// [`Conflicting`](ParsePaymentCredentialError::Conflicting).
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ParsePaymentCredentialError> {
        let mut found: Option<Self> = None;
        for (n, v) in headers.get_all(AUTHORIZATION).iter().enumerate() {
            if n >= MAX_AUTHORIZATION_FIELDS {
                return Err(ParsePaymentCredentialError::TooManyFields);
            }
            let Ok(s) = v.to_str() else { continue };
            if !Self::is_payment_authorization(s) {
                continue;
            }
            let c = Self::parse_authorization(s)?;
            match &found {
                None => found = Some(c),
                Some(f) if *f == c => {}
                Some(_) => return Err(ParsePaymentCredentialError::Conflicting),
            }
        }
        Ok(found)
    }
}

/// The token after `Payment` and white space, or `None` for another scheme.
fn payment_token(value: &str) -> Option<&str> {
    let value = value.trim_start_matches([' ', '\t']);
    let scheme = value.get(..SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let rest = &value[SCHEME.len()..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some(rest.trim_matches([' ', '\t']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge() -> PaymentChallenge {
        PaymentChallenge::new("id", "r", "lightning", "charge", "cQ")
            .with_expires("2026-03-15T12:05:00Z")
    }

    #[test]
    fn round_trips_and_redacts() {
        let p = Preimage::from_bytes([0xab; 32]);
        let c = PaymentCredential::new(challenge(), &p);
        let h = c.to_header_string();
        assert!(h.starts_with("Payment ey"));
        let back = PaymentCredential::parse_authorization(&h).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.payload.preimage().unwrap(), p);
        let dbg = format!("{back:?}");
        assert!(dbg.contains("<redacted>") && !dbg.contains("abab"), "{dbg}");
        assert!(c.to_header_value().unwrap().is_sensitive());
    }

    #[test]
    fn scheme_is_a_whole_word_in_any_case() {
        assert!(PaymentCredential::is_payment_authorization("PAYMENT x"));
        assert!(PaymentCredential::is_payment_authorization("\tpayment\tx"));
        assert!(!PaymentCredential::is_payment_authorization("Paymentx y"));
        assert!(!PaymentCredential::is_payment_authorization("L402 x:y"));
        assert_eq!(
            PaymentCredential::parse_authorization("Payment"),
            Err(ParsePaymentCredentialError::Empty)
        );
    }

    fn header(json: &str) -> String {
        format!("Payment {}", base64url_encode(json.as_bytes()))
    }

    #[test]
    fn refuses_other_methods_intents_and_bad_proofs() {
        let c = r#"{"id":"i","realm":"r","method":"lightning","intent":"charge","request":"cQ"}"#;
        let cases = [
            (
                r#"{"challenge":{"id":"i","realm":"r","method":"tempo","intent":"charge","request":"cQ"},"payload":{"preimage":"aa"}}"#.to_owned(),
                ParsePaymentCredentialError::UnsupportedMethod,
            ),
            (
                r#"{"challenge":{"id":"i","realm":"r","method":"lightning","intent":"session","request":"cQ"},"payload":{"action":"bearer"}}"#.to_owned(),
                ParsePaymentCredentialError::SessionUnsupported,
            ),
            (
                r#"{"challenge":{"id":"i","realm":"r","method":"lightning","intent":"x","request":"cQ"},"payload":{}}"#.to_owned(),
                ParsePaymentCredentialError::UnknownIntent,
            ),
            (format!(r#"{{"challenge":{c},"payload":{{}}}}"#), ParsePaymentCredentialError::MissingPreimage),
            (format!(r#"{{"challenge":{c},"payload":{{"preimage":""}}}}"#), ParsePaymentCredentialError::InvalidPreimage),
            (format!(r#"{{"challenge":{c},"payload":{{"preimage":"xyz"}}}}"#), ParsePaymentCredentialError::InvalidPreimage),
            (
                format!(r#"{{"challenge":{c},"payload":{{"preimage":"{}"}}}}"#, "a".repeat(66)),
                ParsePaymentCredentialError::InvalidPreimage,
            ),
        ];
        for (json, want) in cases {
            assert_eq!(
                PaymentCredential::parse_authorization(&header(&json)),
                Err(want),
                "{json}"
            );
        }
        let dup = format!(
            r#"{{"challenge":{c},"payload":{{"preimage":"aa"}},"payload":{{"preimage":"bb"}}}}"#
        );
        assert!(matches!(
            PaymentCredential::parse_authorization(&header(&dup)),
            Err(ParsePaymentCredentialError::Json { .. })
        ));
        let big = format!("Payment {}", "A".repeat(MAX_PAYMENT_AUTHORIZATION_LEN));
        assert_eq!(
            PaymentCredential::parse_authorization(&big),
            Err(ParsePaymentCredentialError::TooLong(big.len()))
        );
    }

    #[test]
    fn json_errors_never_echo_the_preimage() {
        let secret = "f".repeat(64);
        let json = format!(
            r#"{{"challenge":{{"id":"i","realm":"r","method":"lightning","intent":"charge","request":"cQ"}},"payload":{{"preimage":"{secret}"}},"source":7}}"#
        );
        let e = PaymentCredential::parse_authorization(&header(&json)).unwrap_err();
        assert!(!format!("{e} {e:?}").contains(&secret[..8]));
    }

    #[test]
    fn headers_pick_the_payment_field() {
        let p = Preimage::from_bytes([1; 32]);
        let c = PaymentCredential::new(challenge(), &p);
        let mut h = HeaderMap::new();
        h.append(AUTHORIZATION, HeaderValue::from_static("L402 abc:def"));
        assert_eq!(PaymentCredential::from_headers(&h), Ok(None));
        h.append(AUTHORIZATION, c.to_header_value().unwrap());
        assert_eq!(PaymentCredential::from_headers(&h), Ok(Some(c.clone())));
        h.append(AUTHORIZATION, c.to_header_value().unwrap());
        assert_eq!(PaymentCredential::from_headers(&h), Ok(Some(c.clone())));
        let other = PaymentCredential::new(challenge(), &Preimage::from_bytes([2; 32]));
        h.append(AUTHORIZATION, other.to_header_value().unwrap());
        assert_eq!(
            PaymentCredential::from_headers(&h),
            Err(ParsePaymentCredentialError::Conflicting)
        );
    }
}
