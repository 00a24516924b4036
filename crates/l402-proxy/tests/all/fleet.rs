//! Rate limits, the blocklist and the state a fleet shares through `[redis]`: freebies,
//! Payment charges and rate-limit buckets counted once for every instance, and what an
//! outage of Redis does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use http::header::{AUTHORIZATION, RETRY_AFTER};
use http::{HeaderValue, Request, StatusCode};
use l402_core::backend::PayParams;
use l402_core::lightning_invoice::Bolt11Invoice;
use l402_core::payment_scheme::{ChallengeIdSecret, PaymentChallenge, PaymentCredential};
use l402_core::{Amount, BoxInvoiceBackend, DerivedRootKeyStore, MasterSecret, PaymentBackend};
use l402_proxy::{
    AuthScheme, BlocklistConfig, ClientAddr, Proxy, ProxyConfig, RateConfig, RateLimitConfig,
    RedisConfig, RevocationConfig, SharedState,
};

use crate::support::*;

/// A GET for `uri` from `ip`, with an `Authorization` value if given.
fn get_from(uri: &str, ip: [u8; 4], auth: Option<&str>) -> Request<Body> {
    let mut req = Request::get(uri).body(Body::empty()).unwrap();
    req.extensions_mut()
        .insert(ClientAddr(SocketAddr::from((ip, 5000))));
    if let Some(a) = auth {
        req.headers_mut()
            .insert(AUTHORIZATION, HeaderValue::from_str(a).unwrap());
    }
    req
}

fn secret() -> MasterSecret {
    MasterSecret::from_bytes(&[9; 32]).unwrap()
}

/// A priced service at `/paid` on `upstream`, limited by `limit`.
fn paid(upstream: SocketAddr, limit: Option<RateLimitConfig>) -> ServiceConfig {
    let mut s = service("paid", upstream, "");
    s.path = Some("/paid".to_owned());
    s.price_sat = Some(10);
    s.rate_limit = limit;
    s
}

fn unpaid_limit(requests: u32, per_secs: u64) -> RateLimitConfig {
    let mut l = RateLimitConfig::default();
    l.unpaid = Some(RateConfig::new(requests, per_secs));
    l
}

/// A proxy over `config` with its own state, the mock node of `net` and a root key store
/// derived from one secret (so that every instance accepts the others' tokens), its
/// revocations from the configuration.
fn instance(net: &Net, config: &ProxyConfig) -> Proxy {
    let shared = Arc::new(SharedState::from_config(config).unwrap());
    let store =
        DerivedRootKeyStore::with_revocation_list(secret(), shared.revocations(config).unwrap());
    Proxy::builder(
        config.clone(),
        BoxInvoiceBackend::new(net.server.clone()),
        Arc::new(store),
    )
    .payment_id_secret(ChallengeIdSecret::derive_from(&secret()))
    .shared(shared)
    .build()
    .unwrap()
}

