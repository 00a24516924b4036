//! The `WWW-Authenticate: Payment …` challenge and challenge lists.

use std::time::SystemTime;

use http::header::{HeaderMap, HeaderValue, InvalidHeaderValue, WWW_AUTHENTICATE};
use serde::{Deserialize, Serialize};

use super::challenge_id::{ChallengeBinding, ChallengeIdSecret};
use super::request::{ChargeRequest, DecodeChargeRequestError};
use super::time::{TimestampError, format_rfc3339, parse_rfc3339};
use super::{INTENT_CHARGE, METHOD_LIGHTNING, SCHEME};
use crate::header::params;

/// Longest `WWW-Authenticate` field value parsed for Payment challenges. A charge
/// challenge carries a BOLT11 invoice (at most 7,089 characters) inside base64url JSON,
/// about 10 KB in all; a field may join several challenges (Aperture sends L402, LSAT and
/// two Payment offers in one 402).
pub const MAX_PAYMENT_CHALLENGE_VALUE_LEN: usize = 32 * 1024;
/// Most `WWW-Authenticate` fields examined in one response.
pub const MAX_PAYMENT_CHALLENGE_FIELDS: usize = 16;

/// Why no usable Payment challenge was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParsePaymentChallengeError {
    /// No `Payment` challenge at all.
    #[error("no Payment challenge")]
    NoChallenge,
    /// Payment challenges were offered, but each lacks a required parameter (`id`,
    /// `realm`, `method`, `intent`, `request`; `id` must not be empty). Names the first
    /// offer's first missing parameter.
    #[error("every Payment challenge is incomplete: no {0}")]
    Incomplete(&'static str),
    /// A field value is longer than [`MAX_PAYMENT_CHALLENGE_VALUE_LEN`].
    #[error("challenge header of {0} bytes exceeds the size limit")]
    TooLong(usize),
    /// More fields than [`MAX_PAYMENT_CHALLENGE_FIELDS`].
    #[error("too many WWW-Authenticate fields")]
    TooManyFields,
}

/// Why a challenge's `expires` is unusable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeExpiryError {
    /// The challenge has no `expires`.
    #[error("challenge has no expiry")]
    Missing,
    /// `expires` is not an RFC 3339 timestamp.
    #[error("challenge expiry is invalid")]
    Invalid(#[source] TimestampError),
}

