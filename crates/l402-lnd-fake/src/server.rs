//! The HTTP side: connections, routing as grpc-gateway does it, and the five calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use http::{HeaderMap, Method, Request, Response};
use http_body_util::{BodyExt as _, Limited};
use hyper::body::Incoming;
use l402_core::backend::{FailureReason, InvoiceRequest, PayParams, PaymentStatus};
use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::{Amount, InvoiceBackend as _, PayError, PaymentBackend as _, PaymentHash};
use l402_mock::{MockNode, PaymentRecord};
use serde_json::{Map, Value};

use crate::auth::{
    BakeFailure, MACAROON_GENERATE, MacaroonStore, Permission, VALID_ACTIONS, VALID_ENTITIES,
    decode_go_hex,
};
use crate::body::{ResBody, StreamSender, ok_json, stream, stream_error, unary_error};
use crate::json::{self, PaymentView, Status, line};

/// The gRPC URIs of the calls the fake serves (for `uri:` permissions).
pub(crate) mod uri {
    pub(crate) const GET_INFO: &str = "/lnrpc.Lightning/GetInfo";
    pub(crate) const ADD_INVOICE: &str = "/lnrpc.Lightning/AddInvoice";
    pub(crate) const LOOKUP_INVOICE: &str = "/lnrpc.Lightning/LookupInvoice";
    pub(crate) const BAKE_MACAROON: &str = "/lnrpc.Lightning/BakeMacaroon";
    pub(crate) const SEND_PAYMENT_V2: &str = "/routerrpc.Router/SendPaymentV2";
    pub(crate) const TRACK_PAYMENT_V2: &str = "/routerrpc.Router/TrackPaymentV2";
    /// Every one of them.
    pub(crate) const ALL: [&str; 6] = [
        GET_INFO,
        ADD_INVOICE,
        LOOKUP_INVOICE,
        BAKE_MACAROON,
        SEND_PAYMENT_V2,
        TRACK_PAYMENT_V2,
    ];
}

/// Largest request body accepted.
const MAX_BODY: usize = 1 << 20;
/// How often in-flight payments are polled.
const POLL: Duration = Duration::from_millis(5);
/// How long the mock may take for a payment (LND keeps going past `timeout_seconds`).
const MOCK_PAY_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// Fault switches of the fake itself (the mock node has its own).
#[derive(Debug, Default)]
pub(crate) struct FakeFaultState {
    /// Cut this many upcoming `SendPaymentV2` streams after their first message (or at
    /// once with `no_inflight_updates`).
    pub(crate) cut_pay_streams: u32,
}

/// What the fake remembers of payments sent through it.
#[derive(Debug, Default)]
struct PaymentBook {
    by_hash: HashMap<PaymentHash, (String, u64)>,
    next_index: u64,
}

