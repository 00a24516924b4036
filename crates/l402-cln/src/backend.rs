//! [`ClnBackend`]: the calls, and how CLN's answers map to the traits.

use core::fmt;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use l402_core::backend::{
    CreatedInvoice, FailureReason, InvoiceRequest, InvoiceState, NodeId, NodeInfo, PayParams,
    PaymentStatus, PaymentSuccess,
};
use l402_core::lightning_invoice::{Bolt11Invoice, Currency};
use l402_core::{
    Amount, BackendError, ErrorKind, InvoiceBackend, PayError, PaymentBackend, PaymentHash,
    Preimage,
};
use l402_node_rest::call::{NodeError, unary};
use reqwest::{RequestBuilder, StatusCode, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::{Instant, timeout_at};

use crate::builder::ClnBackendBuilder;
use crate::rune::{RUNE_HEADER, RuneSecret};
use crate::wire::{
    ByHash, ErrorBody, GetInfo, InvoiceCreated, InvoiceParams, ListInvoices, ListPays,
    ListSendPays, XpayDone, XpayParams,
};

/// CLN's JSON-RPC error codes the backend branches on (`common/jsonrpc_errors.h`, the
/// method schemas).
mod code {
    pub(super) const METHOD_NOT_FOUND: i64 = -32601;
    pub(super) const INVALID_PARAMS: i64 = -32602;
    pub(super) const PAY_IN_PROGRESS: i64 = 200;
    pub(super) const PAY_ALREADY_PAID_OTHER: i64 = 201;
    pub(super) const PAY_DESTINATION_PERM_FAIL: i64 = 203;
    pub(super) const PAY_ROUTE_NOT_FOUND: i64 = 205;
    pub(super) const PAY_ROUTE_TOO_EXPENSIVE: i64 = 206;
    pub(super) const PAY_INVOICE_EXPIRED: i64 = 207;
    pub(super) const PAY_UNSPECIFIED_ERROR: i64 = 209;
    pub(super) const PAY_STOPPED_RETRYING: i64 = 210;
    pub(super) const PAY_ALREADY_PAID_OLD: i64 = 218;
    pub(super) const PAY_ALREADY_PAID: i64 = 219;
    pub(super) const INVOICE_LABEL_ALREADY_EXISTS: i64 = 900;
    pub(super) const RUNE_NOT_AUTHORIZED: i64 = 1501;
    pub(super) const RUNE_BLACKLISTED: i64 = 1503;
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Url,
    pub(crate) rune: RuneSecret,
    pub(crate) request_timeout: Duration,
    pub(crate) pay_timeout_margin: Duration,
}

/// A Core Lightning node over clnrest: an [`InvoiceBackend`] for L402 servers and a
/// [`PaymentBackend`] for paying clients. Cheap to clone (the connection pool is shared).
///
/// See the [crate docs](crate) for the calls made, the rune each side needs, and how
/// errors map. `Debug` shows the URL, never the rune.
#[derive(Clone)]
pub struct ClnBackend {
    inner: Arc<Inner>,
}

impl fmt::Debug for ClnBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClnBackend")
            .field("base", &self.inner.base.as_str())
            .field("rune", &self.inner.rune)
            .field("request_timeout", &self.inner.request_timeout)
            .field("pay_timeout_margin", &self.inner.pay_timeout_margin)
            .finish()
    }
}

/// What went wrong in one call, with CLN's JSON-RPC error as the node's error.
type CallError = l402_node_rest::call::CallError<ErrorBody>;

/// The node name in error messages.
const NODE: &str = "cln";

impl NodeError for ErrorBody {
    /// `{"code","message","data"}`.
    fn from_body(body: &[u8]) -> Option<Self> {
        serde_json::from_slice(body).ok()
    }

