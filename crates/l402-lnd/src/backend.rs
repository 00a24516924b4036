//! [`LndBackend`]: the calls, their streams, and how LND's answers map to the traits.

use core::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
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
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::time::{Instant, timeout_at};

use crate::builder::LndBackendBuilder;
use crate::macaroon::{MACAROON_HEADER, MacaroonSecret};
use crate::wire::{
    AddInvoiceRequest, AddInvoiceResponse, ErrorBody, GetInfo, Invoice, Payment, RpcStatus,
    SendPaymentRequest, StreamLine,
};

/// Longest stream line accepted (a `lnrpc.Payment` with many HTLC attempts is large,
/// but not this large).
const MAX_LINE: usize = 4 << 20;

/// gRPC codes LND's errors carry.
mod code {
    pub(super) const DEADLINE_EXCEEDED: i32 = 4;
    pub(super) const NOT_FOUND: i32 = 5;
    pub(super) const ALREADY_EXISTS: i32 = 6;
    pub(super) const RESOURCE_EXHAUSTED: i32 = 8;
    pub(super) const UNAVAILABLE: i32 = 14;
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base: Url,
    pub(crate) macaroon: MacaroonSecret,
    pub(crate) request_timeout: Duration,
    pub(crate) pay_timeout_margin: Duration,
}

/// An LND node over its REST API: an [`InvoiceBackend`] for L402 servers and a
/// [`PaymentBackend`] for paying clients. Cheap to clone (the connection pool is shared).
///
/// See the [crate docs](crate) for the calls made, the macaroon each side needs, and how
/// errors map. `Debug` shows the URL, never the macaroon.
#[derive(Clone)]
pub struct LndBackend {
    inner: Arc<Inner>,
}

impl fmt::Debug for LndBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LndBackend")
            .field("base", &self.inner.base.as_str())
            .field("macaroon", &self.inner.macaroon)
            .field("request_timeout", &self.inner.request_timeout)
            .field("pay_timeout_margin", &self.inner.pay_timeout_margin)
            .finish()
    }
}

/// What went wrong in one call, with LND's `google.rpc.Status` as the node's error.
type CallError = l402_node_rest::call::CallError<RpcStatus>;

/// The node name in error messages.
const NODE: &str = "lnd";

impl NodeError for RpcStatus {
    /// `{"code",…}` or `{"error":{…}}`, and not an empty status.
    fn from_body(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<ErrorBody>(body)
            .ok()
            .map(ErrorBody::into_status)
            .filter(|status| status.code != 0 || !status.message.is_empty())
    }

    fn kind(&self, _http: StatusCode) -> ErrorKind {
        match self.code {
            code::DEADLINE_EXCEEDED | code::RESOURCE_EXHAUSTED | code::UNAVAILABLE => {
                ErrorKind::Transient
            }
            _ => ErrorKind::Permanent,
        }
    }

    fn message(&self) -> &str {
        &self.message
    }

    fn code_text(&self) -> String {
        self.code.to_string()
    }
}

/// LND's gRPC code, when LND answered with an error.
fn lnd_code(e: &CallError) -> Option<i32> {
    e.node_error().map(|status| status.code)
}

fn error_from(http: StatusCode, body: &[u8]) -> CallError {
    CallError::from_response(http, body)
}

/// Newline-delimited JSON from a response body.
struct Lines {
    response: Response,
    buf: Vec<u8>,
}

impl Lines {
    fn new(response: Response) -> Self {
        Lines {
            response,
            buf: Vec::new(),
        }
    }

    /// The next non-empty line; `None` at the end of the body.
    async fn next(&mut self) -> Result<Option<Vec<u8>>, CallError> {
        loop {
            if let Some(at) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=at).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(line));
            }
            match self.response.chunk().await.map_err(CallError::Transport)? {
                Some(chunk) => {
                    if self.buf.len() + chunk.len() > MAX_LINE {
                        return Err(CallError::Decode("stream line too long".to_owned()));
                    }
                    self.buf.extend_from_slice(&chunk);
                }
                None if self.buf.iter().all(u8::is_ascii_whitespace) => return Ok(None),
                None => return Ok(Some(core::mem::take(&mut self.buf))),
            }
        }
    }
}

impl LndBackend {
    /// Starts building a backend for the LND REST API at `url` (e.g.
    /// `https://localhost:8080`).
    pub fn builder(url: impl Into<String>) -> LndBackendBuilder {
        LndBackendBuilder::new(url.into())
    }

