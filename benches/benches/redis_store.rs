//! Verification throughput with the Redis-backed stores versus the in-memory ones, side by
//! side: the same credential, the same verifier, only the root-key store differs.
//!
//! * `memory`: `MemoryRootKeyStore` (one process, no sharing);
//! * `derived+memory-revocations`: `DerivedRootKeyStore` with the in-memory revocation list;
//! * `derived+redis-revocations (cached)`: `DerivedRootKeyStore` with `RedisRevocationList`,
//!   default 5 s staleness: the fleet setup, answered from the local cache;
//! * `derived+redis-revocations (staleness 0)`: every verification asks Redis (`EXISTS`);
//! * `redis per-token`: `RedisRootKeyStore`, one `GET` per verification.
//!
//! Run: `L402_REDIS_URL=redis://127.0.0.1:6379/ cargo bench -p l402-benches --bench redis_store`.
//! Without `L402_REDIS_URL` only the in-memory stores are measured (the Redis ones are
//! skipped with a note).

#![allow(
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stderr
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput};
use l402_core::{
    Credential, DerivedRootKeyStore, MasterSecret, MemoryRootKeyStore, MintRequest, Preimage,
    RootKeyStore, Service, TokenId, Verifier, VerifyContext, mint,
};
use l402_redis::{RedisConnection, RedisRevocationList, RedisRootKeyStore};
use tokio::runtime::Runtime;

/// A 3-caveat token (services, capabilities, valid_until) minted by `store`.
fn credential<K: RootKeyStore>(rt: &Runtime, store: &K) -> Credential {
    let preimage = Preimage::from_bytes(rand32());
    let svc = Service::new("api").unwrap();
    let request = MintRequest::new(preimage.payment_hash())
        .service(svc.clone())
        .capabilities(&svc, &["read"])
        .unwrap()
        .valid_until(SystemTime::now() + Duration::from_secs(3600));
    let macaroon = rt.block_on(mint(store, &request)).unwrap();
    Credential::new(macaroon, preimage)
}

/// Fresh random bytes (a new token id each run, so runs never collide in Redis).
fn rand32() -> [u8; 32] {
    *TokenId::random().unwrap().as_bytes()
}

/// Verifications in flight at once in the concurrent benchmark (a busy server).
const CONCURRENCY: usize = 64;

fn bench_store<K: RootKeyStore + 'static>(c: &mut Criterion, rt: &Runtime, name: &str, store: K) {
    let store = Arc::new(store);
    let credential = Arc::new(credential(rt, &store));
    let verifier = Arc::new(Verifier::new());
    // Check it verifies before timing it.
    let ctx = VerifyContext::new("api", SystemTime::now()).capability("read");
    rt.block_on(verifier.verify_with_store(&credential, &ctx, &store))
        .unwrap();
    c.bench_function(&format!("verify 3 caveats / {name}"), |b| {
        b.iter(|| {
            let ctx = VerifyContext::new("api", SystemTime::now()).capability("read");
            let receipt = rt
                .block_on(verifier.verify_with_store(black_box(&credential), &ctx, &store))
                .unwrap();
            black_box(receipt)
        });
    });
    // Throughput: CONCURRENCY verifications in flight on the runtime's threads.
    let mut group = c.benchmark_group(format!("verify x{CONCURRENCY} concurrent"));
    group.throughput(Throughput::Elements(CONCURRENCY as u64));
    group.bench_function(name, |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut tasks = tokio::task::JoinSet::new();
                for _ in 0..CONCURRENCY {
                    let (store, credential, verifier) = (
                        Arc::clone(&store),
                        Arc::clone(&credential),
                        Arc::clone(&verifier),
                    );
                    tasks.spawn(async move {
                        let ctx = VerifyContext::new("api", SystemTime::now()).capability("read");
                        verifier
                            .verify_with_store(&credential, &ctx, &store)
                            .await
                            .is_ok()
                    });
                }
                while let Some(ok) = tasks.join_next().await {
                    assert!(ok.unwrap());
                }
            });
        });
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let secret = MasterSecret::from_bytes(&[9; 32]).unwrap();

    bench_store(&mut c, &rt, "memory", MemoryRootKeyStore::new());
    bench_store(
        &mut c,
        &rt,
        "derived+memory-revocations",
        DerivedRootKeyStore::new(secret.clone()),
    );

    match std::env::var("L402_REDIS_URL") {
        Ok(url) if !url.is_empty() => {
            let conn = rt.block_on(async {
                let conn = RedisConnection::builder(url.as_str())
                    .prefix("l402-bench")
                    .timeout(Duration::from_secs(1))
                    .build()
                    .unwrap();
                conn.ping().await.expect("redis at L402_REDIS_URL answers");
                conn
            });
            let list = |staleness| {
                RedisRevocationList::builder(conn.clone())
                    .max_token_lifetime(Duration::from_secs(3600))
                    .staleness(staleness)
                    .build()
                    .unwrap()
            };
            bench_store(
                &mut c,
                &rt,
                "derived+redis-revocations (cached)",
                DerivedRootKeyStore::with_revocation_list(
                    secret.clone(),
                    list(l402_redis::DEFAULT_STALENESS),
                ),
            );
            bench_store(
                &mut c,
                &rt,
                "derived+redis-revocations (staleness 0)",
                DerivedRootKeyStore::with_revocation_list(secret, list(Duration::ZERO)),
            );
            bench_store(
                &mut c,
                &rt,
                "redis per-token",
                RedisRootKeyStore::new(conn.clone()),
            );
        }
        _ => eprintln!(
            "L402_REDIS_URL is not set: skipping the Redis-backed stores (only the in-memory \
             ones were measured)"
        ),
    }
    c.final_summary();
}
