//! The HTTP side: connections, clnrest's routing and auth, and the methods.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use l402_core::backend::{FailureReason, InvoiceRequest, PayParams, PaymentStatus};
use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::{Amount, InvoiceBackend as _, PayError, PaymentBackend as _, PaymentHash};
use l402_mock::{InvoiceRecord, MockNode, PaymentRecord};
use serde_json::{Map, Value, json};

use crate::json::{self, ClnError, InvoiceMeta, PayMeta};
use crate::rune::RuneStore;

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;
/// How often the fake polls for a payment being recorded.
const POLL: Duration = Duration::from_millis(5);
/// How long the mock may take for a payment: xpay waits for parts in flight whatever
/// `retry_for` says (it bounds the search for routes only).
const MOCK_PAY_TIMEOUT: Duration = Duration::from_secs(24 * 3600);
/// CLN's default invoice expiry: one week.
const DEFAULT_EXPIRY_SECS: u64 = 604_800;

/// The response body type.
pub(crate) type ResBody = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// Returned by a handler to drop the connection without an answer (a node or plugin
/// crash, a network cut).
#[derive(Debug)]
pub(crate) struct Abort(&'static str);

impl core::fmt::Display for Abort {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "fake cln: connection dropped: {}", self.0)
    }
}

impl std::error::Error for Abort {}

/// How a method call ends when it does not succeed.
enum Fail {
    /// A JSON-RPC error (HTTP 500, or 404 for an unknown command).
    Rpc(ClnError),
    /// No answer at all.
    Abort(&'static str),
}

impl From<ClnError> for Fail {
    fn from(e: ClnError) -> Self {
        Fail::Rpc(e)
    }
}

/// A mock call failed: unreachable (transient) drops the connection, as when lightningd
/// and its plugins are gone; anything else is CLN's catch-all error.
fn node_failure(e: &l402_core::BackendError) -> Fail {
    if e.is_transient() {
        Fail::Abort("mock node unreachable")
    } else {
        Fail::Rpc(ClnError::new(-1, e.message().to_owned()))
    }
}

/// Fault switches of the fake itself (the mock node has its own).
#[derive(Debug, Default)]
pub(crate) struct FakeFaultState {
    /// Drop the connection of this many upcoming `xpay` calls once the payment is sent.
    pub(crate) cut_xpay: u32,
}

/// What the fake remembers besides the mock's records: labels and indexes.
#[derive(Debug, Default)]
struct Book {
    /// Invoice hash → (label, created_index, pay_index).
    invoices: HashMap<PaymentHash, (String, u64, Option<u64>)>,
    labels: HashMap<String, Option<PaymentHash>>,
    next_invoice_index: u64,
    next_pay_index: u64,
    /// Payment attempt (hash, start) → created_index.
    attempts: HashMap<(PaymentHash, SystemTime), u64>,
    next_attempt_index: u64,
    /// Labels given to `xpay`.
    pay_labels: HashMap<PaymentHash, String>,
}

impl Book {
    /// The label and indexes of an invoice, registering one the fake did not create
    /// (made directly on the mock node) under a label of its own.
    fn invoice_meta(&mut self, record: &InvoiceRecord) -> (String, u64, Option<u64>) {
        let paid = matches!(
            record.state,
            l402_core::backend::InvoiceState::Settled { .. }
        );
        if !self.invoices.contains_key(&record.payment_hash) {
            self.next_invoice_index += 1;
            let label = format!("mock-{}", self.next_invoice_index);
            self.labels.insert(label.clone(), Some(record.payment_hash));
            self.invoices
                .insert(record.payment_hash, (label, self.next_invoice_index, None));
        }
        let next_pay_index = &mut self.next_pay_index;
        let entry = self
            .invoices
            .entry(record.payment_hash)
            .or_insert_with(|| (String::new(), 0, None));
        if paid && entry.2.is_none() {
            *next_pay_index += 1;
            entry.2 = Some(*next_pay_index);
        }
        entry.clone()
    }

