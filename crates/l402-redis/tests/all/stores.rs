//! The stores against the shared Redis of `L402_REDIS_URL`.

use std::time::{Duration, SystemTime};

use l402_core::{
    DerivedRootKeyStore, MasterSecret, RevocationList, RootKeyError, RootKeyStore, TokenId,
};
use l402_redis::{RedisFreeAllowance, RedisRevocationList, RedisRootKeyStore};
use l402_tower::{BuildError, FreeAllowance, L402Layer};

use crate::support::*;

fn token() -> TokenId {
    TokenId::random().unwrap()
}

#[tokio::test]
async fn root_keys_are_shared_expire_with_the_token_and_revoke() {
    let Some(url) = shared_url("root_keys_are_shared_expire_with_the_token_and_revoke") else {
        return;
    };
    let conn = connect(&url, "rk");
    // Two instances: separate connections, same prefix.
    let a = RedisRootKeyStore::new(conn.clone());
    let b = RedisRootKeyStore::new(
        l402_redis::RedisConnection::builder(&url)
            .prefix(conn.prefix())
            .build()
            .unwrap(),
    );
    let id = token();
    let expires = SystemTime::now() + Duration::from_secs(3600);
    let key = a.create(&id, Some(expires)).await.unwrap();
    let found = b.lookup(&id).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].expose_secret(), key.expose_secret());

    // A duplicate token id is refused, and does not replace the key.
    assert!(matches!(
        b.create(&id, Some(expires)).await,
        Err(RootKeyError::AlreadyExists)
    ));
    assert_eq!(
        a.lookup(&id).await.unwrap()[0].expose_secret(),
        key.expose_secret()
    );

    // The key name is the prefix and the token id; the value is the key; it expires with
    // the token.
    let mut r = raw(&url).await;
    let name = a.redis_key(&id);
    assert_eq!(name, format!("{}:rk:{}", conn.prefix(), id.to_hex()));
    let names: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", conn.prefix()))
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(names, vec![name.clone()]);
    let value: Vec<u8> = redis::cmd("GET")
        .arg(&name)
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(value.as_slice(), key.expose_secret());
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&name)
        .query_async(&mut r)
        .await
        .unwrap();
    assert!((3_590_000..=3_600_000).contains(&pttl), "{pttl}");

    // A token that never expires gets the default TTL: nothing is stored forever.
    let forever = token();
    a.create(&forever, None).await.unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(a.redis_key(&forever))
        .query_async(&mut r)
        .await
        .unwrap();
    let default = l402_redis::DEFAULT_TTL_WITHOUT_EXPIRY.as_millis() as i64;
    assert!(pttl > default - 10_000 && pttl <= default, "{pttl}");

    // Revoking through B: A finds no key at once.
    b.revoke(&id).await.unwrap();
    assert!(a.lookup(&id).await.unwrap().is_empty());
    b.revoke(&id).await.unwrap(); // idempotent
    assert!(a.lookup(&token()).await.unwrap().is_empty());
}

