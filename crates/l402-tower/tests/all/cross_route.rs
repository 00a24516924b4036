//! Tokens sold on a cheap route must not open a dearer one (the builder refuses such a
//! configuration unless told otherwise), tested at build time and end to end.

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use http::StatusCode;
use l402_core::{Amount, MemoryRootKeyStore, Scheme};
use l402_mock::MockNode;
use l402_tower::{BuildError, L402Layer, L402LayerBuilder, Price, PriceRequest, Route};
use tower::ServiceExt;

use crate::support::*;

fn weather(net: &Net) -> L402LayerBuilder<MockNode, Arc<MemoryRootKeyStore>> {
    L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .price_sat(10)
}

/// The crate documentation's example before the fix: every token allows `premium`.
fn old_example(net: &Net) -> L402LayerBuilder<MockNode, Arc<MemoryRootKeyStore>> {
    weather(net)
        .route(
            Route::exact("/forecast/premium")
                .price_sat(100)
                .capability("premium"),
        )
        .capabilities(&["basic", "premium"])
}

/// The crate documentation's example now: 10-sat tokens allow only `basic`.
fn fixed_example(net: &Net) -> L402LayerBuilder<MockNode, Arc<MemoryRootKeyStore>> {
    weather(net).capabilities(&["basic"]).route(
        Route::exact("/forecast/premium")
            .price_sat(100)
            .capability("premium")
            .grants(&["basic", "premium"]),
    )
}

fn app(layer: L402Layer<MockNode, Arc<MemoryRootKeyStore>>) -> Router {
    Router::new()
        .route("/forecast", get(echo_receipt))
        .route("/forecast/premium", get(echo_receipt))
        .route_layer(layer)
}

#[test]
fn the_old_example_is_refused() {
    let net = Net::new();
    assert_eq!(
        old_example(&net).build().unwrap_err(),
        BuildError::CheapTokenOpensDearRoute {
            cheap: "requests no route matches".into(),
            dear: "route \"/forecast/premium\"".into(),
        }
    );
    let message = old_example(&net).build().unwrap_err().to_string();
    assert!(message.contains("/forecast/premium"), "{message}");
}

#[test]
fn the_fixed_example_builds_and_the_opt_in_accepts_the_old_one() {
    let net = Net::new();
    fixed_example(&net).build().unwrap();
    old_example(&net)
        .allow_cheap_tokens_on_dear_routes()
        .build()
        .unwrap();
}

#[test]
fn every_pair_of_routes_is_checked() {
    let net = Net::new();
    // Route to route: a 10-sat route's tokens open a 20-sat route.
    let err = weather(&net)
        .price_sat(5)
        .capabilities(&["basic"])
        .route(
            Route::exact("/a")
                .price_sat(10)
                .capability("paid")
                .grants(&["paid"]),
        )
        .route(
            Route::exact("/b")
                .price_sat(20)
                .capability("paid")
                .grants(&["paid"]),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::CheapTokenOpensDearRoute {
            cheap: "route \"/a\"".into(),
            dear: "route \"/b\"".into(),
        }
    );
    // A method-restricted prefix route is named as such.
    let err = weather(&net)
        .route(
            Route::prefix("/admin/")
                .method(http::Method::POST)
                .price_sat(11),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::CheapTokenOpensDearRoute {
            cheap: "requests no route matches".into(),
            dear: "route POST \"/admin/\"*".into(),
        }
    );
    // A dearer token opening a cheaper route is fine, and so are equal prices and free
    // routes.
    weather(&net)
        .capabilities(&["basic"])
        .route(
            Route::exact("/b")
                .price_sat(20)
                .capability("b")
                .grants(&["basic", "b"]),
        )
        .route(Route::exact("/same").price_sat(10))
        .route(Route::exact("/health").free())
        .build()
        .unwrap();
    // Free by default: unmatched requests mint nothing, so they sell no cheap token.
    weather(&net)
        .price(Amount::ZERO)
        .route(Route::exact("/paid").price_sat(5))
        .build()
        .unwrap();
}

#[test]
fn a_dynamic_price_may_be_lower_than_any_static_one() {
    let net = Net::new();
    let dynamic = || {
        weather(&net)
            .pricer(|_: &PriceRequest<'_>| async { Ok(Price::Amount(Amount::from_msat(1))) })
    };
    assert_eq!(
        dynamic()
            .route(Route::exact("/forecast/premium").price_sat(100))
            .build()
            .unwrap_err(),
        BuildError::CheapTokenOpensDearRoute {
            cheap: "requests no route matches".into(),
            dear: "route \"/forecast/premium\"".into(),
        }
    );
    // Restricted by capability, it builds; tokens of the static route may open the
    // dynamically priced requests (no static price to protect there).
    dynamic()
        .capabilities(&["basic"])
        .route(
            Route::exact("/forecast/premium")
                .price_sat(100)
                .capability("premium")
                .grants(&["basic", "premium"]),
        )
        .build()
        .unwrap();
}

/// The attack: buy the 10-sat token on `/forecast`, present it on `/forecast/premium`.
#[tokio::test]
async fn a_cheap_token_gets_402_on_the_dear_route() {
    let net = Net::new();
    let app = app(fixed_example(&net).build().unwrap());
    let res = app.clone().oneshot(req("/forecast")).await.unwrap();
    assert_eq!(invoice_amount(res.headers()), Amount::from_sat(10).unwrap());
    let (_, cheap) = net.pay(res.headers()).await;
    assert_eq!(net.server.balance(), Amount::from_sat(10).unwrap());
    let res = app
        .clone()
        .oneshot(get_with("/forecast", &cheap, Scheme::L402))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    let res = app
        .clone()
        .oneshot(get_with("/forecast/premium", &cheap, Scheme::L402))
        .await
        .unwrap();
    assert_challenge(res.headers(), res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(
        invoice_amount(res.headers()),
        Amount::from_sat(100).unwrap()
    );
    assert_eq!(body_string(res.into_body()).await, "payment required");

    // Paying the premium price opens it; the server was paid 110 sat in all.
    let res = app.clone().oneshot(req("/forecast/premium")).await.unwrap();
    let (_, premium) = net.pay(res.headers()).await;
    let res = app
        .clone()
        .oneshot(get_with("/forecast/premium", &premium, Scheme::L402))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.server.balance(), Amount::from_sat(110).unwrap());
}

/// What the opt-in means (and what the old example did): the cheap token opens the dear
/// route, and the server is paid 10 sat for it.
#[tokio::test]
async fn with_the_opt_in_the_cheap_token_opens_the_dear_route() {
    let net = Net::new();
    let app = app(old_example(&net)
        .allow_cheap_tokens_on_dear_routes()
        .build()
        .unwrap());
    let res = app.clone().oneshot(req("/forecast")).await.unwrap();
    let (_, cheap) = net.pay(res.headers()).await;
    let res = app
        .oneshot(get_with("/forecast/premium", &cheap, Scheme::L402))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.server.balance(), Amount::from_sat(10).unwrap());
}
