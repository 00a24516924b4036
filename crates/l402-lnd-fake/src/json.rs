//! LND's JSON shapes (protojson with `UseProtoNames` and `EmitUnpopulated`): every field
//! present, 64-bit integers as strings, bytes as standard base64, hashes in
//! `lnrpc.Payment` as hex strings.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::StatusCode;
use l402_core::backend::{FailureReason, InvoiceState, NodeInfo, PaymentStatus};
use l402_core::lightning_invoice::{Bolt11Invoice, Currency};
use l402_core::{Amount, PaymentHash, Preimage};
use l402_mock::{InvoiceRecord, PaymentRecord};
use serde_json::{Value, json};

/// A gRPC status, as LND's REST proxy writes errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub(crate) code: i32,
    pub(crate) message: String,
}

impl Status {
    pub(crate) fn new(code: i32, message: impl Into<String>) -> Self {
        Status {
            code,
            message: message.into(),
        }
    }

    /// The HTTP status grpc-gateway derives from the code.
    pub(crate) fn http_status(&self) -> StatusCode {
        let status = match self.code {
            0 => 200,
            1 => 499,
            3 | 9 | 11 => 400,
            4 => 504,
            5 => 404,
            6 | 10 => 409,
            7 => 403,
            8 => 429,
            12 => 501,
            14 => 503,
            16 => 401,
            _ => 500,
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// `{"code","message","details":[]}`.
    pub(crate) fn to_json(&self) -> Value {
        json!({ "code": self.code, "message": self.message, "details": [] })
    }
}

/// One line of a stream: the JSON object and the newline.
pub(crate) fn line(value: &Value) -> Bytes {
    let mut bytes = value.to_string().into_bytes();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn unix_nanos(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The LND name of a BOLT11 network, as in `GetInfoResponse.chains[].network`.
pub(crate) fn network_name(currency: &Currency) -> &'static str {
    match currency {
        Currency::Bitcoin => "mainnet",
        Currency::BitcoinTestnet => "testnet",
        Currency::Regtest => "regtest",
        Currency::Simnet => "simnet",
        Currency::Signet => "signet",
    }
}

/// Feature bits LND puts in its invoices: tlv-onion, payment-addr, multi-path-payments.
fn invoice_features() -> Value {
    json!({
        "8": { "name": "tlv-onion", "is_required": true, "is_known": true },
        "14": { "name": "payment-addr", "is_required": true, "is_known": true },
        "17": { "name": "multi-path-payments", "is_required": false, "is_known": true },
    })
}

/// The block height the fake reports.
pub(crate) const BLOCK_HEIGHT: u32 = 850;

/// A 64-bit integer as protojson writes it.
fn int(n: impl ToString) -> Value {
    Value::String(n.to_string())
}

/// `lnrpc.GetInfoResponse`.
pub(crate) fn get_info(info: &NodeInfo) -> Value {
    let now = unix_secs(SystemTime::now());
    json!({
        "version": "0.21.2-beta commit=v0.21.2-beta",
        "commit_hash": "29257ecc8892af0c882fa627b66a556190c84fd9",
        "identity_pubkey": info.node_id.to_string(),
        "alias": info.alias,
        "color": "#3399ff",
        "num_pending_channels": 0,
        "num_active_channels": 1,
        "num_inactive_channels": 0,
        "num_peers": 1,
        "block_height": BLOCK_HEIGHT,
        "block_hash": "665e6fa657a14dd66097f81adbda36422b4964b110c7cd87c1af1f76e1e13ac0",
        "best_header_timestamp": int(now),
        "synced_to_chain": true,
        "synced_to_graph": true,
        "testnet": matches!(info.network, Currency::BitcoinTestnet),
        "chains": [ { "chain": "bitcoin", "network": network_name(&info.network) } ],
        "uris": [],
        "features": {
            "0": { "name": "data-loss-protect", "is_required": true, "is_known": true },
            "8": { "name": "tlv-onion", "is_required": true, "is_known": true },
            "12": { "name": "static-remote-key", "is_required": true, "is_known": true },
            "14": { "name": "payment-addr", "is_required": true, "is_known": true },
            "17": { "name": "multi-path-payments", "is_required": false, "is_known": true },
        },
        "require_htlc_interceptor": false,
        "store_final_htlc_resolutions": false,
        "wallet_synced": true,
        "graph_cache_status": "GRAPH_CACHE_STATUS_LOADED",
    })
}

/// `lnrpc.AddInvoiceResponse`.
pub(crate) fn add_invoice_response(invoice: &Bolt11Invoice, add_index: u64) -> Value {
    let hash = PaymentHash::from(invoice);
    json!({
        "r_hash": b64(hash.as_bytes()),
        "payment_request": invoice.to_string(),
        "add_index": int(add_index),
        "payment_addr": b64(&invoice.payment_secret().0),
    })
}

/// `lnrpc.Invoice` for a mock invoice. `cancel_expired` reports an expired invoice as
/// LND's expiry watcher leaves it (CANCELED) rather than as not yet swept (OPEN).
pub(crate) fn invoice(record: &InvoiceRecord, add_index: u64, cancel_expired: bool) -> Value {
    let amount = record.amount.unwrap_or(Amount::ZERO);
    let (state, settle_date, paid) = match &record.state {
        InvoiceState::Settled {
            settled_at,
            amount_received,
        } => ("SETTLED", unix_secs(*settled_at), *amount_received),
        InvoiceState::Accepted => ("ACCEPTED", 0, amount),
        InvoiceState::Canceled => ("CANCELED", 0, Amount::ZERO),
        InvoiceState::Expired if cancel_expired => ("CANCELED", 0, Amount::ZERO),
        _ => ("OPEN", 0, Amount::ZERO),
    };
    let htlc_state = match state {
        "SETTLED" => Some("SETTLED"),
        "ACCEPTED" => Some("ACCEPTED"),
        _ => None,
    };
    let htlcs: Vec<Value> = htlc_state
        .map(|htlc_state| {
            let time = if settle_date == 0 {
                int(unix_secs(SystemTime::now()))
            } else {
                int(settle_date)
            };
            json!({
                "chan_id": "934584883675136",
                "htlc_index": "0",
                "amt_msat": int(paid.msat()),
                "accept_height": BLOCK_HEIGHT,
                "accept_time": time,
                "resolve_time": if htlc_state == "SETTLED" { time.clone() } else { int(0) },
                "expiry_height": u64::from(BLOCK_HEIGHT) + record.invoice.min_final_cltv_expiry_delta(),
                "state": htlc_state,
                "custom_records": {},
                "mpp_total_amt_msat": int(paid.msat()),
                "amp": null,
                "custom_channel_data": "",
            })
        })
        .into_iter()
        .collect();
    let settled = state == "SETTLED";
    json!({
        "memo": record.memo,
        "r_preimage": b64(record.preimage.expose_secret()),
        "r_hash": b64(record.payment_hash.as_bytes()),
        "value": int(amount.sat_floor()),
        "value_msat": int(amount.msat()),
        "settled": settled,
        "creation_date": int(unix_secs(record.created_at)),
        "settle_date": int(settle_date),
        "payment_request": record.invoice.to_string(),
        "description_hash": "",
        "expiry": int(record.invoice.expiry_time().as_secs()),
        "fallback_addr": "",
        "cltv_expiry": int(record.invoice.min_final_cltv_expiry_delta()),
        "route_hints": [],
        "private": false,
        "add_index": int(add_index),
        "settle_index": int(if settled { add_index } else { 0 }),
        "amt_paid": int(paid.msat()),
        "amt_paid_sat": int(paid.sat_floor()),
        "amt_paid_msat": int(paid.msat()),
        "state": state,
        "htlcs": htlcs,
        "features": invoice_features(),
        "is_keysend": false,
        "payment_addr": b64(&record.invoice.payment_secret().0),
        "is_amp": false,
        "amp_invoice_state": {},
        "is_blinded": false,
        "blinded_path_config": null,
    })
}

/// LND's name of a failure reason.
pub(crate) fn failure_reason_name(reason: &FailureReason) -> &'static str {
    match reason {
        FailureReason::NoRoute => "FAILURE_REASON_NO_ROUTE",
        FailureReason::InsufficientBalance => "FAILURE_REASON_INSUFFICIENT_BALANCE",
        FailureReason::IncorrectPaymentDetails => "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS",
        FailureReason::Timeout => "FAILURE_REASON_TIMEOUT",
        _ => "FAILURE_REASON_ERROR",
    }
}

/// What a `lnrpc.Payment` message shows.
pub(crate) struct PaymentView<'a> {
    pub(crate) record: &'a PaymentRecord,
    pub(crate) payment_request: &'a str,
    pub(crate) payment_index: u64,
    /// Show the payment as still in flight, whatever the record says (the first update).
    pub(crate) force_in_flight: bool,
}

/// `lnrpc.Payment`.
pub(crate) fn payment(view: &PaymentView<'_>) -> Value {
    let record = view.record;
    let status = if view.force_in_flight {
        &PaymentStatus::InFlight
    } else {
        &record.status
    };
    let zeros = "0".repeat(64);
    let (status_name, preimage, failure): (&str, Option<&Preimage>, &str) = match status {
        PaymentStatus::Succeeded(success) => {
            ("SUCCEEDED", Some(&success.preimage), "FAILURE_REASON_NONE")
        }
        PaymentStatus::Failed(reason) => ("FAILED", None, failure_reason_name(reason)),
        _ => ("IN_FLIGHT", None, "FAILURE_REASON_NONE"),
    };
    let fee = match status {
        PaymentStatus::Succeeded(success) => success.fee,
        _ => Amount::ZERO,
    };
    let htlc_status = match status_name {
        "SUCCEEDED" => Some("SUCCEEDED"),
        "IN_FLIGHT" if !view.force_in_flight => Some("IN_FLIGHT"),
        _ => None,
    };
    let payment_addr = view
        .payment_request
        .parse::<Bolt11Invoice>()
        .map(|i| b64(&i.payment_secret().0))
        .unwrap_or_default();
    let started_ns = unix_nanos(record.started_at);
    let htlcs: Vec<Value> = htlc_status
        .map(|htlc_status| {
            let total = record.amount.saturating_add(fee);
            let resolve_ns = if htlc_status == "SUCCEEDED" {
                started_ns + Duration::from_millis(350).as_nanos()
            } else {
                0
            };
            json!({
                "attempt_id": int(view.payment_index),
                "status": htlc_status,
                "route": {
                    "total_time_lock": BLOCK_HEIGHT + 90,
                    "total_fees": int(fee.sat_floor()),
                    "total_amt": int(total.sat_floor()),
                    "hops": [{
                        "chan_id": "934584883675136",
                        "chan_capacity": "1000000",
                        "amt_to_forward": int(record.amount.sat_floor()),
                        "fee": int(fee.sat_floor()),
                        "expiry": BLOCK_HEIGHT + 90,
                        "amt_to_forward_msat": int(record.amount.msat()),
                        "fee_msat": int(fee.msat()),
                        "pub_key": record.payee.to_string(),
                        "tlv_payload": true,
                        "mpp_record": {
                            "payment_addr": payment_addr,
                            "total_amt_msat": int(record.amount.msat()),
                        },
                        "amp_record": null,
                        "custom_records": {},
                        "metadata": "",
                        "blinding_point": "",
                        "encrypted_data": "",
                        "total_amt_msat": "0",
                    }],
                    "total_fees_msat": int(fee.msat()),
                    "total_amt_msat": int(total.msat()),
                    "first_hop_amount_msat": int(total.msat()),
                    "custom_channel_data": "",
                },
                "attempt_time_ns": int(started_ns + Duration::from_micros(1_500).as_nanos()),
                "resolve_time_ns": int(resolve_ns),
                "failure": null,
                "preimage": preimage.map(|p| b64(p.expose_secret())).unwrap_or_default(),
            })
        })
        .into_iter()
        .collect();
    json!({
        "payment_hash": record.payment_hash.to_hex(),
        "value": int(record.amount.sat_floor()),
        "creation_date": int(unix_secs(record.started_at)),
        "fee": int(fee.sat_floor()),
        "payment_preimage": preimage.map(|p| p.expose_hex().to_string()).unwrap_or(zeros),
        "value_sat": int(record.amount.sat_floor()),
        "value_msat": int(record.amount.msat()),
        "payment_request": view.payment_request,
        "status": status_name,
        "fee_sat": int(fee.sat_floor()),
        "fee_msat": int(fee.msat()),
        "creation_time_ns": int(started_ns),
        "htlcs": htlcs,
        "payment_index": int(view.payment_index),
        "failure_reason": failure,
        "first_hop_custom_records": {},
    })
}
