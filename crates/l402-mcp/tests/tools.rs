//! The tools over MCP (an rmcp client in the same process, over an in-memory pipe),
//! against paywalled axum servers on 127.0.0.1 and the mock Lightning network: each
//! tool, each refusal, and what a prompt-injected agent might try. Payments are counted
//! on the mock nodes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use l402_core::{Amount, MemoryRootKeyStore};
use l402_mcp::L402Mcp;
use l402_mock::{MockNetwork, MockNode, RoutingFee};
use l402_reqwest::SpendingPolicy;
use l402_tower::L402Layer;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ErrorCode, JsonObject};
use rmcp::service::{RoleClient, RunningService, ServiceError};
use serde_json::{Value, json};

const BALANCE_SAT: u64 = 1_000_000;

fn sat(n: u64) -> Amount {
    Amount::from_sat(n).unwrap()
}

struct Net {
    server: MockNode,
    payer: MockNode,
    keys: Arc<MemoryRootKeyStore>,
}

impl Net {
    fn new() -> Self {
        let network = MockNetwork::builder()
            .routing_fee(RoutingFee::new(Amount::from_msat(100), 1_000))
            .build();
        Net {
            server: network.node("server").build().unwrap(),
            payer: network
                .node("payer")
                .balance(sat(BALANCE_SAT))
                .build()
                .unwrap(),
            keys: Arc::new(MemoryRootKeyStore::new()),
        }
    }

    fn payments(&self) -> usize {
        self.payer.payments().len()
    }

    fn assert_nothing_paid(&self) {
        assert_eq!(self.payments(), 0);
        assert_eq!(self.payer.balance(), sat(BALANCE_SAT));
    }

    fn layer(&self) -> L402Layer<MockNode, Arc<MemoryRootKeyStore>> {
        L402Layer::builder(self.server.clone(), Arc::clone(&self.keys))
            .service("api")
            .price_sat(10)
            .build()
            .unwrap()
    }

    /// `/paid` (10 sat), `/big` (200 KB of text), `/png` (binary), `/slow` (answers
    /// after 5 s), all behind the paywall; `/free`.
    async fn paywall(&self) -> String {
        let app = Router::new()
            .route("/paid", get(|| async { "paid content" }))
            .route("/big", get(|| async { "x".repeat(200_000) }))
            .route(
                "/png",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "image/png")],
                        vec![0x89u8, b'P', b'N', b'G', 0, 1, 2],
                    )
                }),
            )
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route_layer(self.layer())
            .route("/free", get(|| async { "free content" }))
            .route(
                "/free-slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            );
        serve(app).await
    }

    /// A server that takes the money and asks again: it strips `Authorization` before
    /// its paywall, so every request gets a fresh 402.
    async fn never_serves(&self) -> String {
        let app = Router::new()
            .route("/paid", get(|| async { "never" }))
            .route_layer(self.layer())
            .layer(axum::middleware::map_request(
                |mut req: axum::extract::Request| async move {
                    req.headers_mut().remove(header::AUTHORIZATION);
                    req
                },
            ));
        serve(app).await
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Answers every path with `307` to `to` + the path.
async fn redirector(to: String) -> String {
    let app = Router::new().fallback(move |uri: axum::http::Uri| {
        let to = to.clone();
        async move {
            let mut h = HeaderMap::new();
            h.insert(
                header::LOCATION,
                format!("{to}{}", uri.path()).parse().unwrap(),
            );
            (StatusCode::TEMPORARY_REDIRECT, h).into_response()
        }
    });
    serve(app).await
}

fn policy() -> SpendingPolicy {
    SpendingPolicy::new()
        .max_price(sat(100))
        .max_fee_base(sat(1))
        .max_fee_ppm(10_000)
        .pay_timeout(Duration::from_secs(5))
        .in_flight_wait(Duration::from_millis(200))
        .poll_interval(Duration::from_millis(20))
}

/// The dev loop's server on 127.0.0.1 is allowed by address; every other non-public
/// address stays refused.
fn builder(net: &Net) -> l402_mcp::L402McpBuilder {
    L402Mcp::builder(net.payer.clone())
        .policy(policy())
        .allow_address("127.0.0.1".parse().unwrap())
}

type Client = RunningService<RoleClient, ()>;

/// Serves `server` over an in-memory pipe and connects an rmcp client to it.
async fn connect(server: L402Mcp) -> Client {
    let (a, b) = tokio::io::duplex(1 << 20);
    tokio::spawn(async move {
        let running = server.serve(a).await.unwrap();
        let _ = running.waiting().await;
    });
    ().serve(b).await.unwrap()
}

fn args(v: Value) -> JsonObject {
    v.as_object().unwrap().clone()
}

async fn call(client: &Client, tool: &str, a: Value) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(args(a)))
        .await
        .unwrap()
}

