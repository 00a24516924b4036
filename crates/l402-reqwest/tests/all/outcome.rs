//! Hooks for tools built on the middleware: the per-request outcome, quotes that pay
//! nothing, forgetting a token, listing tokens.

use l402_core::lightning_invoice::Currency;
use l402_reqwest::{
    BudgetScope, L402Error, L402Middleware, MemoryTokenStore, OfferScheme, PaymentOptions,
    PaymentOutcome, TokenStore,
};
use reqwest::{StatusCode, Url};

use crate::support::*;

#[tokio::test]
async fn the_outcome_says_what_was_paid_then_reused() {
    let net = Net::new();
    let base = net.paywall().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);

    let res = http.get(format!("{base}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let first = res.extensions().get::<PaymentOutcome>().unwrap().clone();
    let paid = first.paid.unwrap();
    assert_eq!(paid.scheme, OfferScheme::L402);
    assert_eq!(paid.amount, sat(10));
    assert_eq!(net.spent(), paid.amount.saturating_add(paid.fee));
    assert!(!first.token_reused);

    let res = http.get(format!("{base}/paid")).send().await.unwrap();
    let second = res.extensions().get::<PaymentOutcome>().unwrap();
    assert!(second.paid.is_none());
    assert!(second.token_reused);
    assert_eq!(net.payments(), 1);

    let res = http.get(format!("{base}/free")).send().await.unwrap();
    let free = res.extensions().get::<PaymentOutcome>().unwrap();
    assert!(free.paid.is_none());
}

#[tokio::test]
async fn a_quote_checks_everything_and_pays_nothing() {
    let net = Net::new();
    let base = net.paywall().await;
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy().budget(sat(300)))
        .build()
        .unwrap();
    let http = client(&mw);
    for (path, cap, price) in [
        ("/paid", None, 10),
        ("/expensive", None, 500),
        ("/paid", Some(5), 10),
    ] {
        let url = Url::parse(&format!("{base}{path}")).unwrap();
        let res = http
            .get(url.clone())
            .with_extension(PaymentOptions::never_pay())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
        let options = match cap {
            Some(c) => PaymentOptions::new().max_price(sat(c)),
            None => PaymentOptions::new(),
        };
        let quote = mw.quote(&url, &res, &options).await.unwrap().unwrap();
        assert_eq!(quote.amount, Some(sat(price)));
        assert_eq!(quote.network, Some(Currency::Regtest));
        assert_eq!(quote.budget_left, Some(sat(300)));
        match (path, cap) {
            ("/paid", None) => assert!(quote.payable(), "{:?}", quote.refusal),
            ("/paid", Some(_)) => assert!(
                matches!(quote.refusal, Some(L402Error::PriceTooHigh { max, .. }) if max == sat(5))
            ),
            // 500 sat is within the policy's per-request cap but not the 300 sat budget.
            _ => assert!(matches!(
                quote.refusal,
                Some(L402Error::BudgetExceeded {
                    scope: BudgetScope::Total,
                    ..
                })
            )),
        }
    }
    net.assert_nothing_paid();
}

#[tokio::test]
async fn a_forgotten_token_is_paid_for_again_and_tokens_are_listed() {
    let net = Net::new();
    let base = net.paywall().await;
    let store = MemoryTokenStore::new();
    let mw = L402Middleware::builder(net.payer.clone())
        .store(store.clone())
        .policy(policy())
        .build()
        .unwrap();
    let http = client(&mw);
    http.get(format!("{base}/paid")).send().await.unwrap();
    let key = mw.key_for(&Url::parse(&base).unwrap()).unwrap();
    let listed = store.tokens().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].0, key);
    assert_eq!(listed[0].1.amount, sat(10));

    assert!(mw.forget(&key).await.unwrap());
    assert!(!mw.forget(&key).await.unwrap());
    assert!(store.tokens().await.unwrap().is_empty());
    // The cache forgot it too: the next request pays again.
    http.get(format!("{base}/paid")).send().await.unwrap();
    assert_eq!(net.payments(), 2);
}
