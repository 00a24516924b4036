//! Quickstart: an L402 API and a paying agent in one process, no Lightning node needed.
//!
//! * The server: an axum API behind `l402-tower`. `/weather/forecast` costs 10 sat,
//!   `/premium/report` 500 sat. Its invoices come from a mock Lightning node.
//! * The agent: a reqwest client with the `l402-reqwest` middleware, paying from another
//!   mock node on the same in-process network, with a spending cap of 100 sat per request.
//!
//! Run: `cargo run -p quickstart`

#![allow(clippy::print_stdout)]

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use l402_core::{Amount, Challenge, MemoryRootKeyStore};
use l402_mock::{MockNetwork, RoutingFee};
use l402_reqwest::{
    Event, L402Error, L402Middleware, MemoryTokenStore, PaymentOptions, SpendingPolicy,
    TokenRecord, TokenStore,
};
use l402_tower::L402Layer;

type BoxResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

fn sat(n: u64) -> BoxResult<Amount> {
    Ok(Amount::from_sat(n).ok_or("amount overflow")?)
}

/// An amount in sat, for people (`Amount` displays msat).
fn show(a: Amount) -> String {
    let msat = a.msat();
    if msat.is_multiple_of(1_000) {
        format!("{} sat", msat / 1_000)
    } else {
        format!("{}.{:03} sat", msat / 1_000, msat % 1_000)
    }
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    // 1. A mock Lightning network: the API's node and the agent's node (1,000 sat).
    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(Amount::from_msat(1_000), 1_000)) // 1 sat + 0.1 %
        .build();
    let api_node = network.node("api").build()?;
    let agent_node = network.node("agent").balance(sat(1_000)?).build()?;
    println!(
        "mock Lightning network: agent node holds {}",
        show(agent_node.balance())
    );

    // 2. The API: two services behind L402, on 127.0.0.1.
    let root_keys = Arc::new(MemoryRootKeyStore::new());
    let weather = L402Layer::builder(api_node.clone(), Arc::clone(&root_keys))
        .service("weather")
        .price_sat(10)
        .validity(Duration::from_secs(3600))
        .memo("weather forecasts, one hour")
        .build()?;
    let premium = L402Layer::builder(api_node.clone(), root_keys)
        .service("premium")
        .price_sat(500)
        .build()?;
    let app = Router::new()
        .route(
            "/weather/forecast",
            get(|| async { "sunny, 24°C" }).route_layer(weather),
        )
        .route(
            "/premium/report",
            get(|| async { "the premium report" }).route_layer(premium),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    println!("API listening on {base}\n");

    // 3. The agent: reqwest + the L402 middleware, at most 100 sat per request. Tokens
    //    are kept per service (first path segment); events are printed as they happen.
    let store = MemoryTokenStore::new();
    let l402 = L402Middleware::builder(agent_node.clone())
        .store(store.clone())
        .policy(SpendingPolicy::new().max_price(sat(100)?))
        .key_by_path_prefix(1)
        .events(|event: &Event| match event {
            Event::PaymentStarted {
                amount, max_fee, ..
            } => println!(
                "   paying {} (routing fee capped at {})...",
                show(*amount),
                show(*max_fee)
            ),
            Event::PaymentSucceeded { amount, fee, .. } => {
                println!(
                    "   paid {} + {} routing fee; token stored",
                    show(*amount),
                    show(*fee)
                );
            }
            Event::TokenReused { key } => println!("   reused the stored token for {key}"),
            Event::PaymentRefused { reason, .. } => println!("   refused to pay: {reason}"),
            _ => {}
        })
        .build()?;
    let agent = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(l402.clone())
        .build();
    let forecast = format!("{base}/weather/forecast");

    // Step 1: look at the price without paying.
    println!("1. GET /weather/forecast, never paying (to see the challenge)");
    let res = agent
        .get(&forecast)
        .with_extension(PaymentOptions::never_pay())
        .send()
        .await?;
    println!("   < {}", res.status());
    let challenge = res
        .extensions()
        .get::<Challenge>()
        .ok_or("no L402 challenge")?;
    let invoice = challenge.decode_invoice()?;
    let price = Amount::from_msat(invoice.amount_milli_satoshis().unwrap_or(0));
    let text = invoice.to_string();
    println!("   price: {}", show(price));
    println!("   invoice: {}…", text.get(..60).unwrap_or(&text));

    // Step 2: the same request, paying automatically.
    println!("\n2. GET /weather/forecast, paying automatically");
    let res = agent.get(&forecast).send().await?;
    println!("   < {} {}", res.status(), res.text().await?);
    let key = l402.key_for(&reqwest::Url::parse(&forecast)?)?;
    if let Some(TokenRecord::Paid(token)) = store.load(&key).await? {
        println!(
            "   token in the store under {key}: payment hash {}",
            token.payment_hash
        );
    }

    // Step 3: again: the stored token is reused, nothing is paid.
    println!("\n3. GET /weather/forecast again");
    let res = agent.get(&forecast).send().await?;
    println!("   < {} {}", res.status(), res.text().await?);
    println!(
        "   payments so far: {}, agent balance {}",
        l402.spending().payments,
        show(agent_node.balance())
    );

    // Step 4: a 500 sat route: above the 100 sat cap, refused before paying.
    println!("\n4. GET /premium/report (500 sat)");
    let before = agent_node.balance();
    match agent.get(format!("{base}/premium/report")).send().await {
        Err(e) => match L402Error::from_middleware_error(&e) {
            Some(L402Error::PriceTooHigh { price, max }) => println!(
                "   < error: price {} is above the cap of {}; nothing paid (balance still {})",
                show(*price),
                show(*max),
                show(agent_node.balance())
            ),
            _ => return Err(e.into()),
        },
        Ok(res) => return Err(format!("expected a refusal, got {}", res.status()).into()),
    }
    if agent_node.balance() != before {
        return Err("the refused request changed the balance".into());
    }

    let spent = l402.spending();
    println!(
        "\nsummary: {} payment(s), {} paid + {} fees; API node received {}, agent node has {}",
        spent.payments,
        show(spent.total),
        show(spent.fees),
        show(api_node.balance()),
        show(agent_node.balance())
    );
    if spent.payments != 1 || network.payment_count() != 1 {
        return Err("expected exactly one payment".into());
    }
    server.abort();
    Ok(())
}
