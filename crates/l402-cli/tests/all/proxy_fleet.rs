//! `l402 proxy` with `[services.rate_limit]` and `[blocklist]`: configured in TOML,
//! answered by the real binary.

use std::time::{Duration, Instant};

use crate::support::{DevNode, Proxy, TempDir, Upstream, code, raw_get, stderr};

fn paid(upstream: &Upstream, extra: &str) -> String {
    format!(
        "[[services]]\nname = \"paid\"\npath = \"/paid\"\nupstream = \"{}\"\nprice_sat = 10\n{extra}",
        upstream.url()
    )
}

/// The value of `name` in a raw response head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_above_the_unpaid_limit_gets_429_with_retry_after_and_no_invoice() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let services = paid(
        &upstream,
        "[services.rate_limit]\nunpaid = { requests = 2, per_secs = 60 }\nipv4_prefix = 24\n",
    );
    let proxy = Proxy::start(&node, &services).await;
    for _ in 0..2 {
        let res = raw_get(proxy.addr, "/paid/x", "api.test").await;
        assert_eq!(res.status, 402, "{}", proxy.log());
    }
    let res = raw_get(proxy.addr, "/paid/x", "api.test").await;
    assert_eq!(res.status, 429, "{}", res.head);
    // One request refills every 30 s.
    let wait: u64 = header(&res.head, "retry-after").unwrap().parse().unwrap();
    assert!((25..=30).contains(&wait), "Retry-After {wait}");
    assert!(header(&res.head, "www-authenticate").is_none());
    // The dev-node writes its status every 200 ms or so: two invoices, not three.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(node.status()["invoices"], 2);
    assert!(upstream.seen().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocklisted_address_is_refused_and_a_sighup_rereads_the_file() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    // Checked rarely: the SIGHUP is what re-reads it here.
    let services = format!(
        "[blocklist]\nfile = \"blocked.txt\"\nreload_secs = 3600\n\n{}",
        paid(&upstream, "")
    );
    let proxy = Proxy::start_with_files(
        &node,
        &services,
        &[("blocked.txt", "# abuse\n127.0.0.0/8\n")],
    )
    .await;
    let res = raw_get(proxy.addr, "/paid/x", "api.test").await;
    assert_eq!(res.status, 403, "{}", proxy.log());

    // A bad edit is refused, with its line, and the list stays.
    std::fs::write(proxy.dir.join("blocked.txt"), "127.0.0.0/8\n127.0.0.300\n").unwrap();
    proxy.daemon.signal("HUP");
    crate::support::eventually("the bad blocklist to be refused", || {
        proxy.log().contains("blocklist file refused").then_some(())
    })
    .await;
    assert!(proxy.log().contains("line 2"), "{}", proxy.log());
    let res = raw_get(proxy.addr, "/paid/x", "api.test").await;
    assert_eq!(res.status, 403);

    // The operator unblocks the address without a restart.
    std::fs::write(proxy.dir.join("blocked.txt"), "192.0.2.0/24\n").unwrap();
    proxy.daemon.signal("HUP");
    let start = Instant::now();
    loop {
        let res = raw_get(proxy.addr, "/paid/x", "api.test").await;
        if res.status == 402 {
            break;
        }
        assert_eq!(res.status, 403);
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "still blocked\n{}",
            proxy.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[test]
fn a_malformed_blocklist_or_rate_limit_is_a_config_error() {
    for (extra, file, want) in [
        (
            "[blocklist]\nfile = \"blocked.txt\"\n",
            "10.0.0.0/8\n\n10.0.0.0/8x\n",
            "line 3",
        ),
        ("", "", "rate_limit.unpaid: requests must be at least 1"),
    ] {
        let dir = TempDir::new("badfleet");
        std::fs::write(dir.join("s"), "42".repeat(32)).unwrap();
        std::fs::write(dir.join("m"), [1u8, 2, 3]).unwrap();
        std::fs::write(dir.join("blocked.txt"), file).unwrap();
        let limit = if extra.is_empty() {
            "[services.rate_limit]\nunpaid = { requests = 0 }\n"
        } else {
            ""
        };
        std::fs::write(
            dir.join("p.toml"),
            format!(
                "[backend]\nurl = \"https://127.0.0.1:1\"\nmacaroon_file = \"m\"\n\
                 [root_keys]\nmaster_secret_file = \"s\"\n{extra}\
                 [[services]]\nname = \"a\"\nupstream = \"http://x\"\nprice_sat = 1\n{limit}"
            ),
        )
        .unwrap();
        let mut cmd = crate::support::l402(&["proxy", "--check", "--config"]);
        cmd.arg(dir.join("p.toml"));
        let out = crate::support::run(cmd);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(stderr(&out).contains(want), "{}", stderr(&out));
    }
}