#[tokio::test]
async fn keys_vanish_when_tokens_expire() {
    let Some(url) = shared_url("keys_vanish_when_tokens_expire") else {
        return;
    };
    let store = RedisRootKeyStore::new(connect(&url, "exp"));
    let id = token();
    store
        .create(&id, Some(SystemTime::now() + Duration::from_millis(300)))
        .await
        .unwrap();
    assert_eq!(store.lookup(&id).await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(store.lookup(&id).await.unwrap().is_empty());
    // Already expired: stored for a millisecond, never an error.
    let past = token();
    store
        .create(&past, Some(SystemTime::now() - Duration::from_secs(5)))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_malformed_value_is_an_error_not_a_key() {
    let Some(url) = shared_url("a_malformed_value_is_an_error_not_a_key") else {
        return;
    };
    let store = RedisRootKeyStore::new(connect(&url, "bad"));
    let id = token();
    let mut r = raw(&url).await;
    let _: () = redis::cmd("SET")
        .arg(store.redis_key(&id))
        .arg("short")
        .query_async(&mut r)
        .await
        .unwrap();
    let err = store.lookup(&id).await.unwrap_err();
    assert!(matches!(err, RootKeyError::Unavailable(_)), "{err}");
}

#[tokio::test]
async fn revocations_reach_other_instances_within_the_staleness() {
    let Some(url) = shared_url("revocations_reach_other_instances_within_the_staleness") else {
        return;
    };
    let conn = connect(&url, "rev");
    let staleness = Duration::from_millis(300);
    let list = || {
        RedisRevocationList::builder(
            l402_redis::RedisConnection::builder(&url)
                .prefix(conn.prefix())
                .build()
                .unwrap(),
        )
        .max_token_lifetime(Duration::from_secs(60))
        .staleness(staleness)
        .build()
        .unwrap()
    };
    let (a, b) = (list(), list());
    let id = token();
    assert!(!a.is_revoked(&id).await.unwrap());
    assert!(!b.is_revoked(&id).await.unwrap()); // B caches "not revoked"
    a.revoke(&id).await.unwrap();
    assert!(
        a.is_revoked(&id).await.unwrap(),
        "local revocations apply at once"
    );
    let took = within(staleness * 5, || async { b.is_revoked(&id).await.unwrap() })
        .await
        .expect("B sees the revocation");
    // Within the bound, with a margin for a loaded machine.
    assert!(took <= staleness + Duration::from_millis(700), "{took:?}");

    // The entry expires after the longest token lifetime.
    let mut r = raw(&url).await;
    let pttl: i64 = redis::cmd("PTTL")
        .arg(a.redis_key(&id))
        .query_async(&mut r)
        .await
        .unwrap();
    assert!((59_000..=60_000).contains(&pttl), "{pttl}");
    assert_eq!(
        a.retention(),
        Some(Duration::from_secs(60)),
        "what the layer is told"
    );
    assert_eq!(
        a.redis_key(&id),
        format!("{}:rev:{}", conn.prefix(), id.to_hex())
    );

    // Staleness zero: every check asks Redis, so B sees a new revocation at once.
    let c = RedisRevocationList::builder(conn.clone())
        .max_token_lifetime(Duration::from_secs(60))
        .staleness(Duration::ZERO)
        .build()
        .unwrap();
    let other = token();
    assert!(!c.is_revoked(&other).await.unwrap());
    a.revoke(&other).await.unwrap();
    assert!(c.is_revoked(&other).await.unwrap());
}

#[tokio::test]
async fn free_allowance_is_counted_once_for_the_fleet() {
    let Some(url) = shared_url("free_allowance_is_counted_once_for_the_fleet") else {
        return;
    };
    let conn = connect(&url, "free");
    let allowance = || {
        RedisFreeAllowance::builder(
            l402_redis::RedisConnection::builder(&url)
                .prefix(conn.prefix())
                .build()
                .unwrap(),
            3,
        )
        .window(Duration::from_millis(600))
        .build()
        .unwrap()
    };
    let (a, b) = (allowance(), allowance());
    assert!(a.try_consume("client-1").await);
    assert!(b.try_consume("client-1").await);
    assert!(a.try_consume("client-1").await);
    assert!(!b.try_consume("client-1").await, "3 in total, not 3 each");
    assert!(!a.try_consume("client-1").await);
    assert!(b.try_consume("client-2").await, "per client key");

    // The counter has the window as expiry, and its name does not hold the client key.
    let mut r = raw(&url).await;
    let name = a.redis_key("client-1");
    assert!(!name.contains("client-1"));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&name)
        .query_async(&mut r)
        .await
        .unwrap();
    assert!((0..=600).contains(&pttl), "{pttl}");

    // After the window, the client has its allowance again.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(b.try_consume("client-1").await);

    // Concurrent use from both instances grants exactly the allowance.
    let (a, b) = (std::sync::Arc::new(a), std::sync::Arc::new(b));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let s = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move { s.try_consume("burst").await }));
    }
    let mut granted = 0;
    for t in tasks {
        granted += usize::from(t.await.unwrap());
    }
    assert_eq!(granted, 3);
}

