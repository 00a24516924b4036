//! `RedisLedger`: one budget for a fleet of paying clients (`l402-reqwest` middleware
//! instances, each with its own connection, as separate machines would have), against
//! our own `redis-server`; money counted on the mock network.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::routing::get;
use l402_core::{Amount, MemoryRootKeyStore, PaymentHash};
use l402_mock::{MockNetwork, RoutingFee};
use l402_redis::{RedisConnection, RedisLedger};
use l402_reqwest::ledger::{
    Limits, ManualClock, Reservation, ReserveError, Reserved, SpendingLedger,
};
use l402_reqwest::{BudgetScope, L402Error, L402Middleware, SpendingPolicy};
use l402_tower::L402Layer;

use crate::support::*;

fn connection(url: &str, prefix: &str) -> RedisConnection {
    RedisConnection::builder(url)
        .prefix(prefix)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

fn hash(n: u8) -> PaymentHash {
    PaymentHash::from_bytes([n; 32])
}

fn msat(n: u64) -> Amount {
    Amount::from_msat(n)
}

fn reservation(origin: &str, n: u8, amount: u64, limits: Limits) -> Reservation {
    Reservation::new(origin, hash(n), msat(amount), msat(0), limits)
}

/// Eight clients, each its own middleware, wallet and Redis connection, start together
/// and each try three paid paths: the budget holds for two payments and a half, so
/// exactly two are paid, whatever the interleaving, and the mock network agrees.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_never_spends_more_than_its_budget() {
    let Some(bin) = server_binary("a_fleet_never_spends_more_than_its_budget") else {
        return;
    };
    let redis = RedisProcess::start(bin).await;
    let url = redis.url();
    let network = MockNetwork::builder()
        .routing_fee(RoutingFee::new(msat(500), 0))
        .build();
    let server = network.node("server").build().unwrap();
    let layer = L402Layer::builder(server.clone(), Arc::new(MemoryRootKeyStore::new()))
        .service("api")
        .price_sat(10)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/{path}", get(|| async { "paid content" }))
        .route_layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // 10 sat + at most 1 sat fee reserved per payment: 25 sat has room for two.
    let budget = Amount::from_sat(25).unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for i in 0..8 {
        let payer = network
            .node(format!("agent-{i}"))
            .balance(Amount::from_sat(1_000).unwrap())
            .build()
            .unwrap();
        let ledger = RedisLedger::builder(connection(&url, "fleet"))
            .scope("agents")
            .build()
            .unwrap();
        let l402 = L402Middleware::builder(payer)
            .ledger(ledger)
            .key_by_path_prefix(1)
            .policy(
                SpendingPolicy::new()
                    .budget(budget)
                    .max_fee_base(Amount::from_sat(1).unwrap())
                    .max_fee_ppm(0),
            )
            .build()
            .unwrap();
        let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
            .with(l402)
            .build();
        let start = Arc::clone(&start);
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            let mut outcomes = Vec::new();
            for path in ["a", "b", "c"] {
                let outcome = match client.get(format!("{base}/{path}")).send().await {
                    Ok(res) => Ok(res.text().await.unwrap()),
                    Err(e) => Err(match L402Error::from_middleware_error(&e) {
                        Some(L402Error::BudgetExceeded { scope, .. }) => *scope,
                        other => panic!("unexpected failure: {other:?} {e}"),
                    }),
                };
                outcomes.push(outcome);
            }
            outcomes
        }));
    }
    let mut paid = 0;
    for task in tasks {
        for outcome in task.await.unwrap() {
            match outcome {
                Ok(body) => {
                    assert_eq!(body, "paid content");
                    paid += 1;
                }
                Err(scope) => assert_eq!(scope, BudgetScope::Total),
            }
        }
    }
    assert_eq!(paid, 2);
    assert_eq!(network.payment_count(), 2);
    let spent = network.total_paid().saturating_add(network.total_fees());
    assert!(spent <= budget, "{spent} paid over a budget of {budget}");
    assert_eq!(spent, msat(21_000));

    // The ledger agrees with the network, and holds nothing any more.
    let ledger = RedisLedger::builder(connection(&url, "fleet"))
        .scope("agents")
        .build()
        .unwrap();
    let s = ledger.summary(None).await.unwrap();
    assert_eq!(s.total.saturating_add(s.fees), spent);
    assert_eq!(s.payments, 2);
    assert_eq!(s.reserved, Amount::ZERO);
}

