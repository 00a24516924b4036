//! The `Payment` scheme (MPP) with the Lightning `charge` intent: a server built from the
//! core's primitives (challenge, id HMAC, verification, in-memory charge store, receipt),
//! the middleware paying it, money counted on the mock nodes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header::WWW_AUTHENTICATE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use l402_core::backend::{InvoiceRequest, PaymentStatus};
use l402_core::payment_scheme::{
    ChallengeIdSecret, ChargeContext, ChargeInvoiceError, ChargeNetwork, ChargeRequest,
    MemoryChargeStore, PAYMENT_RECEIPT, PaymentChallenge, PaymentCredential, PaymentReceipt,
    verify_and_consume,
};
use l402_core::{Amount, Credential, Identifier, PaymentHash};
use l402_mock::{MockNode, PaymentFault};
use l402_reqwest::{
    ChargeRecord, Event, FileTokenStore, L402Error, L402Middleware, OfferScheme, SchemePreference,
    TokenStore,
};

use crate::support::{
    Events, FlakyPayer, Net, client, l402_error, macaroon_for, policy, sat, serve, temp_dir,
};

/// Which offers a 402 carries.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Offers {
    /// One `Payment` charge.
    PaymentOnly,
    /// Aperture's `l402+mpp`: `LSAT`, `L402` (one invoice), a `Payment` session offer
    /// and a `Payment` charge offer (another invoice).
    Both,
}

type Tamper = Arc<dyn Fn(&mut ChargeRequest) + Send + Sync>;

/// A `Payment` charge server from core primitives. Answers `GET /` with 402 and fresh
/// offers; a valid charge credential (verified and consumed once) gets 200 with a
/// `Payment-Receipt`; with [`Offers::Both`] a valid L402 credential gets 200 too.
#[derive(Clone)]
struct ChargeServer {
    node: MockNode,
    secret: Arc<ChallengeIdSecret>,
    charges: Arc<MemoryChargeStore>,
    price_sat: u64,
    offers: Offers,
    tamper: Tamper,
    /// The invoice the request names, if not a fresh one for the price.
    invoice_amount: Option<Amount>,
    /// `expires` relative to now (negative: in the past).
    expires_in: i64,
    accept: Arc<AtomicBool>,
    /// Offer and accept only the charge from now on (an L402 token is refused).
    payment_only: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
    l402_hashes: Arc<Mutex<HashSet<PaymentHash>>>,
    charge_hashes: Arc<Mutex<HashSet<PaymentHash>>>,
    accepted_charges: Arc<AtomicUsize>,
}

const REALM: &str = "api.example.com";

impl ChargeServer {
    fn new(node: &MockNode, price_sat: u64, offers: Offers) -> Self {
        ChargeServer {
            node: node.clone(),
            secret: Arc::new(ChallengeIdSecret::from_bytes(&[9; 32]).unwrap()),
            charges: Arc::new(MemoryChargeStore::new()),
            price_sat,
            offers,
            tamper: Arc::new(|_| {}),
            invoice_amount: None,
            expires_in: 900,
            accept: Arc::new(AtomicBool::new(true)),
            payment_only: Arc::default(),
            seen: Arc::default(),
            l402_hashes: Arc::default(),
            charge_hashes: Arc::default(),
            accepted_charges: Arc::default(),
        }
    }

    fn tamper(mut self, f: impl Fn(&mut ChargeRequest) + Send + Sync + 'static) -> Self {
        self.tamper = Arc::new(f);
        self
    }

    fn invoice_amount(mut self, amount: Amount) -> Self {
        self.invoice_amount = Some(amount);
        self
    }

    fn expires_in(mut self, secs: i64) -> Self {
        self.expires_in = secs;
        self
    }

    fn rejecting(self) -> Self {
        self.accept.store(false, Ordering::SeqCst);
        self
    }

    async fn serve(&self) -> String {
        let app = Router::new()
            .route("/", get(charge_handler))
            .with_state(self.clone());
        serve(app).await
    }

    fn invoice(&self, amount: Amount) -> (PaymentHash, String) {
        let created = self
            .node
            .create_invoice_at(&InvoiceRequest::new(amount), SystemTime::now())
            .unwrap();
        (created.payment_hash, created.invoice.to_string())
    }

