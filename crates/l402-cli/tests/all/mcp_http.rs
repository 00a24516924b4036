//! `l402 mcp --http`: the streamable HTTP transport requires the bearer secret, which is
//! read from a file or the environment, never from the command line.

use std::net::SocketAddr;

use crate::support::{Daemon, TempDir, code, free_port, l402, run_async, stderr, wait_for_port};

const SECRET: &str = "a-test-secret-of-enough-length";

fn initialize() -> serde_json::Value {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "test", "version": "1" }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_needs_the_bearer_secret() {
    let dir = TempDir::new("mcp-http");
    // No secret: a configuration error, nothing started.
    let mut cmd = l402(&["mcp", "--http", "127.0.0.1:0", "--token-dir"]);
    cmd.arg(dir.join("tokens"));
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("bearer secret"), "{}", stderr(&out));

    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut cmd = l402(&["mcp", "--http", &addr.to_string(), "--token-dir"]);
    cmd.arg(dir.join("tokens"));
    cmd.arg("--history").arg(dir.join("payments.jsonl"));
    cmd.env("L402_MCP_BEARER_SECRET", SECRET);
    let mut daemon = Daemon::spawn("mcp", cmd, &dir.join("mcp.log"));
    wait_for_port(addr, &mut daemon).await;

    let http = reqwest::Client::new();
    let url = format!("http://{addr}/mcp");
    let post = |auth: Option<String>| {
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .json(&initialize());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        req.send()
    };
    for auth in [
        None,
        Some(format!("Bearer {SECRET}x")),
        Some("Bearer short".to_owned()),
        Some(format!("Basic {SECRET}")),
    ] {
        let res = post(auth.clone()).await.unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
    }
    let res = post(Some(format!("Bearer {SECRET}"))).await.unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(body.contains("l402-mcp"), "{body}");
    daemon.assert_running();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_credential_is_warned_about() {
    let dir = TempDir::new("mcp-admin");
    std::fs::write(
        dir.join("admin.macaroon"),
        crate::node::lnd_macaroon(crate::node::ADMIN_OPS),
    )
    .unwrap();
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut cmd = l402(&[
        "mcp",
        "--http",
        &addr.to_string(),
        "--node-url",
        "https://127.0.0.1:1",
    ]);
    cmd.arg("--macaroon-file").arg(dir.join("admin.macaroon"));
    cmd.arg("--token-dir").arg(dir.join("tokens"));
    cmd.arg("--history").arg(dir.join("payments.jsonl"));
    cmd.env("L402_MCP_BEARER_SECRET", SECRET);
    let mut daemon = Daemon::spawn("mcp", cmd, &dir.join("mcp.log"));
    wait_for_port(addr, &mut daemon).await;
    let log = std::fs::read_to_string(dir.join("mcp.log")).unwrap();
    assert!(log.contains("admin"), "{log}");
    assert!(log.contains("pay-only"), "{log}");
}

/// The JSON-RPC answer to `id` in a streamable HTTP response body (plain JSON, or
/// server-sent events whose `data:` lines carry the messages).
fn answer(body: &str, id: u64) -> serde_json::Value {
    let parse = |text: &str| serde_json::from_str::<serde_json::Value>(text).ok();
    let messages: Vec<serde_json::Value> = match parse(body) {
        Some(v) => vec![v],
        None => body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| parse(d.trim()))
            .collect(),
    };
    messages
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no answer to {id} in {body}"))
}