/// Many concurrent reservations straight against the ledger: the sum of what was
/// granted never exceeds the limit, total and per origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_never_overlap() {
    let Some(bin) = server_binary("concurrent_reservations_never_overlap") else {
        return;
    };
    let redis = RedisProcess::start(bin).await;
    let url = redis.url();
    let limits = Limits::new().total(msat(1_000)).per_origin(msat(400));
    let mut tasks = Vec::new();
    for i in 0..64u8 {
        // Eight connections, as eight machines.
        let ledger = RedisLedger::builder(connection(&url, "race"))
            .build()
            .unwrap();
        tasks.push(tokio::spawn(async move {
            let origin = format!("http://o{}", i % 4);
            let granted = ledger.reserve(&reservation(&origin, i, 70, limits)).await;
            (origin, granted)
        }));
    }
    let mut total = 0;
    let mut per = std::collections::HashMap::<String, u64>::new();
    for t in tasks {
        let (origin, granted) = t.await.unwrap();
        match granted {
            Ok(Reserved::New) => {
                total += 70;
                *per.entry(origin).or_default() += 70;
            }
            Err(ReserveError::BudgetExceeded { .. }) => {}
            other => panic!("{other:?}"),
        }
    }
    assert!(total <= 1_000, "{total}");
    assert!(per.values().all(|v| *v <= 400), "{per:?}");
    // 4 origins x 5 reservations of 70 (350 <= 400) would be 1400: the total binds at 14.
    assert_eq!(total, 14 * 70);
}

