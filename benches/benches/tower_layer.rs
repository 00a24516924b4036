//! Throughput of an axum hello route behind `L402Layer` (with a valid token) against the
//! bare route, over loopback TCP.
//!
//! Run: `cargo bench -p l402-benches --bench tower_layer [-- <connections> <requests>]`
//! (defaults: 32 connections, 40,000 requests per run). A load generator of `connections`
//! keep-alive HTTP/1.1 connections (hyper) sends a fixed number of requests; each variant is
//! run three times, alternating, and the best run is reported with the ratio. Both routes
//! receive the same requests, `Authorization` header included, so the difference is the
//! layer's work (parse, preimage check, root-key lookup, HMAC chain, caveats, receipt).

#![allow(
    missing_docs,
    clippy::print_stdout,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use http::{HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use l402_core::backend::PayParams;
use l402_core::{Amount, Challenge, Credential, MemoryRootKeyStore, PaymentBackend, Scheme};
use l402_mock::MockNetwork;
use l402_tower::L402Layer;

async fn hello() -> &'static str {
    "hello"
}

/// Sends `total` GETs for `path` over `connections` connections; returns requests per second.
async fn load(
    addr: SocketAddr,
    path: &'static str,
    auth: Option<HeaderValue>,
    connections: usize,
    total: usize,
) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let next = Arc::clone(&next);
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let mut req = Request::get(path).header("host", "bench");
                if let Some(a) = &auth {
                    req = req.header("authorization", a.clone());
                }
                let res = sender
                    .send_request(req.body(Empty::<Bytes>::new()).unwrap())
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                res.into_body().collect().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    total as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let connections = args.first().copied().unwrap_or(32);
    let total = args.get(1).copied().unwrap_or(40_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(connections, total));
}

async fn run(connections: usize, total: usize) {
    let network = MockNetwork::new();
    let server = network.node("server").build().unwrap();
    let payer = network
        .node("payer")
        .balance(Amount::from_sat(1_000).unwrap())
        .build()
        .unwrap();
    let layer = L402Layer::builder(server, Arc::new(MemoryRootKeyStore::new()))
        .service("bench")
        .price_sat(1)
        .capabilities(&["hello"])
        .require_capability("hello")
        .validity(Duration::from_secs(3600))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/paid", get(hello))
        .route_layer(layer)
        .route("/bare", get(hello));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // Buy one token.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let res = sender
        .send_request(
            Request::get("/paid")
                .header("host", "bench")
                .body(Empty::<Bytes>::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let challenge = Challenge::from_headers(res.headers()).unwrap();
    let invoice = challenge.decode_invoice().unwrap();
    let paid = payer
        .pay_invoice(
            &invoice,
            &PayParams::new(Amount::from_sat(1).unwrap(), Duration::from_secs(5)),
        )
        .await
        .unwrap();
    let credential = Credential::new(challenge.macaroon().clone(), paid.preimage);
    let auth = credential.to_header_value(Scheme::L402).unwrap();

    println!("l402-tower throughput: {connections} connections, {total} requests per run");
    // Warm up both paths.
    load(addr, "/bare", Some(auth.clone()), connections, total / 10).await;
    load(addr, "/paid", Some(auth.clone()), connections, total / 10).await;
    let (mut bare, mut paid) = (Vec::new(), Vec::new());
    for round in 1..=3 {
        let b = load(addr, "/bare", Some(auth.clone()), connections, total).await;
        let p = load(addr, "/paid", Some(auth.clone()), connections, total).await;
        println!(
            "round {round}: bare {b:>9.0} req/s   behind L402Layer {p:>9.0} req/s   ratio {:.3}",
            p / b
        );
        bare.push(b);
        paid.push(p);
    }
    let best = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let (b, p) = (best(&bare), best(&paid));
    println!(
        "best:    bare {b:>9.0} req/s   behind L402Layer {p:>9.0} req/s   ratio {:.3}",
        p / b
    );
}
