//! Routing: order, hosts and paths by prefix or regular expression, rewrites, headers,
//! paths that skip payment, dynamic prices and freebies.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::body::Body;
use http::{Request, StatusCode};

use crate::support::*;

#[tokio::test]
async fn services_match_in_order_by_host_and_path_regex() {
    let up = echo_upstream().await;
    let net = Net::new();
    let mut v2 = service("v2", up, "/two");
    v2.host_regex = Some(r"^api\.example\.com(:\d+)?$".to_owned());
    v2.path_regex = Some(r"^/v2(/|$)".to_owned());
    v2.free = true;
    let mut any_api = service("api", up, "/any");
    any_api.host_regex = Some(r"^api\.example\.com(:\d+)?$".to_owned());
    any_api.free = true;
    let mut rest = service("rest", up, "/rest");
    rest.free = true;
    let proxy = net.proxy(vec![v2, any_api, rest]);

    for (uri, want) in [
        ("http://api.example.com/v2/x", "/two/v2/x"),
        ("http://API.example.com:8443/v2", "/two/v2"),
        // Canonicalised first: `%76` is `v`, matched as `/v2/x`.
        ("http://api.example.com/%762/x", "/two/v2/x"),
        ("http://api.example.com/v20", "/any/v20"),
        ("http://api.example.com.evil.test/v2/x", "/rest/v2/x"),
        ("http://other.test/v2", "/rest/v2"),
    ] {
        let (resp, body) = send(&proxy, get(uri, None)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{uri}");
        assert_eq!(echoed(&body)["path"], want, "{uri}");
    }
    // Path tricks are refused before any expression sees them.
    let (resp, _) = send(&proxy, get("http://api.example.com/x/../v2/", None)).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn prefixes_are_rewritten_and_headers_set() {
    let up = echo_upstream().await;
    let net = Net::new();
    let dir = std::env::temp_dir().join(format!("l402-proxy-headers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mac.bin");
    std::fs::write(&file, [0xde, 0xad, 0xbe, 0xef]).unwrap();
    // A variable every test process has (setting one would need `unsafe`).
    let env_name = "PATH";
    let path_value = std::env::var(env_name).unwrap();
    let mut s = service("weather", up, "/api");
    s.path = Some("/weather".to_owned());
    s.path_rewrite = Some("/v2".to_owned());
    s.free = true;
    s.headers
        .insert("x-literal".to_owned(), "a $b ${ c".to_owned());
    s.headers
        .insert("x-env".to_owned(), format!("env=${{{env_name}}}"));
    s.headers
        .insert("x-hex".to_owned(), format!("!file+hex:{}", file.display()));
    s.headers.insert(
        "x-b64".to_owned(),
        format!("!file+base64:{}", file.display()),
    );
    let proxy = net.proxy(vec![s]);
    let mut req = get("http://h.test/weather/today?q=1", None);
    req.headers_mut()
        .insert("x-hex", http::HeaderValue::from_static("client-sent"));
    let (resp, body) = send(&proxy, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let seen = echoed(&body);
    assert_eq!(seen["path"], "/api/v2/today");
    assert_eq!(seen["query"], "q=1");
    assert_eq!(seen["headers"]["x-literal"], "a $b ${ c");
    assert_eq!(seen["headers"]["x-env"], format!("env={path_value}"));
    assert_eq!(seen["headers"]["x-hex"], "deadbeef");
    assert_eq!(seen["headers"]["x-b64"], "3q2+7w==");
    let (_, body) = send(&proxy, get("http://h.test/weather", None)).await;
    assert_eq!(echoed(&body)["path"], "/api/v2");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn header_values_that_cannot_be_resolved_are_refused_at_build() {
    let net = Net::new();
    for value in [
        "${L402_PROXY_TEST_SURELY_UNSET_VARIABLE}",
        "!file+hex:/nonexistent/l402-proxy-file",
        "!file+rot13:/etc/hostname",
    ] {
        let mut s = ServiceConfig::new("s", "http://127.0.0.1:1");
        s.free = true;
        s.headers.insert("x-a".to_owned(), value.to_owned());
        let e = l402_proxy::Proxy::builder(
            l402_proxy::ProxyConfig::new(vec![s]),
            l402_core::BoxInvoiceBackend::new(net.server.clone()),
            Arc::new(l402_core::MemoryRootKeyStore::new()),
        )
        .build()
        .unwrap_err();
        assert!(
            e.to_string().starts_with("service \"s\": header \"x-a\""),
            "{e}"
        );
    }
}

#[tokio::test]
async fn whitelisted_paths_skip_payment_and_the_rest_is_paid() {
    let up = echo_upstream().await;
    let net = Net::new();
    let mut s = service("paid", up, "");
    s.price_sat = Some(5);
    s.auth_whitelist_paths = vec!["^/health$".to_owned(), "^/docs/".to_owned()];
    let proxy = net.proxy(vec![s]);
    for free in ["/health", "/docs/a", "/%64ocs/a"] {
        let (resp, body) = send(&proxy, get(&format!("http://h.test{free}"), None)).await;
        assert_eq!(resp.status(), StatusCode::OK, "{free}");
        // No receipt: nothing was paid.
        assert!(echoed(&body)["headers"].get("x-l402-token-id").is_none());
    }
    for paid in ["/health/x", "/docs", "/x/docs/a", "/healthz"] {
        let (resp, _) = send(&proxy, get(&format!("http://h.test{paid}"), None)).await;
        assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED, "{paid}");
    }
    let (resp, _) = send(&proxy, get("http://h.test/x", None)).await;
    let credential = net.pay(resp.headers()).await;
    let (resp, body) = send(&proxy, get("http://h.test/x", Some(&credential))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(echoed(&body)["headers"]["x-l402-token-id"].is_string());
}

/// How a test pricer answers a question.
type Answer = fn(&serde_json::Value) -> (StatusCode, String);

/// A pricer on 127.0.0.1 answering what `answer` says, counting its calls and keeping
/// the last question.
async fn pricer(
    answer: Answer,
) -> (
    std::net::SocketAddr,
    Arc<AtomicUsize>,
    Arc<std::sync::Mutex<serde_json::Value>>,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(std::sync::Mutex::new(serde_json::Value::Null));
    let (c, l) = (Arc::clone(&calls), Arc::clone(&last));
    let app = axum::Router::new().fallback(move |req: Request<Body>| {
        let (c, l) = (Arc::clone(&c), Arc::clone(&l));
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            let body = http_body_util::BodyExt::collect(req.into_body())
                .await
                .unwrap()
                .to_bytes();
            let q: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let (status, text) = answer(&q);
            *l.lock().unwrap() = q;
            (status, text)
        }
    });
    (serve(app).await, calls, last)
}

#[tokio::test]
async fn dynamic_prices_come_from_the_pricer() {
    let up = echo_upstream().await;
    let net = Net::new();
    let (addr, calls, last) = pricer(|q| {
        if q["path"] == "/free" {
            (StatusCode::OK, r#"{"free": true}"#.to_owned())
        } else {
            let len = q["path"].as_str().unwrap().len();
            (
                StatusCode::OK,
                format!(r#"{{"price_msat": {}}}"#, 1000 * len),
            )
        }
    })
    .await;
    let mut s = service("dyn", up, "");
    s.price_url = Some(format!("http://{addr}/price"));
    let proxy = net.proxy(vec![s]);
    let mut req = get("http://h.test/abcd?x=1", None);
    req.headers_mut()
        .insert("x-tier", http::HeaderValue::from_static("gold"));
    req.headers_mut()
        .insert("cookie", http::HeaderValue::from_static("session=secret"));
    let (resp, _) = send(&proxy, req).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    assert_eq!(invoice_msat(resp.headers()), 5000);
    {
        let q = last.lock().unwrap();
        assert_eq!(q["service"], "dyn");
        assert_eq!(q["method"], "GET");
        assert_eq!(q["query"], "x=1");
        assert_eq!(q["headers"]["x-tier"], "gold");
        assert!(q["headers"].get("cookie").is_none(), "{q}");
    }
    let (resp, _) = send(&proxy, get("http://h.test/free", None)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_failing_pricer_answers_503_never_free() {
    let up = echo_upstream().await;
    let net = Net::new();
    let answers: [Answer; 5] = [
        |_| (StatusCode::INTERNAL_SERVER_ERROR, String::new()),
        |_| (StatusCode::OK, r#"{"price_msat": 0}"#.to_owned()),
        |_| (StatusCode::OK, r#"{"free": false}"#.to_owned()),
        |_| (StatusCode::OK, "not json".to_owned()),
        |_| {
            (
                StatusCode::OK,
                format!(r#"{{"price_msat": 1, "pad": "{}"}}"#, "x".repeat(20_000)),
            )
        },
    ];
    for answer in answers {
        let (addr, calls, _) = pricer(answer).await;
        let mut s = service("dyn", up, "");
        s.price_url = Some(format!("http://{addr}/"));
        let proxy = net.proxy(vec![s]);
        let (resp, _) = send(&proxy, get("http://h.test/x", None)).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
    // A pricer that is down.
    let mut s = service("dyn", up, "");
    s.price_url = Some("http://127.0.0.1:1/".to_owned());
    let proxy = net.proxy(vec![s]);
    let (resp, _) = send(&proxy, get("http://h.test/x", None)).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn freebies_are_counted_per_client_address() {
    let up = echo_upstream().await;
    let net = Net::new();
    let mut s = service("f", up, "");
    s.price_sat = Some(1);
    s.freebies = Some(2);
    let proxy = net.proxy(vec![s]);
    for _ in 0..2 {
        let (resp, _) = send(&proxy, get("http://h.test/x", None)).await;
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let (resp, _) = send(&proxy, get("http://h.test/x", None)).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    // Another client has its own.
    let mut req = get("http://h.test/x", None);
    req.extensions_mut()
        .insert(l402_proxy::ClientAddr(std::net::SocketAddr::from((
            [192, 0, 2, 2],
            1,
        ))));
    let (resp, _) = send(&proxy, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
}