    fn challenge(&self) -> PaymentChallenge {
        let (hash, invoice) = self.invoice(self.invoice_amount.unwrap_or(sat(self.price_sat)));
        self.charge_hashes.lock().unwrap().insert(hash);
        let mut request = ChargeRequest::for_invoice(&invoice.parse().unwrap())
            .unwrap_or_else(|| ChargeRequest::new(self.price_sat, invoice));
        (self.tamper)(&mut request);
        let now = SystemTime::now();
        let expires = if self.expires_in >= 0 {
            now + Duration::from_secs(self.expires_in.unsigned_abs())
        } else {
            now - Duration::from_secs(self.expires_in.unsigned_abs())
        };
        PaymentChallenge::lightning_charge(&self.secret, REALM, &request, expires).unwrap()
    }

    fn payment_required(&self) -> Response {
        let mut res = (StatusCode::PAYMENT_REQUIRED, "payment required").into_response();
        let h = res.headers_mut();
        if self.offers == Offers::Both && !self.payment_only.load(Ordering::SeqCst) {
            let (hash, invoice) = self.invoice(sat(self.price_sat));
            self.l402_hashes.lock().unwrap().insert(hash);
            let mac = macaroon_for(hash).to_base64();
            for scheme in ["LSAT", "L402"] {
                let v = format!("{scheme} macaroon=\"{mac}\", invoice=\"{invoice}\"");
                h.append(WWW_AUTHENTICATE, HeaderValue::from_str(&v).unwrap());
            }
            // A session offer first: never paid.
            let session = PaymentChallenge::new("sess", REALM, "lightning", "session", "e30");
            h.append(WWW_AUTHENTICATE, session.to_header_value().unwrap());
        }
        h.append(
            WWW_AUTHENTICATE,
            self.challenge().to_header_value().unwrap(),
        );
        res
    }
}

async fn charge_handler(State(s): State<ChargeServer>, headers: HeaderMap) -> Response {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(v) = &auth {
        s.seen.lock().unwrap().push(v.clone());
    }
    if !s.accept.load(Ordering::SeqCst) {
        return s.payment_required();
    }
    if let Some(v) = &auth
        && PaymentCredential::is_payment_authorization(v)
    {
        let Ok(credential) = PaymentCredential::parse_authorization(v) else {
            return s.payment_required();
        };
        let now = SystemTime::now();
        let ctx = ChargeContext::new(&s.secret, REALM, s.price_sat, now);
        return match verify_and_consume(&credential, &ctx, &*s.charges).await {
            Ok(paid) => {
                s.accepted_charges.fetch_add(1, Ordering::SeqCst);
                let receipt = paid.receipt(now).to_header_value().unwrap();
                (
                    StatusCode::OK,
                    [(PAYMENT_RECEIPT, receipt)],
                    "paid by charge",
                )
                    .into_response()
            }
            Err(_) => s.payment_required(),
        };
    }
    if s.offers == Offers::Both
        && !s.payment_only.load(Ordering::SeqCst)
        && let Ok(Some(c)) = Credential::from_headers(&headers)
        && let Ok(id) = Identifier::decode(c.macaroon().identifier())
        && id.payment_hash().matches(c.preimage())
    {
        return (StatusCode::OK, "paid by l402").into_response();
    }
    s.payment_required()
}

fn paid_hashes(net: &Net) -> Vec<PaymentHash> {
    net.payer
        .payments()
        .iter()
        .filter(|p| matches!(p.status, PaymentStatus::Succeeded(_)))
        .map(|p| p.payment_hash)
        .collect()
}

#[tokio::test]
async fn a_payment_only_server_is_paid_once_and_the_receipt_is_exposed() {
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::PaymentOnly);
    let base = server.serve().await;
    let events = Events::default();
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .events(events.handler())
        .build()
        .unwrap();
    let res = client(&mw).get(&base).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let receipt = res.extensions().get::<PaymentReceipt>().cloned().unwrap();
    assert!(receipt.is_success());
    assert_eq!(res.text().await.unwrap(), "paid by charge");
    // Paid exactly the charge's invoice, 10 sat plus the routing fee.
    let hashes = paid_hashes(&net);
    assert_eq!(hashes.len(), 1);
    assert!(server.charge_hashes.lock().unwrap().contains(&hashes[0]));
    assert_eq!(receipt.reference, hashes[0].to_hex());
    assert_eq!(net.server.balance(), sat(10));
    assert_eq!(server.accepted_charges.load(Ordering::SeqCst), 1);
    assert_eq!(
        events.count(|e| matches!(
            e,
            Event::OfferChosen {
                scheme: OfferScheme::Payment,
                ..
            }
        )),
        1
    );
    assert_eq!(
        events.count(|e| matches!(e, Event::ReceiptReceived { receipt: r, .. } if r == &receipt)),
        1
    );
    assert_eq!(mw.spending().total, sat(10));
}