#[tokio::test]
async fn ping() {
    let Some(url) = shared_url("ping") else {
        return;
    };
    connect(&url, "ping").ping().await.unwrap();
}

/// A `RedisRevocationList` forgets a revocation after `max_token_lifetime`: a layer that
/// would mint tokens living longer (by default they never expire) is refused.
#[tokio::test]
async fn a_layer_refuses_tokens_that_outlive_redis_revocations() {
    // No server needed: building connects lazily.
    let conn = l402_redis::RedisConnection::builder("redis://127.0.0.1:1/")
        .prefix("unused")
        .build()
        .unwrap();
    let lifetime = Duration::from_secs(60);
    let store = || {
        let list = RedisRevocationList::builder(conn.clone())
            .max_token_lifetime(lifetime)
            .build()
            .unwrap();
        DerivedRootKeyStore::with_revocation_list(MasterSecret::generate().unwrap(), list)
    };
    let node = l402_mock::MockNetwork::new()
        .node("server")
        .build()
        .unwrap();
    let builder = || {
        L402Layer::builder(node.clone(), store())
            .service("fleet")
            .price_sat(10)
    };
    assert_eq!(
        builder().build().unwrap_err(),
        BuildError::RevocationForgotten {
            retention: lifetime,
            validity: None
        }
    );
    assert_eq!(
        builder()
            .validity(lifetime + Duration::from_secs(1))
            .build()
            .unwrap_err(),
        BuildError::RevocationForgotten {
            retention: lifetime,
            validity: Some(lifetime + Duration::from_secs(1))
        }
    );
    builder().validity(lifetime).build().unwrap();
}

/// End to end against Redis: revoked, the token stays refused after Redis forgot the
/// revocation, because the builder made it expire first.
#[tokio::test]
async fn a_token_revoked_in_redis_does_not_come_back() {
    let Some(url) = shared_url("a_token_revoked_in_redis_does_not_come_back") else {
        return;
    };
    let lifetime = Duration::from_secs(1);
    let list = RedisRevocationList::builder(connect(&url, "rev-back"))
        .max_token_lifetime(lifetime)
        .build()
        .unwrap();
    let store = std::sync::Arc::new(DerivedRootKeyStore::with_revocation_list(
        MasterSecret::generate().unwrap(),
        list,
    ));
    let network = l402_mock::MockNetwork::new();
    let node = network.node("server").build().unwrap();
    let payer = network
        .node("payer")
        .balance(l402_core::Amount::from_sat(1_000).unwrap())
        .build()
        .unwrap();
    let layer = L402Layer::builder(node, std::sync::Arc::clone(&store))
        .service("fleet")
        .price_sat(10)
        .validity(lifetime)
        .build()
        .unwrap();
    let app = axum::Router::new()
        .route("/api", axum::routing::get(|| async { "ok" }))
        .route_layer(layer);
    let get = |credential: Option<&l402_core::Credential>| {
        let mut request = http::Request::get("/api");
        if let Some(c) = credential {
            request = request.header(
                http::header::AUTHORIZATION,
                c.to_header_value(l402_core::Scheme::L402).unwrap(),
            );
        }
        let app = app.clone();
        let request = request.body(axum::body::Body::empty()).unwrap();
        async move { tower::ServiceExt::oneshot(app, request).await.unwrap() }
    };
    let challenge = get(None).await;
    let credential = pay(&payer, challenge.headers()).await;
    assert_eq!(get(Some(&credential)).await.status(), http::StatusCode::OK);
    let id = *l402_core::Identifier::decode(credential.macaroon().identifier())
        .unwrap()
        .token_id();
    store.revoke(&id).await.unwrap();
    assert_eq!(
        get(Some(&credential)).await.status(),
        http::StatusCode::PAYMENT_REQUIRED
    );
    // Redis forgets the revocation after the lifetime…
    let mut r = raw(&url).await;
    tokio::time::sleep(lifetime + Duration::from_millis(1_100)).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(store.revocation_list().redis_key(&id))
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(exists, 0);
    // …by which time the token has expired.
    assert_eq!(
        get(Some(&credential)).await.status(),
        http::StatusCode::PAYMENT_REQUIRED
    );
}