/// Everything handlers share.
pub(crate) struct State {
    pub(crate) node: MockNode,
    pub(crate) macaroons: Mutex<MacaroonStore>,
    pub(crate) faults: Mutex<FakeFaultState>,
    pub(crate) cancel_expired: bool,
    payments: Mutex<PaymentBook>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl State {
    pub(crate) fn new(node: MockNode, cancel_expired: bool, macaroons: MacaroonStore) -> Self {
        State {
            node,
            macaroons: Mutex::new(macaroons),
            faults: Mutex::new(FakeFaultState::default()),
            cancel_expired,
            payments: Mutex::new(PaymentBook::default()),
        }
    }

    fn check(&self, headers: &HeaderMap, needed: Permission, uri: &str) -> Result<(), Status> {
        let peer = PEER.try_with(|p| *p).ok().flatten();
        lock(&self.macaroons).check(headers, needed, uri, peer)
    }

    /// The payment request and index of a payment, remembering it if new.
    fn payment_entry(&self, hash: &PaymentHash, payment_request: Option<&str>) -> (String, u64) {
        let mut book = lock(&self.payments);
        if let Some((request, index)) = book.by_hash.get(hash) {
            return (request.clone(), *index);
        }
        let request = payment_request.map(str::to_owned).unwrap_or_else(|| {
            self.node
                .network()
                .invoice(hash)
                .map(|r| r.invoice.to_string())
                .unwrap_or_default()
        });
        book.next_index += 1;
        let index = book.next_index;
        book.by_hash.insert(*hash, (request.clone(), index));
        (request, index)
    }

    fn payment_json(&self, record: &PaymentRecord, force_in_flight: bool) -> Value {
        let (payment_request, payment_index) = self.payment_entry(&record.payment_hash, None);
        json::payment(&PaymentView {
            record,
            payment_request: &payment_request,
            payment_index,
            force_in_flight,
        })
    }
}

/// Percent-decodes the whole path, as grpc-gateway's legacy unescaping mode does before
/// splitting it (so `%2F` splits a segment).
fn unescape_path(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes.get(i), bytes.get(i + 1), bytes.get(i + 2)) {
            (Some(b'%'), Some(h), Some(l)) => decode_go_hex(&[*h, *l])
                .ok()
                .and_then(|v| v.first().copied()),
            _ => None,
        };
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes.get(i).copied().unwrap_or_default());
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn not_found() -> Response<ResBody> {
    unary_error(&Status::new(5, "Not Found"))
}

fn method_not_allowed() -> Response<ResBody> {
    unary_error(&Status::new(12, "Method Not Allowed"))
}

tokio::task_local! {
    /// The address of the request being handled, for `ipaddr` caveats.
    static PEER: Option<std::net::IpAddr>;
}

pub(crate) async fn handle(state: Arc<State>, request: Request<Incoming>) -> Response<ResBody> {
    let peer = request
        .extensions()
        .get::<l402_fake_server::PeerAddr>()
        .map(|p| p.0.ip());
    PEER.scope(peer, route(state, request)).await
}

async fn route(state: Arc<State>, request: Request<Incoming>) -> Response<ResBody> {
    let path = unescape_path(request.uri().path());
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method().clone();
    tracing::debug!(%method, path = %request.uri().path(), "fake lnd: request");
    match (segments.as_slice(), method) {
        (["v1", "getinfo"], Method::GET) => get_info(&state, request.headers()).await,
        (["v1", "invoices"], Method::POST) => add_invoice(&state, request).await,
        (["v1", "invoice", hash], Method::GET) => {
            let hash = (*hash).to_owned();
            lookup_invoice(&state, request.headers(), &hash).await
        }
        (["v1", "macaroon"], Method::POST) => bake_macaroon(&state, request).await,
        (["v2", "router", "send"], Method::POST) => send_payment(state, request).await,
        (["v2", "router", "track", hash], Method::GET) => {
            let hash = (*hash).to_owned();
            track_payment(state, &request, &hash).await
        }
        (["v1", "getinfo"] | ["v1", "invoices"] | ["v1", "invoice", _] | ["v1", "macaroon"], _)
        | (["v2", "router", "send"] | ["v2", "router", "track", _], _) => method_not_allowed(),
        _ => not_found(),
    }
}

/// A call to the mock failed because it is unreachable: grpc-gateway's answer when the
/// gRPC server behind it cannot be reached.
fn unavailable(e: &l402_core::BackendError) -> Status {
    if e.is_transient() {
        Status::new(14, format!("connection error: {}", e.message()))
    } else {
        Status::new(2, e.message().to_owned())
    }
}

async fn get_info(state: &State, headers: &HeaderMap) -> Response<ResBody> {
    if let Err(status) = state.check(headers, Permission::INFO_READ, uri::GET_INFO) {
        return unary_error(&status);
    }
    match state.node.node_info().await {
        Ok(info) => ok_json(&json::get_info(&info)),
        Err(e) => unary_error(&unavailable(&e)),
    }
}

