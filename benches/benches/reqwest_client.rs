//! Overhead of the `l402-reqwest` middleware on a request that reuses a cached token,
//! against a plain reqwest request carrying the same `Authorization` header, to the same
//! local axum server behind `L402Layer` (loopback TCP, keep-alive).
//!
//! Run: `cargo bench -p l402-benches --bench reqwest_client [-- <requests> <rounds>]`
//!
//! Three clients take turns, round after round, so that drifts in machine load hit all of
//! them alike: plain reqwest, a `reqwest-middleware` client with no middleware, and one
//! with `L402Middleware`. All three do the same network and server work (the layer verifies
//! the token on every request); the difference is the middleware: key derivation, the
//! token cache lookup, the `try_clone` kept for a possible retry. The best round of each is
//! reported, since loopback latency on a shared machine only ever adds noise upwards.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::panic
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::{Router, routing::get};
use l402_core::{Amount, MemoryRootKeyStore, Scheme};
use l402_mock::MockNetwork;
use l402_reqwest::L402Middleware;
use l402_reqwest::store::{MemoryTokenStore, TokenRecord, TokenStore};
use l402_tower::L402Layer;

fn arg(n: usize, default: u32) -> u32 {
    std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .nth(n)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let requests = arg(0, 3000);
    let rounds = arg(1, 8);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let network = MockNetwork::new();
    let server = network.node("server").build().unwrap();
    let payer = network
        .node("payer")
        .balance(Amount::from_sat(1_000_000).unwrap())
        .build()
        .unwrap();
    let layer = L402Layer::builder(server, Arc::new(MemoryRootKeyStore::new()))
        .service("bench")
        .price_sat(10)
        .validity(Duration::from_secs(24 * 3600))
        .build()
        .unwrap();
    let app = Router::new().route("/paid", get(|| async { "hello" }).route_layer(layer));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}/paid", listener.local_addr().unwrap());
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The middleware client pays once; the other clients get a copy of that token.
    let store = MemoryTokenStore::new();
    let l402 = L402Middleware::builder(payer)
        .store(store.clone())
        .build()
        .unwrap();
    let paying = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(l402.clone())
        .build();
    let bare_mw = reqwest_middleware::ClientBuilder::new(reqwest::Client::new()).build();
    let plain = reqwest::Client::new();
    let header = rt.block_on(async {
        let res = paying.get(&url).send().await.unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        let key = l402.key_for(&reqwest::Url::parse(&url).unwrap()).unwrap();
        let Some(TokenRecord::Paid(t)) = store.load(&key).await.unwrap() else {
            panic!("no token stored");
        };
        t.credential().to_header_value(Scheme::L402).unwrap()
    });

    // Times `requests` sequential requests made by the block, in µs per request.
    macro_rules! time {
        ($request:expr) => {{
            let start = Instant::now();
            rt.block_on(async {
                for _ in 0..requests {
                    let res = $request.send().await.unwrap();
                    assert_eq!(res.status(), reqwest::StatusCode::OK);
                    res.bytes().await.unwrap();
                }
            });
            start.elapsed().as_secs_f64() * 1e6 / f64::from(requests)
        }};
    }
    println!("l402-reqwest overhead: {requests} requests per client per round, {rounds} rounds");
    let mut best = [f64::MAX; 3];
    for round in 1..=rounds {
        let a = time!(
            plain
                .get(&url)
                .header(reqwest::header::AUTHORIZATION, header.clone())
        );
        let b = time!(
            bare_mw
                .get(&url)
                .header(reqwest::header::AUTHORIZATION, header.clone())
        );
        let c = time!(paying.get(&url));
        for (slot, v) in best.iter_mut().zip([a, b, c]) {
            *slot = slot.min(v);
        }
        println!(
            "round {round}: plain {a:6.1} µs   reqwest-middleware {b:6.1} µs   L402Middleware {c:6.1} µs"
        );
    }
    println!(
        "best:    plain {:6.1} µs   reqwest-middleware {:6.1} µs   L402Middleware {:6.1} µs   overhead {:+.1}%",
        best[0],
        best[1],
        best[2],
        (best[2] / best[0] - 1.0) * 100.0
    );
    assert_eq!(l402.spending().payments, 1, "the cached token was reused");
}