#[tokio::test]
async fn a_charge_credential_is_single_use_and_never_kept_as_a_token() {
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::PaymentOnly);
    let base = server.serve().await;
    let store = l402_reqwest::MemoryTokenStore::new();
    let mw = L402Middleware::builder(net.payer.clone())
        .store(store.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    for n in 1..=2 {
        let res = http.get(&base).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(net.payments(), n);
    }
    // Two credentials presented, each once; the second request went out bare first.
    let seen = server.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    assert_ne!(seen[0], seen[1]);
    assert_eq!(server.accepted_charges.load(Ordering::SeqCst), 2);
    assert!(store.charges().await.unwrap().is_empty());
    assert!(store.pending().await.unwrap().is_empty());
    assert_eq!(net.server.balance(), sat(20));
}

async fn both_offers(prefer: Option<SchemePreference>) -> (Net, ChargeServer, Events, String) {
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::Both);
    let base = server.serve().await;
    let events = Events::default();
    let mut b = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .events(events.handler());
    if let Some(p) = prefer {
        b = b.prefer_scheme(p);
    }
    let mw = b.build().unwrap();
    let res = client(&mw).get(&base).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = res.text().await.unwrap();
    (net, server, events, body)
}

#[tokio::test]
async fn both_offers_pay_exactly_the_l402_invoice_by_default() {
    let (net, server, events, body) = both_offers(None).await;
    assert_eq!(body, "paid by l402");
    let hashes = paid_hashes(&net);
    assert_eq!(hashes.len(), 1, "exactly one invoice paid");
    assert!(server.l402_hashes.lock().unwrap().contains(&hashes[0]));
    assert_eq!(net.server.balance(), sat(10));
    assert_eq!(server.accepted_charges.load(Ordering::SeqCst), 0);
    assert_eq!(
        events.count(|e| matches!(
            e,
            Event::OfferChosen {
                scheme: OfferScheme::L402,
                ..
            }
        )),
        1
    );
}

#[tokio::test]
async fn both_offers_pay_exactly_the_charge_invoice_when_payment_is_preferred() {
    let (net, server, _events, body) = both_offers(Some(SchemePreference::PaymentFirst)).await;
    assert_eq!(body, "paid by charge");
    let hashes = paid_hashes(&net);
    assert_eq!(hashes.len(), 1, "exactly one invoice paid");
    assert!(server.charge_hashes.lock().unwrap().contains(&hashes[0]));
    assert_eq!(net.server.balance(), sat(10));
    assert_eq!(server.accepted_charges.load(Ordering::SeqCst), 1);
}

async fn refused(server: ChargeServer, net: &Net) -> L402Error {
    let base = server.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy().max_price(sat(100)))
        .build()
        .unwrap();
    let err = client(&mw).get(&base).send().await.unwrap_err();
    let e = l402_error(&err);
    assert!(e.nothing_paid(), "{e}");
    net.assert_nothing_paid();
    assert_eq!(net.server.balance(), Amount::ZERO);
    match e {
        L402Error::ChargeMismatch(inner) => L402Error::ChargeMismatch(inner.clone()),
        L402Error::NoAmount => L402Error::NoAmount,
        L402Error::PriceTooHigh { price, max } => L402Error::PriceTooHigh {
            price: *price,
            max: *max,
        },
        L402Error::ChallengeExpired => L402Error::ChallengeExpired,
        other => panic!("unexpected refusal: {other}"),
    }
}