async fn read_json_object(
    request: Request<Incoming>,
) -> Result<(HeaderMap, Map<String, Value>), Status> {
    let (parts, body) = request.into_parts();
    let bytes = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map_err(|e| Status::new(3, format!("reading request body: {e}")))?
        .to_bytes();
    let value: Value = if bytes.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| Status::new(3, format!("proto: syntax error: {e}")))?
    };
    match value {
        Value::Object(map) => Ok((parts.headers, map)),
        _ => Err(Status::new(
            3,
            "proto: syntax error: expected a JSON object",
        )),
    }
}

/// lowerCamelCase of a proto field name (protojson accepts both).
fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Rejects fields the message does not have (protojson without `DiscardUnknown`) and
/// returns the fields under their proto names.
fn known_fields(
    map: Map<String, Value>,
    fields: &[&str],
) -> Result<HashMap<String, Value>, Status> {
    let mut out = HashMap::new();
    for (key, value) in map {
        let proto = fields
            .iter()
            .find(|f| **f == key || camel(f) == key)
            .ok_or_else(|| Status::new(3, format!("proto: (line 1:2): unknown field {key:?}")))?;
        out.insert((*proto).to_owned(), value);
    }
    Ok(out)
}

fn get_i64(fields: &HashMap<String, Value>, name: &str) -> Result<i64, Status> {
    let invalid = || Status::new(3, format!("proto: invalid value for int64 field {name}"));
    match fields.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_i64().ok_or_else(invalid),
        Some(Value::String(s)) => s.parse().map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

fn get_str<'a>(fields: &'a HashMap<String, Value>, name: &str) -> Result<&'a str, Status> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Status::new(
            3,
            format!("proto: invalid value for string field {name}"),
        )),
    }
}

fn get_bool(fields: &HashMap<String, Value>, name: &str) -> Result<bool, Status> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(Status::new(
            3,
            format!("proto: invalid value for bool field {name}"),
        )),
    }
}

/// Fields of `lnrpc.Invoice` (the `AddInvoice` body).
const INVOICE_FIELDS: [&str; 29] = [
    "memo",
    "r_preimage",
    "r_hash",
    "value",
    "value_msat",
    "settled",
    "creation_date",
    "settle_date",
    "payment_request",
    "description_hash",
    "expiry",
    "fallback_addr",
    "cltv_expiry",
    "route_hints",
    "private",
    "add_index",
    "settle_index",
    "amt_paid",
    "amt_paid_sat",
    "amt_paid_msat",
    "state",
    "htlcs",
    "features",
    "is_keysend",
    "payment_addr",
    "is_amp",
    "amp_invoice_state",
    "is_blinded",
    "blinded_path_config",
];

/// Fields of `routerrpc.SendPaymentRequest` in LND 0.21 (no `outgoing_chan_id`).
const SEND_FIELDS: [&str; 24] = [
    "dest",
    "amt",
    "payment_hash",
    "final_cltv_delta",
    "payment_request",
    "timeout_seconds",
    "fee_limit_sat",
    "cltv_limit",
    "route_hints",
    "dest_custom_records",
    "amt_msat",
    "fee_limit_msat",
    "last_hop_pubkey",
    "allow_self_payment",
    "dest_features",
    "max_parts",
    "no_inflight_updates",
    "outgoing_chan_ids",
    "payment_addr",
    "max_shard_size_msat",
    "amp",
    "time_pref",
    "cancelable",
    "first_hop_custom_records",
];

/// Maximum invoice expiry LND accepts: 365 days.
const MAX_EXPIRY_SECS: i64 = 365 * 24 * 3600;

/// LND's `lnrpc.UnmarshallAmt`: sat and msat are mutually exclusive.
fn amount_of(
    fields: &HashMap<String, Value>,
    sat: &str,
    msat: &str,
) -> Result<Option<Amount>, Status> {
    let s = get_i64(fields, sat)?;
    let m = get_i64(fields, msat)?;
    if s != 0 && m != 0 {
        return Err(Status::new(
            2,
            "sat and msat arguments are mutually exclusive",
        ));
    }
    if s < 0 || m < 0 {
        return Err(Status::new(2, "amount cannot be negative"));
    }
    let msat = if s != 0 {
        u64::try_from(s)
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(|| Status::new(2, "amount too large"))?
    } else {
        u64::try_from(m).unwrap_or_default()
    };
    Ok((msat != 0).then_some(Amount::from_msat(msat)))
}