    fn attempt_index(&mut self, record: &PaymentRecord) -> u64 {
        let key = (record.payment_hash, record.started_at);
        if let Some(index) = self.attempts.get(&key) {
            return *index;
        }
        self.next_attempt_index += 1;
        self.attempts.insert(key, self.next_attempt_index);
        self.next_attempt_index
    }
}

/// Everything handlers share.
pub(crate) struct State {
    pub(crate) node: MockNode,
    pub(crate) runes: Mutex<RuneStore>,
    pub(crate) faults: Mutex<FakeFaultState>,
    pub(crate) listpays: bool,
    pub(crate) port: Mutex<u16>,
    book: Mutex<Book>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    pub(crate) fn new(node: MockNode, listpays: bool) -> Self {
        State {
            node,
            runes: Mutex::new(RuneStore::default()),
            faults: Mutex::new(FakeFaultState::default()),
            listpays,
            port: Mutex::new(0),
            book: Mutex::new(Book::default()),
        }
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<ResBody> {
    let mut response = Response::new(Full::new(Bytes::from(body)).boxed());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn json_response(status: u16, value: &Value) -> Response<ResBody> {
    respond(
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        "application/json",
        value.to_string(),
    )
}

fn error_response(status: u16, error: &ClnError) -> Response<ResBody> {
    json_response(status, &error.to_json())
}

/// The HTTP status clnrest gives a method's error.
fn error_status(error: &ClnError) -> u16 {
    if error.code == Some(-32601) { 404 } else { 500 }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Whether clnrest can answer in a format the `Accept` header allows.
fn accept_ok(accept: Option<&str>) -> bool {
    accept.is_none_or(|accept| {
        accept.split(',').any(|part| {
            let media = part.split(';').next().unwrap_or_default().trim();
            matches!(
                media,
                "" | "*/*"
                    | "application/*"
                    | "application/json"
                    | "application/yaml"
                    | "application/xml"
                    | "application/x-www-form-urlencoded"
            )
        })
    })
}

/// Drops `null`-valued keys, recursively, as clnrest does before the call.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

const METHODS_HTML: &str = "<html><body><h1>Core Lightning methods (fake)</h1><ul>\
<li>getinfo</li><li>invoice</li><li>listinvoices</li><li>xpay</li><li>listpays</li>\
<li>listsendpays</li><li>createrune</li></ul></body></html>";

pub(crate) async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<ResBody>, Abort> {
    let path = request.uri().path().to_owned();
    tracing::debug!(method = %request.method(), %path, "fake cln: request");
    let Some(rpc_method) = path.strip_prefix("/v1/").map(str::to_owned) else {
        let message = if path.trim_start_matches('/').contains('/') {
            "Path invalid, version missing for CLN methods"
        } else {
            "Path not found"
        };
        return Ok(error_response(404, &ClnError::new(-32601, message)));
    };
    if request.method() != Method::POST {
        if request.method() == Method::GET && rpc_method == "list-methods" {
            return Ok(respond(
                StatusCode::OK,
                "text/html",
                METHODS_HTML.to_owned(),
            ));
        }
        return Ok(error_response(
            405,
            &ClnError::new(
                -32601,
                "Path invalid, http_method must be POST for CLN methods",
            ),
        ));
    }
    let (parts, body) = request.into_parts();
    if let Some(content_type) = header_str(&parts.headers, "content-type") {
        let media = content_type.split(';').next().unwrap_or_default().trim();
        if media != "application/json" {
            return Ok(error_response(
                406,
                &ClnError::without_code(format!("Unsupported content-type header: {content_type}")),
            ));
        }
    }
    let accept = header_str(&parts.headers, "accept").map(str::to_owned);
    let Ok(bytes) = Limited::new(body, MAX_BODY).collect().await else {
        return Ok(error_response(
            500,
            &ClnError::without_code("Failed to read request body"),
        ));
    };
    let bytes = bytes.to_bytes();
    let mut value = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Map::new())
    } else {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(value) => value,
            Err(e) => {
                return Ok(error_response(
                    500,
                    &ClnError::without_code(format!("Failed to parse request body: {e}")),
                ));
            }
        }
    };
    drop_nulls(&mut value);
    let Value::Object(params) = value else {
        return Ok(error_response(
            500,
            &ClnError::without_code("Failed to parse request body: expected a JSON object"),
        ));
    };

    let rune = header_str(&parts.headers, "rune");
    if let Err((status, error)) = lock(&state.runes).check(rune, &rpc_method, &params) {
        tracing::debug!(method = %rpc_method, code = ?error.code, "fake cln: rune refused");
        return Ok(error_response(status, &error));
    }

    let result = dispatch(&state, &rpc_method, params).await;
    // clnrest checks `Accept` only when it formats the answer: after the method ran.
    if !accept_ok(accept.as_deref()) {
        return Ok(error_response(
            406,
            &ClnError::without_code(format!(
                "Unsupported accept header: {}",
                accept.unwrap_or_default()
            )),
        ));
    }
    match result {
        Ok(value) => Ok(json_response(201, &value)),
        Err(Fail::Rpc(error)) => Ok(error_response(error_status(&error), &error)),
        Err(Fail::Abort(why)) => {
            tracing::debug!(method = %rpc_method, why, "fake cln: dropping the connection");
            Err(Abort(why))
        }
    }
}

async fn dispatch(
    state: &Arc<State>,
    method: &str,
    params: Map<String, Value>,
) -> Result<Value, Fail> {
    match method {
        "getinfo" => get_info(state, params).await,
        "invoice" => invoice(state, params).await,
        "listinvoices" => list_invoices(state, params).await,
        "xpay" => xpay(state, params).await,
        "listpays" if state.listpays => list_pays(state, params, false).await,
        "listsendpays" => list_pays(state, params, true).await,
        "createrune" | "invokerune" => Ok(lock(&state.runes).create_call(&params)?),
        other => Err(Fail::Rpc(ClnError::new(
            -32601,
            format!("Unknown command '{other}'"),
        ))),
    }
}

/// Named parameters, checked against the names a method takes.
struct Params(Map<String, Value>);

impl Params {
    fn new(map: Map<String, Value>, known: &[&str]) -> Result<Self, ClnError> {
        if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(ClnError::param(format!("unknown parameter: {unknown}")));
        }
        Ok(Params(map))
    }

    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    fn required(&self, name: &str) -> Result<&Value, ClnError> {
        self.0
            .get(name)
            .ok_or_else(|| ClnError::param(format!("missing required parameter: {name}")))
    }

