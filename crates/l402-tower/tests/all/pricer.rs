//! A dynamic pricer that fails never makes a request free: 503 (gRPC: UNAVAILABLE), with
//! no trace of the pricer's error in the answer.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use http::header::RETRY_AFTER;
use http::{HeaderValue, Method, Request, StatusCode};
use l402_core::{Amount, Scheme};
use l402_tower::{L402Layer, Price, PriceRequest, PricingError};
use tower::ServiceExt;

use crate::support::*;

/// What the test pricer answers next.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Free,
    Msat(u64),
    Sat(u64),
    Down,
}

fn app(net: &Net, answer: Arc<Mutex<Answer>>) -> Router {
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("compute")
        .pricer(move |_: &PriceRequest<'_>| {
            let answer = *answer.lock().unwrap();
            async move {
                match answer {
                    Answer::Free => Ok(Price::Free),
                    Answer::Msat(msat) => Ok(Price::from_msat(msat)),
                    Answer::Sat(sat) => Price::from_sat(sat),
                    Answer::Down => Err(PricingError::unavailable(
                        "rate feed at 10.0.0.7:5432 refused the connection",
                    )),
                }
            }
        })
        .retry_after(std::time::Duration::from_secs(9))
        .build()
        .unwrap();
    Router::new()
        .route("/run", get(echo_receipt).post(echo_receipt))
        .route_layer(layer)
}

async fn assert_unavailable(res: http::Response<axum::body::Body>) {
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(res.headers().get(RETRY_AFTER).unwrap(), "9");
    assert!(res.headers().get("www-authenticate").is_none());
    let body = body_string(res.into_body()).await;
    assert_eq!(body, "payment service temporarily unavailable");
}

#[tokio::test]
async fn a_failing_pricer_answers_503_never_free_access() {
    let net = Net::new();
    let answer = Arc::new(Mutex::new(Answer::Down));
    let app = app(&net, Arc::clone(&answer));
    for answer_now in [Answer::Down, Answer::Sat(u64::MAX), Answer::Msat(0)] {
        *answer.lock().unwrap() = answer_now;
        let res = app.clone().oneshot(req("/run")).await.unwrap();
        let debug = format!("{:?}", res.headers());
        assert!(!debug.contains("10.0.0.7"), "{debug}");
        assert_unavailable(res).await;
        // With a junk credential too: still no pass.
        let res = app
            .clone()
            .oneshot(get_with_raw(
                "/run",
                HeaderValue::from_static("L402 junk:00"),
            ))
            .await
            .unwrap();
        assert_unavailable(res).await;
    }
    assert_eq!(
        net.server.invoices().len(),
        0,
        "no invoice for a failed price"
    );

    // Free is an explicit answer; an amount is charged.
    *answer.lock().unwrap() = Answer::Free;
    let res = app.clone().oneshot(req("/run")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body_string(res.into_body()).await, "free");
    *answer.lock().unwrap() = Answer::Sat(3);
    let res = app.clone().oneshot(req("/run")).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(invoice_amount(res.headers()), Amount::from_sat(3).unwrap());

    // A valid token is not priced again: it passes while the pricer is down.
    let (_, credential) = net.pay(res.headers()).await;
    *answer.lock().unwrap() = Answer::Down;
    let res = app
        .clone()
        .oneshot(get_with("/run", &credential, Scheme::L402))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn grpc_callers_get_unavailable_when_the_pricer_fails() {
    let net = Net::new();
    let app = app(&net, Arc::new(Mutex::new(Answer::Down)));
    let request = Request::builder()
        .method(Method::POST)
        .uri("/run")
        .header("content-type", "application/grpc")
        .body(axum::body::Body::empty())
        .unwrap();
    let res = app.oneshot(request).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("grpc-status").unwrap(), "14");
    assert_eq!(
        res.headers().get("grpc-message").unwrap(),
        "payment service temporarily unavailable"
    );
    assert!(res.headers().get(RETRY_AFTER).is_some());
    assert!(res.headers().get("www-authenticate").is_none());
}

#[test]
fn pricing_errors_say_what_failed_once() {
    let e = PricingError::unavailable("feed down");
    assert_eq!(e.to_string(), "price source unavailable");
    assert_eq!(
        std::error::Error::source(&e).unwrap().to_string(),
        "feed down"
    );
    assert_eq!(
        Price::from_sat(u64::MAX).unwrap_err().to_string(),
        "price does not fit in millisatoshis"
    );
    assert_eq!(
        Price::from_sat(2).unwrap(),
        Price::Amount(Amount::from_msat(2_000))
    );
}