    pub(crate) fn from_inner(inner: Arc<Inner>) -> Self {
        LndBackend { inner }
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> Result<RequestBuilder, CallError> {
        let url = self
            .inner
            .base
            .join(path)
            .map_err(|e| CallError::Decode(format!("bad url: {e}")))?;
        let mut request = self.inner.http.request(method, url);
        if let Some(value) = self.inner.macaroon.header_value() {
            request = request.header(MACAROON_HEADER, value);
        }
        Ok(request)
    }

    /// A unary call: the JSON answer, or the error.
    pub(crate) async fn unary<T: DeserializeOwned>(
        &self,
        request: RequestBuilder,
    ) -> Result<T, CallError> {
        unary(request, self.inner.request_timeout).await
    }

    async fn add_invoice(&self, request: &InvoiceRequest) -> Result<CreatedInvoice, BackendError> {
        const OP: &str = "add invoice";
        if request.expiry < Duration::from_secs(1) {
            return Err(BackendError::permanent(
                "lnd add invoice: expiry must be at least one second",
            ));
        }
        let body = AddInvoiceRequest {
            memo: &request.memo,
            value_msat: request.amount.msat().to_string(),
            expiry: request.expiry.as_secs().to_string(),
        };
        let http = self
            .request(Method::POST, "v1/invoices")
            .map_err(|e| e.into_backend(NODE, OP))?
            .json(&body);
        let added: AddInvoiceResponse = self
            .unary(http)
            .await
            .map_err(|e| e.into_backend(NODE, OP))?;
        let r_hash = STANDARD
            .decode(&added.r_hash)
            .ok()
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .map(PaymentHash::from_bytes)
            .ok_or_else(|| CallError::Decode("r_hash is not 32 bytes of base64".to_owned()))
            .map_err(|e| e.into_backend(NODE, OP))?;
        let invoice: Bolt11Invoice = added.payment_request.parse().map_err(|e| {
            CallError::Decode(format!("payment_request: {e}")).into_backend(NODE, OP)
        })?;
        let created = CreatedInvoice::new(invoice);
        if created.payment_hash != r_hash {
            return Err(CallError::Decode(
                "the invoice's payment hash differs from r_hash".to_owned(),
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
        tracing::debug!(payment_hash = %created.payment_hash, "lnd invoice created");
        Ok(created)
    }

    async fn lookup(&self, hash: &PaymentHash) -> Result<Option<InvoiceState>, BackendError> {
        const OP: &str = "lookup invoice";
        let http = self
            .request(Method::GET, &format!("v1/invoice/{}", hash.to_hex()))
            .map_err(|e| e.into_backend(NODE, OP))?;
        let invoice: Invoice = match self.unary(http).await {
            Ok(invoice) => invoice,
            // "unable to locate invoice" / "there are no existing invoices".
            Err(e) if lnd_code(&e) == Some(code::NOT_FOUND) => return Ok(None),
            Err(e) => return Err(e.into_backend(NODE, OP)),
        };
        if STANDARD.decode(&invoice.r_hash).ok().as_deref() != Some(hash.as_bytes().as_slice()) {
            return Err(
                CallError::Decode("invoice for another payment hash".to_owned())
                    .into_backend(NODE, OP),
            );
        }
        invoice_state(&invoice, SystemTime::now())
            .map(Some)
            .map_err(|what| CallError::Decode(what).into_backend(NODE, OP))
    }

    async fn get_info(&self) -> Result<NodeInfo, BackendError> {
        const OP: &str = "get info";
        let http = self
            .request(Method::GET, "v1/getinfo")
            .map_err(|e| e.into_backend(NODE, OP))?;
        let info: GetInfo = self
            .unary(http)
            .await
            .map_err(|e| e.into_backend(NODE, OP))?;
        let node_id = NodeId::from_hex(&info.identity_pubkey)
            .map_err(|_| CallError::Decode("identity_pubkey".to_owned()).into_backend(NODE, OP))?;
        let network = info
            .chains
            .iter()
            .flatten()
            .next()
            .map(|chain| chain.network.as_str())
            .unwrap_or_default();
        let currency = currency(network).ok_or_else(|| {
            CallError::Decode(format!("unknown network {network:?}")).into_backend(NODE, OP)
        })?;
        Ok(NodeInfo::new(currency, node_id, info.alias))
    }

    async fn pay(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        let hash = PaymentHash::from(invoice);
        // Checks LND would make before sending anything.
        let amt_msat = match (invoice.amount_milli_satoshis(), params.amount) {
            (Some(msat), None) if msat > 0 => None,
            (None, Some(amount)) if !amount.is_zero() => Some(amount.msat().to_string()),
            _ => return Err(PayError::Failed(FailureReason::InvalidInvoice)),
        };
        if invoice.is_expired() {
            return Err(PayError::Failed(FailureReason::InvoiceExpired));
        }
        let timeout_seconds = i32::try_from(params.timeout.as_secs().max(1)).unwrap_or(i32::MAX);
        let body = SendPaymentRequest {
            payment_request: &invoice.to_string(),
            fee_limit_msat: params.max_fee.msat().to_string(),
            timeout_seconds,
            // The first update comes as soon as LND has recorded the payment, so an error
            // before it means nothing was sent.
            no_inflight_updates: false,
            amt_msat,
            cltv_limit: params
                .max_cltv_delta
                .map(|blocks| i32::try_from(blocks).unwrap_or(i32::MAX)),
        };
        let deadline = Instant::now() + params.timeout + self.inner.pay_timeout_margin;
        let request = self
            .request(Method::POST, "v2/router/send")
            .map_err(|e| PayError::NotAttempted(e.into_backend(NODE, "send payment")))?
            .json(&body);
        tracing::debug!(payment_hash = %hash, max_fee = %params.max_fee, "lnd payment sending");

        let unknown = |e: CallError| {
            let e = e.into_backend(NODE, "send payment");
            tracing::warn!(payment_hash = %hash, error = %e, "lnd payment outcome unknown");
            PayError::OutcomeUnknown(BackendError::new(
                ErrorKind::Transient,
                format!("{}; look the payment up by hash", e.message()),
            ))
        };
        let response = match timeout_at(deadline, request.send()).await {
            Err(_) => return Err(unknown(CallError::Timeout)),
            Ok(Err(e)) if e.is_connect() || e.is_builder() => {
                return Err(PayError::NotAttempted(
                    CallError::Transport(e).into_backend(NODE, "send payment"),
                ));
            }
            Ok(Err(e)) => return Err(unknown(CallError::Transport(e))),
            Ok(Ok(response)) => response,
        };

        let http = response.status();
        if !http.is_success() {
            // An error before the first message: LND refused the payment.
            let body = match timeout_at(deadline, response.bytes()).await {
                Ok(Ok(body)) => body,
                Ok(Err(e)) => return Err(unknown(CallError::Transport(e))),
                Err(_) => return Err(unknown(CallError::Timeout)),
            };
            let error = error_from(http, &body);
            return Err(match lnd_code(&error) {
                // "invoice is already paid", "payment is in transition", "payment already
                // exists".
                Some(code::ALREADY_EXISTS) => PayError::Failed(FailureReason::AlreadyPaid),
                Some(_) => PayError::NotAttempted(error.into_backend(NODE, "send payment")),
                // Not LND's answer (a proxy's?): it may have forwarded the request.
                None => unknown(error),
            });
        }

        let mut lines = Lines::new(response);
        loop {
            let line = match timeout_at(deadline, lines.next()).await {
                Err(_) => return Err(unknown(CallError::Timeout)),
                Ok(Err(e)) => return Err(unknown(e)),
                Ok(Ok(None)) => {
                    return Err(unknown(CallError::Decode(
                        "stream ended before a final state".to_owned(),
                    )));
                }
                Ok(Ok(Some(line))) => line,
            };
            let line: StreamLine<Payment> = serde_json::from_slice(&line)
                .map_err(|e| unknown(CallError::Decode(e.to_string())))?;
            if let Some(status) = line.error {
                return Err(unknown(CallError::Node {
                    http,
                    error: status,
                }));
            }
            let Some(payment) = line.result else {
                return Err(unknown(CallError::Decode(
                    "empty stream message".to_owned(),
                )));
            };
            match payment_status(&payment, &hash) {
                Ok(PaymentStatus::Succeeded(success)) => {
                    tracing::debug!(payment_hash = %hash, fee = %success.fee, "lnd payment succeeded");
                    return Ok(success);
                }
                Ok(PaymentStatus::Failed(reason)) => {
                    tracing::debug!(payment_hash = %hash, %reason, "lnd payment failed");
                    return Err(PayError::Failed(reason));
                }
                Ok(_) => {
                    tracing::trace!(payment_hash = %hash, status = %payment.status, "lnd payment update")
                }
                Err(what) => return Err(unknown(CallError::Decode(what))),
            }
        }
    }

    async fn track(&self, hash: &PaymentHash) -> Result<PaymentStatus, BackendError> {
        const OP: &str = "track payment";
        // URL-safe base64 with the padding kept: a `/` would split the path, and hex
        // decodes to 48 bytes.
        let path = format!(
            "v2/router/track/{}?no_inflight_updates=false",
            URL_SAFE.encode(hash.as_bytes())
        );
        let request = self
            .request(Method::GET, &path)
            .map_err(|e| e.into_backend(NODE, OP))?;
        let deadline = Instant::now() + self.inner.request_timeout;
        let first = async {
            let response = request.send().await.map_err(CallError::Transport)?;
            let http = response.status();
            if !http.is_success() {
                let body = response.bytes().await.map_err(CallError::Transport)?;
                return Err(error_from(http, &body));
            }
            // The first message is the current state; the stream is dropped after it.
            let line = Lines::new(response)
                .next()
                .await?
                .ok_or_else(|| CallError::Decode("empty stream".to_owned()))?;
            let line: StreamLine<Payment> =
                serde_json::from_slice(&line).map_err(|e| CallError::Decode(e.to_string()))?;
            match (line.result, line.error) {
                (_, Some(status)) => Err(CallError::Node {
                    http,
                    error: status,
                }),
                (Some(payment), None) => Ok(payment),
                (None, None) => Err(CallError::Decode("empty stream message".to_owned())),
            }
        };
        let payment = match timeout_at(deadline, first).await {
            Err(_) => return Err(CallError::Timeout.into_backend(NODE, OP)),
            // "payment isn't initiated".
            Ok(Err(e)) if lnd_code(&e) == Some(code::NOT_FOUND) => {
                return Ok(PaymentStatus::Unknown);
            }
            Ok(Err(e)) => return Err(e.into_backend(NODE, OP)),
            Ok(Ok(payment)) => payment,
        };
        payment_status(&payment, hash)
            .map_err(|what| CallError::Decode(what).into_backend(NODE, OP))
    }
}

/// The invoice's state as the trait reports it.
fn invoice_state(invoice: &Invoice, now: SystemTime) -> Result<InvoiceState, String> {
    let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let expired = u64::try_from(invoice.creation_date.saturating_add(invoice.expiry))
        .is_ok_and(|expires_at| now > expires_at);
    Ok(match invoice.state.as_str() {
        "OPEN" if expired => InvoiceState::Expired,
        "OPEN" => InvoiceState::Open,
        "ACCEPTED" => InvoiceState::Accepted,
        // LND's expiry watcher cancels invoices when they expire.
        "CANCELED" if expired => InvoiceState::Expired,
        "CANCELED" => InvoiceState::Canceled,
        "SETTLED" => InvoiceState::Settled {
            settled_at: UNIX_EPOCH
                + Duration::from_secs(u64::try_from(invoice.settle_date).unwrap_or(0)),
            // `amt_paid_msat`; the deprecated `amt_paid` also holds msat.
            amount_received: Amount::from_msat(
                u64::try_from(invoice.amt_paid_msat)
                    .map_err(|_| "negative amt_paid_msat".to_owned())?,
            ),
        },
        other => return Err(format!("unknown invoice state {other:?}")),
    })
}

/// What a `lnrpc.Payment` says, checking the hash and (on success) the preimage.
fn payment_status(payment: &Payment, hash: &PaymentHash) -> Result<PaymentStatus, String> {
    if !payment.payment_hash.eq_ignore_ascii_case(&hash.to_hex()) {
        return Err("payment for another hash".to_owned());
    }
    Ok(match payment.status.as_str() {
        "SUCCEEDED" => {
            // The preimage is zeros until success: only trusted now, and checked.
            let preimage = Preimage::from_hex(&payment.payment_preimage)
                .map_err(|_| "payment_preimage is not 32 bytes of hex".to_owned())?;
            if !hash.matches(&preimage) {
                return Err("payment_preimage does not match the payment hash".to_owned());
            }
            let msat = |v: i64, what: &str| {
                u64::try_from(v)
                    .map(Amount::from_msat)
                    .map_err(|_| format!("negative {what}"))
            };
            PaymentStatus::Succeeded(PaymentSuccess::new(
                preimage,
                msat(payment.value_msat, "value_msat")?,
                msat(payment.fee_msat, "fee_msat")?,
            ))
        }
        "FAILED" => PaymentStatus::Failed(failure_reason(&payment.failure_reason)),
        // IN_FLIGHT, INITIATED, and UNKNOWN (never sent, per LND): not final, do not pay
        // again.
        _ => PaymentStatus::InFlight,
    })
}

/// LND's `PaymentFailureReason`.
fn failure_reason(name: &str) -> FailureReason {
    match name {
        "FAILURE_REASON_TIMEOUT" => FailureReason::Timeout,
        "FAILURE_REASON_NO_ROUTE" => FailureReason::NoRoute,
        "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS" => FailureReason::IncorrectPaymentDetails,
        "FAILURE_REASON_INSUFFICIENT_BALANCE" => FailureReason::InsufficientBalance,
        "FAILURE_REASON_ERROR" => FailureReason::Other("lnd: non-recoverable error".to_owned()),
        "FAILURE_REASON_CANCELED" => FailureReason::Other("lnd: payment canceled".to_owned()),
        other => FailureReason::Other(format!("lnd: {other}")),
    }
}

/// LND's network name (`GetInfoResponse.chains[].network`) as a BOLT11 currency.
fn currency(network: &str) -> Option<Currency> {
    Some(match network {
        "mainnet" => Currency::Bitcoin,
        "testnet" | "testnet3" | "testnet4" => Currency::BitcoinTestnet,
        "signet" => Currency::Signet,
        "regtest" => Currency::Regtest,
        "simnet" => Currency::Simnet,
        _ => return None,
    })
}

impl InvoiceBackend for LndBackend {
    /// `POST /v1/invoices` (`invoices:write`), with `value_msat`, `memo` and `expiry`; the
    /// BOLT11 answer is parsed and its hash checked against `r_hash`.
    async fn create_invoice(
        &self,
        request: &InvoiceRequest,
    ) -> Result<CreatedInvoice, BackendError> {
        self.add_invoice(request).await
    }

    /// `GET /v1/invoice/{hex}` (`invoices:read`). LND's not-found answers (code 5) are
    /// `Ok(None)`; an `OPEN` or `CANCELED` invoice past its expiry is
    /// [`InvoiceState::Expired`].
    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<Option<InvoiceState>, BackendError> {
        self.lookup(payment_hash).await
    }

    /// `GET /v1/getinfo` (`info:read`, which an invoice-only macaroon lacks: LND then
    /// answers "permission denied", a permanent error).
    async fn node_info(&self) -> Result<NodeInfo, BackendError> {
        self.get_info().await
    }
}

impl PaymentBackend for LndBackend {
    /// `POST /v2/router/send` (`SendPaymentV2`, `offchain:write`) with `fee_limit_msat`
    /// always set, read until `SUCCEEDED` or `FAILED`.
    async fn pay_invoice(
        &self,
        invoice: &Bolt11Invoice,
        params: &PayParams,
    ) -> Result<PaymentSuccess, PayError> {
        self.pay(invoice, params).await
    }

    /// `GET /v2/router/track/{hash}` (`TrackPaymentV2`, `offchain:read`): the first
    /// message is the current state; "payment isn't initiated" (code 5) is
    /// [`PaymentStatus::Unknown`].
    async fn lookup_payment(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<PaymentStatus, BackendError> {
        self.track(payment_hash).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn invoice(state: &str, creation: i64, expiry: i64) -> Invoice {
        Invoice {
            r_hash: String::new(),
            creation_date: creation,
            settle_date: 1_780_000_095,
            expiry,
            amt_paid_msat: 1_000_000,
            state: state.to_owned(),
        }
    }

    #[test]
    fn invoice_states() {
        let now = UNIX_EPOCH + Duration::from_secs(1_780_000_100);
        assert_eq!(
            invoice_state(&invoice("OPEN", 1_780_000_000, 3600), now),
            Ok(InvoiceState::Open)
        );
        assert_eq!(
            invoice_state(&invoice("OPEN", 1_780_000_000, 50), now),
            Ok(InvoiceState::Expired)
        );
        assert_eq!(
            invoice_state(&invoice("CANCELED", 1_780_000_000, 3600), now),
            Ok(InvoiceState::Canceled)
        );
        assert_eq!(
            invoice_state(&invoice("CANCELED", 1_780_000_000, 50), now),
            Ok(InvoiceState::Expired)
        );
        assert_eq!(
            invoice_state(&invoice("ACCEPTED", 1_780_000_000, 3600), now),
            Ok(InvoiceState::Accepted)
        );
        assert_eq!(
            invoice_state(&invoice("SETTLED", 1_780_000_000, 3600), now),
            Ok(InvoiceState::Settled {
                settled_at: UNIX_EPOCH + Duration::from_secs(1_780_000_095),
                amount_received: Amount::from_msat(1_000_000),
            })
        );
        assert!(invoice_state(&invoice("WEIRD", 0, 0), now).is_err());
    }

    fn fixture_payment(status: &str, preimage: &str) -> Payment {
        Payment {
            payment_hash: "d62c6d8f89d46d55c40937d346e5097e167a03257cc802f64404f480b87462c6".into(),
            payment_preimage: preimage.into(),
            value_msat: 1_000_000,
            fee_msat: 0,
            status: status.into(),
            failure_reason: "FAILURE_REASON_NONE".into(),
        }
    }

    #[test]
    fn payment_statuses_check_the_preimage() {
        let hash = PaymentHash::from_hex(
            "d62c6d8f89d46d55c40937d346e5097e167a03257cc802f64404f480b87462c6",
        )
        .unwrap();
        let good = "ab0c18a1ef60b9ab06818b35842db1964372350af76691afa6546b59cba62044";
        assert!(matches!(
            payment_status(&fixture_payment("SUCCEEDED", good), &hash),
            Ok(PaymentStatus::Succeeded(_))
        ));
        // Zeros until success: never accepted as a preimage.
        assert!(payment_status(&fixture_payment("SUCCEEDED", &"0".repeat(64)), &hash).is_err());
        assert_eq!(
            payment_status(&fixture_payment("IN_FLIGHT", &"0".repeat(64)), &hash),
            Ok(PaymentStatus::InFlight)
        );
        let other = PaymentHash::from_bytes([1; 32]);
        assert!(payment_status(&fixture_payment("IN_FLIGHT", good), &other).is_err());
    }

    #[test]
    fn networks_and_reasons() {
        assert_eq!(currency("regtest"), Some(Currency::Regtest));
        assert_eq!(currency("testnet4"), Some(Currency::BitcoinTestnet));
        assert_eq!(currency("litecoin"), None);
        assert_eq!(
            failure_reason("FAILURE_REASON_NO_ROUTE"),
            FailureReason::NoRoute
        );
        assert_eq!(
            failure_reason("FAILURE_REASON_INSUFFICIENT_BALANCE"),
            FailureReason::InsufficientBalance
        );
    }

    #[test]
    fn errors_map_to_kinds() {
        let lnd = |code| CallError::Node {
            http: StatusCode::INTERNAL_SERVER_ERROR,
            error: RpcStatus {
                code,
                message: "x".into(),
            },
        };
        assert_eq!(lnd(2).kind(), ErrorKind::Permanent);
        assert_eq!(lnd(14).kind(), ErrorKind::Transient);
        assert_eq!(
            CallError::Http(StatusCode::BAD_GATEWAY).kind(),
            ErrorKind::Transient
        );
        assert_eq!(
            CallError::Http(StatusCode::NOT_FOUND).kind(),
            ErrorKind::Permanent
        );
        assert_eq!(
            lnd_code(&error_from(
                StatusCode::NOT_FOUND,
                br#"{"error":{"code":5,"message":"payment isn't initiated","details":[]}}"#
            )),
            Some(5)
        );
        // An empty status is not LND's answer.
        assert!(matches!(
            error_from(
                StatusCode::INTERNAL_SERVER_ERROR,
                br#"{"code":0,"message":""}"#
            ),
            CallError::Http(_)
        ));
        assert_eq!(
            lnd(2).into_backend(NODE, "op").message(),
            "lnd op: x (code 2, http 500)"
        );
        assert!(matches!(
            error_from(StatusCode::BAD_GATEWAY, b"<html>"),
            CallError::Http(_)
        ));
    }
}