    fn string(&self, name: &str) -> Result<Option<&str>, ClnError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(invalid(name, "should be a string", other)),
        }
    }

    fn unsigned(&self, name: &str, max: u64) -> Result<Option<u64>, ClnError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => match v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            {
                Some(n) if n <= max => Ok(Some(n)),
                _ => Err(invalid(name, "should be an unsigned integer", v)),
            },
        }
    }

    fn msat(&self, name: &str) -> Result<Option<Amount>, ClnError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => parse_msat(v)
                .map(Some)
                .ok_or_else(|| invalid(name, "should be a millisatoshi amount", v)),
        }
    }

    fn hash(&self, name: &str) -> Result<Option<PaymentHash>, ClnError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .filter(|s| s.len() == 64)
                .and_then(|s| PaymentHash::from_hex(s).ok())
                .map(Some)
                .ok_or_else(|| invalid(name, "should be a 32 byte hex value", v)),
        }
    }
}

fn invalid(name: &str, what: &str, value: &Value) -> ClnError {
    ClnError::param(format!("{name}: {what}: invalid token '{value}'"))
}

/// An msat amount: an integer, or a string `<n>`, `<n>msat`, `<n>sat`.
fn parse_msat(value: &Value) -> Option<Amount> {
    if let Some(n) = value.as_u64() {
        return Some(Amount::from_msat(n));
    }
    let s = value.as_str()?;
    if let Some(n) = s.strip_suffix("msat") {
        return n.parse().ok().map(Amount::from_msat);
    }
    if let Some(n) = s.strip_suffix("sat") {
        return n.parse().ok().and_then(Amount::from_sat);
    }
    s.parse().ok().map(Amount::from_msat)
}

