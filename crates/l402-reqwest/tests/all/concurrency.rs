//! Single flight: one payment per key however many requests wait; keys do not block
//! each other.

use std::time::{Duration, Instant};

use l402_mock::{Outcome, PaymentFault};
use l402_reqwest::{Event, L402Middleware};
use reqwest::StatusCode;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_requests_pay_once() {
    let net = Net::new();
    let base = net.paywall().await;
    let events = Events::default();
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .events(events.handler())
        .build()
        .unwrap();
    let http = client(&mw);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let http = http.clone();
        let url = format!("{base}/paid");
        tasks.push(tokio::spawn(async move {
            let res = http.get(url).send().await.unwrap();
            (res.status(), res.text().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "paid content");
    }
    assert_eq!(net.payments(), 1);
    assert_eq!(net.server.balance(), sat(10));
    assert_eq!(mw.spending().payments, 1);
    assert_eq!(
        events.count(|e| matches!(e, Event::PaymentStarted { .. })),
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_payment_for_one_origin_does_not_block_another() {
    let net = Net::new();
    let slow = net.paywall().await;
    let fast = net.paywall().await;
    // The first payment hangs in flight for a while, then succeeds.
    net.payer.faults().next_payment(PaymentFault::InFlight {
        duration: Duration::from_millis(1_500),
        then: Outcome::Succeed,
    });
    let started = Events::default();
    let mw = L402Middleware::builder(net.payer.clone())
        .policy(policy())
        .events(started.handler())
        .build()
        .unwrap();
    let http = client(&mw);
    let h = http.clone();
    let slow_task = tokio::spawn(async move { h.get(format!("{slow}/paid")).send().await });
    // Wait until the slow payment is under way.
    while started.count(|e| matches!(e, Event::PaymentStarted { .. })) == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let t0 = Instant::now();
    let res = http.get(format!("{fast}/paid")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        t0.elapsed() < Duration::from_millis(1_000),
        "{:?}",
        t0.elapsed()
    );
    assert!(!slow_task.is_finished());
    let res = slow_task.await.unwrap().unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(net.payments(), 2);
}
