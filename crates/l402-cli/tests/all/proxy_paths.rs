//! `l402 proxy` against hostile request targets: dot segments (plain and percent-encoded),
//! encoded slashes and backslashes, NULs, double encoding, disagreeing authorities. Every
//! request goes over a raw socket so that no client library normalises it first.

use std::net::SocketAddr;

use crate::support::{DevNode, Proxy, RawResponse, Upstream, raw_get, raw_request};

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
