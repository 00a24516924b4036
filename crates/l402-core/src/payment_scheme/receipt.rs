//! The `Payment-Receipt` header a server returns with a paid response.

use std::time::SystemTime;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use super::METHOD_LIGHTNING;
use super::json::MAX_JSON_LEN;
use super::time::format_rfc3339;
use crate::PaymentHash;
use crate::encoding::{Base64Error, base64url_decode, base64url_encode};

/// The `Payment-Receipt` header name.
pub const PAYMENT_RECEIPT: HeaderName = HeaderName::from_static("payment-receipt");
/// The only receipt status: receipts are sent on success only.
pub const RECEIPT_STATUS_SUCCESS: &str = "success";
/// Longest `Payment-Receipt` value parsed.
pub const MAX_RECEIPT_LEN: usize = 4 * 1024;

/// Why a `Payment-Receipt` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseReceiptError {
    /// Longer than [`MAX_RECEIPT_LEN`].
    #[error("receipt of {0} bytes exceeds the size limit")]
    TooLong(usize),
    /// Not strict base64url.
    #[error("receipt is not base64url")]
    Base64(#[source] Base64Error),
    /// Not JSON of a receipt's shape (`status`, `method`, `timestamp` and `reference`
    /// are required).
    #[error("receipt is not valid json (line {line}, column {column})")]
    Json {
        /// Line of the error, from 1.
        line: usize,
        /// Column of the error, from 1.
        column: usize,
    },
}

/// A payment receipt: `{"status":"success","method":"lightning","timestamp":"<RFC 3339>",
/// "reference":"<payment hash hex>","challengeId"?:"…"}`. It never carries the preimage.
///
/// The session intent's receipts add `refundSats` and `refundStatus`; they are read too
/// (this crate does not emit them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PaymentReceipt {
    /// `success`.
    pub status: String,
    /// The payment method, `lightning`.
    pub method: String,
    /// When the payment was verified (RFC 3339).
    pub timestamp: String,
    /// The method's reference: for Lightning, the payment hash as hex.
    pub reference: String,
    /// The challenge the payment answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub challenge_id: Option<String>,
    /// Session close: satoshis refunded (omitted when zero).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_sats: Option<u64>,
    /// Session close: what happened to the refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<String>,
}

impl PaymentReceipt {
    /// A receipt for a verified Lightning charge.
    #[must_use]
    pub fn lightning_charge(
        payment_hash: &PaymentHash,
        challenge_id: &str,
        at: SystemTime,
    ) -> Self {
        PaymentReceipt {
            status: RECEIPT_STATUS_SUCCESS.to_owned(),
            method: METHOD_LIGHTNING.to_owned(),
            timestamp: format_rfc3339(at),
            reference: payment_hash.to_hex(),
            challenge_id: (!challenge_id.is_empty()).then(|| challenge_id.to_owned()),
            refund_sats: None,
            refund_status: None,
        }
    }

    /// Whether the status is `success`.
    #[must_use]
    pub fn is_success(&self) -> bool {
        self.status == RECEIPT_STATUS_SUCCESS
    }

    /// The JSON text, members in Aperture's order.
    #[must_use]
    pub fn to_json(&self) -> String {
        // A struct of strings and integers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The header value: base64url (no padding) of the JSON.
    #[must_use]
    pub fn to_header_string(&self) -> String {
        base64url_encode(self.to_json().as_bytes())
    }

    /// The header value.
    ///
    /// # Errors
    /// Never in practice (base64url is visible ASCII).
    pub fn to_header_value(&self) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
        HeaderValue::try_from(self.to_header_string())
    }

    /// Parses a `Payment-Receipt` value (padded or not; unknown members ignored).
    ///
    /// # Errors
    /// [`ParseReceiptError`].
    pub fn parse(value: &str) -> Result<Self, ParseReceiptError> {
        let value = value.trim_matches([' ', '\t']);
        if value.len() > MAX_RECEIPT_LEN.min(MAX_JSON_LEN) {
            return Err(ParseReceiptError::TooLong(value.len()));
        }
        let bytes = base64url_decode(value).map_err(ParseReceiptError::Base64)?;
        serde_json::from_slice(&bytes).map_err(|e| ParseReceiptError::Json {
            line: e.line(),
            column: e.column(),
        })
    }

    /// The receipt in a response's headers: `None` without a `Payment-Receipt` field (or
    /// with one that is not visible ASCII).
    ///
    /// # Errors
    /// [`ParseReceiptError`] for a field that does not parse.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<Self>, ParseReceiptError> {
        match headers.get(PAYMENT_RECEIPT).and_then(|v| v.to_str().ok()) {
            Some(v) => Self::parse(v).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn charge_receipt_round_trips_without_a_secret() {
        let hash = PaymentHash::from_bytes([0xbc; 32]);
        let r = PaymentReceipt::lightning_charge(
            &hash,
            "cid",
            UNIX_EPOCH + Duration::from_secs(1_773_176_400),
        );
        assert_eq!(
            r.to_json(),
            format!(
                r#"{{"status":"success","method":"lightning","timestamp":"2026-03-10T21:00:00Z","reference":"{}","challengeId":"cid"}}"#,
                hash.to_hex()
            )
        );
        assert_eq!(PaymentReceipt::parse(&r.to_header_string()), Ok(r.clone()));
        let mut headers = HeaderMap::new();
        headers.insert(PAYMENT_RECEIPT, r.to_header_value().unwrap());
        assert_eq!(PaymentReceipt::from_headers(&headers), Ok(Some(r)));
        assert_eq!(PaymentReceipt::from_headers(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn refuses_non_receipts() {
        assert!(matches!(
            PaymentReceipt::parse("e30"),
            Err(ParseReceiptError::Json { .. })
        ));
        assert!(matches!(
            PaymentReceipt::parse("e30+"),
            Err(ParseReceiptError::Base64(_))
        ));
        let long = "A".repeat(MAX_RECEIPT_LEN + 1);
        assert_eq!(
            PaymentReceipt::parse(&long),
            Err(ParseReceiptError::TooLong(long.len()))
        );
    }
}