/// Over the streamable HTTP transport, with the bearer secret, an agent calls tools end
/// to end (`budget`, and a paid `fetch` through `l402 proxy` from `l402 dev-node`); the
/// same calls without the secret, or with a wrong one, get 401 and pay nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_tool_calls_pay_only_with_the_bearer_secret() {
    use crate::support::{DevNode, Proxy};
    let node = DevNode::start().await;
    let echo_dir = TempDir::new("mcp-http-echo");
    let echo_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut echo = Daemon::spawn(
        "echo",
        l402(&["echo", "--listen", &echo_addr.to_string()]),
        &echo_dir.join("echo.log"),
    );
    wait_for_port(echo_addr, &mut echo).await;
    let services = format!(
        "[[services]]\nname = \"echo\"\npath = \"/echo\"\nupstream = \"http://{echo_addr}\"\nprice_sat = 10\n"
    );
    let proxy = Proxy::start(&node, &services).await;

    let dir = TempDir::new("mcp-http-tools");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut cmd = l402(&["mcp", "--http", &addr.to_string(), "--allow-private"]);
    cmd.args(node.payer_flags());
    cmd.args(["--max-cost", "100", "--max-fee", "2", "--budget", "50"]);
    cmd.arg("--token-dir").arg(dir.join("tokens"));
    cmd.arg("--ledger").arg(dir.join("ledger.json"));
    cmd.arg("--history").arg(dir.join("payments.jsonl"));
    cmd.arg("--download-dir").arg(dir.join("downloads"));
    cmd.env("L402_MCP_BEARER_SECRET", SECRET);
    let mut daemon = Daemon::spawn("mcp", cmd, &dir.join("mcp.log"));
    wait_for_port(addr, &mut daemon).await;

    let http = reqwest::Client::new();
    let url = format!("http://{addr}/mcp");
    let post = |auth: Option<String>, session: Option<String>, body: serde_json::Value| {
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        req.send()
    };
    let good = || Some(format!("Bearer {SECRET}"));
    let call = |id: u64, name: &str, arguments: serde_json::Value| {
        serde_json::json!({
            "jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": { "name": name, "arguments": arguments }
        })
    };
    let paid_url = proxy.url("/echo/hello");

    let res = post(good(), None, initialize()).await.unwrap();
    assert_eq!(res.status(), 200);
    let session = res
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let body = res.text().await.unwrap();
    assert!(
        answer(&body, 1)["result"]["serverInfo"].is_object(),
        "{body}"
    );
    let initialized = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let res = post(good(), session.clone(), initialized).await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());

    // Without the secret, or with a wrong one: 401 on a paid fetch, nothing paid.
    for auth in [None, Some(format!("Bearer {SECRET}-wrong"))] {
        let res = post(
            auth.clone(),
            session.clone(),
            call(2, "fetch", serde_json::json!({ "url": paid_url })),
        )
        .await
        .unwrap();
        assert_eq!(res.status(), 401, "{auth:?}");
    }
    assert_eq!(node.status()["payments"], 0);

    // With it: budget, then a fetch that pays once, then a fetch that reuses the token.
    let res = post(
        good(),
        session.clone(),
        call(3, "budget", serde_json::json!({})),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    let budget = &answer(&body, 3)["result"]["structuredContent"];
    assert_eq!(budget["budget_msat"], 50_000, "{body}");
    assert_eq!(budget["spent_msat"], 0, "{body}");

    let res = post(
        good(),
        session.clone(),
        call(4, "fetch", serde_json::json!({ "url": paid_url })),
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    let out = &answer(&body, 4)["result"]["structuredContent"];
    assert_eq!(out["status"], 200, "{body}");
    assert_eq!(out["paid"]["amount_msat"], 10_000, "{body}");
    assert_eq!(out["paid"]["scheme"], "l402", "{body}");
    // The status file is rewritten shortly after each payment.
    crate::support::eventually("one payment on the nodes", || {
        (node.status()["payments"] == 1).then_some(())
    })
    .await;

    let res = post(
        good(),
        session.clone(),
        call(5, "fetch", serde_json::json!({ "url": paid_url })),
    )
    .await
    .unwrap();
    let body = res.text().await.unwrap();
    let out = &answer(&body, 5)["result"]["structuredContent"];
    assert_eq!(out["token_reused"], true, "{body}");
    assert!(out["paid"].is_null(), "{body}");
    assert_eq!(node.status()["payments"], 1);

    let res = post(good(), session, call(6, "budget", serde_json::json!({})))
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    let budget = &answer(&body, 6)["result"]["structuredContent"];
    assert_eq!(budget["payments"], 1, "{body}");
    assert!(budget["spent_msat"].as_u64().unwrap() >= 10_000, "{body}");
    daemon.assert_running();
}

/// `--config FILE`: the operator's limits from a TOML file, flags overriding it, unknown
/// keys and oversized files refused before anything starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_come_from_the_config_file_and_flags_override_it() {
    let dir = TempDir::new("mcp-config");
    let start = |config: &std::path::Path, extra: &[&str]| {
        let mut cmd = l402(&["mcp", "--config"]);
        cmd.arg(config);
        cmd.args(extra);
        cmd.arg("--token-dir").arg(dir.join("tokens"));
        cmd.arg("--ledger").arg(dir.join("ledger.json"));
        cmd.arg("--history").arg(dir.join("payments.jsonl"));
        cmd.arg("--download-dir").arg(dir.join("downloads"));
        cmd.env("L402_MCP_BEARER_SECRET", SECRET);
        cmd
    };

    std::fs::write(dir.join("typo.toml"), "max_costs = 5\n").unwrap();
    let out = run_async(start(&dir.join("typo.toml"), &[])).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown field `max_costs`"),
        "{}",
        stderr(&out)
    );

    std::fs::write(dir.join("huge.toml"), "#".repeat(70 * 1024)).unwrap();
    let out = run_async(start(&dir.join("huge.toml"), &[])).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("larger than"), "{}", stderr(&out));

    std::fs::write(
        dir.join("limits.toml"),
        "max_cost = 5\nbudget = 77\nbudget_window = \"24h\"\ntimeout = 7\n\
         allow_hosts = [\"api.example.com\"]\ndeny_hosts = [\"evil.example.com\"]\n",
    )
    .unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let cmd = start(
        &dir.join("limits.toml"),
        &["--http", &addr.to_string(), "--timeout", "9"],
    );
    let mut daemon = Daemon::spawn("mcp", cmd, &dir.join("mcp.log"));
    wait_for_port(addr, &mut daemon).await;
    let http = reqwest::Client::new();
    let url = format!("http://{addr}/mcp");
    let post = |session: Option<String>, body: serde_json::Value| {
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .header("authorization", format!("Bearer {SECRET}"))
            .json(&body);
        if let Some(s) = session {
            req = req.header("mcp-session-id", s);
        }
        req.send()
    };
    let res = post(None, initialize()).await.unwrap();
    assert_eq!(res.status(), 200);
    let session = res
        .headers()
        .get("mcp-session-id")
        .map(|v| v.to_str().unwrap().to_owned());
    let initialized = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert!(
        post(session.clone(), initialized)
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let budget = serde_json::json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": { "name": "budget", "arguments": {} }
    });
    let body = post(session, budget).await.unwrap().text().await.unwrap();
    let out = &answer(&body, 2)["result"]["structuredContent"];
    assert_eq!(out["budget_msat"], 77_000, "{body}");
    assert_eq!(out["max_price_msat"], 5_000, "{body}");
    assert_eq!(out["window_secs"], 86_400, "{body}");
    assert_eq!(
        out["allowed_hosts"],
        serde_json::json!(["api.example.com"]),
        "{body}"
    );
    assert_eq!(
        out["denied_hosts"],
        serde_json::json!(["evil.example.com"]),
        "{body}"
    );
    // The flag wins over the file.
    assert_eq!(out["timeout_secs"], 9, "{body}");
    daemon.assert_running();
}
