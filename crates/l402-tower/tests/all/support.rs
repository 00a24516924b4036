//! Shared test helpers: a mock network, a payer, and request builders.

use std::sync::Arc;
use std::time::Duration;

use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use l402_core::backend::PayParams;
use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::{
    Amount, Challenge, Credential, MemoryRootKeyStore, PaymentBackend, Receipt, Scheme,
};
use l402_mock::{MockNetwork, MockNode};

/// A network with a server node (issues invoices) and a funded payer node.
pub struct Net {
    pub network: MockNetwork,
    pub server: MockNode,
    pub payer: MockNode,
    pub store: Arc<MemoryRootKeyStore>,
}

impl Net {
    pub fn new() -> Self {
        let network = MockNetwork::new();
        let server = network.node("server").build().unwrap();
        let payer = network
            .node("payer")
            .balance(Amount::from_sat(1_000_000).unwrap())
            .build()
            .unwrap();
        Net {
            network,
            server,
            payer,
            store: Arc::new(MemoryRootKeyStore::new()),
        }
    }

    /// Pays the challenge in `headers` and returns the credential.
    pub async fn pay(&self, headers: &HeaderMap) -> (Challenge, Credential) {
        pay_with(&self.payer, headers).await
    }
}

/// Parses the challenge in `headers`, pays its invoice with `payer`, returns the credential.
pub async fn pay_with(payer: &MockNode, headers: &HeaderMap) -> (Challenge, Credential) {
    let challenge = Challenge::from_headers(headers).expect("a challenge");
    let invoice: Bolt11Invoice = challenge.decode_invoice().expect("a valid invoice");
    let params = PayParams::new(Amount::from_sat(100).unwrap(), Duration::from_secs(10));
    let paid = payer.pay_invoice(&invoice, &params).await.expect("paid");
    let credential = Credential::new(challenge.macaroon().clone(), paid.preimage);
    (challenge, credential)
}

/// The invoice amount of the challenge in `headers`.
pub fn invoice_amount(headers: &HeaderMap) -> Amount {
    let challenge = Challenge::from_headers(headers).expect("a challenge");
    let invoice = challenge.decode_invoice().expect("a valid invoice");
    Amount::from_msat(invoice.amount_milli_satoshis().expect("an amount"))
}

/// A GET request for `path`.
pub fn req(path: &str) -> Request<axum::body::Body> {
    Request::get(path).body(axum::body::Body::empty()).unwrap()
}

/// A GET request for `path` with an `Authorization` credential.
pub fn get_with(path: &str, credential: &Credential, scheme: Scheme) -> Request<axum::body::Body> {
    let mut r = req(path);
    r.headers_mut()
        .insert(AUTHORIZATION, credential.to_header_value(scheme).unwrap());
    r
}

/// A GET request for `path` with a raw `Authorization` value.
pub fn get_with_raw(path: &str, value: HeaderValue) -> Request<axum::body::Body> {
    let mut r = req(path);
    r.headers_mut().insert(AUTHORIZATION, value);
    r
}

/// Asserts a 402 (or `status`) with a well-formed challenge in Aperture's exact form.
pub fn assert_challenge(headers: &HeaderMap, status: StatusCode, expected: StatusCode) {
    assert_eq!(status, expected);
    let values: Vec<&str> = headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(values.len(), 2, "two WWW-Authenticate fields: {values:?}");
    let challenge = Challenge::from_headers(headers).unwrap();
    let mac = challenge.macaroon().to_base64();
    let inv = challenge.invoice();
    assert_eq!(
        values[0],
        format!("LSAT macaroon=\"{mac}\", invoice=\"{inv}\"")
    );
    assert_eq!(
        values[1],
        format!("L402 macaroon=\"{mac}\", invoice=\"{inv}\"")
    );
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
}

/// Reads a whole axum body as a string.
pub async fn body_string(body: axum::body::Body) -> String {
    use http_body_util::BodyExt;
    let bytes = body.collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A handler that reports the receipt it sees (or "free").
pub async fn echo_receipt(receipt: Option<axum::Extension<Receipt>>) -> String {
    match receipt {
        Some(axum::Extension(r)) => format!(
            "paid {} {} tier={} caps={:?}",
            r.token_id(),
            r.service(),
            r.tier(),
            r.capabilities().map(Iterator::collect::<Vec<_>>)
        ),
        None => "free".to_owned(),
    }
}
