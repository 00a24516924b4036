//! `l402 get --prefer-scheme` against a server offering both schemes in one 402, as
//! Aperture's `l402+mpp` mode does (`LSAT`, `L402`, then a `Payment` charge with its own
//! invoice); the server is built from the core's `Payment` primitives. Money is counted
//! on the mock nodes.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::WWW_AUTHENTICATE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use l402_core::backend::InvoiceRequest;
use l402_core::payment_scheme::{
    ChallengeIdSecret, ChargeContext, ChargeRequest, MemoryChargeStore, PAYMENT_RECEIPT,
    PaymentChallenge, PaymentCredential, verify_and_consume,
};
use l402_core::{Amount, Credential, Identifier, Macaroon, PaymentHash, RootKey, TokenId};
use l402_mock::MockNode;

use crate::paid::{FEE_MSAT, PaidNet, serve};
use crate::support::{code, run_async, stderr, stdout, summary};

const REALM: &str = "api.example.com";
const PRICE_SAT: u64 = 10;

#[derive(Clone)]
struct BothServer {
    node: MockNode,
    secret: Arc<ChallengeIdSecret>,
    charges: Arc<MemoryChargeStore>,
    l402_hashes: Arc<Mutex<HashSet<PaymentHash>>>,
    charge_hashes: Arc<Mutex<HashSet<PaymentHash>>>,
}

impl BothServer {
    fn invoice(&self) -> (PaymentHash, String) {
        let created = self
            .node
            .create_invoice_at(
                &InvoiceRequest::new(Amount::from_msat(PRICE_SAT * 1000)),
                SystemTime::now(),
            )
            .unwrap();
        (created.payment_hash, created.invoice.to_string())
    }

    fn payment_required(&self) -> Response {
        let mut res = (StatusCode::PAYMENT_REQUIRED, "payment required").into_response();
        let h = res.headers_mut();
        let (hash, invoice) = self.invoice();
        self.l402_hashes.lock().unwrap().insert(hash);
        let id = Identifier::new(hash, TokenId::random().unwrap());
        let mac = Macaroon::new(&RootKey::from_bytes([7; 32]), id.encode().to_vec(), None)
            .unwrap()
            .to_base64();
        for scheme in ["LSAT", "L402"] {
            let v = format!("{scheme} macaroon=\"{mac}\", invoice=\"{invoice}\"");
            h.append(WWW_AUTHENTICATE, HeaderValue::from_str(&v).unwrap());
        }
        let (hash, invoice) = self.invoice();
        self.charge_hashes.lock().unwrap().insert(hash);
        let request = ChargeRequest::for_invoice(&invoice.parse().unwrap()).unwrap();
        let expires = SystemTime::now() + Duration::from_secs(900);
        let c = PaymentChallenge::lightning_charge(&self.secret, REALM, &request, expires).unwrap();
        h.append(WWW_AUTHENTICATE, c.to_header_value().unwrap());
        res
    }
}

async fn handler(State(s): State<BothServer>, headers: HeaderMap) -> Response {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if let Some(v) = auth
        && PaymentCredential::is_payment_authorization(v)
    {
        if let Ok(cred) = PaymentCredential::parse_authorization(v) {
            let now = SystemTime::now();
            let ctx = ChargeContext::new(&s.secret, REALM, PRICE_SAT, now);
            if let Ok(paid) = verify_and_consume(&cred, &ctx, &*s.charges).await {
                let receipt = paid.receipt(now).to_header_value().unwrap();
                return (
                    StatusCode::OK,
                    [(PAYMENT_RECEIPT, receipt)],
                    "paid by charge",
                )
                    .into_response();
            }
        }
        return s.payment_required();
    }
    if let Ok(Some(c)) = Credential::from_headers(&headers)
        && let Ok(id) = Identifier::decode(c.macaroon().identifier())
        && id.payment_hash().matches(c.preimage())
    {
        return (StatusCode::OK, "paid by l402").into_response();
    }
    s.payment_required()
}

async fn both_api(net: &PaidNet) -> (BothServer, String) {
    let s = BothServer {
        node: net.server.clone(),
        secret: Arc::new(ChallengeIdSecret::from_bytes(&[5; 32]).unwrap()),
        charges: Arc::new(MemoryChargeStore::new()),
        l402_hashes: Arc::default(),
        charge_hashes: Arc::default(),
    };
    let app = Router::new().route("/", get(handler)).with_state(s.clone());
    let addr = serve(app).await;
    (s, format!("http://{addr}/"))
}

fn paid_hashes(net: &PaidNet) -> Vec<PaymentHash> {
    net.payer
        .payments()
        .iter()
        .map(|p| p.payment_hash)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_offers_pay_exactly_the_l402_invoice_by_default() {
    let net = PaidNet::start().await;
    let (server, url) = both_api(&net).await;
    let out = run_async(net.get(&[], &url)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "paid by l402");
    let s = summary(&out);
    assert_eq!(s["scheme"], "l402", "{s}");
    assert!(s["receipt"].is_null(), "{s}");
    let hashes = paid_hashes(&net);
    assert_eq!(hashes.len(), 1, "exactly one invoice paid");
    assert!(server.l402_hashes.lock().unwrap().contains(&hashes[0]));
    assert_eq!(net.paid_msat(), PRICE_SAT * 1000 + FEE_MSAT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefer_scheme_payment_pays_exactly_the_charge_and_reports_its_receipt() {
    let net = PaidNet::start().await;
    let (server, url) = both_api(&net).await;
    let out = run_async(net.get(&["--prefer-scheme", "payment"], &url)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "paid by charge");
    let s = summary(&out);
    assert_eq!(s["scheme"], "payment", "{s}");
    let hashes = paid_hashes(&net);
    assert_eq!(hashes.len(), 1, "exactly one invoice paid");
    assert!(server.charge_hashes.lock().unwrap().contains(&hashes[0]));
    assert_eq!(s["receipt"]["status"], "success", "{s}");
    assert_eq!(s["receipt"]["reference"], hashes[0].to_hex(), "{s}");
    assert_eq!(net.paid_msat(), PRICE_SAT * 1000 + FEE_MSAT);

    // Single use: the next call pays a new charge (nothing kept as a token).
    let out = run_async(net.get(&["--prefer-scheme", "payment"], &url)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(paid_hashes(&net).len(), 2);
    assert_eq!(net.paid_msat(), 2 * (PRICE_SAT * 1000 + FEE_MSAT));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_pay_shows_the_charge_offer_it_would_pay_and_pays_nothing() {
    let net = PaidNet::start().await;
    let (_server, url) = both_api(&net).await;
    let out =
        run_async(net.get_cmd(false, &["--no-pay", "--prefer-scheme", "payment"], &url)).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let shown: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(shown["intent"], "charge", "{shown}");
    assert_eq!(shown["invoice_matches_request"], true, "{shown}");
    assert_eq!(shown["decoded_invoice"]["amount_msat"], PRICE_SAT * 1000);
    assert_eq!(summary(&out)["payments"], 0);
    assert_eq!(net.paid_msat(), 0);
}
