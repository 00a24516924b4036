//! clnrest's JSON, only the fields the backend reads or sends (see
//! `shared/backends/cln-rest.json`). Responses are read leniently: unknown fields are
//! ignored; msat amounts are integers (v23.02+) or, from older nodes, `"<n>msat"` strings.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// An msat amount: a JSON integer, or a string `<n>msat`.
fn msat<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Msat {
        Number(u64),
        Text(String),
    }
    match Option::<Msat>::deserialize(d)? {
        None => Ok(None),
        Some(Msat::Number(n)) => Ok(Some(n)),
        Some(Msat::Text(s)) => s
            .strip_suffix("msat")
            .unwrap_or(&s)
            .parse()
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// The error body: `{"code","message","data"}`, `code` and `data` possibly `null`.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub(crate) code: Option<i64>,
    pub(crate) message: String,
}

/// `invoice`'s parameters (only what the backend sets).
#[derive(Debug, Serialize)]
pub(crate) struct InvoiceParams<'a> {
    /// Integer msat, or `"any"`.
    pub(crate) amount_msat: Value,
    pub(crate) label: &'a str,
    pub(crate) description: &'a str,
    pub(crate) expiry: u64,
}

/// `invoice`'s answer.
#[derive(Debug, Deserialize)]
pub(crate) struct InvoiceCreated {
    pub(crate) payment_hash: String,
    pub(crate) bolt11: String,
}

/// `listinvoices`' parameters.
#[derive(Debug, Serialize)]
pub(crate) struct ByHash<'a> {
    pub(crate) payment_hash: &'a str,
}

/// `listinvoices`' answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ListInvoices {
    pub(crate) invoices: Vec<ListedInvoice>,
}

/// One `listinvoices` entry.
#[derive(Debug, Deserialize)]
pub(crate) struct ListedInvoice {
    pub(crate) payment_hash: String,
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) expires_at: u64,
    #[serde(default)]
    pub(crate) paid_at: Option<u64>,
    #[serde(default, deserialize_with = "msat")]
    pub(crate) amount_received_msat: Option<u64>,
    /// Present only once `paid` (this name here; `preimage` in `listpays`).
    #[serde(default)]
    pub(crate) payment_preimage: Option<String>,
}

/// `getinfo`'s answer.
#[derive(Debug, Deserialize)]
pub(crate) struct GetInfo {
    pub(crate) id: String,
    #[serde(default)]
    pub(crate) alias: String,
    pub(crate) network: String,
}

/// `xpay`'s parameters (only what the backend sets). `maxfee` is an integer so that a
/// rune's `pnamemaxfee<N>` restriction can compare it.
#[derive(Debug, Serialize)]
pub(crate) struct XpayParams<'a> {
    pub(crate) invstring: &'a str,
    pub(crate) maxfee: u64,
    pub(crate) retry_for: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) amount_msat: Option<u64>,
    /// The route's total CLTV delay limit in blocks (xpay's default: 2016).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) maxdelay: Option<u32>,
}

/// `xpay`'s answer: no `payment_hash`, no `status` (success is the 201 itself).
#[derive(Debug, Deserialize)]
pub(crate) struct XpayDone {
    pub(crate) payment_preimage: String,
    #[serde(default, deserialize_with = "msat")]
    pub(crate) amount_msat: Option<u64>,
    #[serde(default, deserialize_with = "msat")]
    pub(crate) amount_sent_msat: Option<u64>,
}

/// `listpays`' answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ListPays {
    pub(crate) pays: Vec<Pay>,
}

/// One `listpays` entry (all parts of one payment combined).
#[derive(Debug, Deserialize)]
pub(crate) struct Pay {
    pub(crate) payment_hash: String,
    pub(crate) status: String,
    /// Present only once `complete` (this name here; `payment_preimage` elsewhere).
    #[serde(default)]
    pub(crate) preimage: Option<String>,
    #[serde(default, deserialize_with = "msat")]
    pub(crate) amount_msat: Option<u64>,
    #[serde(default, deserialize_with = "msat")]
    pub(crate) amount_sent_msat: Option<u64>,
}

/// `listsendpays`' answer.
#[derive(Debug, Deserialize)]
pub(crate) struct ListSendPays {
    pub(crate) payments: Vec<SendPay>,
}

/// One `listsendpays` entry: one part of one attempt.
#[derive(Debug, Deserialize)]
pub(crate) struct SendPay {
    pub(crate) payment_hash: String,
    pub(crate) status: String,
    #[serde(default)]
    pub(crate) groupid: u64,
    #[serde(default)]
    pub(crate) payment_preimage: Option<String>,
    #[serde(default, deserialize_with = "msat")]
    pub(crate) amount_msat: Option<u64>,
    #[serde(default, deserialize_with = "msat")]
    pub(crate) amount_sent_msat: Option<u64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn msat_accepts_integers_and_old_strings() {
        let pay: Pay = serde_json::from_str(
            r#"{"payment_hash":"00","status":"complete","amount_msat":1000,"amount_sent_msat":"1001msat"}"#,
        )
        .unwrap();
        assert_eq!(pay.amount_msat, Some(1000));
        assert_eq!(pay.amount_sent_msat, Some(1001));
        assert!(pay.preimage.is_none());
    }

    #[test]
    fn error_bodies_with_null_code() {
        let e: ErrorBody =
            serde_json::from_str(r#"{"code":null,"message":"x","data":null}"#).unwrap();
        assert_eq!(e.code, None);
        let e: ErrorBody =
            serde_json::from_str(r#"{"code":900,"message":"Duplicate label 'a'","data":null}"#)
                .unwrap();
        assert_eq!(e.code, Some(900));
    }

    #[test]
    fn xpay_params_shape() {
        let body = XpayParams {
            invstring: "lnbcrt1",
            maxfee: 5000,
            retry_for: 30,
            amount_msat: None,
            maxdelay: Some(1008),
        };
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"invstring":"lnbcrt1","maxfee":5000,"retry_for":30,"maxdelay":1008}"#
        );
    }
}