async fn add_invoice(state: &State, request: Request<Incoming>) -> Response<ResBody> {
    match add_invoice_inner(state, request).await {
        Ok(response) => response,
        Err(status) => unary_error(&status),
    }
}

async fn add_invoice_inner(
    state: &State,
    request: Request<Incoming>,
) -> Result<Response<ResBody>, Status> {
    let (headers, map) = read_json_object(request).await?;
    let fields = known_fields(map, &INVOICE_FIELDS)?;
    state.check(&headers, Permission::INVOICES_WRITE, uri::ADD_INVOICE)?;
    let memo = get_str(&fields, "memo")?.to_owned();
    if memo.len() > 1024 {
        return Err(Status::new(
            2,
            format!("memo too large: {} bytes (maxsize=1024)", memo.len()),
        ));
    }
    let amount = amount_of(&fields, "value", "value_msat")?.unwrap_or(Amount::ZERO);
    let expiry = match get_i64(&fields, "expiry")? {
        0 => 86_400,
        e if e < 0 => return Err(Status::new(2, "expiry cannot be negative")),
        e if e > MAX_EXPIRY_SECS => {
            return Err(Status::new(
                2,
                format!("expiry of {e} seconds is greater than max allowed"),
            ));
        }
        e => e,
    };
    for unsupported in ["r_preimage", "description_hash", "fallback_addr"] {
        if !get_str(&fields, unsupported)?.is_empty() {
            return Err(Status::new(
                2,
                format!("fake lnd: {unsupported} is not supported"),
            ));
        }
    }
    if get_bool(&fields, "is_amp")? || get_bool(&fields, "is_blinded")? {
        return Err(Status::new(
            2,
            "fake lnd: AMP and blinded invoices are not supported",
        ));
    }
    let invoice_request = InvoiceRequest::new(amount)
        .memo(memo)
        .expiry(Duration::from_secs(expiry.unsigned_abs()));
    let created = state
        .node
        .create_invoice(&invoice_request)
        .await
        .map_err(|e| unavailable(&e))?;
    let add_index = add_index(state, &created.payment_hash);
    Ok(ok_json(&json::add_invoice_response(
        &created.invoice,
        add_index,
    )))
}

/// Most permissions one `BakeMacaroon` call may ask for in the fake (LND has no limit
/// but the message size; the fake's identifier codec has one).
const MAX_BAKE_PERMISSIONS: usize = 256;

fn get_u64(fields: &HashMap<String, Value>, name: &str) -> Result<u64, Status> {
    let invalid = || Status::new(3, format!("proto: invalid value for uint64 field {name}"));
    match fields.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(invalid),
        Some(Value::String(s)) => s.parse().map_err(|_| invalid()),
        Some(_) => Err(invalid()),
    }
}

/// `lnrpc.BakeMacaroonRequest.permissions`: `[{entity, action}]`.
fn bake_permissions(fields: &HashMap<String, Value>) -> Result<Vec<(String, String)>, Status> {
    let items = match fields.get("permissions") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Status::new(
                3,
                "proto: invalid value for repeated field permissions",
            ));
        }
    };
    items
        .iter()
        .map(|item| {
            let Value::Object(map) = item else {
                return Err(Status::new(
                    3,
                    "proto: invalid value for message field permissions",
                ));
            };
            let fields = known_fields(map.clone(), &["entity", "action"])?;
            Ok((
                get_str(&fields, "entity")?.to_owned(),
                get_str(&fields, "action")?.to_owned(),
            ))
        })
        .collect()
}

