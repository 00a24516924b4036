//! The whole loop on one machine: `l402 dev-node`, `l402 proxy` in front of an upstream,
//! and `l402 get` paying from the dev-node's payer node.

use crate::support::{
    DevNode, Proxy, TempDir, Upstream, code, get, run_async, stderr, stdout, summary,
};

fn services(upstream: &Upstream) -> String {
    format!(
        r#"
[[services]]
name = "echo"
path = "/echo"
upstream = "{up}"
price_sat = 10
capabilities = ["read"]
validity_secs = 3600
headers = {{ "X-Api-Key" = "upstream-secret" }}

[[services]]
name = "premium"
path = "/premium"
upstream = "{up}"
price_sat = 10

[[services]]
name = "free"
path = "/free"
upstream = "{up}"
free = true
"#,
        up = upstream.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pays_once_then_reuses_the_token() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let proxy = Proxy::start(&node, &services(&upstream)).await;
    let tokens = TempDir::new("tokens");

    // First call: one payment of 10 sat (plus the dev-node's 1 sat routing fee).
    let out = run_async(get(&node, tokens.path(), &[], &proxy.url("/echo/one"))).await;
    assert_eq!(code(&out), 0, "{}\n{}", stderr(&out), proxy.log());
    assert_eq!(stdout(&out), "upstream says hi /echo/one");
    let s = summary(&out);
    assert_eq!(s["status"], 200);
    assert_eq!(s["payments"], 1);
    assert_eq!(s["amount_msat"], 10_000);
    assert_eq!(s["fee_msat"], 1_000);
    assert_eq!(s["price_msat"], 10_000);
    assert_eq!(s["payment_hashes"].as_array().unwrap().len(), 1);

    // Second call, a new process: the stored token is reused, nothing paid.
    let out = run_async(get(&node, tokens.path(), &[], &proxy.url("/echo/two"))).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "upstream says hi /echo/two");
    let s = summary(&out);
    assert_eq!(s["payments"], 0);
    assert_eq!(s["token_reused"], true);
    assert_eq!(s["spent_total_msat"], 11_000);

    // The dev-node saw exactly one payment.
    let status = node.wait_payments(1).await;
    assert_eq!(status["server"]["balance_msat"], 10_000);
    assert_eq!(status["payer"]["balance_msat"], 1_000_000_000 - 11_000);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(node.status()["payments"], 1);

    // The upstream got the receipt, its own header, and no credential.
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].path, "/echo/one");
    for s in &seen {
        assert!(s.headers.get("authorization").is_none());
        assert_eq!(s.headers["x-l402-service"], "echo");
        assert_eq!(s.headers["x-l402-capabilities"], "read");
        assert_eq!(s.headers["x-l402-token-id"].len(), 64);
        assert_eq!(s.headers["x-api-key"], "upstream-secret");
    }
    assert_eq!(
        seen[0].headers["x-l402-token-id"],
        seen[1].headers["x-l402-token-id"]
    );

    // A free service passes through without a token.
    let out = run_async(get(&node, tokens.path(), &[], &proxy.url("/free/x"))).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(summary(&out)["payments"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_no_pay_pay_nothing() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let proxy = Proxy::start(&node, &services(&upstream)).await;
    let tokens = TempDir::new("tokens");

    // Above --max-cost: refused (exit 3), nothing paid.
    let out = run_async(get(
        &node,
        tokens.path(),
        &["--max-cost", "5"],
        &proxy.url("/echo/x"),
    ))
    .await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!(s["payments"], 0);
    assert_eq!(s["exit_code"], 3);
    assert!(s["error"].as_str().unwrap().contains("exceeds"), "{s}");
    assert_eq!(stdout(&out), "");

    // Wrong network: refused.
    let mut cmd = crate::support::l402(&["get", "--json", "--token-dir"]);
    cmd.arg(tokens.path());
    let flags = node.payer_flags();
    cmd.args(flags.iter().map(|f| {
        if f == "regtest" {
            "mainnet"
        } else {
            f.as_str()
        }
    }));
    cmd.arg(proxy.url("/echo/x"));
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));

    // --no-pay: the challenge is printed (JSON on stdout with --json), exit 0, no node needed.
    let mut cmd = crate::support::l402(&["get", "--no-pay", "--json", "--token-dir"]);
    cmd.arg(tokens.path()).arg(proxy.url("/echo/x"));
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let challenge: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(challenge["decoded_invoice"]["amount_msat"], 10_000);
    assert_eq!(challenge["decoded_invoice"]["network"], "regtest");
    assert!(challenge["decoded_invoice"]["expires_at"].as_u64().unwrap() > 0);
    assert_eq!(challenge["invoice_matches_token"], true);
    assert_eq!(summary(&out)["status"], 402);
    assert_eq!(summary(&out)["payments"], 0);

    // Nothing was paid by any of them.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(node.status()["payments"], 0);
    assert_eq!(node.status()["payer"]["balance_msat"], 1_000_000_000);
    assert!(upstream.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_budget_holds_across_calls() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let proxy = Proxy::start(&node, &services(&upstream)).await;
    let tokens = TempDir::new("tokens");
    let limits = ["--budget", "20", "--max-fee", "2", "--path-scope", "1"];

    // 10 sat + at most 2 sat fee fits in 20: paid (11 sat with the fee).
    let out = run_async(get(&node, tokens.path(), &limits, &proxy.url("/echo/a"))).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!(s["payments"], 1);
    assert_eq!(s["budget"]["spent_msat"], 11_000);
    assert_eq!(s["budget"]["remaining_msat"], 9_000);

    // A second service needs 12 sat more, 9 are left: refused, in a new process.
    let out = run_async(get(&node, tokens.path(), &limits, &proxy.url("/premium/a"))).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(summary(&out)["error"].as_str().unwrap().contains("budget"));

    // With a budget of exactly what was spent, nothing can be paid at all.
    let out = run_async(get(
        &node,
        tokens.path(),
        &["--budget", "11", "--path-scope", "1"],
        &proxy.url("/premium/a"),
    ))
    .await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));

    // ...but the token already paid for still works within it.
    let out = run_async(get(
        &node,
        tokens.path(),
        &["--budget", "11", "--path-scope", "1"],
        &proxy.url("/echo/b"),
    ))
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(summary(&out)["token_reused"], true);

    // The ledger lives outside the token directory.
    assert!(node.dir.join("ledger.json").exists());
    assert!(!tokens.join("spent.json").exists());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(node.status()["payments"], 1);
}
