//! Round trip of one budget reservation (`SpendingLedger::reserve`, what a paying client
//! waits for before every payment) against `RedisLedger`, with the in-memory and file
//! ledgers of `l402-reqwest` for comparison. A small report: median, p99 and mean of
//! individually timed calls, one at a time.
//!
//! Scenarios: an all-time budget (answered from the running totals), and a 24-hour
//! rolling window holding 1,000 and then 10,000 committed payments (the script sums the
//! window). Each reservation is released right after it is timed, so the ledger stays
//! the same size.
//!
//! Run: `L402_REDIS_URL=redis://127.0.0.1:6379/ cargo bench -p l402-benches --bench redis_ledger`
//! (optionally `-- 5000` for the number of reservations per scenario). Without
//! `L402_REDIS_URL` only the in-memory and file ledgers are measured.

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss
)]

use std::time::{Duration, Instant};

use l402_core::{Amount, PaymentHash, TokenId};
use l402_redis::{RedisConnection, RedisLedger};
use l402_reqwest::ledger::{FileLedger, Limits, MemoryLedger, Reservation, SpendingLedger};

const DAY: Duration = Duration::from_secs(24 * 3600);

fn random_hash() -> PaymentHash {
    PaymentHash::from_bytes(*TokenId::random().unwrap().as_bytes())
}

/// Commits `n` payments spread over 16 origins.
async fn fill(ledger: &dyn SpendingLedger, n: usize) {
    for i in 0..n {
        let origin = format!("https://api{}.example.com", i % 16);
        ledger
            .commit(
                &origin,
                &random_hash(),
                Amount::from_msat(10_000),
                Amount::from_msat(10),
            )
            .await
            .unwrap();
    }
}

struct Stats {
    median: Duration,
    p99: Duration,
    mean: Duration,
}

async fn measure(ledger: &dyn SpendingLedger, limits: Limits, rounds: usize) -> Stats {
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds + rounds / 10 {
        let hash = random_hash();
        let reservation = Reservation::new(
            "https://api0.example.com",
            hash,
            Amount::from_msat(10_000),
            Amount::from_msat(100),
            limits,
        );
        let start = Instant::now();
        ledger.reserve(&reservation).await.unwrap();
        let took = start.elapsed();
        ledger.release(&hash).await.unwrap();
        // The first tenth warms up (connections, script cache, page cache).
        if i >= rounds / 10 {
            times.push(took);
        }
    }
    times.sort_unstable();
    let mean = times.iter().sum::<Duration>() / u32::try_from(times.len()).unwrap();
    Stats {
        median: times[times.len() / 2],
        p99: times[times.len() * 99 / 100],
        mean,
    }
}

async fn scenarios(name: &str, ledger: &dyn SpendingLedger, rounds: usize) {
    let budget = Amount::from_sat(1_000_000_000).unwrap();
    let report = |what: &str, s: Stats| {
        println!(
            "| {name} | {what} | {:.1} µs | {:.1} µs | {:.1} µs |",
            s.median.as_secs_f64() * 1e6,
            s.p99.as_secs_f64() * 1e6,
            s.mean.as_secs_f64() * 1e6
        );
    };
    report(
        "all-time budget, empty",
        measure(ledger, Limits::new().total(budget), rounds).await,
    );
    let daily = Limits::new().total(budget).per_origin(budget).window(DAY);
    fill(ledger, 1_000).await;
    report(
        "24 h window, 1,000 payments",
        measure(ledger, daily, rounds).await,
    );
    report(
        "all-time budget, 1,000 payments",
        measure(ledger, Limits::new().total(budget), rounds).await,
    );
    fill(ledger, 9_000).await;
    report(
        "24 h window, 10,000 payments",
        measure(ledger, daily, rounds / 4).await,
    );
}

fn main() {
    // `cargo bench` passes `--bench`; the first number given is the round count.
    let rounds = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(2_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        println!("reservation round trip, {rounds} reservations per scenario, one at a time");
        println!();
        println!("| ledger | scenario | median | p99 | mean |");
        println!("|---|---|---|---|---|");
        scenarios("MemoryLedger", &MemoryLedger::new(), rounds).await;
        let dir = std::env::temp_dir().join(format!("l402-bench-ledger-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = FileLedger::open(dir.join("ledger.json")).unwrap();
        // The file ledger rewrites (and fsyncs) its file on every change: fewer rounds.
        scenarios("FileLedger", &file, (rounds / 10).max(40)).await;
        let _ = std::fs::remove_dir_all(&dir);
        match std::env::var("L402_REDIS_URL") {
            Ok(url) if !url.is_empty() => {
                let conn = RedisConnection::builder(url.as_str())
                    .prefix("l402-bench")
                    .timeout(Duration::from_secs(1))
                    .build()
                    .unwrap();
                conn.ping().await.expect("redis at L402_REDIS_URL answers");
                let scope = format!("run-{}", TokenId::random().unwrap().to_hex().split_at(12).0);
                let ledger = RedisLedger::builder(conn).scope(scope).build().unwrap();
                scenarios("RedisLedger", &ledger, rounds).await;
            }
            _ => eprintln!(
                "L402_REDIS_URL is not set: skipping RedisLedger (only the in-memory and file \
                 ledgers were measured)"
            ),
        }
    });
}