#[tokio::test]
async fn a_request_claiming_less_than_its_invoice_is_refused_unpaid() {
    // The request says 1 sat; the invoice asks for 50.
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 1, Offers::PaymentOnly).invoice_amount(sat(50));
    let server = server.tamper(|r| r.amount_sat = 1);
    let e = refused(server, &net).await;
    assert!(
        matches!(
            e,
            L402Error::ChargeMismatch(ChargeInvoiceError::AmountMismatch { .. })
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_request_naming_another_payment_hash_is_refused_unpaid() {
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::PaymentOnly)
        .tamper(|r| r.payment_hash = Some(PaymentHash::from_bytes([0xab; 32])));
    let e = refused(server, &net).await;
    assert!(
        matches!(
            e,
            L402Error::ChargeMismatch(ChargeInvoiceError::HashMismatch)
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_request_naming_another_network_is_refused_unpaid() {
    // The mock's invoices are regtest; the request claims mainnet.
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::PaymentOnly)
        .tamper(|r| r.network = Some(ChargeNetwork::Mainnet));
    let e = refused(server, &net).await;
    assert!(
        matches!(
            e,
            L402Error::ChargeMismatch(ChargeInvoiceError::NetworkMismatch)
        ),
        "{e}"
    );
}

#[tokio::test]
async fn an_amountless_charge_invoice_is_refused_unpaid() {
    let net = Net::new();
    let server =
        ChargeServer::new(&net.server, 10, Offers::PaymentOnly).invoice_amount(Amount::ZERO);
    let e = refused(server, &net).await;
    assert!(matches!(e, L402Error::NoAmount), "{e}");
}

#[tokio::test]
async fn a_charge_over_the_cap_is_refused_unpaid() {
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 500, Offers::PaymentOnly);
    let e = refused(server, &net).await;
    assert!(matches!(e, L402Error::PriceTooHigh { .. }), "{e}");
}

#[tokio::test]
async fn an_expired_challenge_is_refused_unpaid() {
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::PaymentOnly).expires_in(-60);
    let e = refused(server, &net).await;
    assert!(matches!(e, L402Error::ChallengeExpired), "{e}");
    // Within the expiry margin (10 s) counts as expired too.
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::PaymentOnly).expires_in(3);
    let e = refused(server, &net).await;
    assert!(matches!(e, L402Error::ChallengeExpired), "{e}");
}

/// The rule: each request needs its own charge (credentials are single use), and one
/// request per origin at a time pays and presents it, so concurrent requests queue and
/// every reservation sees what the ones before it left of the budget. 200 concurrent
/// requests with a budget for five charges pay exactly five.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_to_a_charge_route_pay_one_charge_each_within_the_budget() {
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::PaymentOnly);
    let base = server.serve().await;
    // Each charge reserves 10 sat + fee cap (1 sat + 1 %) = 11.1 sat: five fit in 60.
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy().budget(sat(60)))
        .build()
        .unwrap();
    let http = client(&mw);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let http = http.clone();
        let url = base.clone();
        tasks.push(tokio::spawn(async move { http.get(url).send().await }));
    }
    let (mut ok, mut over_budget) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(res) => {
                assert_eq!(res.status(), StatusCode::OK);
                ok += 1;
            }
            Err(e) => {
                assert!(
                    matches!(l402_error(&e), L402Error::BudgetExceeded { .. }),
                    "{e}"
                );
                over_budget += 1;
            }
        }
    }
    assert_eq!(ok, 5);
    assert_eq!(over_budget, 195);
    assert_eq!(net.payments(), 5);
    assert_eq!(net.server.balance(), sat(50));
    assert!(net.spent() <= sat(60));
    assert_eq!(server.accepted_charges.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_server_that_still_answers_402_after_a_charge_is_suspended() {
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::PaymentOnly).rejecting();
    let base = server.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    let err = http.get(&base).send().await.unwrap_err();
    assert!(
        matches!(l402_error(&err), L402Error::StillPaymentRequired),
        "{err}"
    );
    assert_eq!(net.payments(), 1);
    let err = http.get(&base).send().await.unwrap_err();
    assert!(
        matches!(l402_error(&err), L402Error::OriginSuspended { .. }),
        "{err}"
    );
    assert_eq!(net.payments(), 1, "nothing paid while suspended");
}

