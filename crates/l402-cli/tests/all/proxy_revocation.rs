//! `l402 proxy` with `[revocation]`: an operator revokes a paid token without a restart,
//! through the revocation file or Redis, and the token stops opening the service.

use std::time::{Duration, Instant};

use crate::support::{
    DevNode, Proxy, RedisServer, TempDir, Upstream, code, get, redis_server_binary, run_async,
    stderr, summary,
};

/// Pays once, checks the stored token is reused for free, and returns its id (as the
/// upstream received it).
async fn pay_and_reuse(
    node: &DevNode,
    proxy: &Proxy,
    upstream: &Upstream,
    tokens: &TempDir,
) -> String {
    let out = run_async(get(node, tokens.path(), &[], &proxy.url("/paid/a"))).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(summary(&out)["payments"], 1);
    let out = run_async(get(
        node,
        tokens.path(),
        &["--no-pay"],
        &proxy.url("/paid/b"),
    ))
    .await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(summary(&out)["status"], 200);
    let seen = upstream.seen();
    assert_eq!(seen.len(), 2);
    let id = seen[1].headers["x-l402-token-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(seen[0].headers["x-l402-token-id"], id.as_str());
    id
}

/// Polls `l402 get --no-pay` with the stored token until the proxy answers 402, then
/// checks the token stays refused and reaches the upstream no more.
async fn wait_refused(node: &DevNode, proxy: &Proxy, upstream: &Upstream, tokens: &TempDir) {
    let start = Instant::now();
    loop {
        let out = run_async(get(
            node,
            tokens.path(),
            &["--no-pay"],
            &proxy.url("/paid/c"),
        ))
        .await;
        match summary(&out)["status"].as_u64() {
            Some(402) => break,
            Some(200) => {}
            other => panic!("unexpected status {other:?}: {}", stderr(&out)),
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the revoked token is still accepted\n{}",
            proxy.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let forwarded = upstream.seen().len();
    let out = run_async(get(
        node,
        tokens.path(),
        &["--no-pay"],
        &proxy.url("/paid/d"),
    ))
    .await;
    assert_eq!(summary(&out)["status"], 402, "{}", stderr(&out));
    assert_eq!(upstream.seen().len(), forwarded);
    // Nothing more was paid. The dev-node writes its status file up to 200 ms after a
    // payment, so wait for the one payment to show, then check no other follows.
    node.wait_payments(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(node.status()["payments"], 1);
}

fn paid(upstream: &Upstream) -> String {
    format!(
        "[[services]]\nname = \"paid\"\npath = \"/paid\"\nupstream = \"{}\"\nprice_sat = 10\n",
        upstream.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_in_the_file_is_refused_without_a_restart() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    // The proxy's directory holds revoked.txt (relative to the config file).
    let services = format!(
        "[revocation]\nkind = \"memory\"\nfile = \"revoked.txt\"\nreload_secs = 1\n\n{}",
        paid(&upstream)
    );
    let proxy = Proxy::start_with_files(&node, &services, &[("revoked.txt", "# none yet\n")]).await;
    let tokens = TempDir::new("tokens");
    let id = pay_and_reuse(&node, &proxy, &upstream, &tokens).await;

    // The operator revokes the token: one line in the file, no restart.
    std::fs::write(
        proxy.dir.join("revoked.txt"),
        format!("# leaked\n{}\n", id.to_ascii_uppercase()),
    )
    .unwrap();
    wait_refused(&node, &proxy, &upstream, &tokens).await;

    // A botched edit does not bring it back.
    std::fs::write(proxy.dir.join("revoked.txt"), "not a token id\n").unwrap();
    crate::support::eventually("the bad file to be read", || {
        proxy
            .log()
            .contains("revocation file refused")
            .then_some(())
    })
    .await;
    let out = run_async(get(
        &node,
        tokens.path(),
        &["--no-pay"],
        &proxy.url("/paid/d"),
    ))
    .await;
    assert_eq!(summary(&out)["status"], 402);
}

#[test]
fn a_missing_revocation_file_is_a_config_error() {
    let dir = TempDir::new("norev");
    std::fs::write(dir.join("s"), "42".repeat(32)).unwrap();
    std::fs::write(
        dir.join("p.toml"),
        "[backend]\nurl = \"https://127.0.0.1:1\"\nmacaroon_file = \"m\"\n\
         [root_keys]\nmaster_secret_file = \"s\"\n\
         [revocation]\nkind = \"memory\"\nfile = \"revoked.txt\"\n\
         [[services]]\nname = \"a\"\nupstream = \"http://x\"\nfree = true\n",
    )
    .unwrap();
    std::fs::write(dir.join("m"), [1u8, 2, 3]).unwrap();
    let mut cmd = crate::support::l402(&["proxy", "--check", "--config"]);
    cmd.arg(dir.join("p.toml"));
    let out = crate::support::run(cmd);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("revoked.txt"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_revoked_in_redis_is_refused_and_tokens_expire_within_the_lifetime() {
    let Some(binary) = redis_server_binary("proxy_revocation::redis") else {
        return;
    };
    let redis = RedisServer::start(&binary).await;
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let services = format!(
        "[revocation]\nkind = \"redis\"\nurl = \"{}\"\nprefix = \"proxy-test\"\n\
         max_token_lifetime_secs = 600\nstaleness_secs = 0\n\n{}",
        redis.url(),
        paid(&upstream)
    );
    let proxy = Proxy::start(&node, &services).await;

    // The service sets no validity_secs: its tokens expire within the revocation lifetime.
    let fresh = TempDir::new("fresh");
    let mut cmd = crate::support::l402(&["get", "--no-pay", "--json", "--token-dir"]);
    cmd.arg(fresh.path()).arg(proxy.url("/paid/x"));
    let out = run_async(cmd).await;
    let challenge: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = challenge.to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let expiry = token_expiry(&challenge).unwrap_or_else(|| panic!("no token expiry in {text}"));
    assert!(expiry > now && expiry <= now + 601, "{expiry} vs {now}");

    let tokens = TempDir::new("tokens");
    let id = pay_and_reuse(&node, &proxy, &upstream, &tokens).await;
    // The operator revokes it in Redis, as RedisRevocationList stores revocations.
    let mut c = redis.client().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(format!("proxy-test:rev:{id}"))
        .arg(1)
        .query_async(&mut c)
        .await
        .unwrap();
    wait_refused(&node, &proxy, &upstream, &tokens).await;
}

/// The token's expiry (unix seconds): the `<service>_valid_until` caveat in
/// `l402 get --no-pay --json`'s challenge output.
fn token_expiry(challenge: &serde_json::Value) -> Option<u64> {
    challenge["caveats"]
        .as_array()?
        .iter()
        .filter_map(|c| c.as_str()?.strip_prefix("paid_valid_until="))
        .find_map(|v| v.parse().ok())
}
