//! axum-paywall: an axum API behind L402, on the in-process mock Lightning network.
//!
//! Routes:
//! * `GET /` — free;
//! * `GET /joke` — 10 sat (a static price);
//! * `POST /translate?words=<n>` — 1 sat per word (a dynamic price, computed per request);
//! * `GET /fortune` — 3 sat per request, offered both as L402 and as the IETF `Payment`
//!   scheme (charge intent): the scripted client pays the `Payment` offer, whose
//!   credential opens one request only.
//!
//! In front of the paywall sits a concurrency limit that sheds load: every request without
//! a token makes the node create an invoice and the store keep a key, so a flood must be
//! stopped before it reaches the layer (see `docs/security.md`, "Floods").
//!
//! `cargo run -p axum-paywall` starts the server on 127.0.0.1, runs a short scripted client
//! against it over TCP (402 → pay the invoice from a mock payer node → 200), prints each
//! step and exits. `cargo run -p axum-paywall -- --serve` keeps serving until Ctrl-C
//! (the invoices it issues can only be paid on its own mock network, so use the scripted
//! client to see payments).

#![allow(clippy::print_stdout)]

use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::error_handling::HandleErrorLayer;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::routing::{get, post};
use axum::{BoxError, Router};
use l402_core::backend::PayParams;
use l402_core::payment_scheme::{PaymentChallenge, PaymentCredential, PaymentReceipt};
use l402_core::{
    Amount, Challenge, Credential, MasterSecret, MemoryRootKeyStore, PaymentBackend, Scheme,
};
use l402_mock::{MockNetwork, MockNode};
use l402_tower::{L402Layer, L402Receipt, Offers, PaymentCharge, Price, PriceRequest};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;

type BoxResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

#[tokio::main]
async fn main() -> BoxResult<()> {
    let serve = std::env::args().any(|a| a == "--serve");

    // The mock network: the server's node issues invoices, the payer's node pays them.
    let network = MockNetwork::new();
    let server_node = network.node("server").build()?;
    let payer = network
        .node("payer")
        .balance(Amount::from_sat(10_000).ok_or("amount")?)
        .build()?;

    let app = app(server_node.clone())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("server listening on http://{addr}");

    if serve {
        println!("serving until Ctrl-C");
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        return Ok(());
    }

    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    client(addr, &payer).await?;
    println!(
        "server node received {}; payer node has {} left",
        server_node.balance(),
        payer.balance()
    );
    server.abort();
    Ok(())
}

/// Most requests in flight at once (paid or not); more are answered 503 at once.
const MAX_IN_FLIGHT: usize = 64;
/// Most keys of unpaid tokens (open challenges) the store holds: the oldest is dropped
/// beyond that.
const MAX_OPEN_CHALLENGES: usize = 10_000;

fn app(node: MockNode) -> BoxResult<Router> {
    // Keys of unpaid challenges go away with their invoice (one hour here) and are capped.
    let store = Arc::new(MemoryRootKeyStore::new().max_unpaid(MAX_OPEN_CHALLENGES));

    // A static price for the joke.
    let jokes = L402Layer::builder(node.clone(), Arc::clone(&store))
        .service("jokes")
        .price_sat(10)
        .validity(Duration::from_secs(3600))
        .memo("one hour of jokes")
        .build()?;

    // Both schemes in one 402: `LSAT`, `L402`, then `Payment` with its own invoice. The
    // Payment challenge ids are HMACs under a secret derived from a master secret (in
    // production, the one of a `DerivedRootKeyStore`, read from a file): they survive a
    // restart. Used charges are kept in memory (`.charge_store(…)` for Redis in a fleet).
    let master = MasterSecret::generate()?;
    let fortunes = L402Layer::builder(node.clone(), Arc::clone(&store))
        .service("fortunes")
        .price_sat(3)
        .offers(Offers::Both)
        .payment_master_secret(&master)
        .payment_realm("fortunes.example")
        .validity(Duration::from_secs(60))
        .memo("a fortune")
        .build()?;

    // A dynamic price: one sat per word, read from the query.
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
        // A token pays for access, not for one request: keep dynamic-price tokens short.
        .validity(Duration::from_secs(60))
        .build()?;

    // In front of the paywalls: at most MAX_IN_FLIGHT requests at once, the rest shed with
    // a 503 instead of queueing (a client retries later). `GlobalConcurrencyLimitLayer`
    // shares one limit among every route it wraps. A per-client rate limit (by IP, with a
    // crate such as `tower_governor`) goes here too.
    let limit = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(|_: BoxError| async {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(RETRY_AFTER, "1")],
                "busy, retry later\n",
            )
        }))
        .load_shed()
        .layer(GlobalConcurrencyLimitLayer::new(MAX_IN_FLIGHT));

    Ok(Router::new()
        .route("/joke", get(joke).route_layer(jokes))
        .route("/translate", post(translate_handler).route_layer(translate))
        .route("/fortune", get(fortune).route_layer(fortunes))
        .route(
            "/",
            get(|| async { "welcome: / is free, /joke costs 10 sat\n" }),
        )
        .layer(limit))
}

