//! Every money rule refuses before paying: the payer's balance and payment count are
//! unchanged.

use std::time::{Duration, SystemTime};

use l402_core::backend::InvoiceRequest;
use l402_core::lightning_invoice::Currency;
use l402_core::{Amount, PaymentHash};
use l402_mock::{MockNetwork, RoutingFee};
use l402_reqwest::{BudgetScope, Event, L402Error, L402Middleware, PaymentOptions};
use reqwest::StatusCode;

use crate::support::*;

async fn refused(
    net: &Net,
    url: &str,
    mw: &L402Middleware<l402_mock::MockNode>,
) -> reqwest_middleware::Error {
    let err = client(mw).get(url).send().await.unwrap_err();
    let e = l402_error(&err);
    assert!(e.nothing_paid(), "{e}");
    net.assert_nothing_paid();
    err
}

#[tokio::test]
async fn refuses_a_price_above_the_cap() {
    let net = Net::new();
    let base = net.paywall().await;
    let events = Events::default();
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy().max_price(sat(9)))
        .events(events.handler())
        .build()
        .unwrap();
    let err = refused(&net, &format!("{base}/paid"), &mw).await;
    let e = l402_error(&err);
    assert!(
        matches!(e, L402Error::PriceTooHigh { price, max } if *price == sat(10) && *max == sat(9))
    );
    assert_eq!(
        e.to_string(),
        "price of 10000 msat exceeds the per-request cap of 9000 msat"
    );
    assert_eq!(
        events.count(|e| matches!(e, Event::PaymentRefused { .. })),
        1
    );
}

