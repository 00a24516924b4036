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