/// A successful call's structured content.
async fn ok(client: &Client, tool: &str, a: Value) -> Value {
    let r = call(client, tool, a).await;
    assert_ne!(
        r.is_error,
        Some(true),
        "{tool} failed: {:?}",
        r.structured_content
    );
    r.structured_content.unwrap()
}

/// A tool error's structured content.
async fn refused(client: &Client, tool: &str, a: Value) -> Value {
    let r = call(client, tool, a).await;
    assert_eq!(
        r.is_error,
        Some(true),
        "{tool} succeeded: {:?}",
        r.structured_content
    );
    r.structured_content.unwrap()
}

fn assert_limit(e: &Value, limit: &str) {
    assert_eq!(e["error"], "refused", "{e}");
    assert_eq!(e["limit"], limit, "{e}");
    assert_eq!(e["nothing_paid"], true, "{e}");
}

#[tokio::test]
async fn lists_seven_tools_with_schemas() {
    let net = Net::new();
    let client = connect(builder(&net).build().unwrap()).await;
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "budget",
            "decode",
            "fetch",
            "forget_token",
            "payments",
            "quote",
            "tokens"
        ]
    );
    for t in &tools {
        assert_eq!(t.input_schema["type"], "object", "{}", t.name);
        assert!(t.output_schema.is_some(), "{} has no output schema", t.name);
    }
    let fetch = tools.iter().find(|t| t.name == "fetch").unwrap();
    assert_eq!(fetch.input_schema["required"], json!(["url"]));
    assert!(fetch.input_schema["properties"]["max_cost_sat"].is_object());
}