async fn pttl(url: &str, key: &str) -> i64 {
    let mut r = raw(url).await;
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut r)
        .await
        .unwrap()
}

/// Keys of challenges leave Redis with their invoice unless the token verifies, which
/// gives the key the token's lifetime.
#[tokio::test]
async fn unpaid_keys_expire_with_the_invoice_paid_ones_with_the_token() {
    let Some(url) = shared_url("unpaid_keys_expire_with_the_invoice_paid_ones_with_the_token")
    else {
        return;
    };
    let conn = connect(&url, "rk-unpaid");
    let store = RedisRootKeyStore::builder(conn.clone())
        .unpaid_grace(Duration::from_secs(2))
        .ttl_without_expiry(Duration::from_secs(600))
        .build()
        .unwrap();
    let now = SystemTime::now();
    let hour = now + Duration::from_secs(3600);

    // Paid, with an expiry: an invoice's lifetime first, then the token's.
    let paid = token();
    let key = store
        .create_unpaid(&paid, Some(hour), now + Duration::from_secs(10))
        .await
        .unwrap();
    let ttl = pttl(&url, &store.redis_key(&paid)).await;
    assert!((11_000..=12_000).contains(&ttl), "{ttl}");
    assert!(pttl(&url, &store.unpaid_marker_key(&paid)).await > 0);
    assert!(matches!(
        store.create_unpaid(&paid, Some(hour), hour).await,
        Err(RootKeyError::AlreadyExists)
    ));
    store.mark_paid(&paid).await.unwrap();
    let ttl = pttl(&url, &store.redis_key(&paid)).await;
    assert!((3_590_000..=3_600_000).contains(&ttl), "{ttl}");
    assert_eq!(
        pttl(&url, &store.unpaid_marker_key(&paid)).await,
        -2,
        "marker gone"
    );
    let found = store.lookup(&paid).await.unwrap();
    assert_eq!(found[0].expose_secret(), key.expose_secret());
    // Marked again, by another instance (no local memory of it): nothing changes.
    let other = RedisRootKeyStore::new(conn.clone());
    other.mark_paid(&paid).await.unwrap();
    assert!(pttl(&url, &store.redis_key(&paid)).await > 3_500_000);

    // Paid, without an expiry: ttl_without_expiry once paid.
    let forever = token();
    store
        .create_unpaid(&forever, None, now + Duration::from_secs(10))
        .await
        .unwrap();
    store.mark_paid(&forever).await.unwrap();
    let ttl = pttl(&url, &store.redis_key(&forever)).await;
    assert!((599_000..=600_000).contains(&ttl), "{ttl}");

    // Never paid: gone with the invoice (plus the grace), marker too.
    let quick = RedisRootKeyStore::builder(conn.clone())
        .unpaid_grace(Duration::ZERO)
        .build()
        .unwrap();
    let unpaid = token();
    quick
        .create_unpaid(
            &unpaid,
            None,
            SystemTime::now() + Duration::from_millis(300),
        )
        .await
        .unwrap();
    assert_eq!(quick.lookup(&unpaid).await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(quick.lookup(&unpaid).await.unwrap().is_empty());
    assert_eq!(pttl(&url, &quick.unpaid_marker_key(&unpaid)).await, -2);
    // Marking it paid now cannot bring it back.
    quick.mark_paid(&unpaid).await.unwrap();
    assert!(quick.lookup(&unpaid).await.unwrap().is_empty());

    // Revoking an unpaid token removes the marker as well.
    let revoked = token();
    store.create_unpaid(&revoked, None, hour).await.unwrap();
    store.revoke(&revoked).await.unwrap();
    assert!(store.lookup(&revoked).await.unwrap().is_empty());
    assert_eq!(pttl(&url, &store.unpaid_marker_key(&revoked)).await, -2);
}
