//! Overhead of the `l402-reqwest` middleware on a request that reuses a cached token,
//! against a plain reqwest request carrying the same `Authorization` header, to the same
//! local axum server behind `L402Layer` (loopback TCP, keep-alive).
//!
//! Run: `cargo bench -p l402-benches --bench reqwest_client`
//!
//! Both variants do the same network and server work (the layer verifies the token on
//! every request); the difference is the middleware: key derivation, the token cache
//! lookup, the `try_clone` kept for a possible retry, and the middleware chain.

#![allow(
    missing_docs,
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use l402_core::{Amount, MemoryRootKeyStore, Scheme};
use l402_mock::MockNetwork;
use l402_reqwest::{L402Middleware, MemoryTokenStore, TokenRecord, TokenStore};
use l402_tower::L402Layer;
use reqwest::StatusCode;

fn bench(c: &mut Criterion) {
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

    // The middleware client pays once; the plain client gets a copy of that token.
    let store = MemoryTokenStore::new();
    let l402 = L402Middleware::builder(payer)
        .store(store.clone())
        .build()
        .unwrap();
    let paying = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(l402.clone())
        .build();
    let plain = reqwest::Client::new();
    let header = rt.block_on(async {
        let res = paying.get(&url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let key = l402.key_for(&reqwest::Url::parse(&url).unwrap()).unwrap();
        let Some(TokenRecord::Paid(token)) = store.load(&key).await.unwrap() else {
            panic!("no token");
        };
        token.credential().to_header_value(Scheme::L402).unwrap()
    });

    let mut group = c.benchmark_group("reqwest_cached_token");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("plain reqwest + header", |b| {
        b.iter(|| {
            rt.block_on(async {
                let res = plain
                    .get(&url)
                    .header(reqwest::header::AUTHORIZATION, header.clone())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                res.bytes().await.unwrap()
            })
        });
    });
    group.bench_function("l402 middleware, cached token", |b| {
        b.iter(|| {
            rt.block_on(async {
                let res = paying.get(&url).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                res.bytes().await.unwrap()
            })
        });
    });
    group.finish();
    assert_eq!(l402.spending().payments, 1);
}

criterion_group!(benches, bench);
criterion_main!(benches);
