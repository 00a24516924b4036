//! Our client against our server: `l402-reqwest` paying an `l402-tower` layer that offers
//! the `Payment` scheme (alone, or beside L402), money counted on the mock nodes.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use l402_core::MasterSecret;
use l402_core::payment_scheme::PaymentReceipt;
use l402_reqwest::{L402Error, L402Middleware, SchemePreference};
use l402_tower::{L402Layer, Offers};

use crate::support::{Net, client, l402_error, policy, sat, serve};

/// `/data` at 10 sat behind a layer offering `offers`.
async fn api(net: &Net, offers: Offers) -> String {
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.keys))
        .service("api")
        .price_sat(10)
        .offers(offers)
        .payment_master_secret(&MasterSecret::from_bytes(&[9; 32]).unwrap())
        .build()
        .unwrap();
    serve(
        Router::new()
            .route("/data", get(|| async { "the data" }))
            .route_layer(layer),
    )
    .await
}

#[tokio::test]
async fn a_payment_only_layer_is_paid_per_request_with_a_receipt() {
    let net = Net::new();
    let base = api(&net, Offers::Payment).await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    for round in 1..=2 {
        let res = http.get(format!("{base}/data")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let receipt = res.extensions().get::<PaymentReceipt>().cloned().unwrap();
        assert!(receipt.is_success());
        assert_eq!(res.text().await.unwrap(), "the data");
        // A charge is single use: each request pays its own, and only that.
        assert_eq!(net.payments(), round);
        assert_eq!(net.server.balance(), sat(10 * round as u64));
        let last = net.payer.payments().last().unwrap().payment_hash;
        assert_eq!(receipt.reference, last.to_hex());
    }
}

#[tokio::test]
async fn both_offers_pay_one_invoice_and_the_preference_picks_which() {
    for (prefer, reused) in [
        (SchemePreference::L402First, true),
        (SchemePreference::PaymentFirst, false),
    ] {
        let net = Net::new();
        let base = api(&net, Offers::Both).await;
        let mw = L402Middleware::builder(net.payer.clone())
            .policy(policy())
            .prefer_scheme(prefer)
            .build()
            .unwrap();
        let http = client(&mw);
        let first = http.get(format!("{base}/data")).send().await.unwrap();
        assert_eq!(first.status(), StatusCode::OK, "{prefer:?}");
        assert_eq!(
            first.extensions().get::<PaymentReceipt>().is_some(),
            !reused,
            "{prefer:?}"
        );
        // The layer minted two invoices for the 402; exactly one was paid.
        assert_eq!(net.payments(), 1, "{prefer:?}");
        assert_eq!(net.server.balance(), sat(10), "{prefer:?}");
        // An L402 token is reused; a charge is not.
        let second = http.get(format!("{base}/data")).send().await.unwrap();
        assert_eq!(second.status(), StatusCode::OK, "{prefer:?}");
        assert_eq!(net.payments(), if reused { 1 } else { 2 }, "{prefer:?}");
    }
}

#[tokio::test]
async fn a_payment_only_layer_priced_over_the_cap_is_not_paid() {
    let net = Net::new();
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.keys))
        .service("api")
        .price_sat(5_000)
        .offers(Offers::Payment)
        .payment_master_secret(&MasterSecret::from_bytes(&[9; 32]).unwrap())
        .build()
        .unwrap();
    let base = serve(
        Router::new()
            .route("/data", get(|| async { "the data" }))
            .route_layer(layer),
    )
    .await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let err = client(&mw)
        .get(format!("{base}/data"))
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(l402_error(&err), L402Error::PriceTooHigh { .. }),
        "{err:?}"
    );
    net.assert_nothing_paid();
}
