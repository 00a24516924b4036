//! [`RedisChargeStore`]: single-use Payment charges, shared by a fleet through Redis.

use core::fmt;
use std::time::{Duration, SystemTime};

use l402_core::PaymentHash;
use l402_core::payment_scheme::{ChargeStore, ChargeStoreError, Consumption};

use crate::connection::RedisConnection;
use crate::error::StoreError;

/// Key kind of consumed charges: `<prefix>:charge:<payment hash hex>`.
pub(crate) const CHARGE_KIND: &str = "charge";

/// Records the charge unless it is there; a retry of the same call (same nonce) after a
/// lost reply still counts as the first. Returns 1 for fresh, 0 for already used.
const CONSUME_SCRIPT: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 1
end
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return 1
end
return 0
";

/// Consumed `Payment` charges in Redis, so that a credential is accepted once by the
/// whole fleet ([`ChargeStore`] for `l402_core::payment_scheme`).
///
/// **consume** runs one script: `SET <prefix>:charge:<payment hash hex> <nonce> NX PX <ms
/// until the challenge expires>`, atomic in Redis, so among concurrent presentations of
/// one credential on any number of instances exactly one is fresh. The key expires with
/// the challenge (after which the verifier refuses the credential anyway), so storage
/// follows the number of live charges. The nonce is random per call: if the reply to the
/// first attempt is lost and the connection retries, the script finds its own nonce and
/// still answers fresh, so a paying client is not refused because of a reconnection.
///
/// # Failures
/// Bounded by the connection's timeout; when Redis cannot answer, `consume` returns
/// [`ChargeStoreError::Unavailable`] (source: [`StoreError`]) and the server answers 503
/// without consuming: it never accepts a charge it could not record.
#[derive(Clone)]
pub struct RedisChargeStore {
    conn: RedisConnection,
    script: redis::Script,
}

impl fmt::Debug for RedisChargeStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisChargeStore")
            .field("conn", &self.conn)
            .finish_non_exhaustive()
    }
}

impl RedisChargeStore {
    /// A store on `conn`.
    #[must_use]
    pub fn new(conn: RedisConnection) -> Self {
        RedisChargeStore {
            conn,
            script: redis::Script::new(CONSUME_SCRIPT),
        }
    }

    /// The Redis key recording the charge of `payment_hash`.
    #[must_use]
    pub fn redis_key(&self, payment_hash: &PaymentHash) -> String {
        self.conn.key(CHARGE_KIND, &payment_hash.to_hex())
    }
}

/// Milliseconds until `expires_at`, at least one (`PX 0` is refused).
fn ttl_ms(expires_at: SystemTime, now: SystemTime) -> u64 {
    let ttl = expires_at.duration_since(now).unwrap_or(Duration::ZERO);
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

fn unavailable(e: StoreError) -> ChargeStoreError {
    ChargeStoreError::Unavailable(Box::new(e))
}

impl ChargeStore for RedisChargeStore {
    async fn consume(
        &self,
        payment_hash: &PaymentHash,
        expires_at: SystemTime,
    ) -> Result<Consumption, ChargeStoreError> {
        let mut nonce = [0u8; 16];
        getrandom::fill(&mut nonce).map_err(|e| ChargeStoreError::Unavailable(Box::new(e)))?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        self.consume_with_nonce(payment_hash, expires_at, &nonce)
            .await
    }
}

impl RedisChargeStore {
    /// One consumption attempt carrying `nonce` (the same on every retry of one call).
    async fn consume_with_nonce(
        &self,
        payment_hash: &PaymentHash,
        expires_at: SystemTime,
        nonce: &str,
    ) -> Result<Consumption, ChargeStoreError> {
        let key = self.redis_key(payment_hash);
        let ttl = ttl_ms(expires_at, SystemTime::now());
        let fresh: i64 = self
            .conn
            .run(|mut conn| {
                let mut invocation = self.script.key(&key);
                invocation.arg(nonce).arg(ttl);
                async move { invocation.invoke_async(&mut conn).await }
            })
            .await
            .map_err(unavailable)?;
        match fresh {
            1 => Ok(Consumption::Fresh),
            0 => Ok(Consumption::AlreadyUsed),
            _ => Err(unavailable(StoreError::UnexpectedReply)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttl_reaches_the_expiry_and_is_never_zero() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        assert_eq!(ttl_ms(now + Duration::from_secs(900), now), 900_000);
        assert_eq!(ttl_ms(now, now), 1);
        assert_eq!(ttl_ms(now - Duration::from_secs(5), now), 1);
    }

    #[tokio::test]
    async fn keys_are_named_by_payment_hash() {
        let conn = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("p")
            .build()
            .unwrap();
        let store = RedisChargeStore::new(conn);
        assert_eq!(
            store.redis_key(&PaymentHash::from_bytes([0xab; 32])),
            format!("p:charge:{}", "ab".repeat(32))
        );
    }

    /// A retry after a lost reply carries the same nonce and must still be fresh; another
    /// call (another nonce) must not. Needs `L402_REDIS_URL` (skipped without it, except in
    /// CI).
    #[tokio::test]
    async fn a_retried_call_is_still_the_first() {
        let Ok(url) = std::env::var("L402_REDIS_URL") else {
            assert!(
                std::env::var("CI").map_or(true, |v| v.is_empty() || v == "false" || v == "0"),
                "CI must run the Redis tests"
            );
            return;
        };
        let mut tag = [0u8; 6];
        getrandom::fill(&mut tag).unwrap();
        let prefix: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        let conn = RedisConnection::builder(url)
            .prefix(format!("t-retry-{prefix}"))
            .build()
            .unwrap();
        let store = RedisChargeStore::new(conn);
        let h = PaymentHash::from_bytes(tag.repeat(6)[..32].try_into().unwrap());
        let exp = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(
            store.consume_with_nonce(&h, exp, "n1").await.unwrap(),
            Consumption::Fresh
        );
        assert_eq!(
            store.consume_with_nonce(&h, exp, "n1").await.unwrap(),
            Consumption::Fresh
        );
        assert_eq!(
            store.consume_with_nonce(&h, exp, "n2").await.unwrap(),
            Consumption::AlreadyUsed
        );
        assert_eq!(
            store.consume(&h, exp).await.unwrap(),
            Consumption::AlreadyUsed
        );
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_an_error_not_a_pass() {
        let conn = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("p")
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let store = RedisChargeStore::new(conn);
        let r = store
            .consume(
                &PaymentHash::from_bytes([1; 32]),
                SystemTime::now() + Duration::from_secs(60),
            )
            .await;
        assert!(matches!(r, Err(ChargeStoreError::Unavailable(_))), "{r:?}");
    }
}