    fn kind(&self, http: StatusCode) -> ErrorKind {
        // A 500 without a code: clnrest could not get an answer from lightningd.
        if self.code.is_none() && http.as_u16() == 500 {
            ErrorKind::Transient
        } else {
            ErrorKind::Permanent
        }
    }

    fn message(&self) -> &str {
        &self.message
    }

    fn code_text(&self) -> String {
        self.code
            .map_or_else(|| "null".to_owned(), |c| c.to_string())
    }
}

/// CLN's JSON-RPC code, when CLN answered with an error that has one.
fn cln_code(e: &CallError) -> Option<i64> {
    e.node_error().and_then(|error| error.code)
}

/// A fresh invoice label: `l402-` and 16 random hex digits.
fn new_label() -> Result<String, BackendError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| {
        BackendError::transient("cln invoice: no randomness for the label").with_source(e)
    })?;
    Ok(format!("l402-{}", l402_core::encoding::hex_encode(&bytes)))
}

impl ClnBackend {
    /// Starts building a backend for the clnrest server at `url` (e.g.
    /// `https://localhost:3010`).
    pub fn builder(url: impl Into<String>) -> ClnBackendBuilder {
        ClnBackendBuilder::new(url.into())
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        ClnBackend { inner }
    }

    /// `POST /v1/<method>` with the rune and a JSON object body.
    fn request(&self, method: &str, params: &impl Serialize) -> Result<RequestBuilder, CallError> {
        let url = self
            .inner
            .base
            .join(&format!("v1/{method}"))
            .map_err(|e| CallError::Decode(format!("bad url: {e}")))?;
        let mut request = self
            .inner
            .http
            .post(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .json(params);
        if let Some(value) = self.inner.rune.header_value() {
            request = request.header(RUNE_HEADER, value);
        }
        Ok(request)
    }

    /// A call with the request timeout: the JSON answer, or the error.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        params: &impl Serialize,
    ) -> Result<T, CallError> {
        unary(self.request(method, params)?, self.inner.request_timeout).await
    }

    async fn invoice(&self, request: &InvoiceRequest) -> Result<CreatedInvoice, BackendError> {
        const OP: &str = "invoice";
        if request.expiry < Duration::from_secs(1) {
            return Err(BackendError::permanent(
                "cln invoice: expiry must be at least one second",
            ));
        }
        let amount_msat = if request.amount.is_zero() {
            serde_json::Value::from("any")
        } else {
            serde_json::Value::from(request.amount.msat())
        };
        // A label is required and must be unique; a clash with a random 64-bit label is
        // not expected, but a second label is cheap.
        let mut attempt = 0;
        let created: InvoiceCreated = loop {
            attempt += 1;
            let label = new_label()?;
            let params = InvoiceParams {
                amount_msat: amount_msat.clone(),
                label: &label,
                description: &request.memo,
                // Always ours: CLN's default is a week.
                expiry: request.expiry.as_secs(),
            };
            match self.call("invoice", &params).await {
                Ok(created) => break created,
                Err(e)
                    if cln_code(&e) == Some(code::INVOICE_LABEL_ALREADY_EXISTS) && attempt < 2 =>
                {
                    tracing::debug!(%label, "cln invoice label taken, trying another");
                }
                Err(e) => return Err(e.into_backend(NODE, OP)),
            }
        };
        let hash = PaymentHash::from_hex(&created.payment_hash).map_err(|_| {
            CallError::Decode("payment_hash is not 32 bytes of hex".to_owned())
                .into_backend(NODE, OP)
        })?;
        let invoice: Bolt11Invoice = created
            .bolt11
            .parse()
            .map_err(|e| CallError::Decode(format!("bolt11: {e}")).into_backend(NODE, OP))?;
        let created = CreatedInvoice::new(invoice);
        if created.payment_hash != hash {
            return Err(CallError::Decode(
                "the invoice's payment hash differs from payment_hash".to_owned(),
            )
            .into_backend(NODE, OP));
        }
        let amount = created.invoice.amount_milli_satoshis().unwrap_or(0);
        if amount != request.amount.msat() {
            return Err(CallError::Decode(format!(
                "invoice is for {amount} msat, asked for {}",
                request.amount.msat()
            ))
            .into_backend(NODE, OP));
        }
        tracing::debug!(payment_hash = %created.payment_hash, "cln invoice created");
        Ok(created)
    }

