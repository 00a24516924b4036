//! Rate limits in the paywall (paid per token id, unpaid per client network) and the IP
//! blocklist layer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use http::{Request, StatusCode};
use l402_core::Scheme as AuthScheme;
use l402_tower::{
    Decision, IpBlocklist, IpBlocklistLayer, IpPrefix, L402Layer, MemoryRateLimiter, PriceRequest,
    Rate, RateLimitError, RateLimiter,
};
use tower::ServiceExt;

use crate::support::*;

fn client_ip(req: &PriceRequest<'_>) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn from(ip: &str, mut r: Request<axum::body::Body>) -> Request<axum::body::Body> {
    let addr = SocketAddr::new(ip.parse().unwrap(), 40_000);
    r.extensions_mut().insert(ConnectInfo(addr));
    r
}

async fn send(app: &Router, r: Request<axum::body::Body>) -> http::Response<axum::body::Body> {
    app.clone().oneshot(r).await.unwrap()
}

fn retry_after(res: &http::Response<axum::body::Body>) -> u64 {
    res.headers()
        .get(RETRY_AFTER)
        .expect("a Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// A paywall limiting unpaid requests to 2 a minute per client network.
fn unpaid_app(net: &Net, prefix: IpPrefix) -> Router {
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .price_sat(10)
        .unpaid_rate_limit(
            MemoryRateLimiter::new(Rate::per_minute(2).unwrap()),
            prefix,
            client_ip,
        )
        .build()
        .unwrap();
    Router::new()
        .route("/forecast", get(echo_receipt))
        .route_layer(layer)
}

#[tokio::test]
async fn unpaid_requests_past_the_burst_get_429_with_retry_after_and_no_invoice() {
    let net = Net::new();
    let app = unpaid_app(&net, IpPrefix::new(24, 64).unwrap());
    // Three addresses of one /24 share one bucket of 2 a minute.
    for ip in ["198.51.100.1", "198.51.100.2"] {
        let res = send(&app, from(ip, req("/forecast"))).await;
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED, "{ip}");
    }
    let invoices = net.server.invoices().len();
    let res = send(&app, from("198.51.100.250", req("/forecast"))).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.headers().get(WWW_AUTHENTICATE).is_none());
    // One unit every 30 s: the wait, rounded up to whole seconds.
    let wait = retry_after(&res);
    assert!((29..=30).contains(&wait), "{wait}");
    assert_eq!(
        net.server.invoices().len(),
        invoices,
        "no invoice for a 429"
    );
    // Garbage credentials are unpaid requests too.
    let res = send(
        &app,
        from(
            "198.51.100.9",
            get_with_raw(
                "/forecast",
                http::HeaderValue::from_static("L402 forged:00"),
            ),
        ),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another /24 has its own bucket.
    let res = send(&app, from("198.51.101.1", req("/forecast"))).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    // IPv6: one /64.
    for _ in 0..2 {
        let res = send(&app, from("2001:db8:0:1::1", req("/forecast"))).await;
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    }
    let res = send(&app, from("2001:db8:0:1::ffff", req("/forecast"))).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let res = send(&app, from("2001:db8:0:2::1", req("/forecast"))).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn with_a_32_prefix_neighbours_do_not_share_a_bucket() {
    let net = Net::new();
    let app = unpaid_app(&net, IpPrefix::new(32, 128).unwrap());
    for ip in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        let res = send(&app, from(ip, req("/forecast"))).await;
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED, "{ip}");
    }
    for _ in 0..2 {
        send(&app, from("198.51.100.4", req("/forecast"))).await;
    }
    let res = send(&app, from("198.51.100.4", req("/forecast"))).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_paid_token_past_its_burst_gets_429_and_stays_valid() {
    let net = Net::new();
    let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .price_sat(10)
        .paid_rate_limit(MemoryRateLimiter::new(Rate::per_minute(3).unwrap()))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/forecast", get(echo_receipt))
        .route_layer(layer);
    let res = send(&app, req("/forecast")).await;
    let (_, token) = net.pay(res.headers()).await;
    for _ in 0..3 {
        let res = send(&app, get_with("/forecast", &token, AuthScheme::L402)).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = send(&app, get_with("/forecast", &token, AuthScheme::L402)).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&res);
    assert!((19..=20).contains(&wait), "{wait}");
    assert!(
        res.headers().get(WWW_AUTHENTICATE).is_none(),
        "no new challenge"
    );
    assert_eq!(body_string(res.into_body()).await, "too many requests");
    // Another token has its own bucket.
    let res = send(&app, req("/forecast")).await;
    let (_, other) = net.pay(res.headers()).await;
    let res = send(&app, get_with("/forecast", &other, AuthScheme::L402)).await;
    assert_eq!(res.status(), StatusCode::OK);
    // gRPC: trailers-only RESOURCE_EXHAUSTED.
    let mut r = get_with("/forecast", &token, AuthScheme::L402);
    r.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/grpc"),
    );
    let res = send(&app, r).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers().get("grpc-status").unwrap(), "8");
    assert!(res.headers().contains_key(RETRY_AFTER));
}

/// A limiter whose store is down.
struct Down(AtomicU32);

#[async_trait::async_trait]
impl RateLimiter for Down {
    async fn check(&self, _: &str) -> Result<Decision, RateLimitError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Err(RateLimitError("redis down".into()))
    }
}

#[tokio::test]
async fn a_failing_limiter_fails_open_by_default_and_closed_when_asked() {
    let net = Net::new();
    for closed in [false, true] {
        let layer = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
            .service("weather")
            .price_sat(10)
            .unpaid_rate_limit(Down(AtomicU32::new(0)), IpPrefix::default(), client_ip)
            .rate_limit_fail_closed(closed)
            .build()
            .unwrap();
        let app = Router::new()
            .route("/forecast", get(echo_receipt))
            .route_layer(layer);
        let res = send(&app, from("192.0.2.1", req("/forecast"))).await;
        let want = if closed {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::PAYMENT_REQUIRED
        };
        assert_eq!(res.status(), want);
        assert!(!body_string(res.into_body()).await.contains("redis"));
    }
}

#[tokio::test]
async fn blocklisted_networks_are_refused_before_anything_and_the_list_reloads() {
    let net = Net::new();
    let list = IpBlocklist::from_entries(&["203.0.113.0/24", "2001:db8:bad::/48"]).unwrap();
    let paywall = L402Layer::builder(net.server.clone(), Arc::clone(&net.store))
        .service("weather")
        .price_sat(10)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/forecast", get(echo_receipt))
        .route_layer(paywall)
        .route("/health", get(|| async { "ok" }))
        .layer(IpBlocklistLayer::new(list.clone(), client_ip));
    let invoices = net.server.invoices().len();
    for ip in ["203.0.113.7", "::ffff:203.0.113.8", "2001:db8:bad:1::1"] {
        let res = send(&app, from(ip, req("/forecast"))).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{ip}");
        let res = send(&app, from(ip, req("/health"))).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{ip}");
    }
    assert_eq!(net.server.invoices().len(), invoices);
    let res = send(&app, from("203.0.114.7", req("/forecast"))).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    // No address known: not refused.
    let res = send(&app, req("/health")).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Reloaded: the same layer now lets the network in.
    list.replace(IpBlocklist::parse(&["192.0.2.0/24"]).unwrap());
    let res = send(&app, from("203.0.113.7", req("/health"))).await;
    assert_eq!(res.status(), StatusCode::OK);
}
