//! Agent commerce: an API for sale, and an AI agent's tools that buy it within limits the
//! operator set, all in one process on the mock Lightning network (no node needed).
//!
//! * The seller: an axum API behind `l402-tower`'s `L402Layer`. `/data/quote` costs
//!   10 sat, `/data/bulk` 500 sat. Invoices come from a mock node.
//! * The agent side: the `l402-mcp` server (the MCP tools an agent application would give
//!   its model), paying from another mock node with hard limits: 100 sat per request,
//!   200 sat per day. An MCP client (rmcp, over an in-memory pipe) plays the agent: it
//!   quotes, buys, reuses its token, and then does what a prompt-injected agent would
//!   try (raise its cap, reach the cloud metadata address) and is refused.
//!
//! Run: `cargo run -p agent-commerce`

#![allow(clippy::print_stdout)]

use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use l402_core::{Amount, MemoryRootKeyStore};
use l402_mcp::L402Mcp;
use l402_mock::{MockNetwork, RoutingFee};
use l402_reqwest::SpendingPolicy;
use l402_tower::{L402Layer, Route};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use serde_json::{Value, json};

type BoxResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

fn sat(n: u64) -> BoxResult<Amount> {
    Ok(Amount::from_sat(n).ok_or("amount overflow")?)
}

/// Calls a tool and prints what the agent would see.
async fn call(
    agent: &rmcp::service::RunningService<rmcp::RoleClient, ()>,
    tool: &'static str,
    args: Value,
) -> BoxResult<CallToolResult> {
    let Value::Object(map) = args.clone() else {
        return Err("tool arguments are an object".into());
    };
    let result = agent
        .call_tool(CallToolRequestParams::new(tool).with_arguments(map))
        .await?;
    let content = result.structured_content.clone().unwrap_or(Value::Null);
    let verdict = if result.is_error == Some(true) {
        "REFUSED"
    } else {
        "ok"
    };
    println!("\n> {tool} {args}\n  {verdict}: {content}");
    Ok(result)
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    // 1. A mock Lightning network: the seller's node and the agent's node (10,000 sat).
    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(Amount::from_msat(1_000), 1_000)) // 1 sat + 0.1 %
        .build();
    let seller_node = network.node("seller").build()?;
    let agent_node = network.node("agent").balance(sat(10_000)?).build()?;

    // 2. The seller: an API behind L402Layer, on a local port.
    let paywall = L402Layer::builder(seller_node.clone(), Arc::new(MemoryRootKeyStore::new()))
        .service("data")
        .price_sat(10)
        .capabilities(&["quote"])
        // The bulk route needs its own (dear) token: a 10 sat token does not open it.
        .route(
            Route::exact("/data/bulk")
                .price_sat(500)
                .capability("bulk")
                .grants(&["bulk"]),
        )
        .build()?;
    let app = Router::new()
        .route("/data/quote", get(|| async { r#"{"btcusd": 97000}"# }))
        .route("/data/bulk", get(|| async { "lots of data" }))
        .route_layer(paywall);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{addr}");
    println!("seller: {base}/data/quote (10 sat), {base}/data/bulk (500 sat)");

    // 3. The agent side: the l402-mcp server with the operator's hard limits. Private
    //    addresses are refused; the seller's one address is allowed for this demo.
    let tools = L402Mcp::builder(agent_node.clone())
        .policy(
            SpendingPolicy::new()
                .max_price(sat(100)?)
                .max_fee_base(sat(2)?)
                .max_fee_ppm(0)
                .budget(sat(200)?)
                .budget_window(Duration::from_secs(24 * 3600)),
        )
        .allow_address(addr.ip())
        .timeout(Duration::from_secs(10))
        .build()?;
    let (server_end, client_end) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        if let Ok(running) = tools.serve(server_end).await {
            let _ = running.waiting().await;
        }
    });
    let agent = ().serve(client_end).await?;
    let listed = agent.list_all_tools().await?;
    println!(
        "agent: tools {}",
        listed
            .iter()
            .map(|t| t.name.as_ref())
            .collect::<Vec<_>>()
            .join(", ")
    );

    // 4. What a well-behaved agent does: quote, buy, reuse.
    call(
        &agent,
        "quote",
        json!({ "url": format!("{base}/data/quote") }),
    )
    .await?;
    let bought = call(
        &agent,
        "fetch",
        json!({ "url": format!("{base}/data/quote") }),
    )
    .await?;
    call(
        &agent,
        "fetch",
        json!({ "url": format!("{base}/data/quote") }),
    )
    .await?;

    // 5. What a prompt-injected agent tries, and the limit that stops each.
    let raised = call(
        &agent,
        "fetch",
        json!({ "url": format!("{base}/data/bulk"), "max_cost_sat": 1_000_000 }),
    )
    .await?;
    let metadata = call(
        &agent,
        "fetch",
        json!({ "url": "http://169.254.169.254/latest/meta-data/iam/" }),
    )
    .await?;
    call(&agent, "budget", json!({})).await?;

    // 6. What the nodes saw: one payment, of 10 sat plus the routing fee.
    println!(
        "\nnodes: {} payment(s); seller earned {} msat, agent spent {} msat",
        agent_node.payments().len(),
        seller_node.balance().msat(),
        sat(10_000)?.saturating_sub(agent_node.balance()).msat()
    );
    let ok = bought.is_error != Some(true)
        && raised.is_error == Some(true)
        && metadata.is_error == Some(true)
        && agent_node.payments().len() == 1;
    agent.cancel().await?;
    if !ok {
        return Err("the demo did not go as expected".into());
    }
    Ok(())
}