    async fn list_invoice(&self, hash: &PaymentHash) -> Result<Option<InvoiceState>, BackendError> {
        const OP: &str = "listinvoices";
        let hex = hash.to_hex();
        let listed: ListInvoices = self
            .call("listinvoices", &ByHash { payment_hash: &hex })
            .await
            .map_err(|e| e.into_backend(NODE, OP))?;
        let Some(invoice) = listed
            .invoices
            .iter()
            .find(|i| i.payment_hash.eq_ignore_ascii_case(&hex))
        else {
            return Ok(None);
        };
        invoice_state(invoice, hash, SystemTime::now())
            .map(Some)
            .map_err(|what| CallError::Decode(what).into_backend(NODE, OP))
    }

    async fn get_info(&self) -> Result<NodeInfo, BackendError> {
        const OP: &str = "getinfo";
        let info: GetInfo = self
            .call("getinfo", &serde_json::json!({}))
            .await
            .map_err(|e| e.into_backend(NODE, OP))?;
        let node_id = NodeId::from_hex(&info.id).map_err(|_| {
            CallError::Decode("id is not a public key".to_owned()).into_backend(NODE, OP)
        })?;
        let currency = currency(&info.network).ok_or_else(|| {
            CallError::Decode(format!("unknown network {:?}", info.network)).into_backend(NODE, OP)
        })?;
        Ok(NodeInfo::new(currency, node_id, info.alias))
    }

    async fn xpay(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        const OP: &str = "xpay";
        let hash = PaymentHash::from(invoice);
        // Checks xpay would make before sending anything.
        let amount_msat = match (invoice.amount_milli_satoshis(), params.amount) {
            (Some(msat), None) if msat > 0 => None,
            (None, Some(amount)) if !amount.is_zero() => Some(amount.msat()),
            _ => return Err(PayError::Failed(FailureReason::InvalidInvoice)),
        };
        if invoice.is_expired() {
            return Err(PayError::Failed(FailureReason::InvoiceExpired));
        }
        let body = XpayParams {
            invstring: &invoice.to_string(),
            maxfee: params.max_fee.msat(),
            retry_for: u32::try_from(params.timeout.as_secs().max(1)).unwrap_or(u32::MAX),
            amount_msat,
            maxdelay: params.max_cltv_delta,
        };
        let deadline = Instant::now() + params.timeout + self.inner.pay_timeout_margin;
        let request = self
            .request("xpay", &body)
            .map_err(|e| PayError::NotAttempted(e.into_backend(NODE, OP)))?;
        tracing::debug!(payment_hash = %hash, max_fee = %params.max_fee, "cln xpay sending");

        let unknown = |e: CallError| {
            let e = e.into_backend(NODE, OP);
            tracing::warn!(payment_hash = %hash, error = %e, "cln payment outcome unknown");
            PayError::OutcomeUnknown(BackendError::new(
                ErrorKind::Transient,
                format!("{}; look the payment up by hash", e.message()),
            ))
        };
        let response = match timeout_at(deadline, request.send()).await {
            Err(_) => return Err(unknown(CallError::Timeout)),
            // Refused before anything was sent (connection or TLS).
            Ok(Err(e)) if e.is_connect() || e.is_builder() => {
                return Err(PayError::NotAttempted(
                    CallError::Transport(e).into_backend(NODE, OP),
                ));
            }
            Ok(Err(e)) => return Err(unknown(CallError::Transport(e))),
            Ok(Ok(response)) => response,
        };
        let http = response.status();
        let body = match timeout_at(deadline, response.bytes()).await {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => return Err(unknown(CallError::Transport(e))),
            Err(_) => return Err(unknown(CallError::Timeout)),
        };
        if !http.is_success() {
            return Err(pay_error(
                http,
                CallError::from_response(http, &body),
                unknown,
            ));
        }
        // No payment_hash and no status in xpay's answer: the 201 is the success, the
        // preimage its proof, checked against the invoice's hash.
        let done: XpayDone =
            serde_json::from_slice(&body).map_err(|e| unknown(CallError::Decode(e.to_string())))?;
        let preimage = Preimage::from_hex(&done.payment_preimage).map_err(|_| {
            unknown(CallError::Decode(
                "payment_preimage is not 32 bytes of hex".to_owned(),
            ))
        })?;
        if !hash.matches(&preimage) {
            return Err(unknown(CallError::Decode(
                "payment_preimage does not match the payment hash".to_owned(),
            )));
        }
        let amount = done
            .amount_msat
            .or(amount_msat)
            .or(invoice.amount_milli_satoshis())
            .unwrap_or(0);
        let sent = done.amount_sent_msat.unwrap_or(amount);
        let success = PaymentSuccess::new(
            preimage,
            Amount::from_msat(amount),
            Amount::from_msat(sent.saturating_sub(amount)),
        );
        tracing::debug!(payment_hash = %hash, fee = %success.fee, "cln payment succeeded");
        Ok(success)
    }