/// One `Payment` challenge, as sent in `WWW-Authenticate` and echoed in a credential.
///
/// Every value is kept as the exact text received, because the challenge id binds the
/// text. Serialized (in a credential) in Aperture's field order with absent fields
/// omitted; deserialized with every required field present and duplicates refused.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PaymentChallenge {
    /// `id`: the server's binding of the other fields (non-empty).
    pub id: String,
    /// `realm`: the protection space.
    pub realm: String,
    /// `method`: the payment method (`lightning`).
    pub method: String,
    /// `intent`: `charge` (or `session`, which this crate does not pay or verify).
    pub intent: String,
    /// `request`: base64url of the method's canonical JSON request.
    pub request: String,
    /// `expires`: RFC 3339 time after which the challenge is void.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// `description`: human-readable, not bound by the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `opaque`: base64url of server-defined canonical JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opaque: Option<String>,
    /// `digest`: RFC 9530 digest of the request body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl PaymentChallenge {
    /// A challenge with the required fields and no optional ones.
    #[must_use]
    pub fn new(
        id: impl Into<String>,
        realm: impl Into<String>,
        method: impl Into<String>,
        intent: impl Into<String>,
        request: impl Into<String>,
    ) -> Self {
        PaymentChallenge {
            id: id.into(),
            realm: realm.into(),
            method: method.into(),
            intent: intent.into(),
            request: request.into(),
            expires: None,
            description: None,
            opaque: None,
            digest: None,
        }
    }

    /// A Lightning charge challenge for `request`, valid until `expires`, its id signed
    /// with `secret`. The description, if any, is the request's.
    ///
    /// # Errors
    /// [`CanonicalJsonError`](super::CanonicalJsonError) if the request cannot be
    /// encoded (it always can).
    pub fn lightning_charge(
        secret: &ChallengeIdSecret,
        realm: impl Into<String>,
        request: &ChargeRequest,
        expires: SystemTime,
    ) -> Result<Self, super::CanonicalJsonError> {
        let mut c = PaymentChallenge::new(
            String::new(),
            realm,
            METHOD_LIGHTNING,
            INTENT_CHARGE,
            request.encode()?,
        );
        c.expires = Some(format_rfc3339(expires));
        c.description = request.description.clone();
        Ok(c.signed(secret))
    }

    /// Sets `expires` (RFC 3339 text, kept as given).
    #[must_use]
    pub fn with_expires(mut self, expires: impl Into<String>) -> Self {
        self.expires = Some(expires.into());
        self
    }

    /// Sets `description`.
    #[must_use]
    pub fn with_description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets `opaque` (base64url canonical JSON; see
    /// [`encode_json_param`](super::encode_json_param)).
    #[must_use]
    pub fn with_opaque(mut self, opaque: impl Into<String>) -> Self {
        self.opaque = Some(opaque.into());
        self
    }

    /// Sets `digest`.
    #[must_use]
    pub fn with_digest(mut self, digest: impl Into<String>) -> Self {
        self.digest = Some(digest.into());
        self
    }

    /// Replaces the id with the HMAC of the other fields under `secret`.
    #[must_use]
    pub fn signed(mut self, secret: &ChallengeIdSecret) -> Self {
        self.id = self.binding().id(secret);
        self
    }

    /// The fields the id binds.
    #[must_use]
    pub fn binding(&self) -> ChallengeBinding<'_> {
        ChallengeBinding {
            realm: &self.realm,
            method: &self.method,
            intent: &self.intent,
            request: &self.request,
            expires: self.expires.as_deref().unwrap_or(""),
            digest: self.digest.as_deref().unwrap_or(""),
            opaque: self.opaque.as_deref().unwrap_or(""),
        }
    }

    /// Whether the id is the HMAC of the other fields under `secret` (constant time).
    #[must_use]
    pub fn id_matches(&self, secret: &ChallengeIdSecret) -> bool {
        self.binding().matches(secret, &self.id)
    }

    /// Whether this is a Lightning `charge` offer (method and intent compared exactly:
    /// both are lower-case tokens).
    #[must_use]
    pub fn is_lightning_charge(&self) -> bool {
        self.method == METHOD_LIGHTNING && self.intent == INTENT_CHARGE
    }

    /// `expires` as a time.
    ///
    /// # Errors
    /// [`ChallengeExpiryError`] when absent or not RFC 3339.
    pub fn expires_at(&self) -> Result<SystemTime, ChallengeExpiryError> {
        let text = self
            .expires
            .as_deref()
            .ok_or(ChallengeExpiryError::Missing)?;
        parse_rfc3339(text).map_err(ChallengeExpiryError::Invalid)
    }

    /// Decodes `request` as a Lightning charge request.
    ///
    /// # Errors
    /// [`DecodeChargeRequestError`] when it is not one.
    pub fn charge_request(&self) -> Result<ChargeRequest, DecodeChargeRequestError> {
        ChargeRequest::decode(&self.request)
    }

    /// One field value, parameters in Aperture's order: `Payment id="…", realm="…",
    /// method="…", intent="…", request="…"`, then `expires`, `digest`, `description`,
    /// `opaque` when present. Every value is a quoted-string with only `\` and `"`
    /// escaped.
    #[must_use]
    pub fn to_header_string(&self) -> String {
        let mut out = String::with_capacity(64 + self.request.len());
        out.push_str(SCHEME);
        let params = [
            ("id", Some(self.id.as_str())),
            ("realm", Some(self.realm.as_str())),
            ("method", Some(self.method.as_str())),
            ("intent", Some(self.intent.as_str())),
            ("request", Some(self.request.as_str())),
            ("expires", self.expires.as_deref()),
            ("digest", self.digest.as_deref()),
            ("description", self.description.as_deref()),
            ("opaque", self.opaque.as_deref()),
        ];
        let mut first = true;
        for (name, value) in params {
            let Some(value) = value else { continue };
            out.push_str(if first { " " } else { ", " });
            first = false;
            out.push_str(name);
            out.push_str("=\"");
            for c in value.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        out
    }

    /// The field value as a header value.
    ///
    /// # Errors
    /// [`InvalidHeaderValue`] if a value holds a control character other than a tab
    /// (which no header may carry: this refuses header injection through a description).
    pub fn to_header_value(&self) -> Result<HeaderValue, InvalidHeaderValue> {
        HeaderValue::try_from(self.to_header_string())
    }

    /// Appends the challenge as one more `WWW-Authenticate` field.
    ///
    /// # Errors
    /// As [`to_header_value`](Self::to_header_value); `headers` is unchanged on error.
    pub fn append_to(&self, headers: &mut HeaderMap) -> Result<(), InvalidHeaderValue> {
        headers.append(WWW_AUTHENTICATE, self.to_header_value()?);
        Ok(())
    }

    /// Every complete Payment challenge in one field value, in order. Comma-joined
    /// challenges are split, scheme and parameter names are case-insensitive, values may
    /// be quoted or tokens, other schemes and their parameters are skipped, unknown
    /// parameters ignored, a repeated parameter keeps its first value, and an incomplete
    /// offer is skipped.
    ///
    /// # Errors
    /// [`ParsePaymentChallengeError`] when no complete Payment challenge is found.
    pub fn parse_list(value: &str) -> Result<Vec<Self>, ParsePaymentChallengeError> {
        Self::from_values([value])
    }

    /// Like [`parse_list`](Self::parse_list) over several field values.
    ///
    /// # Errors
    /// As [`parse_list`](Self::parse_list); also when a value or the number of values
    /// exceeds the limits.
    pub fn from_values<'a>(
        values: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<Self>, ParsePaymentChallengeError> {
        let mut found = Vec::new();
        let mut first_missing: Option<&'static str> = None;
        for (n, value) in values.into_iter().enumerate() {
            if n >= MAX_PAYMENT_CHALLENGE_FIELDS {
                return Err(ParsePaymentChallengeError::TooManyFields);
            }
            if value.len() > MAX_PAYMENT_CHALLENGE_VALUE_LEN {
                return Err(ParsePaymentChallengeError::TooLong(value.len()));
            }
            for raw in params::parse(value) {
                if !raw.scheme.eq_ignore_ascii_case(SCHEME) {
                    continue;
                }
                match Self::from_raw(&raw) {
                    Ok(c) => found.push(c),
                    Err(missing) => {
                        first_missing.get_or_insert(missing);
                    }
                }
            }
        }
        if !found.is_empty() {
            return Ok(found);
        }
        Err(first_missing.map_or(
            ParsePaymentChallengeError::NoChallenge,
            ParsePaymentChallengeError::Incomplete,
        ))
    }

    /// Every complete Payment challenge in a response's `WWW-Authenticate` fields. A
    /// field that is not UTF-8 is skipped (obs-text is read as UTF-8, as servers send it).
    ///
    /// # Errors
    /// As [`from_values`](Self::from_values).
    pub fn from_headers(headers: &HeaderMap) -> Result<Vec<Self>, ParsePaymentChallengeError> {
        let mut values = Vec::new();
        for (n, v) in headers.get_all(WWW_AUTHENTICATE).iter().enumerate() {
            if n >= MAX_PAYMENT_CHALLENGE_FIELDS {
                return Err(ParsePaymentChallengeError::TooManyFields);
            }
            if let Ok(s) = core::str::from_utf8(v.as_bytes()) {
                values.push(s);
            }
        }
        Self::from_values(values)
    }

    fn from_raw(raw: &params::RawChallenge<'_>) -> Result<Self, &'static str> {
        let get = |name: &'static str| raw.param(name).ok_or(name);
        let id = get("id")?;
        if id.is_empty() {
            return Err("id");
        }
        let mut c = PaymentChallenge::new(
            id,
            get("realm")?,
            get("method")?,
            get("intent")?,
            get("request")?,
        );
        let opt = |name| raw.param(name).map(str::to_owned);
        c.expires = opt("expires");
        c.digest = opt("digest");
        c.description = opt("description");
        c.opaque = opt("opaque");
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emits_in_aperture_order_and_escapes_only_quote_and_backslash() {
        let c = PaymentChallenge::new("i", "a \"b\" \\c", "lightning", "charge", "cQ")
            .with_description("tab\there é")
            .with_opaque("e30")
            .with_expires("2026-03-15T12:05:00Z");
        assert_eq!(
            c.to_header_string(),
            "Payment id=\"i\", realm=\"a \\\"b\\\" \\\\c\", method=\"lightning\", intent=\"charge\", request=\"cQ\", expires=\"2026-03-15T12:05:00Z\", description=\"tab\there é\", opaque=\"e30\""
        );
        assert_eq!(
            PaymentChallenge::parse_list(&c.to_header_string()),
            Ok(vec![c])
        );
    }

    #[test]
    fn refuses_header_injection() {
        let c = PaymentChallenge::new("i", "r", "lightning", "charge", "cQ")
            .with_description("x\r\nSet-Cookie: a=b");
        assert!(c.to_header_value().is_err());
        let mut headers = HeaderMap::new();
        assert!(c.append_to(&mut headers).is_err());
        assert!(headers.is_empty());
    }

    #[test]
    fn finds_payment_among_other_schemes_and_fields() {
        let mut headers = HeaderMap::new();
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("LSAT macaroon=\"AgE=\", invoice=\"lnbc1\""),
        );
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("L402 macaroon=\"AgE=\", invoice=\"lnbc1\""),
        );
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Payment id=\"a\", realm=\"r\", method=\"lightning\", intent=\"charge\", request=\"cQ\""),
        );
        headers.append(
            WWW_AUTHENTICATE,
            HeaderValue::from_bytes("Payment id=\"b\", realm=\"r\", method=\"lightning\", intent=\"session\", request=\"cQ\", description=\"caf\u{e9}\"".as_bytes()).unwrap(),
        );
        let list = PaymentChallenge::from_headers(&headers).unwrap();
        assert_eq!(list.len(), 2);
        assert!(list[0].is_lightning_charge());
        assert_eq!(list[1].intent, "session");
        assert_eq!(list[1].description.as_deref(), Some("café"));
    }

    #[test]
    fn limits() {
        let big = format!(
            "Payment id=\"a\", realm=\"r\", method=\"lightning\", intent=\"charge\", request=\"{}\"",
            "A".repeat(8 * 1024)
        );
        assert_eq!(
            PaymentChallenge::parse_list(&big).unwrap().len(),
            1,
            "8 KB challenges are fine"
        );
        let huge = "a".repeat(MAX_PAYMENT_CHALLENGE_VALUE_LEN + 1);
        assert_eq!(
            PaymentChallenge::parse_list(&huge),
            Err(ParsePaymentChallengeError::TooLong(huge.len()))
        );
        let many = vec!["Basic realm=x"; MAX_PAYMENT_CHALLENGE_FIELDS + 1];
        assert_eq!(
            PaymentChallenge::from_values(many),
            Err(ParsePaymentChallengeError::TooManyFields)
        );
        assert_eq!(
            PaymentChallenge::parse_list(
                "Payment id=\"\", realm=r, method=lightning, intent=charge, request=cQ"
            ),
            Err(ParsePaymentChallengeError::Incomplete("id"))
        );
    }

    #[test]
    fn expiry_and_signing() {
        let secret = ChallengeIdSecret::from_bytes(&[9; 32]).unwrap();
        let c = PaymentChallenge::new("", "r", "lightning", "charge", "cQ")
            .with_expires("2026-03-15T12:05:00Z")
            .with_description("not bound")
            .signed(&secret);
        assert!(c.id_matches(&secret));
        assert!(c.clone().with_description("changed").id_matches(&secret));
        assert!(
            !c.clone()
                .with_expires("2026-03-15T12:05:01Z")
                .id_matches(&secret)
        );
        assert!(c.expires_at().is_ok());
        assert_eq!(
            PaymentChallenge::new("i", "r", "m", "i", "q").expires_at(),
            Err(ChallengeExpiryError::Missing)
        );
    }
}
