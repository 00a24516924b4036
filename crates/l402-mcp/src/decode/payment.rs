//! Decoding for the `Payment` scheme (MPP): challenges, credentials, receipts.

use l402_core::PaymentHash;
use l402_core::payment_scheme::{
    ParsePaymentChallengeError, PaymentChallenge, PaymentCredential, PaymentReceipt,
};
use serde_json::{Value, json};

use super::{DecodeError, describe};

/// Whether `value` starts with the `Payment` scheme name (any case) and white space.
pub(super) fn has_payment_scheme(value: &str) -> bool {
    value
        .split_once([' ', '\t'])
        .is_some_and(|(scheme, _)| scheme.eq_ignore_ascii_case("payment"))
}

/// Whether what follows the scheme is one token68 (`Payment <base64url>`, a credential)
/// rather than `name=value` parameters (a challenge).
pub(super) fn is_token68_after_scheme(value: &str) -> bool {
    let rest = value
        .split_once([' ', '\t'])
        .map_or("", |(_, rest)| rest.trim());
    let body = rest.trim_end_matches('=');
    body.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// A `WWW-Authenticate` value holding one or more `Payment` challenges; `None` when it
/// holds none (it may hold an L402 one).
pub(super) fn challenges(value: &str) -> Result<Option<Value>, DecodeError> {
    let list = match PaymentChallenge::parse_list(value) {
        Ok(list) => list,
        Err(ParsePaymentChallengeError::NoChallenge) => return Ok(None),
        Err(e) => {
            return Err(DecodeError::new("invalid Payment challenge", &e));
        }
    };
    Ok(Some(json!({
        "kind": "payment_challenge",
        "challenges": list.iter().map(describe::payment_challenge).collect::<Vec<_>>(),
    })))
}

/// An `Authorization: Payment …` value. The preimage is the secret the input carries;
/// it is shown redacted, with whether it matches the challenge's payment hash.
pub(super) fn credential(value: &str) -> Result<Value, DecodeError> {
    let cred = PaymentCredential::parse_authorization(value)
        .map_err(|e| DecodeError::new("invalid Payment credential", &e))?;
    let hash = cred.challenge.charge_request().ok().and_then(|r| {
        r.payment_hash.or_else(|| {
            r.invoice
                .parse::<l402_core::lightning_invoice::Bolt11Invoice>()
                .ok()
                .map(|i| PaymentHash::from(&i))
        })
    });
    let matches = match (cred.payload.preimage(), hash) {
        (Ok(p), Some(h)) => Some(h.matches(&p)),
        _ => None,
    };
    Ok(json!({
        "kind": "payment_credential",
        "challenge": describe::payment_challenge(&cred.challenge),
        "source": cred.source,
        "preimage": "<redacted>",
        "preimage_matches_payment_hash": matches,
    }))
}

/// A `Payment-Receipt` value.
pub(super) fn receipt(value: &str) -> Result<Value, DecodeError> {
    let r = PaymentReceipt::parse(value)
        .map_err(|e| DecodeError::new("invalid Payment receipt", &e))?;
    let mut out = json!({ "kind": "payment_receipt" });
    if let (Value::Object(o), Ok(Value::Object(fields))) = (&mut out, serde_json::to_value(&r)) {
        o.extend(fields);
    }
    out["success"] = json!(r.is_success());
    Ok(out)
}
