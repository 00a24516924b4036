//! The Prometheus endpoint: a paid and an unpaid request through the proxy, then a
//! scrape parsed as the Prometheus text format.

use std::net::SocketAddr;

use l402_proxy::metrics::prometheus_builder;
use prometheus_parse::{Scrape, Value};

use crate::support::*;

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

async fn scrape(addr: SocketAddr) -> Scrape {
    let text = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of `metric` (a counter, or a histogram's sample count) whose labels include
/// `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Untyped(v) | Value::Gauge(v) => *v,
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => 0.0,
        })
        .sum()
}

// The recorder is local to this test's thread: the runtime must be current-thread.
#[tokio::test(flavor = "current_thread")]
async fn the_endpoint_shows_challenges_payments_revenue_and_upstream_status() {
    let listen = free_port();
    let (recorder, exporter) = prometheus_builder(listen).build().unwrap();
    tokio::spawn(exporter);
    let _guard = metrics::set_default_local_recorder(&recorder);

    let upstream = echo_upstream().await;
    let net = Net::new();
    let mut weather = service("weather", upstream, "/api");
    weather.path = Some("/weather".to_owned());
    weather.price_sat = Some(7);
    // `[metrics]` in the configuration turns the metrics on.
    let mut config = l402_proxy::ProxyConfig::new(vec![weather]);
    config.metrics = Some(toml::from_str(&format!("listen = \"{listen}\"")).unwrap());
    let proxy = l402_proxy::Proxy::builder(
        config,
        l402_core::BoxInvoiceBackend::new(net.server.clone()),
        std::sync::Arc::new(l402_core::MemoryRootKeyStore::new()),
    )
    .build()
    .unwrap();

    let (res, _) = send(&proxy, get("http://api.example.com/weather/x", None)).await;
    assert_eq!(res.status(), 402);
    let credential = net.pay(res.headers()).await;
    for _ in 0..2 {
        let (res, _) = send(
            &proxy,
            get("http://api.example.com/weather/x", Some(&credential)),
        )
        .await;
        assert_eq!(res.status(), 200);
    }

    let s = scrape(listen).await;
    let svc = ("service", "weather");
    assert_eq!(value(&s, "l402_challenges_issued_total", &[svc]), 1.0);
    assert_eq!(
        value(&s, "l402_verifications_total", &[svc, ("reason", "ok")]),
        2.0
    );
    assert_eq!(
        value(&s, "l402_payments_total", &[svc, ("scheme", "l402")]),
        1.0
    );
    assert_eq!(value(&s, "l402_payments_msat_total", &[svc]), 7000.0);
    let node = [svc, ("operation", "create_invoice"), ("outcome", "ok")];
    assert_eq!(value(&s, "l402_node_requests_total", &node), 1.0);
    assert_eq!(
        value(
            &s,
            "l402_proxy_upstream_responses_total",
            &[svc, ("status", "200")]
        ),
        2.0
    );
    assert_eq!(
        value(&s, "l402_proxy_upstream_duration_seconds", &[svc]),
        2.0
    );
    assert_eq!(
        value(
            &s,
            "l402_proxy_requests_total",
            &[svc, ("status", "402"), ("paid", "false")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &s,
            "l402_proxy_requests_total",
            &[svc, ("status", "200"), ("paid", "true")]
        ),
        2.0
    );
    // No label value is a path or a token id.
    let token = l402_core::Identifier::decode(credential.macaroon().identifier())
        .unwrap()
        .token_id()
        .to_hex();
    for sample in &s.samples {
        let text = format!("{:?}", sample.labels);
        assert!(
            !text.contains("/weather") && !text.contains(&token),
            "{text}"
        );
    }
}

// Without `[metrics]` (and without `ProxyBuilder::metrics(true)`) the proxy reports
// nothing, even to an installed recorder; with `metrics(true)` it does.
#[tokio::test(flavor = "current_thread")]
async fn metrics_are_off_unless_configured() {
    let listen = free_port();
    let (recorder, exporter) = prometheus_builder(listen).build().unwrap();
    tokio::spawn(exporter);
    let _guard = metrics::set_default_local_recorder(&recorder);

    let upstream = echo_upstream().await;
    let net = Net::new();
    let mut weather = service("weather", upstream, "/api");
    weather.path = Some("/weather".to_owned());
    weather.price_sat = Some(7);
    let mut free = service("free", upstream, "/api");
    free.path = Some("/free".to_owned());
    free.free = true;
    let build = |on: Option<bool>| {
        let builder = l402_proxy::Proxy::builder(
            l402_proxy::ProxyConfig::new(vec![weather.clone(), free.clone()]),
            l402_core::BoxInvoiceBackend::new(net.server.clone()),
            std::sync::Arc::new(l402_core::MemoryRootKeyStore::new()),
        );
        match on {
            Some(on) => builder.metrics(on),
            None => builder,
        }
        .build()
        .unwrap()
    };
    for proxy in [build(None), build(Some(false))] {
        let (res, _) = send(&proxy, get("http://api.example.com/weather/x", None)).await;
        assert_eq!(res.status(), 402);
        let (res, _) = send(&proxy, get("http://api.example.com/free/x", None)).await;
        assert_eq!(res.status(), 200);
    }
    let s = scrape(listen).await;
    assert!(s.samples.is_empty(), "{:?}", s.samples);

    let proxy = build(Some(true));
    let (res, _) = send(&proxy, get("http://api.example.com/free/x", None)).await;
    assert_eq!(res.status(), 200);
    let s = scrape(listen).await;
    assert_eq!(
        value(
            &s,
            "l402_proxy_requests_total",
            &[("service", "free"), ("status", "200"), ("paid", "false")]
        ),
        1.0
    );
}
