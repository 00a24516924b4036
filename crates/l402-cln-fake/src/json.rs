//! CLN's JSON shapes (`doc/schemas/*.json` of v26.06): hex everywhere, msat amounts as
//! integers, optional fields absent rather than null, the preimage only once paid.

use std::time::{SystemTime, UNIX_EPOCH};

use l402_core::backend::{InvoiceState, NodeInfo, PaymentStatus};
use l402_core::lightning_invoice::{Bolt11Invoice, Currency};
use l402_core::{Amount, PaymentHash};
use l402_mock::{InvoiceRecord, PaymentRecord};
use serde_json::{Map, Value, json};

/// A JSON-RPC error object as clnrest writes it: `{"code","message","data"}`, with
/// `code` and `data` possibly `null`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClnError {
    pub(crate) code: Option<i64>,
    pub(crate) message: String,
    pub(crate) data: Value,
}

impl ClnError {
    pub(crate) fn new(code: i64, message: impl Into<String>) -> Self {
        ClnError {
            code: Some(code),
            message: message.into(),
            data: Value::Null,
        }
    }

    pub(crate) fn without_code(message: impl Into<String>) -> Self {
        ClnError {
            code: None,
            message: message.into(),
            data: Value::Null,
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({ "code": self.code, "message": self.message, "data": self.data })
    }

    /// `-32602`: bad parameters.
    pub(crate) fn param(message: impl Into<String>) -> Self {
        Self::new(-32602, message)
    }
}

pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// CLN's name of a network, as in `getinfo.network`. CLN has no simnet; the fake
/// reports the name anyway.
pub(crate) fn network_name(currency: &Currency) -> &'static str {
    match currency {
        Currency::Bitcoin => "bitcoin",
        Currency::BitcoinTestnet => "testnet",
        Currency::Regtest => "regtest",
        Currency::Simnet => "simnet",
        Currency::Signet => "signet",
    }
}

/// The block height the fake reports.
pub(crate) const BLOCK_HEIGHT: u32 = 850;

/// `getinfo`.
pub(crate) fn get_info(info: &NodeInfo, port: u16) -> Value {
    let id = info.node_id.to_string();
    let alias: String = info.alias.chars().take(32).collect();
    json!({
        "id": id,
        "alias": alias,
        "color": id.get(..6).unwrap_or("000000"),
        "num_peers": 1,
        "num_pending_channels": 0,
        "num_active_channels": 1,
        "num_inactive_channels": 0,
        "address": [],
        "binding": [ { "type": "ipv4", "address": "127.0.0.1", "port": port } ],
        "version": "v26.06.6",
        "blockheight": BLOCK_HEIGHT,
        "network": network_name(&info.network),
        "fees_collected_msat": 0,
        "lightning-dir": format!("/home/cln/.lightning/{}", network_name(&info.network)),
        "our_features": {
            "init": "800898882a8a59a1",
            "node": "808898882a8a59a1",
            "channel": "",
            "invoice": "02000002024100",
        },
    })
}

fn expires_at(invoice: &Bolt11Invoice) -> u64 {
    invoice.expires_at().map_or(u64::MAX, |d| d.as_secs())
}

/// `invoice`'s answer.
pub(crate) fn invoice_created(invoice: &Bolt11Invoice, created_index: u64) -> Value {
    json!({
        "payment_hash": PaymentHash::from(invoice).to_hex(),
        "expires_at": expires_at(invoice),
        "bolt11": invoice.to_string(),
        "payment_secret": l402_core::encoding::hex_encode(&invoice.payment_secret().0),
        "created_index": created_index,
    })
}

/// What the fake remembers of an invoice besides the mock's record.
pub(crate) struct InvoiceMeta<'a> {
    pub(crate) label: &'a str,
    pub(crate) created_index: u64,
    /// Set once the invoice is paid (`pay_index`, also used as `updated_index`).
    pub(crate) pay_index: Option<u64>,
}

/// One `listinvoices` entry; `None` for an invoice CLN would not list (the mock's
/// canceled invoices: CLN has no cancel, only `delinvoice`).
pub(crate) fn invoice_entry(record: &InvoiceRecord, meta: &InvoiceMeta<'_>) -> Option<Value> {
    let mut entry = Map::new();
    entry.insert("label".into(), json!(meta.label));
    entry.insert("bolt11".into(), json!(record.invoice.to_string()));
    entry.insert("payment_hash".into(), json!(record.payment_hash.to_hex()));
    if let Some(amount) = record.amount {
        entry.insert("amount_msat".into(), json!(amount.msat()));
    }
    let status = match &record.state {
        InvoiceState::Settled {
            settled_at,
            amount_received,
        } => {
            let pay_index = meta.pay_index.unwrap_or(meta.created_index);
            entry.insert("pay_index".into(), json!(pay_index));
            entry.insert("amount_received_msat".into(), json!(amount_received.msat()));
            entry.insert("paid_at".into(), json!(unix_secs(*settled_at)));
            entry.insert(
                "payment_preimage".into(),
                json!(record.preimage.expose_hex().as_str()),
            );
            entry.insert("updated_index".into(), json!(pay_index));
            "paid"
        }
        InvoiceState::Expired => "expired",
        InvoiceState::Canceled => return None,
        // CLN has no hold invoices in listinvoices: an invoice with HTLCs held is unpaid.
        _ => "unpaid",
    };
    entry.insert("status".into(), json!(status));
    entry.insert("description".into(), json!(record.memo));
    entry.insert("expires_at".into(), json!(expires_at(&record.invoice)));
    entry.insert("created_index".into(), json!(meta.created_index));
    Some(Value::Object(entry))
}