async fn get_info(state: &State, params: Map<String, Value>) -> Result<Value, Fail> {
    Params::new(params, &[])?;
    let info = state.node.node_info().await.map_err(|e| node_failure(&e))?;
    Ok(json::get_info(&info, *lock(&state.port)))
}

const INVOICE_PARAMS: [&str; 10] = [
    "amount_msat",
    "label",
    "description",
    "expiry",
    "fallbacks",
    "preimage",
    "exposeprivatechannels",
    "cltv",
    "deschashonly",
    "dev-routes",
];

async fn invoice(state: &State, params: Map<String, Value>) -> Result<Value, Fail> {
    let p = Params::new(params, &INVOICE_PARAMS)?;
    let amount_value = p.required("amount_msat")?;
    let amount = if amount_value.as_str() == Some("any") {
        Amount::ZERO
    } else {
        match parse_msat(amount_value) {
            Some(a) if !a.is_zero() => a,
            _ => {
                return Err(invalid(
                    "amount_msat",
                    "should be positive msat or 'any'",
                    amount_value,
                )
                .into());
            }
        }
    };
    let label = match p.required("label")? {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        other => return Err(invalid("label", "should be a string or number", other).into()),
    };
    let description = p
        .string("description")?
        .ok_or_else(|| ClnError::param("missing required parameter: description"))?
        .to_owned();
    let expiry = p
        .unsigned("expiry", u64::MAX)?
        .unwrap_or(DEFAULT_EXPIRY_SECS);
    for unsupported in [
        "fallbacks",
        "preimage",
        "exposeprivatechannels",
        "dev-routes",
    ] {
        if p.has(unsupported) {
            return Err(
                ClnError::new(-1, format!("fake cln: {unsupported} is not supported")).into(),
            );
        }
    }
    if p.0.get("deschashonly").and_then(Value::as_bool) == Some(true) {
        return Err(ClnError::new(-1, "fake cln: deschashonly is not supported").into());
    }
    p.unsigned("cltv", u64::from(u32::MAX))?;

    {
        // Reserve the label (CLN's invoice table has a unique label column).
        let mut book = lock(&state.book);
        if book.labels.contains_key(&label) {
            return Err(ClnError::new(900, format!("Duplicate label '{label}'")).into());
        }
        book.labels.insert(label.clone(), None);
    }
    let request = InvoiceRequest::new(amount)
        .memo(description)
        .expiry(Duration::from_secs(expiry));
    let created = match state.node.create_invoice(&request).await {
        Ok(created) => created,
        Err(e) => {
            lock(&state.book).labels.remove(&label);
            return Err(node_failure(&e));
        }
    };
    let mut book = lock(&state.book);
    book.next_invoice_index += 1;
    let index = book.next_invoice_index;
    book.labels
        .insert(label.clone(), Some(created.payment_hash));
    book.invoices
        .insert(created.payment_hash, (label, index, None));
    Ok(json::invoice_created(&created.invoice, index))
}

const LISTINVOICES_PARAMS: [&str; 7] = [
    "label",
    "invstring",
    "payment_hash",
    "offer_id",
    "index",
    "start",
    "limit",
];

