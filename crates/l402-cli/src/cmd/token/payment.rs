//! `l402 token decode` for the `Payment` scheme (MPP): challenges, credentials, receipts.

use l402_core::PaymentHash;
use l402_core::payment_scheme::{
    ParsePaymentChallengeError, PaymentChallenge, PaymentCredential, PaymentReceipt,
    decode_json_param,
};
use serde_json::{Value, json};

use crate::describe;
use crate::exit::{CliError, chain};

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
pub(super) fn challenges(value: &str) -> Result<Option<Value>, CliError> {
    let list = match PaymentChallenge::parse_list(value) {
        Ok(list) => list,
        Err(ParsePaymentChallengeError::NoChallenge) => return Ok(None),
        Err(e) => {
            return Err(CliError::config(format!(
                "invalid Payment challenge: {}",
                chain(&e)
            )));
        }
    };
    Ok(Some(json!({
        "kind": "payment_challenge",
        "challenges": list.iter().map(challenge).collect::<Vec<_>>(),
    })))
}

/// One challenge: its fields, the request decoded, and for a Lightning charge the invoice
/// decoded and checked against the request as the client does before paying.
fn challenge(c: &PaymentChallenge) -> Value {
    let mut out = json!({
        "id": c.id,
        "realm": c.realm,
        "method": c.method,
        "intent": c.intent,
        "expires": c.expires,
        "description": c.description,
        "digest": c.digest,
        "opaque": c.opaque,
        "request_encoded": c.request,
    });
    match c.expires_at() {
        Ok(at) => out["expired"] = json!(at <= std::time::SystemTime::now()),
        Err(_) if c.expires.is_none() => {}
        Err(e) => out["expires_error"] = json!(chain(&e)),
    }
    match decode_json_param::<Value>(&c.request) {
        Ok(v) => out["request"] = v,
        Err(e) => out["request_error"] = json!(chain(&e)),
    }
    if !c.is_lightning_charge() {
        out["note"] = json!("not a Lightning charge: l402 get never pays it");
        return out;
    }
    let request = match c.charge_request() {
        Ok(r) => r,
        Err(e) => {
            out["charge_error"] = json!(chain(&e));
            return out;
        }
    };
    out["invoice"] = json!(request.invoice);
    if let Ok(inv) = request
        .invoice
        .parse::<l402_core::lightning_invoice::Bolt11Invoice>()
    {
        out["decoded_invoice"] = describe::invoice(&inv);
    }
    match request.check_invoice() {
        Ok(_) => out["invoice_matches_request"] = json!(true),
        Err(e) => {
            out["invoice_matches_request"] = json!(false);
            out["invoice_check_error"] = json!(chain(&e));
        }
    }
    out
}

/// An `Authorization: Payment …` value. The preimage is the secret the input carries;
/// it is shown redacted, with whether it matches the challenge's payment hash.
pub(super) fn credential(value: &str) -> Result<Value, CliError> {
    let cred = PaymentCredential::parse_authorization(value)
        .map_err(|e| CliError::config(format!("invalid Payment credential: {}", chain(&e))))?;
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
        "challenge": challenge(&cred.challenge),
        "source": cred.source,
        "preimage": "<redacted>",
        "preimage_matches_payment_hash": matches,
    }))
}

/// A `Payment-Receipt` value.
pub(super) fn receipt(value: &str) -> Result<Value, CliError> {
    let r = PaymentReceipt::parse(value)
        .map_err(|e| CliError::config(format!("invalid Payment receipt: {}", chain(&e))))?;
    let mut out = json!({ "kind": "payment_receipt" });
    if let (Value::Object(o), Ok(Value::Object(fields))) = (&mut out, serde_json::to_value(&r)) {
        o.extend(fields);
    }
    out["success"] = json!(r.is_success());
    Ok(out)
}