#[tokio::test]
async fn fetch_pays_once_then_reuses_the_token() {
    let net = Net::new();
    let base = net.paywall().await;
    let client = connect(builder(&net).build().unwrap()).await;

    let first = ok(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
    assert_eq!(first["status"], 200);
    assert_eq!(first["body"], "paid content");
    assert_eq!(first["paid"]["amount_msat"], 10_000);
    assert_eq!(first["paid"]["scheme"], "l402");
    assert_eq!(first["token_reused"], false);
    assert_eq!(net.payments(), 1);

    let second = ok(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
    assert_eq!(second["body"], "paid content");
    assert_eq!(second["paid"], Value::Null);
    assert_eq!(second["token_reused"], true);
    assert_eq!(net.payments(), 1);

    // The history, the inventory and the budget agree with the node.
    let history = ok(&client, "payments", json!({})).await;
    let list = history["payments"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["payment_hash"], first["paid"]["payment_hash"]);
    let tokens = ok(&client, "tokens", json!({})).await;
    assert_eq!(tokens["tokens"].as_array().unwrap().len(), 1);
    assert!(!tokens.to_string().contains("preimage"));
    let budget = ok(&client, "budget", json!({})).await;
    let spent = BALANCE_SAT * 1000 - net.payer.balance().msat();
    assert_eq!(budget["spent_msat"], spent);
    assert_eq!(budget["max_price_msat"], 100_000);

    // Forgetting the token makes the next fetch pay again.
    let forgot = ok(&client, "forget_token", json!({ "origin": base })).await;
    assert_eq!(forgot["removed"], true);
    ok(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
    assert_eq!(net.payments(), 2);
}

#[tokio::test]
async fn quote_pays_nothing() {
    let net = Net::new();
    let base = net.paywall().await;
    let client = connect(
        builder(&net)
            .policy(policy().budget(sat(50)))
            .build()
            .unwrap(),
    )
    .await;
    let q = ok(&client, "quote", json!({ "url": format!("{base}/paid") })).await;
    assert_eq!(q["payment_required"], true);
    assert_eq!(q["price_sat"], 10);
    assert_eq!(q["network"], "regtest");
    assert_eq!(q["fits"], true);
    assert_eq!(q["budget_left_msat"], 50_000);
    assert!(q["invoice_expires_at"].as_u64().unwrap() > 0);

    let q = ok(
        &client,
        "quote",
        json!({ "url": format!("{base}/paid"), "max_cost_sat": 5 }),
    )
    .await;
    assert_eq!(q["fits"], false);
    assert_eq!(q["refusal"]["limit"], "max_cost_sat");

    let free = ok(&client, "quote", json!({ "url": format!("{base}/free") })).await;
    assert_eq!(free["payment_required"], false);
    net.assert_nothing_paid();
}

#[tokio::test]
async fn an_agent_cannot_raise_the_caps() {
    let net = Net::new();
    let base = net.paywall().await;
    // The operator allows 5 sat per request; the API costs 10.
    let client = connect(
        builder(&net)
            .policy(policy().max_price(sat(5)))
            .build()
            .unwrap(),
    )
    .await;
    for max in [None, Some(10), Some(1_000_000), Some(u64::MAX)] {
        let mut a = json!({ "url": format!("{base}/paid") });
        if let Some(m) = max {
            a["max_cost_sat"] = json!(m);
        }
        let e = refused(&client, "fetch", a).await;
        assert_limit(&e, "max_price");
    }
    // A longer timeout than the operator's is not one either (checked by the budget).
    let b = ok(&client, "budget", json!({})).await;
    assert_eq!(b["max_price_msat"], 5_000);
    net.assert_nothing_paid();
}

#[tokio::test]
async fn max_cost_below_the_price_refuses_with_nothing_paid() {
    let net = Net::new();
    let base = net.paywall().await;
    let client = connect(builder(&net).build().unwrap()).await;
    let e = refused(
        &client,
        "fetch",
        json!({ "url": format!("{base}/paid"), "max_cost_sat": 9 }),
    )
    .await;
    assert_limit(&e, "max_cost_sat");
    net.assert_nothing_paid();
}

#[tokio::test]
async fn the_budget_stops_the_third_payment() {
    let net = Net::new();
    let base = net.paywall().await;
    // Each payment reserves 10 sat + an 1.1 sat fee cap and costs 10.11 sat.
    let client = connect(
        builder(&net)
            .policy(
                policy()
                    .budget(sat(25))
                    .budget_window(Duration::from_secs(3600)),
            )
            .build()
            .unwrap(),
    )
    .await;
    for _ in 0..2 {
        ok(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
        ok(&client, "forget_token", json!({ "origin": base })).await;
    }
    assert_eq!(net.payments(), 2);
    let e = refused(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
    assert_limit(&e, "budget");
    assert_eq!(net.payments(), 2);
    let b = ok(&client, "budget", json!({})).await;
    assert_eq!(b["payments"], 2);
    assert_eq!(b["window_secs"], 3600);
}

#[tokio::test]
async fn private_addresses_are_refused_by_default() {
    let net = Net::new();
    let base = net.paywall().await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let client = connect(
        L402Mcp::builder(net.payer.clone())
            .policy(policy())
            .build()
            .unwrap(),
    )
    .await;
    for url in [
        format!("{base}/paid"),
        format!("http://[::1]:{port}/paid"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
        "http://[::ffff:127.0.0.1]/".to_owned(),
        "http://2130706433/".to_owned(),
        // A name that resolves to a loopback address: refused at resolution.
        format!("http://localhost:{port}/paid"),
    ] {
        let e = refused(&client, "fetch", json!({ "url": url })).await;
        assert_limit(&e, "private_address");
        let e = refused(&client, "quote", json!({ "url": url })).await;
        assert_limit(&e, "private_address");
    }
    net.assert_nothing_paid();

    // The operator's --allow-private lets the dev loop through.
    let client = connect(
        L402Mcp::builder(net.payer.clone())
            .policy(policy())
            .allow_private(true)
            .build()
            .unwrap(),
    )
    .await;
    ok(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
    assert_eq!(net.payments(), 1);
}

#[tokio::test]
async fn redirects_to_private_addresses_are_refused() {
    let net = Net::new();
    let base = net.paywall().await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    for target in [
        format!("http://127.0.0.2:{port}"),
        format!("http://[::1]:{port}"),
        "http://169.254.169.254".to_owned(),
    ] {
        let from = redirector(target.clone()).await;
        let client = connect(builder(&net).build().unwrap()).await;
        let e = refused(&client, "fetch", json!({ "url": format!("{from}/paid") })).await;
        assert_limit(&e, "private_address");
    }
    net.assert_nothing_paid();
}

#[tokio::test]
async fn host_lists_are_enforced() {
    let net = Net::new();
    let client = connect(
        builder(&net)
            .allow_hosts(["*.example.com"])
            .deny_hosts(["evil.example.com"])
            .build()
            .unwrap(),
    )
    .await;
    let e = refused(&client, "fetch", json!({ "url": "https://other.org/" })).await;
    assert_limit(&e, "allowed_hosts");
    let e = refused(
        &client,
        "fetch",
        json!({ "url": "https://evil.example.com/" }),
    )
    .await;
    assert_limit(&e, "denied_host");
    let e = refused(&client, "fetch", json!({ "url": "file:///etc/passwd" })).await;
    assert_limit(&e, "scheme");
    net.assert_nothing_paid();
}

#[tokio::test]
async fn a_cross_origin_redirect_is_never_paid() {
    let net = Net::new();
    let base = net.paywall().await;
    // Another origin (same host, another port) redirects to the paywall.
    let from = redirector(base).await;
    let client = connect(builder(&net).build().unwrap()).await;
    let e = refused(&client, "fetch", json!({ "url": format!("{from}/paid") })).await;
    assert_limit(&e, "cross_origin_redirect");
    let q = ok(&client, "quote", json!({ "url": format!("{from}/paid") })).await;
    assert_eq!(q["fits"], false);
    assert_eq!(q["refusal"]["limit"], "cross_origin_redirect");
    net.assert_nothing_paid();
}

#[tokio::test]
async fn a_server_asking_again_after_payment_is_paid_once() {
    let net = Net::new();
    let base = net.never_serves().await;
    let client = connect(builder(&net).build().unwrap()).await;
    let r = call(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
    assert_eq!(r.is_error, Some(true));
    let e = r.structured_content.unwrap();
    assert_eq!(e["error"], "still_payment_required", "{e}");
    assert_eq!(e["nothing_paid"], false);
    assert_eq!(e["paid"]["amount_msat"], 10_000);
    assert_eq!(net.payments(), 1);
    // The origin is suspended: asking again pays nothing more.
    let e = refused(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
    assert_limit(&e, "origin_suspended");
    assert_eq!(net.payments(), 1);
}

#[tokio::test]
async fn a_slow_server_times_out_and_says_what_was_paid() {
    let net = Net::new();
    let base = net.paywall().await;
    let client = connect(
        builder(&net)
            .timeout(Duration::from_secs(1))
            .build()
            .unwrap(),
    )
    .await;
    // Slow before any challenge: nothing paid.
    let e = refused(
        &client,
        "fetch",
        json!({ "url": format!("{base}/free-slow") }),
    )
    .await;
    assert_limit(&e, "timeout");
    net.assert_nothing_paid();
    // The 402 comes at once; the paid retry is slow.
    let e = refused(&client, "fetch", json!({ "url": format!("{base}/slow") })).await;
    assert_eq!(e["limit"], "timeout", "{e}");
    // It paid before the slow answer: said so, and the token is kept.
    assert_eq!(e["nothing_paid"], false, "{e}");
    assert_eq!(net.payments(), 1);
    // An agent's longer timeout does not raise the operator's.
    let e = refused(
        &client,
        "fetch",
        json!({ "url": format!("{base}/slow"), "timeout_secs": 3600 }),
    )
    .await;
    assert_eq!(e["limit"], "timeout");
    assert_eq!(net.payments(), 1);
    // And the server keeps serving.
    ok(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
}

#[tokio::test]
async fn large_and_binary_bodies_are_never_inlined() {
    let net = Net::new();
    let base = net.paywall().await;
    let client = connect(builder(&net).max_inline_bytes(1024).build().unwrap()).await;
    let big = ok(&client, "fetch", json!({ "url": format!("{base}/big") })).await;
    assert_eq!(big["body"], Value::Null);
    assert_eq!(big["body_bytes"], 200_000);
    assert!(
        big["body_omitted"]
            .as_str()
            .unwrap()
            .contains("inline limit")
    );
    let png = ok(&client, "fetch", json!({ "url": format!("{base}/png") })).await;
    assert_eq!(png["body"], Value::Null);
    assert!(png["body_omitted"].as_str().unwrap().contains("binary"));

    let dir = std::env::temp_dir().join(format!("l402-mcp-bodies-{}", std::process::id()));
    let client = connect(
        builder(&net)
            .max_inline_bytes(1024)
            .download_dir(&dir)
            .build()
            .unwrap(),
    )
    .await;
    let big = ok(&client, "fetch", json!({ "url": format!("{base}/big") })).await;
    let path = big["body_file"].as_str().unwrap();
    assert_eq!(std::fs::read(path).unwrap().len(), 200_000);
    let png = ok(&client, "fetch", json!({ "url": format!("{base}/png") })).await;
    assert_eq!(
        std::fs::read(png["body_file"].as_str().unwrap()).unwrap()[..4],
        *b"\x89PNG"
    );

    let client = connect(
        builder(&net)
            .max_inline_bytes(1024)
            .max_download_bytes(10_000)
            .download_dir(&dir)
            .build()
            .unwrap(),
    )
    .await;
    let e = refused(&client, "fetch", json!({ "url": format!("{base}/big") })).await;
    assert_eq!(e["limit"], "response_size");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn bad_calls_are_json_rpc_errors_and_the_server_keeps_serving() {
    let net = Net::new();
    let base = net.paywall().await;
    let client = connect(builder(&net).build().unwrap()).await;
    let bad = |tool: &'static str, a: Value| {
        let client = &client;
        async move {
            match client
                .call_tool(CallToolRequestParams::new(tool).with_arguments(args(a)))
                .await
            {
                Err(ServiceError::McpError(e)) => assert_eq!(e.code, ErrorCode::INVALID_PARAMS),
                other => panic!("{tool}: expected a JSON-RPC error, got {other:?}"),
            }
        }
    };
    bad("pay_everything", json!({})).await;
    bad("fetch", json!({ "url": 5 })).await;
    bad("fetch", json!({})).await;
    bad(
        "fetch",
        json!({ "url": "http://x/", "max_cost_sat": "a lot" }),
    )
    .await;
    bad("fetch", json!({ "url": "http://x/", "max_cost_sat": -1 })).await;
    bad("fetch", json!({ "url": "http://x/", "headers": ["a"] })).await;
    bad("fetch", json!({ "url": "http://x/", "max_price": 1000 })).await;
    bad("payments", json!({ "limit": "ten" })).await;

    // Well-typed but unusable: structured tool errors.
    let e = refused(&client, "fetch", json!({ "url": "not a url" })).await;
    assert_eq!(e["error"], "invalid_request");
    let e = refused(
        &client,
        "fetch",
        json!({ "url": format!("{base}/paid"), "method": "TRACE" }),
    )
    .await;
    assert_eq!(e["error"], "invalid_request");
    let e = refused(
        &client,
        "fetch",
        json!({ "url": format!("{base}/paid"), "headers": { "Host": "evil" } }),
    )
    .await;
    assert_eq!(e["error"], "invalid_request");
    let e = refused(&client, "decode", json!({ "value": "not a token!" })).await;
    assert_eq!(e["error"], "invalid_request");
    net.assert_nothing_paid();

    ok(&client, "fetch", json!({ "url": format!("{base}/free") })).await;
}

#[tokio::test]
async fn decode_shows_a_challenge_and_redacts_preimages() {
    let net = Net::new();
    let base = net.paywall().await;
    let res = reqwest::get(format!("{base}/paid")).await.unwrap();
    let challenge = res.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap()
        .to_owned();
    let client = connect(builder(&net).build().unwrap()).await;
    let d = ok(&client, "decode", json!({ "value": challenge })).await;
    assert_eq!(d["kind"], "challenge");
    let invoice = d["invoice"].as_str().map(str::to_owned).unwrap_or_else(|| {
        d["invoice"]["bolt11"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    });
    if !invoice.is_empty() {
        let i = ok(&client, "decode", json!({ "value": invoice })).await;
        assert_eq!(i["kind"], "invoice");
    }
}

#[tokio::test]
async fn the_payment_history_survives_a_restart() {
    let net = Net::new();
    let base = net.paywall().await;
    let dir = std::env::temp_dir().join(format!("l402-mcp-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("payments.jsonl");
    let client = connect(builder(&net).history_file(&file).build().unwrap()).await;
    let paid = ok(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
    client.cancel().await.unwrap();
    // A torn last line (a crash mid-write) is skipped.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{\"at\": 1, \"orig");
    std::fs::write(&file, text).unwrap();

    let client = connect(builder(&net).history_file(&file).build().unwrap()).await;
    let h = ok(&client, "payments", json!({ "origin": base })).await;
    let list = h["payments"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{h}");
    assert_eq!(list[0]["payment_hash"], paid["paid"]["payment_hash"]);
    assert_eq!(list[0]["amount_msat"], 10_000);
    // The next payment after the restart is kept too.
    ok(&client, "forget_token", json!({ "origin": base })).await;
    ok(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
    client.cancel().await.unwrap();
    let client = connect(builder(&net).history_file(&file).build().unwrap()).await;
    let h = ok(&client, "payments", json!({})).await;
    assert_eq!(h["payments"].as_array().unwrap().len(), 2, "{h}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn decode_redacts_the_preimage_of_a_credential() {
    use l402_reqwest::{MemoryTokenStore, TokenStore};
    let net = Net::new();
    let base = net.paywall().await;
    let store = MemoryTokenStore::new();
    let client = connect(builder(&net).store(store.clone()).build().unwrap()).await;
    ok(&client, "fetch", json!({ "url": format!("{base}/paid") })).await;
    let (_, token) = store.tokens().await.unwrap().remove(0);
    let header = token.credential().to_header_value(token.scheme).unwrap();
    let header = header.to_str().unwrap().to_owned();
    let preimage = header.rsplit(':').next().unwrap().to_owned();
    let d = ok(&client, "decode", json!({ "value": header })).await;
    assert_eq!(d["kind"], "credential");
    assert_eq!(d["preimage"], "<redacted>");
    assert_eq!(d["preimage_matches_payment_hash"], true);
    assert!(!d.to_string().contains(&preimage));
}

#[tokio::test]
async fn a_payment_scheme_charge_is_paid_with_its_receipt_in_the_history() {
    let net = Net::new();
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.keys))
        .service("api")
        .price_sat(10)
        .offers(l402_tower::Offers::Payment)
        .payment_master_secret(&l402_core::MasterSecret::from_bytes(&[9; 32]).unwrap())
        .build()
        .unwrap();
    let base = serve(
        Router::new()
            .route("/data", get(|| async { "the data" }))
            .route_layer(layer),
    )
    .await;
    let client = connect(builder(&net).build().unwrap()).await;
    let q = ok(&client, "quote", json!({ "url": format!("{base}/data") })).await;
    assert_eq!(q["scheme"], "payment");
    assert_eq!(q["price_sat"], 10);
    for round in 1..=2 {
        let f = ok(&client, "fetch", json!({ "url": format!("{base}/data") })).await;
        assert_eq!(f["body"], "the data");
        assert_eq!(f["paid"]["scheme"], "payment");
        assert_eq!(f["paid"]["amount_msat"], 10_000);
        assert!(f["headers"]["payment-receipt"].is_string(), "{f}");
        // Single use: each fetch pays its own charge.
        assert_eq!(net.payments(), round);
    }
    let h = ok(&client, "payments", json!({})).await;
    let list = h["payments"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["scheme"], "payment");
    assert_eq!(list[0]["receipt"]["status"], "success", "{h}");
}