async fn joke(L402Receipt(receipt): L402Receipt) -> String {
    format!(
        "Why do Lightning nodes never get lost? They always find a route. (token {})\n",
        receipt.token_id()
    )
}

async fn translate_handler(L402Receipt(receipt): L402Receipt) -> String {
    format!(
        "bonjour le monde (paid with token {})\n",
        receipt.token_id()
    )
}

async fn fortune(token: Option<L402Receipt>, charge: Option<PaymentCharge>) -> String {
    match (token, charge) {
        (_, Some(PaymentCharge(c))) => format!(
            "You will pay exactly once. (charge {}, {} sat)\n",
            c.payment_hash, c.amount_sat
        ),
        (Some(L402Receipt(r)), None) => format!("You will be lucky. (token {})\n", r.token_id()),
        (None, None) => "unreachable behind the paywall\n".to_owned(),
    }
}

/// The scripted client: request, get 402, pay, retry with the credential.
async fn client(addr: SocketAddr, payer: &MockNode) -> BoxResult<()> {
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");

    println!("\n> GET / (free)");
    let res = http.get(format!("{base}/")).send().await?;
    println!("  < {} {}", res.status(), res.text().await?.trim_end());

    for (method, path) in [("GET", "/joke"), ("POST", "/translate?words=5")] {
        println!("\n> {method} {path} without a credential");
        let request = |auth: Option<&Credential>| {
            let mut r = match method {
                "POST" => http.post(format!("{base}{path}")),
                _ => http.get(format!("{base}{path}")),
            };
            if let Some(c) = auth
                && let Ok(v) = c.to_header_value(Scheme::L402)
            {
                r = r.header("authorization", v);
            }
            r
        };
        let res = request(None).send().await?;
        println!("  < {}", res.status());
        let challenge = Challenge::from_headers(res.headers())?;
        let invoice = challenge.decode_invoice()?;
        let amount = Amount::from_msat(invoice.amount_milli_satoshis().unwrap_or(0));
        println!(
            "    challenge: invoice for {amount}, macaroon of {} caveats",
            challenge.macaroon().caveats().len()
        );

        println!("> pay the invoice from the payer node");
        let params = PayParams::new(
            Amount::from_sat(10).ok_or("amount")?,
            Duration::from_secs(30),
        );
        let paid = payer.pay_invoice(&invoice, &params).await?;
        println!("  < paid {} (fee {})", paid.amount, paid.fee);

        println!("> {method} {path} with Authorization: L402 <macaroon>:<preimage>");
        let credential = Credential::new(challenge.macaroon().clone(), paid.preimage);
        let res = request(Some(&credential)).send().await?;
        println!("  < {} {}", res.status(), res.text().await?.trim_end());

        println!("> again with the same token (no new payment)");
        let res = request(Some(&credential)).send().await?;
        println!("  < {}", res.status());
    }

    println!("\n> GET /fortune without a credential");
    let res = http.get(format!("{base}/fortune")).send().await?;
    let schemes: Vec<&str> = res
        .headers()
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(' ').next())
        .collect();
    println!("  < {} offers: {}", res.status(), schemes.join(", "));
    let offer = PaymentChallenge::from_headers(res.headers())?
        .into_iter()
        .find(PaymentChallenge::is_lightning_charge)
        .ok_or("no Payment charge offer")?;
    // The invoice is checked against the request before paying (amount, hash, network).
    let invoice = offer.charge_request()?.check_invoice()?;
    println!("> pay the Payment offer's own invoice from the payer node");
    let params = PayParams::new(
        Amount::from_sat(10).ok_or("amount")?,
        Duration::from_secs(30),
    );
    let paid = payer.pay_invoice(&invoice, &params).await?;
    println!("  < paid {} (fee {})", paid.amount, paid.fee);
    let authorization = PaymentCredential::new(offer, &paid.preimage).to_header_string();
    println!("> GET /fortune with Authorization: Payment <credential>");
    let send = || {
        http.get(format!("{base}/fortune"))
            .header("authorization", authorization.as_str())
            .send()
    };
    let res = send().await?;
    let receipt = PaymentReceipt::from_headers(res.headers())?.ok_or("no receipt")?;
    println!(
        "  < {} (receipt: {}, reference {})",
        res.status(),
        receipt.status,
        receipt.reference
    );
    println!("    {}", res.text().await?.trim_end());
    println!("> again with the same credential (a charge is single use)");
    let res = send().await?;
    println!("  < {}", res.status());
    Ok(())
}