async fn list_invoices(state: &State, params: Map<String, Value>) -> Result<Value, Fail> {
    let p = Params::new(params, &LISTINVOICES_PARAMS)?;
    let selectors = ["label", "invstring", "payment_hash", "offer_id"]
        .iter()
        .filter(|s| p.has(s))
        .count();
    if selectors > 1 {
        return Err(ClnError::param(
            "Can only specify one of {label}, {invstring}, {payment_hash} or {offer_id}",
        )
        .into());
    }
    if let Some(index) = p.string("index")?
        && index != "created"
        && index != "updated"
    {
        return Err(invalid("index", "should be one of created, updated", &json!(index)).into());
    }
    let start = p.unsigned("start", u64::MAX)?;
    let limit = p.unsigned("limit", u64::from(u32::MAX))?;

    let hash = if let Some(hash) = p.0.get("payment_hash") {
        let parsed = hash
            .as_str()
            .and_then(|s| l402_core::encoding::hex_decode(s).ok())
            .ok_or_else(|| invalid("payment_hash", "should be a hex string", hash))?;
        Some(
            <[u8; 32]>::try_from(parsed)
                .ok()
                .map(PaymentHash::from_bytes),
        )
    } else if let Some(invstring) = p.string("invstring")? {
        Some(
            invstring
                .parse::<Bolt11Invoice>()
                .ok()
                .map(|i| PaymentHash::from(&i)),
        )
    } else if let Some(label) = p.0.get("label") {
        let label = match label {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some(lock(&state.book).labels.get(&label).copied().flatten())
    } else if p.has("offer_id") {
        Some(None)
    } else {
        None
    };

    // The call itself goes through the mock (for its faults).
    let probe = hash.flatten().unwrap_or(PaymentHash::from_bytes([0; 32]));
    state
        .node
        .lookup_invoice(&probe)
        .await
        .map_err(|e| node_failure(&e))?;
    let records: Vec<InvoiceRecord> = match hash {
        Some(Some(hash)) => state.node.invoice(&hash).into_iter().collect(),
        Some(None) => Vec::new(),
        None => state.node.invoices(),
    };
    let mut book = lock(&state.book);
    let mut invoices: Vec<(u64, Value)> = records
        .iter()
        .filter_map(|record| {
            let (label, created_index, pay_index) = book.invoice_meta(record);
            let entry = json::invoice_entry(
                record,
                &InvoiceMeta {
                    label: &label,
                    created_index,
                    pay_index,
                },
            )?;
            Some((created_index, entry))
        })
        .collect();
    invoices.sort_by_key(|(index, _)| *index);
    let invoices: Vec<Value> = invoices
        .into_iter()
        .filter(|(index, _)| start.is_none_or(|s| *index >= s))
        .take(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)))
        .map(|(_, v)| v)
        .collect();
    Ok(json!({ "invoices": invoices }))
}

const XPAY_PARAMS: [&str; 11] = [
    "invstring",
    "amount_msat",
    "maxfee",
    "layers",
    "retry_for",
    "partial_msat",
    "maxdelay",
    "payer_note",
    "label",
    "localinvreqid",
    "dev_use_shadow",
];

/// The latest payment record for `hash`, if it started at or after `since`.
fn record_since(node: &MockNode, hash: &PaymentHash, since: SystemTime) -> Option<PaymentRecord> {
    node.payment(hash).filter(|r| r.started_at >= since)
}

async fn wait_for_record(node: &MockNode, hash: &PaymentHash, since: SystemTime) {
    while record_since(node, hash, since).is_none() {
        tokio::time::sleep(POLL).await;
    }
}

/// The xpay error for a mock failure reason.
fn xpay_error(reason: &FailureReason) -> ClnError {
    match reason {
        FailureReason::NoRoute => ClnError::new(
            205,
            "Failed: We could not find a usable set of paths.  The shortest path is 0x0x0, but 0x0x0/0 exceeds our maxfee",
        ),
        FailureReason::InsufficientBalance => ClnError::new(
            205,
            "Failed: We could not find a usable set of paths.  We have insufficient outgoing capacity",
        ),
        FailureReason::IncorrectPaymentDetails => ClnError::new(
            203,
            "Destination said it doesn't know invoice: incorrect_or_unknown_payment_details",
        ),
        FailureReason::InvoiceExpired => ClnError::new(207, "Invoice expired"),
        FailureReason::AlreadyPaid => ClnError::new(219, "Already paid"),
        FailureReason::InvalidInvoice => ClnError::param("invstring: Invalid bolt11 for this node"),
        FailureReason::Timeout => ClnError::new(209, "Failed after 1 attempts: timed out"),
        other => ClnError::new(209, format!("Failed: {other}")),
    }
}

