//! The stores while our own Redis is killed, frozen and restarted.

use std::time::{Duration, Instant, SystemTime};

use l402_core::{
    DerivedRootKeyStore, MasterSecret, RevocationList, RootKeyError, RootKeyStore, TokenId,
};
use l402_redis::{
    RedisConnection, RedisFreeAllowance, RedisRevocationList, RedisRootKeyStore, StoreError,
};
use l402_tower::FreeAllowance;

use crate::support::*;

const TIMEOUT: Duration = Duration::from_millis(200);

fn conn(url: &str) -> RedisConnection {
    RedisConnection::builder(url)
        .prefix("outage")
        .timeout(TIMEOUT)
        .build()
        .unwrap()
}

/// The store error under a `RootKeyError::Unavailable`.
fn store_error(e: &RootKeyError) -> &StoreError {
    match e {
        RootKeyError::Unavailable(source) => source.downcast_ref::<StoreError>().unwrap(),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

/// Every call while Redis is unusable ends within the timeout plus a margin (generous, for
/// loaded CI machines: the point is that nothing waits for Redis to come back).
fn assert_bounded(started: Instant) {
    let took = started.elapsed();
    assert!(took < TIMEOUT + Duration::from_secs(1), "took {took:?}");
}

#[tokio::test]
async fn stores_fail_fast_and_recover_after_a_restart() {
    let Some(bin) = server_binary("stores_fail_fast_and_recover_after_a_restart") else {
        return;
    };
    let mut redis = RedisProcess::start(bin).await;
    let conn = conn(&redis.url());
    let store = RedisRootKeyStore::new(conn.clone());
    let revocations = RedisRevocationList::builder(conn.clone())
        .max_token_lifetime(Duration::from_secs(60))
        .staleness(Duration::from_millis(100))
        .build()
        .unwrap();
    let allowance = RedisFreeAllowance::builder(conn.clone(), 10)
        .window(Duration::from_secs(60))
        .build()
        .unwrap();
    let expires = Some(SystemTime::now() + Duration::from_secs(600));
    let minted = TokenId::random().unwrap();
    let key = store.create(&minted, expires).await.unwrap();
    let revoked = TokenId::random().unwrap();
    revocations.revoke(&revoked).await.unwrap();
    assert!(allowance.try_consume("c").await);

    redis.stop();
    // Each operation fails (never a pass, never a hang).
    for _ in 0..3 {
        let t = Instant::now();
        let e = store
            .create(&TokenId::random().unwrap(), expires)
            .await
            .unwrap_err();
        store_error(&e);
        assert_bounded(t);
        let t = Instant::now();
        store_error(&store.lookup(&minted).await.unwrap_err());
        assert_bounded(t);
        let t = Instant::now();
        assert!(!allowance.try_consume("c").await, "fails closed: pay");
        assert_bounded(t);
    }
    // Revocations: known revoked stays revoked (local cache); the unknown cannot be told
    // once the cached answer is stale.
    assert!(revocations.is_revoked(&revoked).await.unwrap());
    let t = Instant::now();
    let unknown = TokenId::random().unwrap();
    store_error(&revocations.is_revoked(&unknown).await.unwrap_err());
    assert_bounded(t);
    // A revocation made now applies on this instance and reports that Redis missed it.
    let late = TokenId::random().unwrap();
    assert!(revocations.revoke(&late).await.is_err());
    assert!(revocations.is_revoked(&late).await.unwrap());
    assert!(conn.ping().await.is_err());

    // The derived store: fail closed by default, open if configured.
    let secret = MasterSecret::from_bytes(&[7; 32]).unwrap();
    let closed = DerivedRootKeyStore::with_revocation_list(
        secret.clone(),
        RedisRevocationList::builder(conn.clone())
            .max_token_lifetime(Duration::from_secs(60))
            .build()
            .unwrap(),
    );
    assert!(closed.lookup(&unknown).await.is_err());
    assert!(
        closed.create(&unknown, expires).await.is_ok(),
        "minting needs no redis"
    );
    let open = DerivedRootKeyStore::with_revocation_list(
        secret,
        RedisRevocationList::builder(conn.clone())
            .max_token_lifetime(Duration::from_secs(60))
            .build()
            .unwrap(),
    )
    .fail_open_on_revocation_error(true);
    assert_eq!(open.lookup(&unknown).await.unwrap().len(), 1);

    // Back: the same connection recovers by itself, and the data survived (AOF).
    redis.restart().await;
    let recovered = within(Duration::from_secs(10), || async {
        conn.ping().await.is_ok()
    })
    .await
    .expect("reconnected");
    eprintln!("reconnected {recovered:?} after the restart");
    let found = store.lookup(&minted).await.unwrap();
    assert_eq!(found[0].expose_secret(), key.expose_secret());
    store
        .create(&TokenId::random().unwrap(), expires)
        .await
        .unwrap();
    assert!(!revocations.is_revoked(&unknown).await.unwrap());
    assert!(closed.lookup(&unknown).await.unwrap().len() == 1);
    assert!(allowance.try_consume("c").await);
}

#[tokio::test]
async fn a_frozen_redis_times_out_instead_of_hanging() {
    let Some(bin) = server_binary("a_frozen_redis_times_out_instead_of_hanging") else {
        return;
    };
    let redis = RedisProcess::start(bin).await;
    let conn = conn(&redis.url());
    let store = RedisRootKeyStore::new(conn.clone());
    let id = TokenId::random().unwrap();
    store.create(&id, None).await.unwrap();

    redis.freeze(true);
    let t = Instant::now();
    let e = store.lookup(&id).await.unwrap_err();
    assert!(store_error(&e).is_timeout() || matches!(store_error(&e), StoreError::Redis(_)));
    assert_bounded(t);
    // Many concurrent calls: all end, none queue forever.
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(
            async move { store.lookup(&id).await.is_err() },
        ));
    }
    let t = Instant::now();
    for task in tasks {
        assert!(task.await.unwrap());
    }
    assert_bounded(t);

    redis.freeze(false);
    within(Duration::from_secs(10), || async {
        store.lookup(&id).await.is_ok_and(|k| k.len() == 1)
    })
    .await
    .expect("recovered after thawing");
}
