//! `l402 proxy` against hostile request targets: dot segments (plain and percent-encoded),
//! encoded slashes and backslashes, NULs, double encoding, disagreeing authorities. Every
//! request goes over a raw socket so that no client library normalises it first.

use std::net::SocketAddr;

use crate::support::{
    DevNode, Proxy, RawResponse, TempDir, Upstream, free_port, raw_get, raw_request,
};

/// The path tricks, aimed from the free prefix `free` at the paid prefix `paid` (both
/// without a trailing slash, `paid` may be empty for a host-routed service).
pub(crate) fn tricks(free: &str, paid: &str) -> Vec<String> {
    let templates = [
        "{F}/../{P}/hello",
        "{F}/%2e%2e/{P}/hello",
        "{F}/.%2e/{P}/hello",
        "{F}/%2e./{P}/hello",
        "{F}/%2E%2E/{P}/hello",
        "{F}/%2E%2e/{P}/hello",
        "{F}/./../{P}/hello",
        "{F}/./{P}",
        "{F}/%2e/{P}",
        "{F}/..",
        "{F}/x/..",
        "{F}/../../secret",
        "{F}/%2e%2e/%2e%2e/secret",
        "{F}\\..\\{P}\\hello",
        "{F}/..\\{P}/hello",
        "{F}%5c..%5c{P}/hello",
        "{F}/%5C..%5C{P}",
        "{F}/%5c",
        "{F}%2f..%2f{P}/hello",
        "{F}/%2F..%2F{P}/hello",
        "{F}/a%2fb",
        "{F}/%00",
        "{F}/x%00.txt",
        "{F}/%252e%252e/{P}/hello",
        "{F}/%252f",
        "{F};/../{P}/hello",
        "{F}/..;/{P}/hello",
        "{F};x",
        "//{F}/../{P}/hello",
        "{F}//../{P}",
        "{F}/%zz",
        "{F}/%2",
    ];
    let p = paid.trim_start_matches('/');
    templates
        .iter()
        .map(|t| t.replace("{F}", free).replace("{P}", p))
        .collect()
}