#[tokio::test]
async fn a_crash_between_paying_and_presenting_loses_no_preimage_and_pays_once() {
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::PaymentOnly);
    let base = server.serve().await;
    let dir = temp_dir("charge-crash");
    // The payment settles but its answer is lost, and lookups are down: the first
    // process cannot learn the outcome and must keep the pending record.
    net.payer
        .faults()
        .next_payment(PaymentFault::CutAfterSettle);
    let flaky = FlakyPayer::new(&net.payer);
    flaky.lookups_down.store(true, Ordering::SeqCst);
    let first = L402Middleware::builder(flaky.clone())
        .store(FileTokenStore::open(&dir).unwrap())
        .policy(policy())
        .build()
        .unwrap();
    for _ in 0..2 {
        let err = client(&first).get(&base).send().await.unwrap_err();
        assert!(
            matches!(l402_error(&err), L402Error::Lookup { .. }),
            "{err}"
        );
        assert_eq!(net.payments(), 1, "never paid again while unresolved");
    }
    drop(first);
    let store = FileTokenStore::open(&dir).unwrap();
    let charges: Vec<(String, ChargeRecord)> = store.charges().await.unwrap();
    assert_eq!(charges.len(), 1);
    assert!(charges[0].1.is_pending());

    // Restart with lookups back: recovery finds the payment by hash and keeps the paid
    // credential; the next challenged request presents it instead of paying.
    flaky.lookups_down.store(false, Ordering::SeqCst);
    let events = Events::default();
    let second = L402Middleware::builder(flaky.clone())
        .store(FileTokenStore::open(&dir).unwrap())
        .policy(policy())
        .events(events.handler())
        .build()
        .unwrap();
    let report = second.recover().await.unwrap();
    assert_eq!(report.recovered, 1);
    let charges = store.charges().await.unwrap();
    assert_eq!(charges.len(), 1);
    assert!(!charges[0].1.is_pending());
    let res = client(&second).get(&base).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.extensions().get::<PaymentReceipt>().is_some());
    assert_eq!(net.payments(), 1);
    assert_eq!(net.server.balance(), sat(10));
    assert_eq!(server.accepted_charges.load(Ordering::SeqCst), 1);
    assert_eq!(
        events.count(|e| matches!(e, Event::PaymentStarted { .. })),
        0
    );
    // Spent: the record is gone, and the next request pays a new charge.
    assert!(store.charges().await.unwrap().is_empty());
    let res = client(&second).get(&base).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_paid_credential_the_server_already_consumed_is_dropped_and_the_new_charge_paid_once() {
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::PaymentOnly);
    let base = server.serve().await;
    let store = l402_reqwest::MemoryTokenStore::new();
    let mw = L402Middleware::builder(net.payer.clone())
        .store(store.clone())
        .policy(policy())
        .build()
        .unwrap();
    let res = client(&mw).get(&base).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Put the spent credential back, as a process that crashed after the server
    // consumed it but before removing its record would leave it.
    let seen = server.seen.lock().unwrap()[0].clone();
    let credential = PaymentCredential::parse_authorization(&seen).unwrap();
    let preimage = credential.payload.preimage().unwrap();
    let hash = preimage.payment_hash();
    let rec = ChargeRecord::pending(
        credential.challenge.clone(),
        hash,
        sat(10),
        SystemTime::now(),
    )
    .paid(preimage, Amount::ZERO);
    let key = l402_reqwest::store::charge_key(&mw.key_for(&base.parse().unwrap()).unwrap());
    store
        .save(&key, &l402_reqwest::TokenRecord::Charge(rec))
        .await
        .unwrap();
    let res = client(&mw).get(&base).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 2, "one new charge, no loop");
    assert_eq!(server.accepted_charges.load(Ordering::SeqCst), 2);
    assert!(store.charges().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_stored_l402_token_answered_with_a_charge_offer_is_dropped() {
    let net = Net::new();
    let server = ChargeServer::new(&net.server, 10, Offers::Both);
    let base = server.serve().await;
    let store = l402_reqwest::MemoryTokenStore::new();
    let mw = L402Middleware::builder(net.payer.clone())
        .store(store.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    let res = http.get(&base).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "paid by l402");
    let key = mw.key_for(&base.parse().unwrap()).unwrap();
    assert!(store.load(&key).await.unwrap().is_some());
    // The server now refuses the token and offers only a charge.
    server.payment_only.store(true, Ordering::SeqCst);
    let res = http.get(&base).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "paid by charge");
    assert_eq!(net.payments(), 2);
    assert_eq!(
        store.load(&key).await.unwrap(),
        None,
        "refused token dropped"
    );
}