/// LND's `supported actions are [...], supported entities are [...]` (Go's `%v` of a
/// string slice).
fn bake_help() -> String {
    format!(
        "supported actions are [{}], supported entities are [{}]",
        VALID_ACTIONS.join(" "),
        VALID_ENTITIES.join(" ")
    )
}

async fn bake_macaroon(state: &State, request: Request<Incoming>) -> Response<ResBody> {
    match bake_macaroon_inner(state, request).await {
        Ok(response) => response,
        Err(status) => unary_error(&status),
    }
}

/// `BakeMacaroon`, with LND's checks and messages (`rpcserver.go`): a non-empty list,
/// each entity and action known (a `uri` entity must name a served call) unless
/// `allow_external_permissions`; the root key id as a decimal storage id.
async fn bake_macaroon_inner(
    state: &State,
    request: Request<Incoming>,
) -> Result<Response<ResBody>, Status> {
    let (headers, map) = read_json_object(request).await?;
    let fields = known_fields(
        map,
        &["permissions", "root_key_id", "allow_external_permissions"],
    )?;
    let permissions = bake_permissions(&fields)?;
    let root_key_id = get_u64(&fields, "root_key_id")?;
    let external = get_bool(&fields, "allow_external_permissions")?;
    state.check(&headers, MACAROON_GENERATE, uri::BAKE_MACAROON)?;
    if permissions.is_empty() {
        return Err(Status::new(
            2,
            format!(
                "permission list cannot be empty. specify at least one action/entity pair. {}",
                bake_help()
            ),
        ));
    }
    if !external {
        for (entity, action) in &permissions {
            if !VALID_ENTITIES.contains(&entity.as_str()) {
                return Err(Status::new(
                    2,
                    format!("invalid permission entity. {}", bake_help()),
                ));
            }
            if entity == "uri" {
                if !uri::ALL.contains(&action.as_str()) {
                    return Err(Status::new(
                        2,
                        "invalid permission action, must be an existing URI in the format \
                         /package.Service/MethodName",
                    ));
                }
            } else if !VALID_ACTIONS.contains(&action.as_str()) {
                return Err(Status::new(
                    2,
                    format!("invalid permission action. {}", bake_help()),
                ));
            }
        }
    }
    if permissions.len() > MAX_BAKE_PERMISSIONS
        || permissions
            .iter()
            .any(|(e, a)| e.len() > 256 || a.len() > 256)
    {
        return Err(Status::new(2, "fake lnd: too many or too long permissions"));
    }
    let token = lock(&state.macaroons)
        .bake_ops(root_key_id.to_string().as_bytes(), permissions)
        .map_err(|e| match e {
            BakeFailure::Randomness(e) => Status::new(2, format!("fake lnd: no randomness: {e}")),
            BakeFailure::TooLarge => Status::new(
                2,
                "fake lnd: the permissions do not fit the fake's macaroon identifier limit",
            ),
        })?;
    Ok(ok_json(&serde_json::json!({
        "macaroon": l402_core::encoding::hex_encode(&token),
    })))
}

/// The 1-based position of an invoice among the node's invoices.
fn add_index(state: &State, hash: &PaymentHash) -> u64 {
    state
        .node
        .invoices()
        .iter()
        .position(|r| r.payment_hash == *hash)
        .map_or(0, |i| i as u64 + 1)
}

async fn lookup_invoice(state: &State, headers: &HeaderMap, hash: &str) -> Response<ResBody> {
    match lookup_invoice_inner(state, headers, hash).await {
        Ok(response) => response,
        Err(status) => unary_error(&status),
    }
}

