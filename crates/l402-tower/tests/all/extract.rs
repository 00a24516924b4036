//! The axum extractor (feature `axum`, enabled for tests by the crate's dev-dependency on
//! itself).

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use l402_core::Scheme;
use l402_tower::{L402Layer, L402Receipt};
use tower::ServiceExt;

use crate::support::*;

async fn paid(L402Receipt(receipt): L402Receipt) -> String {
    format!("paid {}", receipt.service())
}

async fn maybe(receipt: Option<L402Receipt>) -> &'static str {
    if receipt.is_some() { "paid" } else { "free" }
}

#[tokio::test]
async fn extractor_reads_the_receipt() {
    let net = Net::new();
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .price_sat(1)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/paid", get(paid))
        .route("/maybe", get(maybe))
        .route_layer(layer)
        .route("/unguarded", get(paid))
        .route("/unguarded-maybe", get(maybe));
    let res = app.clone().oneshot(req("/paid")).await.unwrap();
    let (_, credential) = net.pay(res.headers()).await;
    let res = app
        .clone()
        .oneshot(get_with("/paid", &credential, Scheme::L402))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_string(res.into_body()).await, "paid weather");
    let res = app
        .clone()
        .oneshot(get_with("/maybe", &credential, Scheme::L402))
        .await
        .unwrap();
    assert_eq!(body_string(res.into_body()).await, "paid");
    // Not behind the layer: the plain extractor is a wiring error (500), the optional one None.
    let res = app.clone().oneshot(req("/unguarded")).await.unwrap();
    assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let res = app.oneshot(req("/unguarded-maybe")).await.unwrap();
    assert_eq!(body_string(res.into_body()).await, "free");
}