/// Reserve, commit and release are idempotent by payment hash; windows roll; payments
/// past the retention leave windows but stay in all-time totals.
#[tokio::test]
async fn windows_retention_and_idempotency() {
    let Some(bin) = server_binary("windows_retention_and_idempotency") else {
        return;
    };
    let redis = RedisProcess::start(bin).await;
    let clock = ManualClock::new(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let ledger = RedisLedger::builder(connection(&redis.url(), "win"))
        .retention(Duration::from_secs(7 * 24 * 3600))
        .clock(clock.clone())
        .build()
        .unwrap();
    let day = Duration::from_secs(24 * 3600);
    let daily = Limits::new().total(msat(100)).window(day);

    let r = Reservation::new("http://a", hash(1), msat(60), msat(5), daily);
    assert_eq!(ledger.reserve(&r).await.unwrap(), Reserved::New);
    assert_eq!(ledger.reserve(&r).await.unwrap(), Reserved::AlreadyHeld);
    assert_eq!(ledger.summary(Some(day)).await.unwrap().reserved, msat(65));
    // 65 reserved: 40 more does not fit.
    assert_eq!(
        ledger.reserve(&reservation("http://b", 2, 40, daily)).await,
        Err(ReserveError::BudgetExceeded {
            scope: BudgetScope::Total,
            needed: msat(40),
            remaining: msat(35),
        })
    );
    ledger
        .commit("http://a", &hash(1), msat(60), msat(2))
        .await
        .unwrap();
    ledger
        .commit("http://a", &hash(1), msat(60), msat(2))
        .await
        .unwrap();
    assert_eq!(
        ledger.reserve(&r).await.unwrap(),
        Reserved::AlreadyCommitted
    );
    let s = ledger.summary(Some(day)).await.unwrap();
    assert_eq!(
        (s.total, s.fees, s.payments, s.reserved),
        (msat(60), msat(2), 1, Amount::ZERO)
    );
    assert_eq!(s.per_origin["http://a"].payments, 1);

    // A reservation that is released gives its room back.
    assert_eq!(
        ledger
            .reserve(&reservation("http://b", 3, 38, daily))
            .await
            .unwrap(),
        Reserved::New
    );
    assert!(ledger.release(&hash(3)).await.unwrap());
    assert!(!ledger.release(&hash(3)).await.unwrap());

    // A day later the daily budget has room again; an all-time one does not.
    clock.advance(day + Duration::from_secs(1));
    assert_eq!(
        ledger
            .reserve(&reservation("http://b", 4, 90, daily))
            .await
            .unwrap(),
        Reserved::New
    );
    ledger.release(&hash(4)).await.unwrap();
    let all_time = Limits::new().total(msat(100));
    assert!(
        ledger
            .reserve(&reservation("http://b", 5, 90, all_time))
            .await
            .is_err()
    );

    // Past the retention the payment is folded: out of every window, still all time.
    clock.advance(Duration::from_secs(8 * 24 * 3600));
    assert_eq!(ledger.summary(Some(day * 6)).await.unwrap().payments, 0);
    let s = ledger.summary(None).await.unwrap();
    assert_eq!((s.total, s.fees, s.payments), (msat(60), msat(2), 1));
    assert!(
        ledger
            .reserve(&reservation("http://b", 6, 90, all_time))
            .await
            .is_err()
    );
}

/// What was spent survives the client (a new ledger, a new connection) and a restart
/// of Redis itself.
#[tokio::test]
async fn spending_survives_restarts() {
    let Some(bin) = server_binary("spending_survives_restarts") else {
        return;
    };
    let mut redis = RedisProcess::start(bin).await;
    let url = redis.url();
    let limits = Limits::new().total(msat(100));
    {
        let ledger = RedisLedger::builder(connection(&url, "restart"))
            .build()
            .unwrap();
        ledger
            .reserve(&reservation("http://a", 1, 70, limits))
            .await
            .unwrap();
        ledger
            .commit("http://a", &hash(1), msat(70), msat(1))
            .await
            .unwrap();
    }
    redis.stop();
    redis.restart().await;
    let ledger = RedisLedger::builder(connection(&url, "restart"))
        .build()
        .unwrap();
    assert_eq!(
        ledger
            .reserve(&reservation("http://b", 2, 30, limits))
            .await,
        Err(ReserveError::BudgetExceeded {
            scope: BudgetScope::Total,
            needed: msat(30),
            remaining: msat(29),
        })
    );
    // Another scope is another budget.
    let other = RedisLedger::builder(connection(&url, "restart"))
        .scope("other")
        .build()
        .unwrap();
    assert_eq!(
        other
            .reserve(&reservation("http://b", 2, 30, limits))
            .await
            .unwrap(),
        Reserved::New
    );
}

/// Redis gone, or its data not what the ledger wrote: reservations fail (closed), and
/// the middleware pays nothing.
#[tokio::test]
async fn fails_closed() {
    let Some(bin) = server_binary("fails_closed") else {
        return;
    };
    let mut redis = RedisProcess::start(bin).await;
    let url = redis.url();
    let ledger = RedisLedger::builder(
        RedisConnection::builder(&url)
            .prefix("closed")
            .timeout(Duration::from_millis(300))
            .build()
            .unwrap(),
    )
    .build()
    .unwrap();
    let limits = Limits::new().total(msat(100));

    // Junk in the reservations: an error, not a guess.
    let mut raw = raw(&url).await;
    let _: () = redis::cmd("HSET")
        .arg(&ledger.redis_keys()[3])
        .arg("ff")
        .arg("junk")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(matches!(
        ledger
            .reserve(&reservation("http://a", 1, 10, limits))
            .await,
        Err(ReserveError::Ledger(_))
    ));
    assert!(ledger.summary(None).await.is_err());
    let _: () = redis::cmd("DEL")
        .arg(&ledger.redis_keys()[3])
        .query_async(&mut raw)
        .await
        .unwrap();

    // Redis down: the middleware refuses to pay, within the timeout.
    redis.stop();
    let started = std::time::Instant::now();
    assert!(matches!(
        ledger
            .reserve(&reservation("http://a", 1, 10, limits))
            .await,
        Err(ReserveError::Ledger(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(2));

    let network = MockNetwork::new();
    let server = network.node("server").build().unwrap();
    let payer = network
        .node("payer")
        .balance(Amount::from_sat(1_000).unwrap())
        .build()
        .unwrap();
    let layer = L402Layer::builder(server, Arc::new(MemoryRootKeyStore::new()))
        .service("api")
        .price_sat(10)
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "paid content" }))
        .route_layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
        .with(
            L402Middleware::builder(payer)
                .ledger(ledger)
                .policy(SpendingPolicy::new().budget(Amount::from_sat(100).unwrap()))
                .build()
                .unwrap(),
        )
        .build();
    let err = client.get(&base).send().await.unwrap_err();
    assert!(
        matches!(
            L402Error::from_middleware_error(&err),
            Some(L402Error::Ledger(_))
        ),
        "{err}"
    );
    assert_eq!(network.payment_count(), 0);
}

/// Windowed sums, total and per origin, over several payments; a clock set back does
/// not move a payment out of a window (it is stamped at the latest commit time).
#[tokio::test]
async fn windowed_sums_per_origin() {
    let Some(bin) = server_binary("windowed_sums_per_origin") else {
        return;
    };
    let redis = RedisProcess::start(bin).await;
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let clock = ManualClock::new(t0);
    let ledger = RedisLedger::builder(connection(&redis.url(), "sums"))
        .clock(clock.clone())
        .build()
        .unwrap();
    let min = Duration::from_secs(60);
    ledger
        .commit("a", &hash(1), msat(10), msat(1))
        .await
        .unwrap();
    clock.advance(min * 10);
    ledger
        .commit("b", &hash(2), msat(20), msat(0))
        .await
        .unwrap();
    clock.advance(min * 10);
    ledger
        .commit("a", &hash(3), msat(30), msat(2))
        .await
        .unwrap();
    clock.advance(min * 5);
    let sums = |s: &l402_reqwest::SpendingSummary| {
        (
            s.total.msat() + s.fees.msat(),
            s.payments,
            s.per_origin
                .get("a")
                .map_or(0, |o| o.amount.msat() + o.fees.msat()),
            s.per_origin
                .get("b")
                .map_or(0, |o| o.amount.msat() + o.fees.msat()),
        )
    };
    assert_eq!(
        sums(&ledger.summary(Some(min * 30)).await.unwrap()),
        (63, 3, 43, 20)
    );
    assert_eq!(
        sums(&ledger.summary(Some(min * 16)).await.unwrap()),
        (52, 2, 32, 20)
    );
    assert_eq!(
        sums(&ledger.summary(Some(min * 6)).await.unwrap()),
        (32, 1, 32, 0)
    );
    assert_eq!(sums(&ledger.summary(None).await.unwrap()), (63, 3, 43, 20));

    // Per-origin limit over 16 minutes: origin a used 32 of 40.
    let limits = Limits::new().per_origin(msat(40)).window(min * 16);
    assert!(
        ledger
            .reserve(&reservation("a", 4, 9, limits))
            .await
            .is_err()
    );
    assert_eq!(
        ledger
            .reserve(&reservation("a", 5, 8, limits))
            .await
            .unwrap(),
        Reserved::New
    );
    assert_eq!(
        ledger
            .reserve(&reservation("b", 6, 20, limits))
            .await
            .unwrap(),
        Reserved::New
    );

    // The clock goes back an hour: a commit now is still counted in a 6-minute window.
    clock.set(t0);
    ledger
        .commit("c", &hash(7), msat(5), msat(0))
        .await
        .unwrap();
    clock.set(t0 + min * 25);
    let s = ledger.summary(Some(min * 6)).await.unwrap();
    assert_eq!(s.per_origin.get("c").map(|o| o.amount), Some(msat(5)));
}