fn retry_after(res: &http::Response<()>) -> u64 {
    res.headers()
        .get(RETRY_AFTER)
        .unwrap_or_else(|| panic!("no Retry-After: {res:?}"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_burst_above_the_unpaid_limit_gets_429_with_retry_after_and_no_invoice() {
    let upstream = echo_upstream().await;
    let net = Net::new();
    // 3 a minute: one more every 20 s.
    let proxy = net.proxy(vec![paid(upstream, Some(unpaid_limit(3, 60)))]);
    for _ in 0..3 {
        let (res, _) = send(
            &proxy,
            get_from("http://a.test/paid/x", [192, 0, 2, 1], None),
        )
        .await;
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    }
    assert_eq!(net.server.invoices().len(), 3);
    let (res, _) = send(
        &proxy,
        get_from("http://a.test/paid/x", [192, 0, 2, 1], None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&res);
    assert!((16..=20).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        net.server.invoices().len(),
        3,
        "no invoice for a refused request"
    );
    // One address per bucket by default: a neighbour in the /24 is not limited.
    let (res, _) = send(
        &proxy,
        get_from("http://a.test/paid/x", [192, 0, 2, 200], None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn a_neighbour_in_the_same_24_shares_the_unpaid_bucket_when_configured() {
    let upstream = echo_upstream().await;
    let net = Net::new();
    let mut limit = unpaid_limit(2, 60);
    limit.ipv4_prefix = Some(24);
    let proxy = net.proxy(vec![paid(upstream, Some(limit))]);
    for ip in [[192, 0, 2, 1], [192, 0, 2, 77]] {
        let (res, _) = send(&proxy, get_from("http://a.test/paid/x", ip, None)).await;
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    }
    let (res, _) = send(
        &proxy,
        get_from("http://a.test/paid/x", [192, 0, 2, 254], None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(net.server.invoices().len(), 2);
    // The next /24 has its own bucket.
    let (res, _) = send(
        &proxy,
        get_from("http://a.test/paid/x", [192, 0, 3, 1], None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn a_paid_token_past_its_bucket_gets_429_and_stays_valid() {
    let upstream = echo_upstream().await;
    let net = Net::new();
    let mut limit = RateLimitConfig::default();
    limit.paid = Some(RateConfig::new(1, 60).with_burst(2));
    let proxy = net.proxy(vec![paid(upstream, Some(limit))]);
    let (res, _) = send(&proxy, get("http://a.test/paid/x", None)).await;
    let credential = net.pay(res.headers()).await;
    for _ in 0..2 {
        let (res, _) = send(&proxy, get("http://a.test/paid/x", Some(&credential))).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let (res, _) = send(&proxy, get("http://a.test/paid/x", Some(&credential))).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&res);
    assert!((56..=60).contains(&wait), "Retry-After {wait}");
    assert_eq!(net.server.invoices().len(), 1);
}

/// A blocklist file in a fresh directory.
fn blocklist_file(tag: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("l402-proxy-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("blocked.txt");
    std::fs::write(&file, text).unwrap();
    file
}

async fn eventually_status(proxy: &Proxy, ip: [u8; 4], want: StatusCode) {
    let start = Instant::now();
    loop {
        let (res, _) = send(proxy, get_from("http://a.test/paid/x", ip, None)).await;
        if res.status() == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "still {} instead of {want}",
            res.status()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_blocklisted_network_is_refused_and_editing_the_file_unblocks_it() {
    let upstream = echo_upstream().await;
    let net = Net::new();
    let file = blocklist_file("block", "# abuse\n192.0.2.0/24\n");
    let mut config = ProxyConfig::new(vec![paid(upstream, None)]);
    let mut b = BlocklistConfig::new(&file);
    b.reload_secs = Some(1);
    config.blocklist = Some(b);
    let proxy = instance(&net, &config);
    let (res, body) = send(
        &proxy,
        get_from("http://a.test/paid/x", [192, 0, 2, 9], None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(body, b"forbidden");
    // Before routing: an unknown path is refused the same.
    let (res, _) = send(
        &proxy,
        get_from("http://a.test/nowhere", [192, 0, 2, 9], None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert_eq!(net.server.invoices().len(), 0);
    let (res, _) = send(
        &proxy,
        get_from("http://a.test/paid/x", [198, 51, 100, 1], None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);

    // A botched edit keeps the list in force.
    std::fs::write(&file, "192.0.2.0/24\n192.0.2.0/99 # typo\n").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (res, _) = send(
        &proxy,
        get_from("http://a.test/paid/x", [192, 0, 2, 9], None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The operator unblocks the /24 and blocks another network, without a restart.
    std::fs::write(&file, "198.51.100.0/24\n").unwrap();
    eventually_status(&proxy, [192, 0, 2, 9], StatusCode::PAYMENT_REQUIRED).await;
    let (res, _) = send(
        &proxy,
        get_from("http://a.test/paid/x", [198, 51, 100, 1], None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}

#[tokio::test]
async fn a_malformed_blocklist_at_start_is_a_config_error_naming_the_line() {
    let file = blocklist_file("badblock", "192.0.2.0/24\n\nnonsense\n");
    let mut config = ProxyConfig::new(vec![]);
    config.blocklist = Some(BlocklistConfig::new(&file));
    let e = SharedState::from_config(&config).unwrap_err().to_string();
    assert!(
        e.starts_with("[blocklist]: ") && e.contains("line 3"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(file.parent().unwrap());
}

// ---- Redis ----

/// Whether the tests run in CI: there, a missing redis-server fails instead of skipping.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A `redis-server` child on a free port (`L402_REDIS_SERVER`, else on `PATH`), killed on
/// drop; `None` (skip) when there is none outside CI.
struct RedisServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl RedisServer {
    #[allow(clippy::print_stderr)]
    async fn start(test: &str) -> Option<RedisServer> {
        let binary = std::env::var_os("L402_REDIS_SERVER")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| {
                std::env::split_paths(&std::env::var_os("PATH")?)
                    .map(|d| d.join("redis-server"))
                    .find(|p| p.is_file())
            });
        let Some(binary) = binary else {
            assert!(!in_ci(), "{test}: no redis-server, and CI is set");
            eprintln!("skipping {test}: no redis-server (set L402_REDIS_SERVER or PATH)");
            return None;
        };
        Some(Self::spawn(&binary).await)
    }

    async fn spawn(binary: &Path) -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("l402-proxy-redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new(binary)
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        let server = RedisServer { child, port, dir };
        let conn = l402_redis::RedisConnection::builder(server.url())
            .prefix("ping")
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let start = Instant::now();
        while conn.ping().await.is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "redis-server did not come up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `[redis]` at `url` with a generous timeout (a loaded machine must not fail a call).
fn redis(url: &str, prefix: &str) -> RedisConfig {
    let mut r = RedisConfig::new(url);
    r.prefix = Some(prefix.to_owned());
    r.timeout_ms = Some(5_000);
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_share_buckets_and_freebies() {
    let Some(server) = RedisServer::start("fleet::buckets").await else {
        return;
    };
    let upstream = echo_upstream().await;
    let net = Net::new();
    let mut limited = paid(upstream, Some(unpaid_limit(3, 60)));
    limited.path = Some("/limited".to_owned());
    limited.name = "limited".to_owned();
    let mut free = paid(upstream, None);
    free.freebies = Some(2);
    let mut config = ProxyConfig::new(vec![limited, free]);
    config.redis = Some(redis(&server.url(), "fleet-a"));
    let (a, b) = (instance(&net, &config), instance(&net, &config));

    // One bucket of 3 for the client, whichever instance it reaches.
    for proxy in [&a, &b, &a] {
        let (res, _) = send(
            proxy,
            get_from("http://x.test/limited", [203, 0, 113, 5], None),
        )
        .await;
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    }
    let (res, _) = send(
        &b,
        get_from("http://x.test/limited", [203, 0, 113, 5], None),
    )
    .await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&res);
    assert!((15..=20).contains(&wait), "Retry-After {wait}");
    assert_eq!(net.server.invoices().len(), 3);

    // Two freebies for the fleet, not two per instance.
    for proxy in [&a, &b] {
        let (res, _) = send(
            proxy,
            get_from("http://x.test/paid/f", [203, 0, 113, 5], None),
        )
        .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    for proxy in [&a, &b] {
        let (res, _) = send(
            proxy,
            get_from("http://x.test/paid/f", [203, 0, 113, 5], None),
        )
        .await;
        assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    }
    // Another client has its own.
    let (res, _) = send(&b, get_from("http://x.test/paid/f", [203, 0, 113, 6], None)).await;
    assert_eq!(res.status(), StatusCode::OK);

    // A paid token's bucket is shared too.
    let mut limit = RateLimitConfig::default();
    limit.paid = Some(RateConfig::new(1, 60).with_burst(1));
    let mut config = ProxyConfig::new(vec![paid(upstream, Some(limit))]);
    config.redis = Some(redis(&server.url(), "fleet-b"));
    let (a, b) = (instance(&net, &config), instance(&net, &config));
    let (res, _) = send(&a, get("http://x.test/paid/t", None)).await;
    let credential = net.pay(res.headers()).await;
    let (res, _) = send(&a, get("http://x.test/paid/t", Some(&credential))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let (res, _) = send(&b, get("http://x.test/paid/t", Some(&credential))).await;
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A Payment service at `/pay`.
fn payment_service(upstream: SocketAddr) -> ServiceConfig {
    let mut s = paid(upstream, None);
    s.path = Some("/pay".to_owned());
    s.name = "pay".to_owned();
    s.auth_scheme = AuthScheme::Payment;
    s
}

/// Gets a Payment challenge from `proxy` and pays it: the credential.
async fn buy_charge(net: &Net, proxy: &Proxy) -> String {
    let (res, _) = send(proxy, get_from("http://x.test/pay", [203, 0, 113, 5], None)).await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED);
    let challenge = PaymentChallenge::from_headers(res.headers())
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let invoice: Bolt11Invoice = challenge.charge_request().unwrap().check_invoice().unwrap();
    let params = PayParams::new(Amount::from_sat(100).unwrap(), Duration::from_secs(10));
    let preimage = net
        .payer
        .pay_invoice(&invoice, &params)
        .await
        .unwrap()
        .preimage;
    PaymentCredential::new(challenge, &preimage)
        .to_header_string()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_accepted_by_one_instance_is_a_replay_on_the_other() {
    let Some(server) = RedisServer::start("fleet::charges").await else {
        return;
    };
    let upstream = echo_upstream().await;
    let net = Net::new();
    let mut config = ProxyConfig::new(vec![payment_service(upstream)]);
    config.redis = Some(redis(&server.url(), "fleet-c"));
    let (a, b) = (instance(&net, &config), instance(&net, &config));
    let auth = buy_charge(&net, &a).await;
    let (res, _) = send(
        &a,
        get_from("http://x.test/pay", [203, 0, 113, 5], Some(&auth)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (res, _) = send(
        &b,
        get_from("http://x.test/pay", [203, 0, 113, 5], Some(&auth)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED, "a replay on b");
    let (res, _) = send(
        &a,
        get_from("http://x.test/pay", [203, 0, 113, 5], Some(&auth)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::PAYMENT_REQUIRED, "a replay on a");

    // Revocations from [revocation] without a url go through the same Redis: a token
    // revoked through a's list is refused by b.
    let mut config = ProxyConfig::new(vec![paid(upstream, None)]);
    config.redis = Some(redis(&server.url(), "fleet-d"));
    config.revocation = Some(
        toml::from_str::<RevocationConfig>(
            "kind = \"redis\"\nmax_token_lifetime_secs = 600\nstaleness_secs = 0\n",
        )
        .unwrap(),
    );
    let shared = SharedState::from_config(&config).unwrap();
    let list = shared.revocations(&config).unwrap();
    let (a, b) = (instance(&net, &config), instance(&net, &config));
    let (res, _) = send(&a, get("http://x.test/paid/r", None)).await;
    let credential = net.pay(res.headers()).await;
    let (res, _) = send(&b, get("http://x.test/paid/r", Some(&credential))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let id = *l402_core::Identifier::decode(credential.macaroon().identifier())
        .unwrap()
        .token_id();
    l402_core::RevocationList::revoke(&list, &id).await.unwrap();
    let (res, _) = send(&b, get("http://x.test/paid/r", Some(&credential))).await;
    assert_ne!(res.status(), StatusCode::OK, "a revoked token on b");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_payments_and_revocations_fail_closed_and_limits_as_configured() {
    let upstream = echo_upstream().await;
    let net = Net::new();
    // Nothing listens there: every Redis call fails at once.
    let down = redis("redis://127.0.0.1:1/", "down");

    // Payment charges cannot be consumed: 503, never the upstream.
    let mut config = ProxyConfig::new(vec![payment_service(upstream)]);
    config.redis = Some(down.clone());
    let proxy = instance(&net, &config);
    let auth = buy_charge(&net, &proxy).await;
    let (res, _) = send(
        &proxy,
        get_from("http://x.test/pay", [203, 0, 113, 5], Some(&auth)),
    )
    .await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Revocations cannot be checked: a paid L402 token gets 503. The token is minted by
    // an instance whose store does not need Redis.
    let mut config = ProxyConfig::new(vec![paid(upstream, None)]);
    let minting = instance(&net, &config);
    let (res, _) = send(&minting, get("http://x.test/paid/r", None)).await;
    let credential = net.pay(res.headers()).await;
    config.redis = Some(down.clone());
    config.revocation = Some(
        toml::from_str::<RevocationConfig>("kind = \"redis\"\nmax_token_lifetime_secs = 600\n")
            .unwrap(),
    );
    let proxy = instance(&net, &config);
    let (res, _) = send(&proxy, get("http://x.test/paid/r", Some(&credential))).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    // Rate limits: fail_closed answers 503, the default lets the request through (to a
    // challenge here); freebies are not given away.
    for (fail_closed, want) in [
        (true, StatusCode::SERVICE_UNAVAILABLE),
        (false, StatusCode::PAYMENT_REQUIRED),
    ] {
        let mut limit = unpaid_limit(1, 60);
        limit.fail_closed = fail_closed;
        let mut s = paid(upstream, Some(limit));
        s.freebies = Some(5);
        let mut config = ProxyConfig::new(vec![s]);
        config.redis = Some(down.clone());
        let proxy = instance(&net, &config);
        for _ in 0..3 {
            let (res, _) = send(
                &proxy,
                get_from("http://x.test/paid/l", [203, 0, 113, 5], None),
            )
            .await;
            assert_eq!(res.status(), want, "fail_closed = {fail_closed}");
        }
    }
}
