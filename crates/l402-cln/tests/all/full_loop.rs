//! The whole loop across backends: an `l402-tower` paywall minting on a CLN node (the
//! CLN backend over the fake clnrest), an `l402-reqwest` agent paying from an LND node
//! (the LND backend over the fake LND), both fakes on one mock network.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use l402_cln_fake::{FakeCln, FakeClnOptions, FakeRune};
use l402_core::backend::{InvoiceState, PaymentStatus};
use l402_core::{Amount, InvoiceBackend, MemoryRootKeyStore, PaymentBackend};
use l402_lnd::LndBackend;
use l402_lnd_fake::{FakeLnd, FakeLndOptions, FakeMacaroon};
use l402_mock::{MockNetwork, RoutingFee};
use l402_reqwest::{L402Middleware, MemoryTokenStore, SpendingPolicy};
use l402_tower::L402Layer;

use crate::support::backend;

#[tokio::test]
async fn paywall_on_cln_paid_from_lnd() {
    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(Amount::from_msat(1_000), 0))
        .build();
    let cln = FakeCln::start(
        network.node("cln-server").build().unwrap(),
        FakeClnOptions::new(),
    )
    .await
    .unwrap();
    let lnd = FakeLnd::start(
        network
            .node("lnd-agent")
            .balance(Amount::from_msat(1_000_000))
            .build()
            .unwrap(),
        FakeLndOptions::new(),
    )
    .await
    .unwrap();

    let server_backend = backend(&cln, FakeRune::InvoiceOnly);
    let layer = L402Layer::builder(server_backend.clone(), Arc::new(MemoryRootKeyStore::new()))
        .service("api")
        .price_sat(10)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/paid", get(|| async { "paid content" }))
        .route_layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let agent_backend = LndBackend::builder(lnd.base_url())
        .macaroon_hex(lnd.macaroon_hex(FakeMacaroon::PayClient))
        .tls_cert(lnd.tls_cert_pem().unwrap().as_bytes().to_vec())
        .request_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let middleware = L402Middleware::builder(agent_backend.clone())
        .store(MemoryTokenStore::new())
        .policy(
            SpendingPolicy::new()
                .max_fee_base(Amount::from_msat(2_000))
                .pay_timeout(Duration::from_secs(5)),
        )
        .build()
        .unwrap();
    let http = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(middleware)
        .build();

    for _ in 0..2 {
        let res = http
            .get(format!("http://{addr}/paid"))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.text().await.unwrap(), "paid content");
    }
    // One payment for both requests: 10 sat to the CLN node, 1 sat routing fee.
    assert_eq!(network.payment_count(), 1);
    assert_eq!(cln.node().balance(), Amount::from_msat(10_000));
    assert_eq!(lnd.node().balance(), Amount::from_msat(1_000_000 - 11_000));

    // Both sides see it through their node's API.
    let invoice = cln.node().invoices().remove(0);
    assert!(matches!(
        server_backend
            .lookup_invoice(&invoice.payment_hash)
            .await
            .unwrap(),
        Some(InvoiceState::Settled { .. })
    ));
    assert!(matches!(
        agent_backend
            .lookup_payment(&invoice.payment_hash)
            .await
            .unwrap(),
        PaymentStatus::Succeeded(_)
    ));
}
