//! Anonymous floods: every challenge creates a root key; the keys of unpaid tokens go
//! away with their invoice and are bounded meanwhile, while paid tokens keep working.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use l402_core::backend::{BackendError, CreatedInvoice, InvoiceRequest, InvoiceState};
use l402_core::{
    Amount, Credential, Identifier, InvoiceBackend, Macaroon, MemoryRootKeyStore, PaymentHash,
    Preimage, RootKey, Scheme,
};
use l402_mock::MockNode;
use l402_tower::L402Layer;
use tower::ServiceExt;

use crate::support::*;

fn app(net: &Net, store: &Arc<MemoryRootKeyStore>, invoice_expiry: Duration) -> Router {
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(store))
        .service("weather")
        .price_sat(10)
        .invoice_expiry(invoice_expiry)
        .build()
        .unwrap();
    Router::new()
        .route("/forecast", get(echo_receipt))
        .route_layer(layer)
}

async fn status(app: &Router, request: http::Request<axum::body::Body>) -> StatusCode {
    app.clone().oneshot(request).await.unwrap().status()
}

/// A backend that answers with the mock node (`real`) or with one canned invoice of it:
/// a flood's invoices are never paid, and creating 100,000 signed invoices would make the
/// test slow without testing anything more.
struct FloodBackend {
    node: MockNode,
    canned: CreatedInvoice,
    real: AtomicBool,
}

impl InvoiceBackend for FloodBackend {
    async fn create_invoice(
        &self,
        request: &InvoiceRequest,
    ) -> Result<CreatedInvoice, BackendError> {
        if self.real.load(Ordering::SeqCst) {
            self.node.create_invoice(request).await
        } else {
            Ok(self.canned.clone())
        }
    }

    async fn lookup_invoice(
        &self,
        payment_hash: &PaymentHash,
    ) -> Result<Option<InvoiceState>, BackendError> {
        self.node.lookup_invoice(payment_hash).await
    }
}

/// 100,000 challenges: the store holds at most its cap of unpaid keys, and the tokens paid
/// before and during the flood still open the route afterwards.
#[tokio::test]
async fn a_flood_of_100k_challenges_stays_within_the_cap() {
    const FLOOD: usize = 100_000;
    const CAP: usize = 10_000;
    let net = Net::new();
    let store = Arc::new(MemoryRootKeyStore::new().max_unpaid(CAP));
    let request = InvoiceRequest::new(Amount::from_sat(10).unwrap());
    let backend = Arc::new(FloodBackend {
        canned: net.server.create_invoice(&request).await.unwrap(),
        node: net.server.clone(),
        real: AtomicBool::new(true),
    });
    let layer = L402Layer::builder(Arc::clone(&backend), Arc::clone(&store))
        .service("weather")
        .price_sat(10)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/forecast", get(echo_receipt))
        .route_layer(layer);

    let res = app.clone().oneshot(req("/forecast")).await.unwrap();
    let (_, early) = net.pay(res.headers()).await;
    assert_eq!(
        status(&app, get_with("/forecast", &early, Scheme::L402)).await,
        StatusCode::OK
    );

    backend.real.store(false, Ordering::SeqCst);
    for _ in 0..FLOOD - 1 {
        let res = app.clone().oneshot(req("/forecast")).await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
        assert!(store.unpaid_len() <= CAP);
    }
    backend.real.store(true, Ordering::SeqCst);
    let res = app.clone().oneshot(req("/forecast")).await.unwrap();
    let last = res.headers().clone();
    assert_eq!(store.unpaid_len(), CAP);
    assert_eq!(
        store.len(),
        CAP + 1,
        "the cap, plus the token paid before the flood"
    );

    // The token paid before the flood still works, and so does one bought at its end.
    assert_eq!(
        status(&app, get_with("/forecast", &early, Scheme::L402)).await,
        StatusCode::OK
    );
    let (_, late) = net.pay(&last).await;
    assert_eq!(
        status(&app, get_with("/forecast", &late, Scheme::L402)).await,
        StatusCode::OK
    );
    assert_eq!(store.unpaid_len(), CAP - 1);
}