async fn xpay(state: &Arc<State>, params: Map<String, Value>) -> Result<Value, Fail> {
    let p = Params::new(params, &XPAY_PARAMS)?;
    let invstring = match p.required("invstring")? {
        Value::String(s) => s.clone(),
        other => return Err(invalid("invstring", "should be a string", other).into()),
    };
    let amount = p.msat("amount_msat")?;
    let maxfee = p.msat("maxfee")?;
    p.unsigned("retry_for", u64::from(u32::MAX))?;
    // xpay's default; the mock refuses routes locked longer (no route).
    let maxdelay = p.unsigned("maxdelay", u64::from(u32::MAX))?.unwrap_or(2016);
    let label = p.string("label")?.map(str::to_owned);
    for unsupported in ["layers", "partial_msat", "payer_note", "localinvreqid"] {
        if p.has(unsupported) {
            return Err(
                ClnError::new(-1, format!("fake cln: {unsupported} is not supported")).into(),
            );
        }
    }
    let invoice: Bolt11Invoice = invstring
        .parse()
        .map_err(|e| ClnError::param(format!("invstring: Unparsable invoice: {e}")))?;
    if invoice.currency() != state.node.network().currency() {
        return Err(ClnError::param("invstring: Invoice is for another network").into());
    }
    let invoice_amount = invoice.amount_milli_satoshis().map(Amount::from_msat);
    let amount_sent = match (invoice_amount, amount) {
        (Some(_), Some(_)) => {
            return Err(ClnError::param(
                "amount_msat: Cannot specify amount for invoice with amount",
            )
            .into());
        }
        (None, None) => {
            return Err(ClnError::param(
                "amount_msat: Must specify amount for invoice without amount",
            )
            .into());
        }
        (Some(a), None) | (None, Some(a)) => a,
    };
    // xpay's default: 5000 msat or 1 %, whichever is greater.
    let maxfee = maxfee.unwrap_or_else(|| Amount::from_msat((amount_sent.msat() / 100).max(5_000)));
    let mut pay_params = PayParams::new(maxfee, MOCK_PAY_TIMEOUT)
        .max_cltv_delta(u32::try_from(maxdelay).unwrap_or(u32::MAX));
    if let Some(amount) = amount {
        pay_params = pay_params.amount(amount);
    }
    let hash = PaymentHash::from(&invoice);
    if let Some(label) = label {
        lock(&state.book).pay_labels.insert(hash, label);
    }

    // The payment runs in its own task: it goes on if the client goes away.
    let since = SystemTime::now();
    let node = state.node.clone();
    let mut task = tokio::spawn(async move { node.pay_invoice(&invoice, &pay_params).await });
    let early = tokio::select! {
        joined = &mut task => Some(joined),
        () = wait_for_record(&state.node, &hash, since) => None,
    };
    if record_since(&state.node, &hash, since).is_some() {
        let cut = {
            let mut faults = lock(&state.faults);
            let cut = faults.cut_xpay > 0;
            faults.cut_xpay = faults.cut_xpay.saturating_sub(1);
            cut
        };
        if cut {
            return Err(Fail::Abort("xpay cut after sending"));
        }
    }
    let joined = match early {
        Some(joined) => joined,
        None => task.await,
    };
    let result =
        joined.map_err(|e| ClnError::new(-1, format!("fake cln: payment task failed: {e}")))?;
    match result {
        Ok(success) => Ok(json!({
            "payment_preimage": success.preimage.expose_hex().as_str(),
            "failed_parts": 0,
            "successful_parts": 1,
            "amount_msat": success.amount.msat(),
            "amount_sent_msat": success.amount.saturating_add(success.fee).msat(),
        })),
        Err(PayError::Failed(reason)) => Err(xpay_error(&reason).into()),
        Err(PayError::NotAttempted(e)) => Err(node_failure(&e)),
        // The mock lost the answer (CutAfterSettle): so does the connection.
        Err(_) => Err(Fail::Abort("payment answer lost")),
    }
}

const LISTPAYS_PARAMS: [&str; 6] = [
    "bolt11",
    "payment_hash",
    "status",
    "index",
    "start",
    "limit",
];

/// Whether a failed attempt left a record on a real node: xpay sends nothing when it
/// finds no route (no fee budget, no capacity).
fn was_sent(record: &PaymentRecord) -> bool {
    !matches!(
        record.status,
        PaymentStatus::Failed(FailureReason::NoRoute | FailureReason::InsufficientBalance)
    )
}