#[tokio::test]
async fn a_per_request_cap_only_lowers_the_policy() {
    let net = Net::new();
    let base = net.paywall().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    let err = http
        .get(format!("{base}/paid"))
        .with_extension(PaymentOptions::new().max_price(sat(5)))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(l402_error(&err), L402Error::PriceTooHigh { max, .. } if *max == sat(5)));
    net.assert_nothing_paid();
    // A higher per-request cap does not raise the policy's.
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy().max_price(sat(9)))
        .build()
        .unwrap();
    let err = client(&mw)
        .get(format!("{base}/paid"))
        .with_extension(PaymentOptions::new().max_price(sat(1_000)))
        .send()
        .await
        .unwrap_err();
    assert!(matches!(l402_error(&err), L402Error::PriceTooHigh { max, .. } if *max == sat(9)));
    net.assert_nothing_paid();
    // Without the override it pays.
    let res = http.get(format!("{base}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn refuses_beyond_the_total_budget() {
    let net = Net::new();
    let a = net.paywall().await;
    let b = net.paywall().await;
    // Fee cap 1 sat + 1 %: a 10 sat invoice needs 11.1 sat of budget.
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy().budget(sat(20)))
        .build()
        .unwrap();
    let http = client(&mw);
    assert_eq!(
        http.get(format!("{a}/paid")).send().await.unwrap().status(),
        StatusCode::OK
    );
    let before = net.payer.balance();
    let err = http.get(format!("{b}/paid")).send().await.unwrap_err();
    assert!(matches!(
        l402_error(&err),
        L402Error::BudgetExceeded { scope: BudgetScope::Total, needed, .. } if *needed == Amount::from_msat(11_100)
    ));
    assert_eq!(net.payer.balance(), before);
    assert_eq!(net.payments(), 1);
    // The token already bought still works.
    assert_eq!(
        http.get(format!("{a}/paid")).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn refuses_beyond_the_origin_budget_over_a_window() {
    let net = Net::new();
    // A server that never accepts a token: every request costs a payment.
    let always = Custom::new(&net.server, 10, aperture_format).rejecting();
    let a = always.serve().await;
    let b = always.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(
            policy()
                .origin_budget(sat(15))
                .budget_window(Duration::from_millis(600))
                // This test is about budgets: no suspension after an unpaid answer.
                .suspend_after_unpaid(Duration::ZERO),
        )
        .build()
        .unwrap();
    let http = client(&mw);
    let err = http.get(&a).send().await.unwrap_err();
    assert!(matches!(l402_error(&err), L402Error::StillPaymentRequired));
    assert_eq!(net.payments(), 1);
    let err = http.get(&a).send().await.unwrap_err();
    assert!(matches!(
        l402_error(&err),
        L402Error::BudgetExceeded {
            scope: BudgetScope::Origin,
            ..
        }
    ));
    assert_eq!(net.payments(), 1);
    // Another origin has its own budget.
    let err = http.get(&b).send().await.unwrap_err();
    assert!(matches!(l402_error(&err), L402Error::StillPaymentRequired));
    assert_eq!(net.payments(), 2);
    // After the window, origin a may spend again.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let err = http.get(&a).send().await.unwrap_err();
    assert!(matches!(l402_error(&err), L402Error::StillPaymentRequired));
    assert_eq!(net.payments(), 3);
}

#[tokio::test]
async fn refuses_an_invoice_without_an_amount() {
    let net = Net::new();
    let node = net.server.clone();
    let custom = Custom::new(&net.server, 10, aperture_format).with_mint(move || {
        let c = node
            .create_invoice_at(&InvoiceRequest::new(Amount::ZERO), SystemTime::now())
            .unwrap();
        (macaroon_for(c.payment_hash), c.invoice.to_string())
    });
    let base = custom.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    assert!(matches!(
        l402_error(&refused(&net, &base, &mw).await),
        L402Error::NoAmount
    ));
}

#[tokio::test]
async fn refuses_an_expired_invoice() {
    let net = Net::new();
    let node = net.server.clone();
    let custom = Custom::new(&net.server, 10, aperture_format).with_mint(move || {
        let c = node
            .create_invoice_at(
                &InvoiceRequest::new(sat(10)).expiry(Duration::from_secs(60)),
                SystemTime::now() - Duration::from_secs(3600),
            )
            .unwrap();
        (macaroon_for(c.payment_hash), c.invoice.to_string())
    });
    let base = custom.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    assert!(matches!(
        l402_error(&refused(&net, &base, &mw).await),
        L402Error::InvoiceExpired
    ));
}

#[tokio::test]
async fn refuses_an_invoice_about_to_expire() {
    let net = Net::new();
    let node = net.server.clone();
    // Expires in 5 s; the default margin is 10 s.
    let custom = Custom::new(&net.server, 10, aperture_format).with_mint(move || {
        let c = node
            .create_invoice_at(
                &InvoiceRequest::new(sat(10)).expiry(Duration::from_secs(5)),
                SystemTime::now(),
            )
            .unwrap();
        (macaroon_for(c.payment_hash), c.invoice.to_string())
    });
    let base = custom.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    assert!(matches!(
        l402_error(&refused(&net, &base, &mw).await),
        L402Error::InvoiceExpired
    ));
}

#[tokio::test]
async fn refuses_an_invoice_for_another_network() {
    let net = Net::new();
    let mainnet = MockNetwork::builder().currency(Currency::Bitcoin).build();
    let foreign = mainnet.node("mainnet-server").build().unwrap();
    let custom = Custom::new(&foreign, 10, aperture_format);
    let base = custom.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy().network(Currency::Regtest))
        .build()
        .unwrap();
    assert!(matches!(
        l402_error(&refused(&net, &base, &mw).await),
        L402Error::WrongNetwork {
            expected: Currency::Regtest,
            found: Currency::Bitcoin
        }
    ));
}

#[tokio::test]
async fn refuses_an_invoice_that_does_not_match_the_macaroon() {
    let net = Net::new();
    let node = net.server.clone();
    let custom = Custom::new(&net.server, 10, aperture_format).with_mint(move || {
        let c = node
            .create_invoice_at(&InvoiceRequest::new(sat(10)), SystemTime::now())
            .unwrap();
        // The macaroon commits to some other payment hash.
        (
            macaroon_for(PaymentHash::from_bytes([9; 32])),
            c.invoice.to_string(),
        )
    });
    let base = custom.serve().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    assert!(matches!(
        l402_error(&refused(&net, &base, &mw).await),
        L402Error::PaymentHashMismatch
    ));
}

#[tokio::test]
async fn refuses_to_pay_for_a_streaming_body() {
    let net = Net::new();
    let base = Custom::new(&net.server, 10, aperture_format).serve().await;
    let dir = temp_dir("stream");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("body.txt");
    std::fs::write(&path, b"streamed").unwrap();
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let file = tokio::fs::File::open(&path).await.unwrap();
    let err = client(&mw).post(&base).body(file).send().await.unwrap_err();
    assert!(matches!(l402_error(&err), L402Error::BodyNotReplayable));
    net.assert_nothing_paid();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn every_payment_carries_the_fee_cap() {
    // Routing costs 5 sat; the cap is 1 sat + 1 %: the node refuses, nothing is paid.
    let net = Net::with_fee(RoutingFee::new(sat(5), 0));
    let base = net.paywall().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let err = client(&mw)
        .get(format!("{base}/paid"))
        .send()
        .await
        .unwrap_err();
    let e = l402_error(&err);
    assert!(matches!(e, L402Error::PaymentFailed(_)), "{e}");
    assert!(e.nothing_paid());
    assert_eq!(net.payer.balance(), sat(START_BALANCE_SAT));
    // With a higher cap it goes through, paying the 5 sat fee.
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy().max_fee_base(sat(5)))
        .build()
        .unwrap();
    let res = client(&mw)
        .get(format!("{base}/paid"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(mw.spending().fees, sat(5));
    assert_eq!(net.payer.balance(), sat(START_BALANCE_SAT - 15));
}