    async fn lookup(&self, hash: &PaymentHash) -> Result<PaymentStatus, BackendError> {
        let hex = hash.to_hex();
        match self
            .call::<ListPays>("listpays", &ByHash { payment_hash: &hex })
            .await
        {
            Ok(listed) => pays_status(&listed, hash)
                .map_err(|what| CallError::Decode(what).into_backend(NODE, "listpays")),
            // The pay plugin (which provides listpays) is disabled: read the parts.
            Err(e) if cln_code(&e) == Some(code::METHOD_NOT_FOUND) => {
                tracing::debug!("cln listpays unavailable, using listsendpays");
                let listed: ListSendPays = self
                    .call("listsendpays", &ByHash { payment_hash: &hex })
                    .await
                    .map_err(|e| e.into_backend(NODE, "listsendpays"))?;
                sendpays_status(&listed, hash)
                    .map_err(|what| CallError::Decode(what).into_backend(NODE, "listsendpays"))
            }
            Err(e) => Err(e.into_backend(NODE, "listpays")),
        }
    }
}

/// What an `xpay` error means for the payment.
fn pay_error(
    http: StatusCode,
    error: CallError,
    unknown: impl FnOnce(CallError) -> PayError,
) -> PayError {
    let code = cln_code(&error);
    match (http.as_u16(), code) {
        // Refused before the method ran: rune missing or not allowed, unknown method,
        // wrong HTTP method.
        (401 | 403 | 404 | 405, _) => PayError::NotAttempted(error.into_backend(NODE, "xpay")),
        // An unsupported Accept is refused after the method ran.
        (406, _) => unknown(error),
        (_, Some(code::RUNE_NOT_AUTHORIZED..=code::RUNE_BLACKLISTED | code::METHOD_NOT_FOUND)) => {
            PayError::NotAttempted(error.into_backend(NODE, "xpay"))
        }
        // Parameters refused: nothing was sent.
        (_, Some(code::INVALID_PARAMS)) => {
            tracing::debug!(error = %error.into_backend(NODE, "xpay"), "cln xpay refused the invoice");
            PayError::Failed(FailureReason::InvalidInvoice)
        }
        (_, Some(code::PAY_DESTINATION_PERM_FAIL)) => {
            PayError::Failed(FailureReason::IncorrectPaymentDetails)
        }
        (_, Some(code::PAY_ROUTE_NOT_FOUND | code::PAY_ROUTE_TOO_EXPENSIVE)) => {
            PayError::Failed(FailureReason::NoRoute)
        }
        (_, Some(code::PAY_INVOICE_EXPIRED)) => PayError::Failed(FailureReason::InvoiceExpired),
        (_, Some(code::PAY_STOPPED_RETRYING)) => PayError::Failed(FailureReason::Timeout),
        (
            _,
            Some(
                code::PAY_ALREADY_PAID
                    | code::PAY_ALREADY_PAID_OLD
                    | code::PAY_ALREADY_PAID_OTHER
                    // A payment for the hash is in progress: not "nothing paid".
                    | code::PAY_IN_PROGRESS,
            ),
        ) => PayError::Failed(FailureReason::AlreadyPaid),
        (_, Some(code::PAY_UNSPECIFIED_ERROR)) => {
            let message = match &error {
                CallError::Node { error, .. } => error.message.clone(),
                _ => String::new(),
            };
            PayError::Failed(FailureReason::Other(format!("cln: {message}")))
        }
        // -1 (catch-all), a null code, a proxy's answer: parts may be in flight.
        _ => unknown(error),
    }
}

