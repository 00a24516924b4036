//! Happy path, token reuse, overrides, events, spending summary.

use l402_core::{Amount, Challenge};
use l402_reqwest::{
    Event, KeyScope, L402Middleware, MemoryTokenStore, PaymentOptions, StoredToken, TokenRecord,
    TokenStore,
};
use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn pays_once_then_reuses_the_token() {
    let net = Net::new();
    let base = net.paywall().await;
    let store = MemoryTokenStore::new();
    let events = Events::default();
    let mw = L402Middleware::builder(net.payer.clone())
        .store(store.clone())
        .policy(policy())
        .events(events.handler())
        .build()
        .unwrap();
    let http = client(&mw);

    let res = http.get(format!("{base}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "paid content");
    assert_eq!(net.payments(), 1);
    let after_first = net.payer.balance();
    assert!(after_first <= sat(START_BALANCE_SAT - 10));
    assert_eq!(net.server.balance(), sat(10));

    // The token is stored under the origin, with what it cost.
    let key = mw.key_for(&reqwest::Url::parse(&base).unwrap()).unwrap();
    let Some(TokenRecord::Paid(token)) = store.load(&key).await.unwrap() else {
        panic!("no stored token");
    };
    assert_eq!(token.amount, sat(10));
    assert_eq!(
        after_first,
        sat(START_BALANCE_SAT - 10).saturating_sub(token.fee)
    );

    // Second call (another route of the same service): no payment at all.
    for path in ["/paid", "/expensive"] {
        let res = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(net.payments(), 1);
    assert_eq!(net.payer.balance(), after_first);

    let spent = mw.spending();
    assert_eq!(spent.total, sat(10));
    assert_eq!(spent.fees, token.fee);
    assert_eq!(spent.payments, 1);
    assert_eq!(spent.per_origin[&key].amount, sat(10));

    assert_eq!(
        events
            .count(|e| matches!(e, Event::ChallengeSeen { amount: Some(a), .. } if *a == sat(10))),
        1
    );
    assert_eq!(
        events.count(|e| matches!(e, Event::PaymentStarted { .. })),
        1
    );
    assert_eq!(
        events.count(|e| matches!(e, Event::PaymentSucceeded { amount, .. } if *amount == sat(10))),
        1
    );
    assert_eq!(events.count(|e| matches!(e, Event::TokenReused { .. })), 2);
}

#[tokio::test]
async fn free_routes_and_other_errors_pass_through() {
    let net = Net::new();
    let base = net.paywall().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    let res = http.get(format!("{base}/free")).send().await.unwrap();
    assert_eq!(res.text().await.unwrap(), "free content");
    let res = http.get(format!("{base}/missing")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    net.assert_nothing_paid();
}

#[tokio::test]
async fn replays_a_buffered_body_after_paying() {
    let net = Net::new();
    let base = net.paywall().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let res = client(&mw)
        .post(format!("{base}/upload"))
        .body("hello, world")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "got 12 bytes");
    assert_eq!(net.payments(), 1);
}

#[tokio::test]
async fn never_pay_returns_the_402_with_the_parsed_challenge() {
    let net = Net::new();
    let base = net.paywall().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let res = client(&mw)
        .get(format!("{base}/expensive"))
        .with_extension(PaymentOptions::never_pay())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let challenge = res
        .extensions()
        .get::<Challenge>()
        .expect("challenge in extensions");
    let invoice = challenge.decode_invoice().unwrap();
    assert_eq!(invoice.amount_milli_satoshis(), Some(500_000));
    net.assert_nothing_paid();
}

#[tokio::test]
async fn a_402_to_a_cached_token_drops_it_and_pays_the_new_challenge() {
    let net = Net::new();
    let base = net.paywall().await;
    let store = MemoryTokenStore::new();
    // A token the server does not know (minted elsewhere).
    let key = KeyScope::Origin
        .key_for(&reqwest::Url::parse(&base).unwrap())
        .unwrap();
    let preimage = l402_core::Preimage::from_bytes([3; 32]);
    let stale = StoredToken::new(
        macaroon_for(preimage.payment_hash()),
        preimage,
        sat(1),
        Amount::ZERO,
        std::time::SystemTime::now(),
    );
    store
        .save(&key, &TokenRecord::Paid(stale.clone()))
        .await
        .unwrap();
    let events = Events::default();
    let mw = L402Middleware::builder(net.payer.clone())
        .store(store.clone())
        .policy(policy())
        .events(events.handler())
        .build()
        .unwrap();
    let res = client(&mw)
        .get(format!("{base}/paid"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 1);
    assert_eq!(
        events.count(|e| matches!(e, Event::TokenRejected { .. })),
        1
    );
    let Some(TokenRecord::Paid(fresh)) = store.load(&key).await.unwrap() else {
        panic!("no token");
    };
    assert_ne!(fresh.payment_hash, stale.payment_hash);
}

#[tokio::test]
async fn expired_tokens_are_replaced() {
    let net = Net::new();
    let base = net.paywall_with(std::time::Duration::from_secs(1)).await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    assert_eq!(
        http.get(format!("{base}/paid"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    tokio::time::sleep(std::time::Duration::from_millis(2_100)).await;
    assert_eq!(
        http.get(format!("{base}/paid"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(net.payments(), 2);
    assert_eq!(mw.spending().payments, 2);
}

#[tokio::test]
async fn path_prefix_keys_keep_one_token_per_service() {
    use axum::{Router, routing::get};
    use l402_tower::L402Layer;
    use std::sync::Arc;

    let net = Net::new();
    let layer = |service: &str| {
        L402Layer::builder(net.server.clone(), Arc::clone(&net.keys))
            .service(service)
            .price_sat(10)
            .build()
            .unwrap()
    };
    let app = Router::new()
        .route("/a/x", get(|| async { "a" }).route_layer(layer("a")))
        .route("/b/x", get(|| async { "b" }).route_layer(layer("b")));
    let base = serve(app).await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .key_by_path_prefix(1)
        .build()
        .unwrap();
    let http = client(&mw);
    for _ in 0..2 {
        for p in ["a", "b"] {
            let res = http.get(format!("{base}/{p}/x")).send().await.unwrap();
            assert_eq!(res.text().await.unwrap(), p);
        }
    }
    // One token per service, each reused.
    assert_eq!(net.payments(), 2);
    let spent = mw.spending();
    assert_eq!(spent.per_origin.len(), 2);
    assert!(
        spent
            .per_origin
            .keys()
            .all(|k| k.ends_with("/a") || k.ends_with("/b"))
    );
}