/// Sends every trick with `host` and checks each is refused with 400 and none reaches the
/// upstream.
pub(crate) async fn assert_tricks_refused(
    addr: SocketAddr,
    host: &str,
    upstream: &Upstream,
    tricks: &[String],
) {
    let before = upstream.seen().len();
    let mut failures = Vec::new();
    for t in tricks {
        let res = raw_get(addr, t, host).await;
        if res.status != 400 {
            failures.push(format!("{t} (Host {host}): {} {:?}", res.status, res.body));
        }
    }
    // A raw NUL in the request line.
    let res = raw_request(
        addr,
        format!("GET /health/\0 HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await;
    if res.status != 400 {
        failures.push(format!("raw NUL: {}", res.status));
    }
    let leaked: Vec<String> = upstream.seen()[before..]
        .iter()
        .map(|s| s.path.clone())
        .collect();
    assert!(
        failures.is_empty() && leaked.is_empty(),
        "not refused: {failures:#?}\nforwarded upstream: {leaked:?}"
    );
}

/// Free `/health` (upstream base `/public`) and paid `/echo` (base `/paid`) on one upstream.
fn services(upstream: &Upstream) -> String {
    format!(
        r#"
[[services]]
name = "echo"
path = "/echo"
upstream = "{up}/paid"
price_sat = 10

[[services]]
name = "health"
path = "/health"
upstream = "{up}/public"
free = true
"#,
        up = upstream.url()
    )
}

fn ok(res: &RawResponse) -> bool {
    res.status == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_are_refused_before_routing_and_never_forwarded() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let proxy = Proxy::start(&node, &services(&upstream)).await;
    let host = proxy.addr.to_string();

    // Controls: the free service answers, the paid one asks for payment.
    let res = raw_get(proxy.addr, "/health/ok", &host).await;
    assert!(ok(&res), "{res:?}");
    assert_eq!(upstream.seen().last().unwrap().path, "/public/health/ok");
    assert_eq!(raw_get(proxy.addr, "/echo/hello", &host).await.status, 402);

    assert_tricks_refused(proxy.addr, &host, &upstream, &tricks("/health", "/echo")).await;
    assert_eq!(upstream.seen().len(), 1);

    // Percent-encoded unreserved characters are decoded before routing: `%65cho` is the
    // paid `echo`, and what goes upstream is the decoded path that was routed.
    assert_eq!(
        raw_get(proxy.addr, "/%65cho/hello", &host).await.status,
        402
    );
    let res = raw_get(proxy.addr, "/%68ealth/%7euser/a%2Db", &host).await;
    assert!(ok(&res), "{res:?}");
    assert_eq!(
        upstream.seen().last().unwrap().path,
        "/public/health/~user/a-b"
    );
    // Other escapes stay encoded, in upper case.
    let res = raw_get(proxy.addr, "/health/a%3fb%2a", &host).await;
    assert!(ok(&res), "{res:?}");
    assert_eq!(
        upstream.seen().last().unwrap().path,
        "/public/health/a%3Fb%2A"
    );
    // A trailing slash is kept; the query goes along untouched.
    let res = raw_get(proxy.addr, "/health/?a=../b", &host).await;
    assert!(ok(&res), "{res:?}");
    assert_eq!(upstream.seen().last().unwrap().path, "/public/health/");
    assert_eq!(upstream.seen().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_authority_routes_and_goes_upstream() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let services = format!(
        r#"
[[services]]
name = "paid"
host = "paid.test"
upstream = "{up}"
price_sat = 10

[[services]]
name = "free"
host = "free.test"
upstream = "{up}"
free = true
"#,
        up = upstream.url()
    );
    let proxy = Proxy::start(&node, &services).await;
    let a = proxy.addr;
    let send = |req: String| async move { raw_request(a, req.as_bytes()).await };

    // Absolute form naming the free host, Host naming the paid one: which one is it? Refused.
    let res = send(
        "GET http://free.test/x HTTP/1.1\r\nHost: paid.test\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert_eq!(res.status, 400, "{res:?}");
    let res = send(
        "GET http://paid.test/x HTTP/1.1\r\nHost: free.test\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert_eq!(res.status, 400, "{res:?}");
    // Two Host headers, a Host with user info, no Host at all (HTTP/1.1): refused.
    for req in [
        "GET /x HTTP/1.1\r\nHost: free.test\r\nHost: paid.test\r\nConnection: close\r\n\r\n",
        "GET /x HTTP/1.1\r\nHost: paid.test@free.test\r\nConnection: close\r\n\r\n",
        "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n",
    ] {
        let res = send(req.into()).await;
        assert_eq!(res.status, 400, "{req:?}: {res:?}");
    }
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());

    // Agreeing forms: routed by that authority, and the same value goes upstream.
    let res = send(
        "GET http://free.test/x HTTP/1.1\r\nHost: FREE.test\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = upstream.seen().last().unwrap().clone();
    assert_eq!(seen.headers["x-forwarded-host"], "free.test");
    let res = send(
        "GET http://paid.test/x HTTP/1.1\r\nHost: paid.test\r\nConnection: close\r\n\r\n".into(),
    )
    .await;
    assert_eq!(res.status, 402, "{res:?}");
    // A trailing dot names the same host.
    let res =
        send("GET /y HTTP/1.1\r\nHost: Free.Test.:8402\r\nConnection: close\r\n\r\n".into()).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(
        upstream.seen().last().unwrap().headers["x-forwarded-host"],
        "free.test:8402"
    );
    let res = send("GET /y HTTP/1.1\r\nHost: paid.test.\r\nConnection: close\r\n\r\n".into()).await;
    assert_eq!(res.status, 402, "{res:?}");

    // What the client says about forwarding is replaced by what the proxy knows.
    let res = send(
        "GET /z HTTP/1.1\r\nHost: free.test\r\nX-Forwarded-For: 6.6.6.6\r\n\
         X-Forwarded-Proto: https\r\nX-Forwarded-Host: paid.test\r\n\
         Forwarded: for=6.6.6.6;host=paid.test\r\nConnection: close\r\n\r\n"
            .into(),
    )
    .await;
    assert_eq!(res.status, 200, "{res:?}");
    let seen = upstream.seen().last().unwrap().clone();
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["x-forwarded-proto"], "http");
    assert_eq!(seen.headers["x-forwarded-host"], "free.test");
    assert!(seen.headers.get("forwarded").is_none());
    assert_eq!(seen.headers.get_all("x-forwarded-for").iter().count(), 1);
}

/// The `path` of the proxy's last request log line, once there are `lines` of them.
fn routed_path(proxy: &Proxy, lines: usize) -> Option<(String, u64)> {
    let log = proxy.log();
    let requests: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| {
            let m = &v["fields"]["message"];
            m == "request" || m == "request target refused"
        })
        .collect();
    if requests.len() < lines {
        return None;
    }
    let last = &requests[lines - 1]["fields"];
    Some((
        last["path"].as_str().unwrap_or_default().to_owned(),
        last["status"].as_u64().unwrap_or_default(),
    ))
}

/// For any request path the proxy accepts, the path the upstream receives is exactly the
/// path that was routed (as logged), under the service's base path; a path it does not
/// accept, or one that needs payment, reaches no upstream.
#[test]
fn for_any_accepted_path_the_upstream_sees_the_routed_path() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (upstream, node, proxy) = rt.block_on(async {
        let upstream = Upstream::start().await;
        let node = DevNode::start().await;
        let proxy = Proxy::start(&node, &services(&upstream)).await;
        (upstream, node, proxy)
    });
    let piece = prop_oneof![
        Just("health".to_owned()),
        Just("echo".to_owned()),
        "[a-zA-Z0-9._~!$&'()*+,=:@;\\\\\"{}|^`<>\\[\\]-]{0,4}",
        "%[0-9a-fA-F]{2}",
        Just("%2e".to_owned()),
        Just("%2E".to_owned()),
        Just("%68".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
    ];
    let segment = prop::collection::vec(piece, 0..4).prop_map(|p| p.concat());
    let path = (any::<bool>(), prop::collection::vec(segment, 1..5)).prop_map(|(free, segs)| {
        let tail = format!("/{}", segs.join("/"));
        if free { format!("/health{tail}") } else { tail }
    });
    let mut runner = TestRunner::new(Config {
        cases: 96,
        failure_persistence: None,
        ..Config::default()
    });
    let host = proxy.addr.to_string();
    let lines = std::cell::Cell::new(0);
    let result = runner.run(&path, |raw| {
        rt.block_on(async {
            let before = upstream.seen().len();
            let res = raw_get(proxy.addr, &raw, &host).await;
            let ours = res.status != 400 || res.body.starts_with("bad request target");
            if !ours {
                // Refused by the HTTP parser before the proxy saw it.
                prop_assert_eq!(upstream.seen().len(), before);
                return Ok(());
            }
            lines.set(lines.get() + 1);
            let (routed, status) = crate::support::eventually("the request log line", || {
                routed_path(&proxy, lines.get())
            })
            .await;
            prop_assert_eq!(status, u64::from(res.status));
            let seen = upstream.seen();
            if res.status == 200 {
                prop_assert_eq!(seen.len(), before + 1);
                prop_assert_eq!(&seen[before].path, &format!("/public{routed}"));
                prop_assert!(
                    routed == "/health" || routed.starts_with("/health/"),
                    "{} routed as {}",
                    raw,
                    routed
                );
            } else {
                prop_assert!(matches!(res.status, 400 | 402 | 404), "{}: {:?}", raw, res);
                prop_assert_eq!(seen.len(), before, "{} reached the upstream", raw);
            }
            Ok::<(), TestCaseError>(())
        })
    });
    drop(node);
    if let Err(e) = result {
        panic!("{e}\n{}", proxy.log());
    }
}

/// The shipped sample config, its services and prices untouched, with the node, the
/// secret and the upstreams' hosts pointed at the test's (each upstream keeps its base
/// path): every trick is refused, whichever host is asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_config_refuses_every_trick() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let sample =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/proxy.toml"))
            .unwrap();
    let mut config: toml::Table = sample.parse().unwrap();
    let port = free_port();
    config.insert("listen".into(), format!("127.0.0.1:{port}").into());
    let backend = config["backend"].as_table_mut().unwrap();
    backend.insert("url".into(), node.server_url().into());
    backend.insert("macaroon_file".into(), node.file("server.macaroon").into());
    backend.insert("tls_cert_file".into(), node.file("server-tls.cert").into());
    let mut upstream_paths = Vec::new();
    for service in config["services"].as_array_mut().unwrap() {
        let service = service.as_table_mut().unwrap();
        let url = reqwest::Url::parse(service["upstream"].as_str().unwrap()).unwrap();
        upstream_paths.push(url.path().to_owned());
        service.insert(
            "upstream".into(),
            format!("{}{}", upstream.url(), url.path()).into(),
        );
    }
    assert!(
        upstream_paths.contains(&"/api".to_owned()),
        "{upstream_paths:?}"
    );
    let dir = TempDir::new("sample");
    std::fs::write(
        dir.join("master.secret"),
        "4242424242424242424242424242424242424242424242424242424242424242\n",
    )
    .unwrap();
    std::fs::write(dir.join("revoked.txt"), "").unwrap();
    std::fs::write(dir.join("proxy.toml"), toml::to_string(&config).unwrap()).unwrap();
    let config_path = dir.join("proxy.toml");
    let proxy = Proxy::spawn(dir, &config_path, port).await;
    let host = proxy.addr.to_string();

    // Controls: free health, paid weather, paid premium host (base path /api).
    let res = raw_get(proxy.addr, "/health/ok", &host).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(upstream.seen().last().unwrap().path, "/health/ok");
    assert_eq!(raw_get(proxy.addr, "/weather/x", &host).await.status, 402);
    assert_eq!(
        raw_get(proxy.addr, "/x", "premium.example.com")
            .await
            .status,
        402
    );

    assert_tricks_refused(proxy.addr, &host, &upstream, &tricks("/health", "/weather")).await;
    assert_tricks_refused(
        proxy.addr,
        "premium.example.com",
        &upstream,
        &tricks("/health", "/weather"),
    )
    .await;
    assert_tricks_refused(proxy.addr, &host, &upstream, &tricks("", "/weather")).await;
    assert_eq!(upstream.seen().len(), 1);
}

/// What `l402 dev-node` writes, run as written: every trick is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dev_node_config_refuses_every_trick() {
    let upstream = Upstream::start().await;
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let node =
        DevNode::start_with(&["--upstream", &upstream.url(), "--proxy-listen", &listen]).await;
    let config = std::path::PathBuf::from(node.file("proxy.toml"));
    let proxy = Proxy::spawn(TempDir::new("devproxy"), &config, port).await;
    let host = proxy.addr.to_string();

    let res = raw_get(proxy.addr, "/health", &host).await;
    assert_eq!(res.status, 200, "{res:?}");
    assert_eq!(raw_get(proxy.addr, "/echo/hello", &host).await.status, 402);
    assert_tricks_refused(proxy.addr, &host, &upstream, &tricks("/health", "/echo")).await;
    assert_tricks_refused(proxy.addr, &host, &upstream, &tricks("", "/echo")).await;
    assert_eq!(upstream.seen().len(), 1);
}

/// One HTTP/2 (h2c) request with `:path` and `:authority` exactly as given (hyper sends the
/// URI's parts as they are), and optionally a `Host` header.
async fn h2_get(addr: SocketAddr, uri: &str, host: Option<&str>) -> u16 {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .version(http::Version::HTTP_2)
        .uri(uri);
    if let Some(h) = host {
        req = req.header("host", h);
    }
    let req = req
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    sender.send_request(req).await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_tricks_over_h2c_are_refused_too() {
    let upstream = Upstream::start().await;
    let node = DevNode::start().await;
    let proxy = Proxy::start(&node, &services(&upstream)).await;
    let base = format!("http://{}", proxy.addr);
    assert_eq!(
        h2_get(proxy.addr, &format!("{base}/health/ok"), None).await,
        200
    );
    assert_eq!(upstream.seen().last().unwrap().path, "/public/health/ok");
    let mut leaked = Vec::new();
    let mut sent = 0;
    for t in tricks("/health", "/echo") {
        // `//…` would read as an authority in a full URI: these go as `:path` below.
        if t.starts_with("//") {
            continue;
        }
        let Ok(uri) = format!("{base}{t}").parse::<http::Uri>() else {
            continue;
        };
        let status = h2_get(proxy.addr, &uri.to_string(), None).await;
        sent += 1;
        if status != 400 {
            leaked.push(format!("{t}: {status}"));
        }
    }
    assert!(leaked.is_empty(), "{leaked:#?}");
    assert!(sent >= 25, "only {sent} tricks could be sent");
    // `:authority` and a `Host` header that disagree.
    assert_eq!(
        h2_get(proxy.addr, &format!("{base}/health/ok"), Some("other.test")).await,
        400
    );
    assert_eq!(upstream.seen().len(), 1);
}