/// Keys of unpaid tokens expire with their invoice (plus the store's grace); paid ones
/// (tokens without an expiry here) stay. A forged credential naming an unpaid token's id
/// does not keep its key alive.
#[tokio::test]
async fn unpaid_keys_expire_with_their_invoice() {
    let net = Net::new();
    let store = Arc::new(MemoryRootKeyStore::new().unpaid_grace(Duration::ZERO));
    let app = app(&net, &store, Duration::from_secs(3));

    let res = app.clone().oneshot(req("/forecast")).await.unwrap();
    let (_, paid) = net.pay(res.headers()).await;
    assert_eq!(
        status(&app, get_with("/forecast", &paid, Scheme::L402)).await,
        StatusCode::OK
    );
    let mut challenges = Vec::new();
    for _ in 0..200 {
        let res = app.clone().oneshot(req("/forecast")).await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
        challenges.push(res.headers().clone());
    }
    assert_eq!(store.len(), 201);

    // An attacker keeps presenting an unpaid token's id with a preimage of its own (under
    // a key of its own, since it cannot sign with the server's): refused, not promoted.
    let victim = l402_core::Challenge::from_headers(&challenges[0]).unwrap();
    let victim_id = Identifier::decode(victim.macaroon().identifier()).unwrap();
    let preimage = Preimage::random().unwrap();
    let forged_id = Identifier::new(preimage.payment_hash(), *victim_id.token_id());
    let forged = Macaroon::new(
        &RootKey::from_bytes([7; 32]),
        forged_id.encode().to_vec(),
        Some("lsat".into()),
    )
    .unwrap();
    let forged = Credential::new(forged, preimage);
    assert_eq!(
        status(&app, get_with("/forecast", &forged, Scheme::L402)).await,
        StatusCode::PAYMENT_REQUIRED
    );

    // Wait out the invoices' three seconds.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    // The next challenge drops the expired unpaid keys on its way (no sweep called).
    let res = app.clone().oneshot(req("/forecast")).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(store.len(), 2, "the paid key and the new challenge's");
    assert_eq!(store.unpaid_len(), 1);
    assert_eq!(store.sweep(), 2);
    assert_eq!(
        status(&app, get_with("/forecast", &paid, Scheme::L402)).await,
        StatusCode::OK
    );
    // The invoice of a dropped key can no longer be paid: nobody pays for a token the
    // server has forgotten.
    let invoice = l402_core::Challenge::from_headers(&challenges[1])
        .unwrap()
        .decode_invoice()
        .unwrap();
    let params =
        l402_core::backend::PayParams::new(Amount::from_sat(100).unwrap(), Duration::from_secs(10));
    assert!(
        l402_core::PaymentBackend::pay_invoice(&net.payer, &invoice, &params)
            .await
            .is_err()
    );
    assert_eq!(net.server.balance(), Amount::from_sat(10).unwrap());
}

/// The composition the documentation and the axum example show: a global concurrency limit
/// with load shedding in front of the paywall answers excess requests 503 before they reach
/// the layer, so they cost no invoice and no key.
#[tokio::test]
async fn a_concurrency_limit_in_front_sheds_load_before_the_paywall() {
    use axum::BoxError;
    use axum::error_handling::HandleErrorLayer;
    use http::header::RETRY_AFTER;
    use tower::ServiceBuilder;
    use tower::limit::GlobalConcurrencyLimitLayer;

    let net = Net::new();
    let store = Arc::new(MemoryRootKeyStore::new());
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&store))
        .service("weather")
        .price_sat(10)
        .build()
        .unwrap();
    let limit = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: BoxError| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(RETRY_AFTER, "1")],
                "busy",
            )
        }))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(1));
    let app = Router::new()
        .route("/forecast", get(echo_receipt))
        .route_layer(layer)
        .layer(limit);

    // A slow node keeps the first request inside the paywall.
    net.server.faults().latency(Duration::from_millis(500));
    let first = tokio::spawn(app.clone().oneshot(req("/forecast")));
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..20 {
        let res = app.clone().oneshot(req("/forecast")).await.unwrap();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers().get(RETRY_AFTER).unwrap(), "1");
    }
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        net.server.invoices().len(),
        1,
        "shed requests created no invoice"
    );
    assert_eq!(store.len(), 1, "and no key");
    net.server.faults().clear();
    assert_eq!(
        app.oneshot(req("/forecast")).await.unwrap().status(),
        StatusCode::PAYMENT_REQUIRED
    );
}