/// What the fake remembers of one payment attempt.
pub(crate) struct PayMeta<'a> {
    pub(crate) created_index: u64,
    pub(crate) groupid: u64,
    pub(crate) bolt11: Option<&'a str>,
    pub(crate) label: Option<&'a str>,
}

/// The status name of a payment attempt.
fn pay_status(record: &PaymentRecord) -> &'static str {
    match record.status {
        PaymentStatus::Succeeded(_) => "complete",
        PaymentStatus::Failed(_) => "failed",
        _ => "pending",
    }
}

fn sent(record: &PaymentRecord) -> Amount {
    record.amount.saturating_add(record.fee)
}

/// One `listpays` entry (`preimage`, not `payment_preimage`; no `amount_msat` or
/// `completed_at` for failed payments, as the schema's `then` branches say).
pub(crate) fn pay_entry(record: &PaymentRecord, meta: &PayMeta<'_>) -> Value {
    let mut entry = Map::new();
    let status = pay_status(record);
    let created_at = unix_secs(record.started_at);
    entry.insert("created_index".into(), json!(meta.created_index));
    entry.insert("payment_hash".into(), json!(record.payment_hash.to_hex()));
    entry.insert("status".into(), json!(status));
    entry.insert("destination".into(), json!(record.payee.to_string()));
    entry.insert("created_at".into(), json!(created_at));
    if let Some(bolt11) = meta.bolt11 {
        entry.insert("bolt11".into(), json!(bolt11));
    }
    if let Some(label) = meta.label {
        entry.insert("label".into(), json!(label));
    }
    match &record.status {
        PaymentStatus::Succeeded(success) => {
            entry.insert("updated_index".into(), json!(meta.created_index));
            entry.insert("completed_at".into(), json!(created_at));
            entry.insert("amount_msat".into(), json!(success.amount.msat()));
            entry.insert(
                "amount_sent_msat".into(),
                json!(success.amount.saturating_add(success.fee).msat()),
            );
            entry.insert(
                "preimage".into(),
                json!(success.preimage.expose_hex().as_str()),
            );
        }
        PaymentStatus::Failed(_) => {
            entry.insert("updated_index".into(), json!(meta.created_index));
            entry.insert("amount_sent_msat".into(), json!(sent(record).msat()));
        }
        _ => {
            entry.insert("amount_msat".into(), json!(record.amount.msat()));
            entry.insert("amount_sent_msat".into(), json!(sent(record).msat()));
        }
    }
    Value::Object(entry)
}

/// One `listsendpays` entry (one part: `payment_preimage` here).
pub(crate) fn sendpay_entry(record: &PaymentRecord, meta: &PayMeta<'_>) -> Value {
    let mut entry = Map::new();
    let created_at = unix_secs(record.started_at);
    entry.insert("created_index".into(), json!(meta.created_index));
    entry.insert("id".into(), json!(meta.created_index));
    entry.insert("groupid".into(), json!(meta.groupid));
    entry.insert("partid".into(), json!(1));
    entry.insert("payment_hash".into(), json!(record.payment_hash.to_hex()));
    entry.insert("status".into(), json!(pay_status(record)));
    entry.insert("amount_msat".into(), json!(record.amount.msat()));
    entry.insert("destination".into(), json!(record.payee.to_string()));
    entry.insert("created_at".into(), json!(created_at));
    if let Some(bolt11) = meta.bolt11 {
        entry.insert("bolt11".into(), json!(bolt11));
    }
    if let Some(label) = meta.label {
        entry.insert("label".into(), json!(label));
    }
    match &record.status {
        PaymentStatus::Succeeded(success) => {
            entry.insert(
                "amount_sent_msat".into(),
                json!(success.amount.saturating_add(success.fee).msat()),
            );
            entry.insert("updated_index".into(), json!(meta.created_index));
            entry.insert("completed_at".into(), json!(created_at));
            entry.insert(
                "payment_preimage".into(),
                json!(success.preimage.expose_hex().as_str()),
            );
        }
        PaymentStatus::Failed(_) => {
            entry.insert("amount_sent_msat".into(), json!(sent(record).msat()));
            entry.insert("updated_index".into(), json!(meta.created_index));
            entry.insert("completed_at".into(), json!(created_at));
        }
        _ => {
            entry.insert("amount_sent_msat".into(), json!(sent(record).msat()));
        }
    }
    Value::Object(entry)
}