async fn lookup_invoice_inner(
    state: &State,
    headers: &HeaderMap,
    hash: &str,
) -> Result<Response<ResBody>, Status> {
    state.check(headers, Permission::INVOICES_READ, uri::LOOKUP_INVOICE)?;
    let bytes = decode_go_hex(hash.as_bytes()).map_err(|m| Status::new(2, m))?;
    let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
        Status::new(
            2,
            format!(
                "payment hash must be exactly 32 bytes, is instead {}",
                bytes.len()
            ),
        )
    })?;
    let hash = PaymentHash::from_bytes(bytes);
    state
        .node
        .lookup_invoice(&hash)
        .await
        .map_err(|e| unavailable(&e))?;
    let Some(record) = state.node.invoice(&hash) else {
        return Err(if state.node.invoices().is_empty() {
            Status::new(5, "there are no existing invoices")
        } else {
            Status::new(5, "unable to locate invoice")
        });
    };
    let index = add_index(state, &hash);
    Ok(ok_json(&json::invoice(
        &record,
        index,
        state.cancel_expired,
    )))
}

/// The latest payment record for `hash`, if it started at or after `since`.
fn record_since(node: &MockNode, hash: &PaymentHash, since: SystemTime) -> Option<PaymentRecord> {
    node.payment(hash).filter(|r| r.started_at >= since)
}

fn is_final(status: &PaymentStatus) -> bool {
    matches!(
        status,
        PaymentStatus::Succeeded(_) | PaymentStatus::Failed(_)
    )
}

async fn send_payment(state: Arc<State>, request: Request<Incoming>) -> Response<ResBody> {
    let (headers, map) = match read_json_object(request).await {
        Ok(parts) => parts,
        Err(status) => return unary_error(&status),
    };
    let fields = match known_fields(map, &SEND_FIELDS) {
        Ok(fields) => fields,
        Err(status) => return unary_error(&status),
    };
    match send_payment_inner(state, &headers, &fields).await {
        Ok(response) => response,
        Err(status) => stream_error(&status),
    }
}

/// The checks LND makes before it starts a payment.
fn check_send_request(
    state: &State,
    fields: &HashMap<String, Value>,
) -> Result<(Bolt11Invoice, PayParams, bool), Status> {
    let payment_request = get_str(fields, "payment_request")?;
    if payment_request.is_empty() {
        return Err(Status::new(
            2,
            "fake lnd: only payment_request payments are supported",
        ));
    }
    let invoice: Bolt11Invoice = payment_request
        .parse()
        .map_err(|e| Status::new(2, format!("invalid payment request: {e}")))?;
    let network = state.node.network().currency();
    if invoice.currency() != network {
        return Err(Status::new(
            2,
            format!(
                "invoice not for current active network '{}'",
                json::network_name(&network)
            ),
        ));
    }
    let amount = amount_of(fields, "amt", "amt_msat")?;
    match (invoice.amount_milli_satoshis(), amount) {
        (Some(_), Some(_)) => {
            return Err(Status::new(
                2,
                "amount must not be specified when paying a non-zero amount invoice",
            ));
        }
        (None, None) => {
            return Err(Status::new(
                2,
                "amount must be specified when paying a zero amount invoice",
            ));
        }
        _ => {}
    }
    if invoice.is_expired() {
        let valid_until = invoice.expires_at().map_or(0, |d| d.as_secs());
        return Err(Status::new(
            2,
            format!("invoice expired. Valid until {}", go_time(valid_until)),
        ));
    }
    let fee_limit = amount_of(fields, "fee_limit_sat", "fee_limit_msat")?.unwrap_or(Amount::ZERO);
    let hash = PaymentHash::from(&invoice);
    if let Some(previous) = state.node.payment(&hash) {
        match previous.status {
            PaymentStatus::Succeeded(_) => return Err(Status::new(6, "invoice is already paid")),
            PaymentStatus::InFlight => return Err(Status::new(6, "payment is in transition")),
            _ => {}
        }
    }
    let mut params = PayParams::new(fee_limit, MOCK_PAY_TIMEOUT);
    // Zero (the default): `--max-cltv-expiry`, 2016 blocks. The mock refuses routes
    // locked longer (no route).
    let cltv_limit = match get_i64(fields, "cltv_limit")? {
        n if n > 0 => u32::try_from(n).unwrap_or(u32::MAX),
        _ => 2016,
    };
    params = params.max_cltv_delta(cltv_limit);
    if let Some(amount) = amount {
        params = params.amount(amount);
    }
    let no_inflight_updates = get_bool(fields, "no_inflight_updates")?;
    Ok((invoice, params, no_inflight_updates))
}

