//! The whole loop over LND: an `l402-tower` paywall minting on LND node A, an
//! `l402-reqwest` agent paying from LND node B, both through the REST backend and the
//! fake LND servers.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use l402_core::backend::{InvoiceState, PaymentStatus};
use l402_core::{Amount, InvoiceBackend, MemoryRootKeyStore, PaymentBackend};
use l402_reqwest::{L402Middleware, MemoryTokenStore, SpendingPolicy};
use l402_tower::L402Layer;

use crate::support::Pair;

#[tokio::test]
async fn paywall_on_lnd_a_paid_from_lnd_b() {
    let pair = Pair::new().await;
    let server_backend = pair.server_backend();
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

    let agent_backend = pair.agent_backend();
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
    // One payment for both requests: 10 sat to the server, 1 sat routing fee.
    assert_eq!(pair.network.payment_count(), 1);
    assert_eq!(pair.server.node().balance(), Amount::from_msat(10_000));
    assert_eq!(
        pair.agent.node().balance(),
        Amount::from_msat(1_000_000 - 11_000)
    );

    // Both sides see it through LND's API.
    let invoice = pair.server.node().invoices().remove(0);
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
