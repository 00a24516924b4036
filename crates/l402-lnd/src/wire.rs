//! LND's REST JSON, only the fields the backend reads or sends (see
//! `shared/backends/lnd-rest.json`). Responses are read leniently: unknown fields are
//! ignored, missing ones take their protojson zero value, 64-bit integers may come as
//! strings (what LND sends) or numbers.

use serde::{Deserialize, Deserializer, Serialize};

/// A 64-bit protojson integer: a string of digits, or a number.
fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Int {
        Number(i64),
        Text(String),
    }
    match Option::<Int>::deserialize(d)? {
        None => Ok(0),
        Some(Int::Number(n)) => Ok(n),
        Some(Int::Text(s)) if s.is_empty() => Ok(0),
        Some(Int::Text(s)) => s.parse().map_err(serde::de::Error::custom),
    }
}

/// A `google.rpc.Status`: LND's error body.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct RpcStatus {
    #[serde(default)]
    pub(crate) code: i32,
    #[serde(default)]
    pub(crate) message: String,
}

/// One line of a server stream: `{"result": …}` or `{"error": …}`.
#[derive(Debug, Deserialize)]
pub(crate) struct StreamLine<T> {
    #[serde(default = "Option::default")]
    pub(crate) result: Option<T>,
    #[serde(default)]
    pub(crate) error: Option<RpcStatus>,
}

/// An error body: unary (`{"code",…}`) or a stream's first line (`{"error":{…}}`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum ErrorBody {
    Wrapped { error: RpcStatus },
    Unary(RpcStatus),
}

impl ErrorBody {
    pub(crate) fn into_status(self) -> RpcStatus {
        match self {
            ErrorBody::Wrapped { error } | ErrorBody::Unary(error) => error,
        }
    }
}

/// `lnrpc.Invoice` as `AddInvoice` takes it (only what the backend sets).
#[derive(Debug, Serialize)]
pub(crate) struct AddInvoiceRequest<'a> {
    pub(crate) memo: &'a str,
    pub(crate) value_msat: String,
    pub(crate) expiry: String,
}

/// `lnrpc.AddInvoiceResponse`.
#[derive(Debug, Deserialize)]
pub(crate) struct AddInvoiceResponse {
    #[serde(default)]
    pub(crate) r_hash: String,
    #[serde(default)]
    pub(crate) payment_request: String,
}

/// `lnrpc.Invoice` as `LookupInvoice` answers it.
#[derive(Debug, Deserialize)]
pub(crate) struct Invoice {
    #[serde(default)]
    pub(crate) r_hash: String,
    #[serde(default, deserialize_with = "int64")]
    pub(crate) creation_date: i64,
    #[serde(default, deserialize_with = "int64")]
    pub(crate) settle_date: i64,
    #[serde(default, deserialize_with = "int64")]
    pub(crate) expiry: i64,
    #[serde(default, deserialize_with = "int64")]
    pub(crate) amt_paid_msat: i64,
    #[serde(default)]
    pub(crate) state: String,
}

/// `lnrpc.GetInfoResponse`.
#[derive(Debug, Deserialize)]
pub(crate) struct GetInfo {
    #[serde(default)]
    pub(crate) identity_pubkey: String,
    #[serde(default)]
    pub(crate) alias: String,
    #[serde(default)]
    pub(crate) chains: Vec<Option<Chain>>,
}

/// `lnrpc.Chain`.
#[derive(Debug, Deserialize)]
pub(crate) struct Chain {
    #[serde(default)]
    pub(crate) network: String,
}

/// `routerrpc.SendPaymentRequest` (only what the backend sets).
#[derive(Debug, Serialize)]
pub(crate) struct SendPaymentRequest<'a> {
    pub(crate) payment_request: &'a str,
    pub(crate) fee_limit_msat: String,
    pub(crate) timeout_seconds: i32,
    pub(crate) no_inflight_updates: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) amt_msat: Option<String>,
    /// The route's total time lock limit (a JSON number; zero or absent: LND's
    /// `--max-cltv-expiry`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cltv_limit: Option<i32>,
}

/// `lnrpc.Payment`.
#[derive(Debug, Deserialize)]
pub(crate) struct Payment {
    /// Hex, not base64.
    #[serde(default)]
    pub(crate) payment_hash: String,
    /// Hex; 64 zeros until the payment succeeded.
    #[serde(default)]
    pub(crate) payment_preimage: String,
    #[serde(default, deserialize_with = "int64")]
    pub(crate) value_msat: i64,
    #[serde(default, deserialize_with = "int64")]
    pub(crate) fee_msat: i64,
    #[serde(default)]
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) failure_reason: String,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn int64_accepts_strings_and_numbers() {
        let i: Invoice = serde_json::from_str(
            r#"{"creation_date":"1780000000","expiry":3600,"settle_date":null}"#,
        )
        .unwrap();
        assert_eq!(i.creation_date, 1_780_000_000);
        assert_eq!(i.expiry, 3600);
        assert_eq!(i.settle_date, 0);
        assert!(serde_json::from_str::<Invoice>(r#"{"expiry":"x"}"#).is_err());
    }

    #[test]
    fn error_bodies_both_shapes() {
        let wrapped: ErrorBody = serde_json::from_str(
            r#"{"error":{"code":5,"message":"payment isn't initiated","details":[]}}"#,
        )
        .unwrap();
        assert_eq!(wrapped.into_status().code, 5);
        let unary: ErrorBody =
            serde_json::from_str(r#"{"code":2,"message":"permission denied","details":[]}"#)
                .unwrap();
        assert_eq!(unary.into_status().message, "permission denied");
    }

    #[test]
    fn send_request_shape() {
        let body = SendPaymentRequest {
            payment_request: "lnbcrt1",
            fee_limit_msat: "5000".into(),
            timeout_seconds: 30,
            no_inflight_updates: false,
            amt_msat: None,
            cltv_limit: Some(1008),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"payment_request":"lnbcrt1","fee_limit_msat":"5000","timeout_seconds":30,"no_inflight_updates":false,"cltv_limit":1008}"#
        );
    }
}