/// The invoice's state as the trait reports it.
fn invoice_state(
    invoice: &crate::wire::ListedInvoice,
    hash: &PaymentHash,
    now: SystemTime,
) -> Result<InvoiceState, String> {
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    Ok(match invoice.status.as_str() {
        "unpaid" if now > invoice.expires_at => InvoiceState::Expired,
        "unpaid" => InvoiceState::Open,
        "expired" => InvoiceState::Expired,
        "paid" => {
            let preimage = invoice
                .payment_preimage
                .as_deref()
                .and_then(|p| Preimage::from_hex(p).ok())
                .ok_or_else(|| "paid invoice without a valid payment_preimage".to_owned())?;
            if !hash.matches(&preimage) {
                return Err("payment_preimage does not match the payment hash".to_owned());
            }
            InvoiceState::Settled {
                settled_at: UNIX_EPOCH + Duration::from_secs(invoice.paid_at.unwrap_or(0)),
                amount_received: Amount::from_msat(
                    invoice
                        .amount_received_msat
                        .ok_or_else(|| "paid invoice without amount_received_msat".to_owned())?,
                ),
            }
        }
        other => return Err(format!("unknown invoice status {other:?}")),
    })
}

/// A checked preimage and the amounts, as a success.
fn success(
    preimage: Option<&str>,
    hash: &PaymentHash,
    amount: Option<u64>,
    sent: Option<u64>,
) -> Result<PaymentSuccess, String> {
    let preimage = preimage
        .and_then(|p| Preimage::from_hex(p).ok())
        .ok_or_else(|| "complete payment without a valid preimage".to_owned())?;
    if !hash.matches(&preimage) {
        return Err("preimage does not match the payment hash".to_owned());
    }
    let sent = sent.unwrap_or(0);
    let amount = amount.unwrap_or(sent);
    Ok(PaymentSuccess::new(
        preimage,
        Amount::from_msat(amount),
        Amount::from_msat(sent.saturating_sub(amount)),
    ))
}

/// What `listpays` says: any `complete` entry settles it (with `preimage`); else any
/// `pending` one means in flight; else all failed; none at all means never sent.
fn pays_status(listed: &ListPays, hash: &PaymentHash) -> Result<PaymentStatus, String> {
    let hex = hash.to_hex();
    let mut pending = false;
    let mut failed = false;
    for pay in listed
        .pays
        .iter()
        .filter(|p| p.payment_hash.eq_ignore_ascii_case(&hex))
    {
        match pay.status.as_str() {
            "complete" => {
                return success(
                    pay.preimage.as_deref(),
                    hash,
                    pay.amount_msat,
                    pay.amount_sent_msat,
                )
                .map(PaymentStatus::Succeeded);
            }
            "pending" => pending = true,
            "failed" => failed = true,
            other => return Err(format!("unknown payment status {other:?}")),
        }
    }
    Ok(if pending {
        PaymentStatus::InFlight
    } else if failed {
        // listpays keeps no reason, only the error onion.
        PaymentStatus::Failed(FailureReason::Other("cln: payment failed".to_owned()))
    } else {
        PaymentStatus::Unknown
    })
}