/// `listpays` (`sendpays == false`) or `listsendpays`.
async fn list_pays(
    state: &State,
    params: Map<String, Value>,
    sendpays: bool,
) -> Result<Value, Fail> {
    let p = Params::new(params, &LISTPAYS_PARAMS)?;
    if p.has("bolt11") && p.has("payment_hash") {
        return Err(ClnError::param("Can only specify one of {bolt11} or {payment_hash}").into());
    }
    let mut hash = p.hash("payment_hash")?;
    if let Some(bolt11) = p.string("bolt11")? {
        let invoice: Bolt11Invoice = bolt11
            .parse()
            .map_err(|_| invalid("bolt11", "should be a bolt11 string", &json!(bolt11)))?;
        hash = Some(PaymentHash::from(&invoice));
    }
    let status = p.string("status")?.map(str::to_owned);
    if let Some(s) = &status
        && !["pending", "complete", "failed"].contains(&s.as_str())
    {
        return Err(invalid(
            "status",
            "should be one of pending, complete, failed",
            &json!(s),
        )
        .into());
    }
    if let Some(index) = p.string("index")?
        && index != "created"
        && index != "updated"
    {
        return Err(invalid("index", "should be one of created, updated", &json!(index)).into());
    }
    let start = p.unsigned("start", u64::MAX)?;
    let limit = p.unsigned("limit", u64::from(u32::MAX))?;

    // The call itself goes through the mock (for its faults).
    let probe = hash.unwrap_or(PaymentHash::from_bytes([0; 32]));
    state
        .node
        .lookup_payment(&probe)
        .await
        .map_err(|e| node_failure(&e))?;
    let network = state.node.network();
    let records: Vec<PaymentRecord> = state
        .node
        .payments()
        .into_iter()
        .filter(|r| hash.is_none_or(|h| r.payment_hash == h))
        .filter(was_sent)
        .collect();
    let mut book = lock(&state.book);
    let mut groups: HashMap<PaymentHash, u64> = HashMap::new();
    let mut entries = Vec::new();
    for record in &records {
        let created_index = book.attempt_index(record);
        let groupid = {
            let g = groups.entry(record.payment_hash).or_insert(0);
            *g += 1;
            *g
        };
        let bolt11 = network
            .invoice(&record.payment_hash)
            .map(|i| i.invoice.to_string());
        let label = book.pay_labels.get(&record.payment_hash).cloned();
        let meta = PayMeta {
            created_index,
            groupid,
            bolt11: bolt11.as_deref(),
            label: label.as_deref(),
        };
        let entry = if sendpays {
            json::sendpay_entry(record, &meta)
        } else {
            json::pay_entry(record, &meta)
        };
        if status
            .as_deref()
            .is_some_and(|s| entry.get("status").and_then(Value::as_str) != Some(s))
        {
            continue;
        }
        if start.is_some_and(|s| created_index < s) {
            continue;
        }
        entries.push(entry);
    }
    if let Some(limit) = limit {
        entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    let key = if sendpays { "payments" } else { "pays" };
    Ok(json!({ key: entries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msat_forms() {
        assert_eq!(parse_msat(&json!(1000)), Some(Amount::from_msat(1000)));
        assert_eq!(
            parse_msat(&json!("1000msat")),
            Some(Amount::from_msat(1000))
        );
        assert_eq!(parse_msat(&json!("2sat")), Some(Amount::from_msat(2000)));
        assert_eq!(parse_msat(&json!("12")), Some(Amount::from_msat(12)));
        assert_eq!(parse_msat(&json!("x")), None);
        assert_eq!(parse_msat(&json!(-1)), None);
    }

    #[test]
    fn nulls_are_dropped() {
        let mut v = json!({"a": null, "b": {"c": null, "d": 1}});
        drop_nulls(&mut v);
        assert_eq!(v, json!({"b": {"d": 1}}));
    }

    #[test]
    fn accept_headers() {
        assert!(accept_ok(None));
        assert!(accept_ok(Some("*/*")));
        assert!(accept_ok(Some("text/html, application/json;q=0.9")));
        assert!(!accept_ok(Some("text/html")));
    }
}
