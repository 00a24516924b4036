//! reqwest-client: an agent that pays an L402 API on its own, with `l402-reqwest`.
//!
//! The server is the `axum-paywall` example's API, rebuilt here (that example is a binary
//! with no library to import): `/` free, `/joke` 10 sat (service `jokes`), `POST
//! /translate?words=<n>` 1 sat per word (service `translate`). Both sides run on the
//! in-process mock Lightning network, so no node is needed.
//!
//! The agent keeps its tokens in a file store (surviving restarts, resolving interrupted
//! payments at start-up), one token per service (path prefix), with a per-request cap and
//! a budget, and prints what it pays.
//!
//! Run: `cargo run -p reqwest-client`

#![allow(clippy::print_stdout)]

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use l402_core::{Amount, MemoryRootKeyStore};
use l402_mock::{MockNetwork, MockNode, RoutingFee};
use l402_reqwest::{Event, FileTokenStore, L402Error, L402Middleware, SpendingPolicy};
use l402_tower::{L402Layer, Price, PriceRequest};

type BoxResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

#[tokio::main]
async fn main() -> BoxResult<()> {
    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(Amount::from_msat(1_000), 1_000))
        .build();
    let server_node = network.node("server").build()?;
    let payer = network
        .node("agent")
        .balance(Amount::from_sat(10_000).ok_or("amount")?)
        .build()?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(axum::serve(listener, app(server_node.clone())?).into_future());
    println!("API on {base}");

    // The agent's token store: a private directory (a fresh one for this demo run).
    let dir = std::env::temp_dir().join(format!("l402-reqwest-client-{}", std::process::id()));
    let l402 = L402Middleware::builder(payer.clone())
        .store(FileTokenStore::open(&dir)?)
        .policy(
            SpendingPolicy::new()
                .max_price(Amount::from_sat(50).ok_or("amount")?)
                .budget(Amount::from_sat(200).ok_or("amount")?),
        )
        .key_by_path_prefix(1) // /joke and /translate are different services
        .events(|e: &Event| match e {
            Event::PaymentSucceeded {
                key, amount, fee, ..
            } => println!("  [paid {amount} + fee {fee} for {key}]"),
            Event::PaymentRefused { key, reason } => println!("  [refused for {key}: {reason}]"),
            _ => {}
        })
        .build()?;
    let report = l402.recover().await?;
    println!("recovered {} interrupted payment(s)", report.recovered);
    let agent = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(l402.clone())
        .build();

    println!("\n> GET /");
    let res = agent.get(format!("{base}/")).send().await?;
    println!("< {} {}", res.status(), res.text().await?.trim_end());

    println!("\n> GET /joke, ten times at once");
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let agent = agent.clone();
        let url = format!("{base}/joke");
        tasks.push(tokio::spawn(async move { agent.get(url).send().await }));
    }
    for t in tasks {
        let res = t.await??;
        println!("< {}", res.status());
    }

    println!("\n> POST /translate?words=80 (80 sat, above the 50 sat cap)");
    match agent
        .post(format!("{base}/translate?words=80"))
        .body("a long text")
        .send()
        .await
    {
        Err(e) => match L402Error::from_middleware_error(&e) {
            Some(err) => println!("< refused: {err}"),
            None => return Err(e.into()),
        },
        Ok(res) => println!("< {}", res.status()),
    }

    println!("\n> POST /translate?words=5");
    let res = agent
        .post(format!("{base}/translate?words=5"))
        .body("hello world from the agent")
        .send()
        .await?;
    println!("< {} {}", res.status(), res.text().await?.trim_end());

    let spent = l402.spending();
    println!(
        "\nspent {} + {} fees in {} payment(s); agent node has {} left",
        spent.total,
        spent.fees,
        spent.payments,
        payer.balance()
    );
    for (key, s) in &spent.per_origin {
        println!("  {key}: {} in {} payment(s)", s.amount, s.payments);
    }
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The axum-paywall example's API.
fn app(node: MockNode) -> BoxResult<Router> {
    let store = Arc::new(MemoryRootKeyStore::new());
    let jokes = L402Layer::builder(node.clone(), Arc::clone(&store))
        .service("jokes")
        .price_sat(10)
        .validity(Duration::from_secs(3600))
        .memo("one hour of jokes")
        .build()?;
    let translate = L402Layer::builder(node, store)
        .service("translate")
        .pricer(|req: &PriceRequest<'_>| {
            let words = req
                .uri()
                .query()
                .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("words=")))
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(1);
            async move { Price::from_sat(words) }
        })
        .memo("translation")
        .validity(Duration::from_secs(60))
        .build()?;
    Ok(Router::new()
        .route(
            "/joke",
            get(|| async { "Why do Lightning nodes never get lost? They always find a route." })
                .route_layer(jokes),
        )
        .route(
            "/translate",
            post(|| async { "bonjour le monde" }).route_layer(translate),
        )
        .route(
            "/",
            get(|| async { "welcome: / is free, /joke costs 10 sat" }),
        ))
}
