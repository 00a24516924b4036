//! JSON descriptions of macaroons, challenges and invoices (the `l402 token decode` view,
//! also used by `l402 get --no-pay`).

use std::time::{Duration, SystemTime};

use l402_core::encoding::hex_encode;
use l402_core::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef, Currency};
use l402_core::{Challenge, Identifier, Macaroon, PaymentHash};
use serde_json::{Value, json};

/// A macaroon: location, identifier (decoded when it is an L402 version 0 identifier,
/// raw hex with a note otherwise), caveats and signature.
pub fn macaroon(mac: &Macaroon) -> Value {
    let identifier = match Identifier::decode(mac.identifier()) {
        Ok(id) => json!({
            "version": id.version(),
            "payment_hash": id.payment_hash().to_hex(),
            "token_id": id.token_id().to_hex(),
            "hex": hex_encode(mac.identifier()),
        }),
        Err(e) => json!({
            "hex": hex_encode(mac.identifier()),
            "note": format!("not an L402 version 0 identifier ({e}); shown as raw hex"),
        }),
    };
    json!({
        "location": mac.location(),
        "identifier": identifier,
        "caveats": mac.caveats(),
        "signature": hex_encode(mac.signature()),
        "macaroon_base64": mac.to_base64(),
    })
}

/// The network name we print and accept for a BOLT11 currency.
pub fn network_name(currency: &Currency) -> &'static str {
    match currency {
        Currency::Bitcoin => "mainnet",
        Currency::BitcoinTestnet => "testnet",
        Currency::Regtest => "regtest",
        Currency::Simnet => "simnet",
        Currency::Signet => "signet",
    }
}

fn unix(d: Duration) -> u64 {
    d.as_secs()
}

/// A decoded BOLT11 invoice.
pub fn invoice(invoice: &Bolt11Invoice) -> Value {
    let created = invoice.duration_since_epoch();
    let expiry = invoice.expiry_time();
    let expires_at = created.saturating_add(expiry);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let description = match invoice.description() {
        Bolt11InvoiceDescriptionRef::Direct(d) => Some(d.to_string()),
        Bolt11InvoiceDescriptionRef::Hash(_) => None,
    };
    json!({
        "amount_msat": invoice.amount_milli_satoshis(),
        "payment_hash": PaymentHash::from(invoice).to_hex(),
        "network": network_name(&invoice.currency()),
        "description": description,
        "created_at": unix(created),
        "expiry_seconds": expiry.as_secs(),
        "expires_at": unix(expires_at),
        "expired": now >= expires_at,
        "payee": invoice.get_payee_pub_key().to_string(),
    })
}

/// A challenge: the macaroon's fields, the scheme, the invoice as sent and decoded, and whether the
/// invoice pays for the macaroon's payment hash.
pub fn challenge(ch: &Challenge) -> Value {
    let mut out = macaroon(ch.macaroon());
    out["scheme"] = json!(ch.scheme().as_str());
    out["invoice"] = json!(ch.invoice());
    match ch.decode_invoice() {
        Ok(inv) => {
            let matches = Identifier::decode(ch.macaroon().identifier())
                .ok()
                .map(|id| *id.payment_hash() == PaymentHash::from(&inv));
            out["decoded_invoice"] = invoice(&inv);
            out["invoice_matches_token"] = json!(matches);
        }
        Err(e) => out["invoice_error"] = json!(e.to_string()),
    }
    out
}

/// A `Payment` scheme challenge: its fields, the request decoded, and for a Lightning charge the invoice
/// decoded and checked against the request as the client does before paying.
pub fn payment_challenge(c: &l402_core::payment_scheme::PaymentChallenge) -> Value {
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
        Err(e) => out["expires_error"] = json!(l402_core::ErrorChain(&e).to_string()),
    }
    match l402_core::payment_scheme::decode_json_param::<Value>(&c.request) {
        Ok(v) => out["request"] = v,
        Err(e) => out["request_error"] = json!(l402_core::ErrorChain(&e).to_string()),
    }
    if !c.is_lightning_charge() {
        out["note"] = json!("not a Lightning charge: l402 get never pays it");
        return out;
    }
    let request = match c.charge_request() {
        Ok(r) => r,
        Err(e) => {
            out["charge_error"] = json!(l402_core::ErrorChain(&e).to_string());
            return out;
        }
    };
    out["invoice"] = json!(request.invoice);
    if let Ok(inv) = request
        .invoice
        .parse::<l402_core::lightning_invoice::Bolt11Invoice>()
    {
        out["decoded_invoice"] = invoice(&inv);
    }
    match request.check_invoice() {
        Ok(_) => out["invoice_matches_request"] = json!(true),
        Err(e) => {
            out["invoice_matches_request"] = json!(false);
            out["invoice_check_error"] = json!(l402_core::ErrorChain(&e).to_string());
        }
    }
    out
}