/// What `listsendpays` says: parts grouped by `groupid` (one attempt each); a group with
/// a `complete` part settles it (with `payment_preimage`, amounts summed over its
/// complete parts); else any `pending` part means in flight.
fn sendpays_status(listed: &ListSendPays, hash: &PaymentHash) -> Result<PaymentStatus, String> {
    let hex = hash.to_hex();
    let mut groups: BTreeMap<u64, Vec<&crate::wire::SendPay>> = BTreeMap::new();
    for part in listed
        .payments
        .iter()
        .filter(|p| p.payment_hash.eq_ignore_ascii_case(&hex))
    {
        groups.entry(part.groupid).or_default().push(part);
    }
    let mut pending = false;
    let mut failed = false;
    for parts in groups.values() {
        let complete: Vec<_> = parts.iter().filter(|p| p.status == "complete").collect();
        if let Some(first) = complete.first() {
            let amount = complete.iter().filter_map(|p| p.amount_msat).sum::<u64>();
            let sent = complete
                .iter()
                .filter_map(|p| p.amount_sent_msat)
                .sum::<u64>();
            return success(
                first.payment_preimage.as_deref(),
                hash,
                Some(amount),
                Some(sent),
            )
            .map(PaymentStatus::Succeeded);
        }
        for part in parts {
            match part.status.as_str() {
                "pending" => pending = true,
                "failed" => failed = true,
                other => return Err(format!("unknown payment status {other:?}")),
            }
        }
    }
    Ok(if pending {
        PaymentStatus::InFlight
    } else if failed {
        PaymentStatus::Failed(FailureReason::Other("cln: payment failed".to_owned()))
    } else {
        PaymentStatus::Unknown
    })
}

/// CLN's network name (`getinfo.network`) as a BOLT11 currency.
fn currency(network: &str) -> Option<Currency> {
    Some(match network {
        "bitcoin" => Currency::Bitcoin,
        "testnet" | "testnet4" => Currency::BitcoinTestnet,
        "signet" => Currency::Signet,
        "regtest" => Currency::Regtest,
        _ => return None,
    })
}

impl InvoiceBackend for ClnBackend {
    /// `POST /v1/invoice` with `amount_msat` (`"any"` for zero), a fresh unique `label`
    /// (`l402-<16 hex>`), `description` and `expiry` (always sent: CLN's default is a
    /// week); the BOLT11 answer is parsed and its hash checked against `payment_hash`.
    async fn create_invoice(
        &self,
        request: &InvoiceRequest,
    ) -> Result<CreatedInvoice, BackendError> {
        self.invoice(request).await
    }

    /// `POST /v1/listinvoices` with `payment_hash`: no entry is `Ok(None)`; `unpaid`
    /// past `expires_at` and `expired` are [`InvoiceState::Expired`]; `paid` is
    /// [`InvoiceState::Settled`] (`paid_at`, `amount_received_msat`) once its
    /// `payment_preimage` is checked against the hash.
    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<Option<InvoiceState>, BackendError> {
        self.list_invoice(payment_hash).await
    }

    /// `POST /v1/getinfo`: `network` and `id`.
    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        self.get_info().await
    }
}

impl PaymentBackend for ClnBackend {
    /// `POST /v1/xpay` with `invstring`, `maxfee` (integer msat, always set) and
    /// `retry_for` (whole seconds of `params.timeout`).
    async fn pay_invoice(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        self.xpay(invoice, params).await
    }

