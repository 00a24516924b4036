//! `RedisRateLimiter`: one bucket per key for the whole fleet, and the layer's 429 from
//! it; against the shared Redis of `L402_REDIS_URL`, else a `redis-server` of our own.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use http::StatusCode;
use l402_core::MemoryRootKeyStore;
use l402_mock::MockNetwork;
use l402_redis::{RedisConnection, RedisRateLimiter};
use l402_tower::{Decision, IpPrefix, L402Layer, PriceRequest, Rate, RateLimiter};
use tower::ServiceExt;

use crate::support::*;

/// The shared server, or one of our own (kept alive by the returned handle).
async fn redis(test: &str) -> Option<(String, Option<RedisProcess>)> {
    if std::env::var("L402_REDIS_URL").is_ok_and(|u| !u.is_empty()) {
        return shared_url(test).map(|u| (u, None));
    }
    let binary = server_binary(test)?;
    let process = RedisProcess::start(binary).await;
    Some((process.url(), Some(process)))
}

fn limiter(url: &str, prefix: &str, rate: Rate) -> RedisRateLimiter {
    let conn = RedisConnection::builder(url)
        .prefix(prefix)
        .build()
        .unwrap();
    RedisRateLimiter::builder(conn, rate)
        .scope("unpaid")
        .build()
        .unwrap()
}

#[tokio::test]
async fn two_instances_share_one_bucket_per_key() {
    let Some((url, _server)) = redis("two_instances_share_one_bucket_per_key").await else {
        return;
    };
    let prefix = unique_prefix("rl");
    let rate = Rate::per_minute(3).unwrap();
    let a = limiter(&url, &prefix, rate);
    let b = limiter(&url, &prefix, rate);
    assert_eq!(a.check("k").await.unwrap(), Decision::Allow);
    assert_eq!(b.check("k").await.unwrap(), Decision::Allow);
    assert_eq!(a.check("k").await.unwrap(), Decision::Allow);
    // The fourth, on either instance: refused, with the wait until one unit (20 s) is back.
    for l in [&b, &a] {
        match l.check("k").await.unwrap() {
            Decision::Refuse { retry_after } => {
                assert!(retry_after <= Duration::from_secs(20), "{retry_after:?}");
                assert!(retry_after > Duration::from_secs(15), "{retry_after:?}");
            }
            other => panic!("allowed past the burst: {other:?}"),
        }
    }
    // Another key, and another deployment's prefix, have their own buckets.
    assert_eq!(b.check("other").await.unwrap(), Decision::Allow);
    let c = limiter(&url, &unique_prefix("rl"), rate);
    assert_eq!(c.check("k").await.unwrap(), Decision::Allow);
    // The bucket's key expires when it is full again: it has a TTL, at most the period.
    let mut raw = raw(&url).await;
    let ttl: i64 = redis::cmd("PTTL")
        .arg(a.redis_key("k"))
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(ttl > 0 && ttl <= 60_001, "{ttl}");
}

fn client_ip(req: &PriceRequest<'_>) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

#[tokio::test]
async fn a_fleet_answers_429_once_the_shared_bucket_is_empty() {
    let Some((url, _server)) = redis("a_fleet_answers_429_once_the_shared_bucket_is_empty").await
    else {
        return;
    };
    let prefix = unique_prefix("rl-fleet");
    let network = MockNetwork::new();
    let node = network.node("server").build().unwrap();
    let app = |l: RedisRateLimiter| {
        let layer = L402Layer::builder(node.clone(), Arc::new(MemoryRootKeyStore::new()))
            .service("weather")
            .price_sat(10)
            .unpaid_rate_limit(l, IpPrefix::new(24, 64).unwrap(), client_ip)
            .build()
            .unwrap();
        Router::new()
            .route("/forecast", get(|| async { "sunny" }))
            .route_layer(layer)
    };
    let rate = Rate::per_minute(2).unwrap();
    let one = app(limiter(&url, &prefix, rate));
    let two = app(limiter(&url, &prefix, rate));
    let get = |ip: &str| {
        let mut r = http::Request::get("/forecast")
            .body(axum::body::Body::empty())
            .unwrap();
        r.extensions_mut()
            .insert(ConnectInfo(SocketAddr::new(ip.parse().unwrap(), 1)));
        r
    };
    let res = one.clone().oneshot(get("198.51.100.1")).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let res = two.clone().oneshot(get("198.51.100.2")).await.unwrap();
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let invoices = node.invoices().len();
    let res = one.clone().oneshot(get("198.51.100.3")).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((29..=30).contains(&wait), "{wait}");
    let res = two.clone().oneshot(get("198.51.100.4")).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(node.invoices().len(), invoices, "no invoice for a 429");
}
