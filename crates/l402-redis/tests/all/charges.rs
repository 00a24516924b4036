//! `RedisChargeStore` against the shared Redis of `L402_REDIS_URL`: a Payment charge is
//! accepted once by the whole fleet.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use l402_core::payment_scheme::{
    ChallengeIdSecret, ChargeContext, ChargeRequest, ChargeStore, ConsumeChargeError, Consumption,
    PaymentChallenge, PaymentCredential, verify_and_consume,
};
use l402_core::{PaymentHash, Preimage};
use l402_redis::{RedisChargeStore, RedisConnection};

use crate::support::*;

fn hash() -> PaymentHash {
    Preimage::random().unwrap().payment_hash()
}

fn instance(url: &str, prefix: &str) -> RedisChargeStore {
    RedisChargeStore::new(
        RedisConnection::builder(url)
            .prefix(prefix)
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_charge_is_consumed_once_across_the_fleet_and_expires_with_the_challenge() {
    let Some(url) =
        shared_url("a_charge_is_consumed_once_across_the_fleet_and_expires_with_the_challenge")
    else {
        return;
    };
    let conn = connect(&url, "charge");
    let a = RedisChargeStore::new(conn.clone());
    let b = instance(&url, conn.prefix());
    let h = hash();
    let expires = SystemTime::now() + Duration::from_secs(900);
    assert_eq!(a.consume(&h, expires).await.unwrap(), Consumption::Fresh);
    assert_eq!(
        b.consume(&h, expires).await.unwrap(),
        Consumption::AlreadyUsed
    );
    assert_eq!(
        a.consume(&h, expires).await.unwrap(),
        Consumption::AlreadyUsed
    );
    assert_eq!(
        b.consume(&hash(), expires).await.unwrap(),
        Consumption::Fresh
    );

    // The key is named by the (public) payment hash and lives until the expiry.
    let mut r = raw(&url).await;
    let name = a.redis_key(&h);
    assert_eq!(name, format!("{}:charge:{}", conn.prefix(), h.to_hex()));
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&name)
        .query_async(&mut r)
        .await
        .unwrap();
    assert!((890_000..=900_000).contains(&pttl), "{pttl}");

    // A short-lived challenge's record goes when it does.
    let short = hash();
    a.consume(&short, SystemTime::now() + Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(
        b.consume(&short, SystemTime::now() + Duration::from_millis(300))
            .await
            .unwrap(),
        Consumption::AlreadyUsed
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let exists: i64 = redis::cmd("EXISTS")
        .arg(a.redis_key(&short))
        .query_async(&mut r)
        .await
        .unwrap();
    assert_eq!(exists, 0);
}

#[tokio::test]
async fn concurrent_presentations_on_many_instances_succeed_exactly_once() {
    let Some(url) = shared_url("concurrent_presentations_on_many_instances_succeed_exactly_once")
    else {
        return;
    };
    let prefix = unique_prefix("race");
    let stores: Vec<Arc<RedisChargeStore>> =
        (0..4).map(|_| Arc::new(instance(&url, &prefix))).collect();
    for _ in 0..5 {
        let h = hash();
        let expires = SystemTime::now() + Duration::from_secs(60);
        let mut tasks = Vec::new();
        for i in 0..32 {
            let store = stores[i % stores.len()].clone();
            tasks.push(tokio::spawn(async move {
                store.consume(&h, expires).await.unwrap()
            }));
        }
        let mut fresh = 0;
        for t in tasks {
            if t.await.unwrap() == Consumption::Fresh {
                fresh += 1;
            }
        }
        assert_eq!(fresh, 1, "one payment, one success");
    }
}

#[tokio::test]
async fn a_replayed_credential_is_refused_by_another_instance() {
    let Some(url) = shared_url("a_replayed_credential_is_refused_by_another_instance") else {
        return;
    };
    let prefix = unique_prefix("replay");
    let secret = ChallengeIdSecret::from_bytes(&[5; 32]).unwrap();
    let preimage = Preimage::random().unwrap();
    let mut request = ChargeRequest::new(10, "lnbcrt100n1pexample");
    request.payment_hash = Some(preimage.payment_hash());
    let challenge = PaymentChallenge::lightning_charge(
        &secret,
        "api",
        &request,
        SystemTime::now() + Duration::from_secs(60),
    )
    .unwrap();
    let credential = PaymentCredential::new(challenge, &preimage);
    let ctx = ChargeContext::new(&secret, "api", 10, SystemTime::now());
    let a = instance(&url, &prefix);
    let b = instance(&url, &prefix);
    assert!(verify_and_consume(&credential, &ctx, &a).await.is_ok());
    let e = verify_and_consume(&credential, &ctx, &b).await.unwrap_err();
    assert!(matches!(e, ConsumeChargeError::AlreadyUsed), "{e:?}");
    // A forged proof never reaches the store: the real one is untouched by it.
    let h = preimage.payment_hash();
    let forged = PaymentCredential::new(credential.challenge.clone(), &Preimage::random().unwrap());
    let other_prefix = unique_prefix("forged");
    let c = instance(&url, &other_prefix);
    assert!(matches!(
        verify_and_consume(&forged, &ctx, &c).await,
        Err(ConsumeChargeError::Verify(_))
    ));
    assert_eq!(
        c.consume(&h, SystemTime::now() + Duration::from_secs(60))
            .await
            .unwrap(),
        Consumption::Fresh
    );
}