    /// `POST /v1/listpays` with `payment_hash`, or `listsendpays` when `listpays` is
    /// unknown to the node.
    async fn lookup_payment(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<PaymentStatus, BackendError> {
        self.lookup(payment_hash).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::wire::{ListedInvoice, Pay, SendPay};

    const HASH: &str = "d62c6d8f89d46d55c40937d346e5097e167a03257cc802f64404f480b87462c6";
    const PREIMAGE: &str = "ab0c18a1ef60b9ab06818b35842db1964372350af76691afa6546b59cba62044";

    fn hash() -> PaymentHash {
        PaymentHash::from_hex(HASH).unwrap()
    }

    fn listed(status: &str, expires_at: u64, preimage: Option<&str>) -> ListedInvoice {
        ListedInvoice {
            payment_hash: HASH.into(),
            status: status.into(),
            expires_at,
            paid_at: Some(1_780_000_155),
            amount_received_msat: Some(1_000_000),
            payment_preimage: preimage.map(str::to_owned),
        }
    }

    #[test]
    fn invoice_states() {
        let now = UNIX_EPOCH + Duration::from_secs(1_780_000_100);
        let state = |i: &ListedInvoice| invoice_state(i, &hash(), now);
        assert_eq!(
            state(&listed("unpaid", 1_780_003_660, None)),
            Ok(InvoiceState::Open)
        );
        assert_eq!(
            state(&listed("unpaid", 1_780_000_000, None)),
            Ok(InvoiceState::Expired)
        );
        assert_eq!(
            state(&listed("expired", 1_780_000_000, None)),
            Ok(InvoiceState::Expired)
        );
        assert_eq!(
            state(&listed("paid", 1_780_003_660, Some(PREIMAGE))),
            Ok(InvoiceState::Settled {
                settled_at: UNIX_EPOCH + Duration::from_secs(1_780_000_155),
                amount_received: Amount::from_msat(1_000_000),
            })
        );
        assert!(state(&listed("paid", 1_780_003_660, None)).is_err());
        assert!(state(&listed("paid", 1_780_003_660, Some(&"0".repeat(64)))).is_err());
        assert!(state(&listed("weird", 0, None)).is_err());
    }

    fn pay(status: &str, preimage: Option<&str>) -> Pay {
        Pay {
            payment_hash: HASH.into(),
            status: status.into(),
            preimage: preimage.map(str::to_owned),
            amount_msat: Some(1_000_000),
            amount_sent_msat: Some(1_001_000),
        }
    }

    #[test]
    fn listpays_aggregation() {
        let status = |pays: Vec<Pay>| pays_status(&ListPays { pays }, &hash());
        assert_eq!(status(vec![]), Ok(PaymentStatus::Unknown));
        assert_eq!(
            status(vec![pay("pending", None)]),
            Ok(PaymentStatus::InFlight)
        );
        assert!(matches!(
            status(vec![pay("failed", None)]),
            Ok(PaymentStatus::Failed(_))
        ));
        match status(vec![pay("failed", None), pay("complete", Some(PREIMAGE))]) {
            Ok(PaymentStatus::Succeeded(s)) => {
                assert_eq!(s.amount, Amount::from_msat(1_000_000));
                assert_eq!(s.fee, Amount::from_msat(1_000));
            }
            other => panic!("{other:?}"),
        }
        assert!(status(vec![pay("complete", None)]).is_err());
        assert!(status(vec![pay("complete", Some(&"1".repeat(64)))]).is_err());
    }

    #[test]
    fn listsendpays_groups_parts() {
        let part = |groupid, status: &str, preimage: Option<&str>, msat| SendPay {
            payment_hash: HASH.into(),
            status: status.into(),
            groupid,
            payment_preimage: preimage.map(str::to_owned),
            amount_msat: Some(msat),
            amount_sent_msat: Some(msat + 500),
        };
        let listed = ListSendPays {
            payments: vec![
                part(1, "failed", None, 1_000_000),
                part(2, "complete", Some(PREIMAGE), 600_000),
                part(2, "complete", Some(PREIMAGE), 400_000),
            ],
        };
        match sendpays_status(&listed, &hash()) {
            Ok(PaymentStatus::Succeeded(s)) => {
                assert_eq!(s.amount, Amount::from_msat(1_000_000));
                assert_eq!(s.fee, Amount::from_msat(1_000));
            }
            other => panic!("{other:?}"),
        }
        let pending = ListSendPays {
            payments: vec![part(1, "failed", None, 1), part(2, "pending", None, 1)],
        };
        assert_eq!(
            sendpays_status(&pending, &hash()),
            Ok(PaymentStatus::InFlight)
        );
    }

    #[test]
    fn xpay_errors_map() {
        let cln = |http: u16, code: Option<i64>| {
            let http = StatusCode::from_u16(http).unwrap();
            pay_error(
                http,
                CallError::Node {
                    http,
                    error: ErrorBody {
                        code,
                        message: "m".into(),
                    },
                },
                |e| PayError::OutcomeUnknown(e.into_backend(NODE, "xpay")),
            )
        };
        assert!(matches!(
            cln(500, Some(205)),
            PayError::Failed(FailureReason::NoRoute)
        ));
        assert!(matches!(
            cln(500, Some(203)),
            PayError::Failed(FailureReason::IncorrectPaymentDetails)
        ));
        assert!(matches!(
            cln(500, Some(207)),
            PayError::Failed(FailureReason::InvoiceExpired)
        ));
        assert!(matches!(
            cln(500, Some(219)),
            PayError::Failed(FailureReason::AlreadyPaid)
        ));
        // In progress: another payment for the hash is in flight.
        let in_progress = cln(500, Some(200));
        assert!(matches!(
            in_progress,
            PayError::Failed(FailureReason::AlreadyPaid)
        ));
        assert!(!in_progress.is_definitely_unpaid());
        assert!(matches!(
            cln(500, Some(209)),
            PayError::Failed(FailureReason::Other(_))
        ));
        assert!(matches!(
            cln(500, Some(-32602)),
            PayError::Failed(FailureReason::InvalidInvoice)
        ));
        assert!(
            matches!(cln(401, Some(1502)), PayError::NotAttempted(e) if e.kind() == ErrorKind::Permanent)
        );
        assert!(matches!(cln(403, Some(1501)), PayError::NotAttempted(_)));
        assert!(matches!(cln(404, Some(-32601)), PayError::NotAttempted(_)));
        assert!(matches!(cln(406, None), PayError::OutcomeUnknown(_)));
        assert!(matches!(cln(500, Some(-1)), PayError::OutcomeUnknown(_)));
        assert!(matches!(cln(500, None), PayError::OutcomeUnknown(_)));
    }

    #[test]
    fn networks_and_kinds() {
        assert_eq!(currency("bitcoin"), Some(Currency::Bitcoin));
        assert_eq!(currency("testnet4"), Some(Currency::BitcoinTestnet));
        assert_eq!(currency("regtest"), Some(Currency::Regtest));
        assert_eq!(currency("mainnet"), None);
        let cln = |http: u16, code| CallError::Node {
            http: StatusCode::from_u16(http).unwrap(),
            error: ErrorBody {
                code,
                message: String::new(),
            },
        };
        assert_eq!(cln(500, Some(900)).kind(), ErrorKind::Permanent);
        assert_eq!(cln(401, Some(1502)).kind(), ErrorKind::Permanent);
        assert_eq!(cln(500, None).kind(), ErrorKind::Transient);
        assert_eq!(
            CallError::Http(StatusCode::BAD_GATEWAY).kind(),
            ErrorKind::Transient
        );
        assert!(new_label().unwrap().starts_with("l402-"));
        assert_eq!(new_label().unwrap().len(), 21);
    }
}
