//! `l402 proxy`: upstream failures, h2c, streaming, header hygiene, shutdown.

use crate::support::{
    DevNode, Proxy, TempDir, Upstream, code, free_port, get, run_async, stderr, stdout, summary,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_down_is_502_and_unmatched_is_404() {
    let node = DevNode::start().await;
    let dead = format!("http://127.0.0.1:{}", free_port());
    let services = format!(
        r#"
[[services]]
name = "gone"
path = "/gone"
upstream = "{dead}"
free = true

[[services]]
name = "paidgone"
path = "/paidgone"
upstream = "{dead}"
price_sat = 3
"#
    );
    let proxy = Proxy::start(&node, &services).await;
    let http = reqwest::Client::new();
    let res = http.get(proxy.url("/gone/x")).send().await.unwrap();
    assert_eq!(res.status(), 502);
    let res = http.get(proxy.url("/nothing")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let res = http.get(proxy.url("/paidgone")).send().await.unwrap();
    assert_eq!(res.status(), 402);
    assert_eq!(res.headers().get_all("www-authenticate").iter().count(), 2);

    // Through `l402 get`: paid, then the upstream is down: HTTP error, exit 22.
    let tokens = TempDir::new("tokens");
    let out = run_async(get(&node, tokens.path(), &[], &proxy.url("/paidgone/x"))).await;
    assert_eq!(code(&out), 22, "{}", stderr(&out));
    let s = summary(&out);
    assert_eq!(s["status"], 502);
    assert_eq!(s["payments"], 1);
    assert_eq!(stdout(&out), "upstream unavailable\n");
    // The proxy logs JSON lines.
    let log = proxy.log();
    assert!(
        log.lines()
            .any(|l| l.starts_with('{') && l.contains("upstream request failed")),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_streaming_and_client_headers_cannot_spoof_the_receipt() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let services = format!(
        r#"
[[services]]
name = "open"
path = "/"
upstream = "{}"
free = true
"#,
        upstream.url()
    );
    let proxy = Proxy::start(&node, &services).await;

    // HTTP/2 over cleartext (prior knowledge).
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = h2
        .get(proxy.url("/hello"))
        .header("authorization", "L402 forged:00")
        .header("x-l402-token-id", "forged")
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "upstream says hi /hello");
    let seen = upstream.seen();
    assert!(seen[0].headers.get("authorization").is_none());
    assert!(seen[0].headers.get("x-l402-token-id").is_none());

    // A 3 MB upload streams through (via `l402 get --data-file`).
    let dir = TempDir::new("upload");
    std::fs::write(dir.join("big"), vec![b'x'; 3 * 1024 * 1024]).unwrap();
    let big = dir.str("big");
    let cmd = get(
        &node,
        dir.path(),
        &["--data-file", &big],
        &proxy.url("/upload"),
    );
    let out = run_async(cmd).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("received {} bytes", 3 * 1024 * 1024));
    assert_eq!(upstream.seen().last().unwrap().body_len, 3 * 1024 * 1024);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_proxy_and_the_dev_node_cleanly() {
    let mut node = DevNode::start().await;
    let services = "[[services]]\nname = \"a\"\nupstream = \"http://127.0.0.1:9\"\nfree = true\n";
    let mut proxy = Proxy::start(&node, services).await;
    assert!(proxy.daemon.terminate().success());
    assert!(node.daemon.terminate().success());
}

#[test]
fn bad_proxy_configs_exit_2() {
    let dir = TempDir::new("badcfg");
    std::fs::write(
        dir.join("p.toml"),
        "listen = \"127.0.0.1:1\"\nservices = []\n[backend]\nurl = \"https://x\"\n",
    )
    .unwrap();
    let mut cmd = crate::support::l402(&["proxy", "--config"]);
    cmd.arg(dir.join("p.toml"));
    let out = crate::support::run(cmd);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    let mut cmd = crate::support::l402(&["proxy", "--config"]);
    cmd.arg(dir.join("missing.toml"));
    assert_eq!(code(&crate::support::run(cmd)), 2);

    // The sample config parses; it fails only on its (absent) files.
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/proxy.toml");
    let out = crate::support::run(crate::support::l402(&[
        "proxy", "--check", "--config", sample,
    ]));
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("macaroon") || stderr(&out).contains("master"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_upstream_is_504_after_the_timeout() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let services = format!(
        "upstream_timeout_secs = 1\n[[services]]\nname = \"s\"\npath = \"/s\"\nupstream = \"{}\"\nfree = true\n",
        upstream.url()
    );
    // `upstream_timeout_secs` is a top-level key: it must come before the tables.
    let dir = TempDir::new("timeout");
    let port = free_port();
    std::fs::write(
        dir.join("master.secret"),
        "4242424242424242424242424242424242424242424242424242424242424242\n",
    )
    .unwrap();
    let config = format!(
        "listen = \"127.0.0.1:{port}\"\n{services}\n[backend]\nkind = \"lnd\"\nurl = \"{}\"\nmacaroon_file = \"{}\"\ntls_cert_file = \"{}\"\n[root_keys]\nmaster_secret_file = \"master.secret\"\n",
        node.server_url(),
        node.file("server.macaroon"),
        node.file("server-tls.cert"),
    );
    let path = dir.join("proxy.toml");
    std::fs::write(&path, config).unwrap();
    let proxy = Proxy::spawn(dir, &path, port).await;
    let http = reqwest::Client::new();
    let res = http.get(proxy.url("/s/fast")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let res = http.get(proxy.url("/s/slow")).send().await.unwrap();
    assert_eq!(res.status(), 504);
    assert_eq!(res.text().await.unwrap(), "upstream timed out\n");
}

#[test]
fn a_zero_price_is_a_config_error_naming_the_service() {
    let dir = TempDir::new("zero");
    std::fs::write(
        dir.join("p.toml"),
        "[backend]\nurl = \"https://x\"\n[[services]]\nname = \"cheap\"\nupstream = \"http://x\"\nprice_sat = 0\n",
    )
    .unwrap();
    let mut cmd = crate::support::l402(&["proxy", "--check", "--config"]);
    cmd.arg(dir.join("p.toml"));
    let out = crate::support::run(cmd);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("service \"cheap\": a price of 0 is not accepted: set free = true"),
        "{}",
        stderr(&out)
    );
}