/// A unix time as Go prints a `time.Time` in UTC.
fn go_time(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

async fn send_payment_inner(
    state: Arc<State>,
    headers: &HeaderMap,
    fields: &HashMap<String, Value>,
) -> Result<Response<ResBody>, Status> {
    state.check(headers, Permission::OFFCHAIN_WRITE, uri::SEND_PAYMENT_V2)?;
    let (invoice, params, no_inflight_updates) = check_send_request(&state, fields)?;
    let hash = PaymentHash::from(&invoice);
    let payment_request = get_str(fields, "payment_request")?.to_owned();
    let since = SystemTime::now();
    let node = state.node.clone();
    let mut task = tokio::spawn(async move { node.pay_invoice(&invoice, &params).await });

    // Wait until the payment is recorded (sent) or the call ends without sending.
    let early = tokio::select! {
        joined = &mut task => Some(joined),
        () = wait_for_record(&state.node, &hash, since) => None,
    };
    let sent = record_since(&state.node, &hash, since).is_some();
    if !sent {
        let result = match early {
            Some(Ok(result)) => result,
            Some(Err(e)) => {
                return Err(Status::new(
                    13,
                    format!("fake lnd: payment task failed: {e}"),
                ));
            }
            None => return Err(Status::new(13, "fake lnd: payment record vanished")),
        };
        return Err(match result {
            Ok(_) => Status::new(13, "fake lnd: payment succeeded without a record"),
            Err(PayError::Failed(FailureReason::AlreadyPaid)) => {
                Status::new(6, "invoice is already paid")
            }
            Err(PayError::Failed(reason)) => Status::new(2, reason.to_string()),
            Err(PayError::NotAttempted(e)) => unavailable(&e),
            Err(e) => Status::new(2, e.to_string()),
        });
    }
    state.payment_entry(&hash, Some(&payment_request));
    let cut = {
        let mut faults = lock(&state.faults);
        let cut = faults.cut_pay_streams > 0;
        faults.cut_pay_streams = faults.cut_pay_streams.saturating_sub(1);
        cut
    };
    let (tx, response) = stream();
    tokio::spawn(async move {
        let first = (!no_inflight_updates)
            .then(|| record_since(&state.node, &hash, since))
            .flatten();
        if let Some(record) = first
            && !send_line(&tx, &state.payment_json(&record, true)).await
        {
            return;
        }
        if cut {
            tracing::debug!(payment_hash = %hash, "fake lnd: cutting the payment stream");
            cut_stream(&tx).await;
            return;
        }
        let outcome = match early {
            Some(joined) => joined,
            None => task.await,
        };
        match outcome {
            Ok(Err(PayError::OutcomeUnknown(_))) | Err(_) => {
                // The mock lost the answer (CutAfterSettle): so does the connection.
                cut_stream(&tx).await;
            }
            Ok(_) => {
                if let Some(record) = wait_for_final(&state.node, &hash, &tx).await {
                    send_line(&tx, &state.payment_json(&record, false)).await;
                }
            }
        }
    });
    Ok(response)
}

async fn wait_for_record(node: &MockNode, hash: &PaymentHash, since: SystemTime) {
    while record_since(node, hash, since).is_none() {
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for the payment to end; `None` if the client went away first.
async fn wait_for_final(
    node: &MockNode,
    hash: &PaymentHash,
    tx: &StreamSender,
) -> Option<PaymentRecord> {
    loop {
        if let Some(record) = node.payment(hash).filter(|r| is_final(&r.status)) {
            return Some(record);
        }
        if tx.is_closed() {
            return None;
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn send_line(tx: &StreamSender, value: &Value) -> bool {
    tx.send(Ok(line(&serde_json::json!({ "result": value }))))
        .await
        .is_ok()
}

async fn cut_stream(tx: &StreamSender) {
    let _ = tx
        .send(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "fake lnd: stream cut",
        )))
        .await;
}

/// grpc-gateway's `runtime.Bytes`: standard base64, then URL-safe, both padded.
fn gateway_bytes(param: &str, value: &str) -> Result<Vec<u8>, Status> {
    STANDARD
        .decode(value)
        .or_else(|_| URL_SAFE.decode(value))
        .map_err(|e| {
            let at = match e {
                base64::DecodeError::InvalidByte(at, _)
                | base64::DecodeError::InvalidLastSymbol(at, _) => at,
                _ => value.len(),
            };
            Status::new(
                3,
                format!("type mismatch, parameter: {param}, error: illegal base64 data at input byte {at}"),
            )
        })
}

fn query_bool(request: &Request<Incoming>, name: &str) -> Result<bool, Status> {
    let Some(query) = request.uri().query() else {
        return Ok(false);
    };
    let mut value = false;
    for pair in query.split('&') {
        let (key, v) = pair.split_once('=').unwrap_or((pair, ""));
        if key == name || key == camel(name) {
            value = match v {
                "true" | "1" | "" => true,
                "false" | "0" => false,
                other => {
                    return Err(Status::new(
                        3,
                        format!(
                            "type mismatch, parameter: {name}, error: strconv.ParseBool: parsing {other:?}: invalid syntax"
                        ),
                    ));
                }
            };
        }
    }
    Ok(value)
}

async fn track_payment(
    state: Arc<State>,
    request: &Request<Incoming>,
    hash: &str,
) -> Response<ResBody> {
    let (bytes, no_inflight_updates) = match gateway_bytes("payment_hash", hash)
        .and_then(|b| Ok((b, query_bool(request, "no_inflight_updates")?)))
    {
        Ok(parsed) => parsed,
        Err(status) => return unary_error(&status),
    };
    match track_payment_inner(state, request.headers(), &bytes, no_inflight_updates).await {
        Ok(response) => response,
        Err(status) => stream_error(&status),
    }
}

async fn track_payment_inner(
    state: Arc<State>,
    headers: &HeaderMap,
    bytes: &[u8],
    no_inflight_updates: bool,
) -> Result<Response<ResBody>, Status> {
    state.check(headers, Permission::OFFCHAIN_READ, uri::TRACK_PAYMENT_V2)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
        Status::new(
            2,
            format!("invalid hash length of {}, want 32", bytes.len()),
        )
    })?;
    let hash = PaymentHash::from_bytes(bytes);
    let status = state
        .node
        .lookup_payment(&hash)
        .await
        .map_err(|e| unavailable(&e))?;
    let Some(record) = state.node.payment(&hash) else {
        return Err(Status::new(5, "payment isn't initiated"));
    };
    if matches!(status, PaymentStatus::Unknown) {
        return Err(Status::new(5, "payment isn't initiated"));
    }
    let (tx, response) = stream();
    tokio::spawn(async move {
        if !is_final(&record.status)
            && !no_inflight_updates
            && !send_line(&tx, &state.payment_json(&record, false)).await
        {
            return;
        }
        if let Some(record) = wait_for_final(&state.node, &hash, &tx).await {
            send_line(&tx, &state.payment_json(&record, false)).await;
        }
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_unescaping_is_legacy() {
        assert_eq!(
            unescape_path("/v2/router/track/ab%2Fcd%3D"),
            "/v2/router/track/ab/cd="
        );
        assert_eq!(unescape_path("/x%zz"), "/x%zz");
    }

    #[test]
    fn camel_case_names() {
        assert_eq!(camel("value_msat"), "valueMsat");
        assert_eq!(camel("memo"), "memo");
    }

    #[test]
    fn go_time_format() {
        assert_eq!(go_time(1_780_000_000), "2026-05-28 20:26:40 +0000 UTC");
        assert_eq!(go_time(0), "1970-01-01 00:00:00 +0000 UTC");
    }
}
