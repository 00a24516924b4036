//! [`RedisRootKeyStore`]: one random root key per token, shared by a fleet through Redis.

use core::fmt;
use std::time::{Duration, SystemTime};

use l402_core::{RootKey, RootKeyError, RootKeyStore, TokenId};
use redis::Value;
use zeroize::Zeroizing;

use crate::connection::RedisConnection;
use crate::error::{BuildError, StoreError};

/// Key kind of root keys: `<prefix>:rk:<token id hex>`.
pub(crate) const ROOT_KEY_KIND: &str = "rk";

/// Default lifetime in Redis of the key of a token that never expires: 30 days.
///
/// Keys must expire, or storage grows with every token ever sold. A token without an
/// expiry becomes unknown (its holder is asked to pay again) after this long; give tokens
/// a validity ([`L402LayerBuilder::validity`](l402_tower::L402LayerBuilder::validity)) so
/// that this never applies.
pub const DEFAULT_TTL_WITHOUT_EXPIRY: Duration = Duration::from_secs(30 * 24 * 3600);

/// One random 32-byte root key per token, in Redis: a token minted by any instance of a
/// fleet verifies on every other, and revoking deletes the key for all of them at once.
///
/// * **create** writes `<prefix>:rk:<token id hex>` = the 32 key bytes with
///   `SET … NX PX <ms until the token expires>`: the key disappears when the token does
///   (or after [`ttl_without_expiry`](RedisRootKeyStoreBuilder::ttl_without_expiry) for
///   tokens that never expire), so storage follows the number of live tokens. `NX` makes a
///   duplicate token id fail with [`RootKeyError::AlreadyExists`].
/// * **lookup** is one `GET`; there is no local cache, so a revocation is seen by every
///   instance on its next lookup.
/// * **revoke** is `DEL`.
///
/// Key names hold only the prefix and the (public) token id; the values are secrets, never
/// logged. The bytes pass through the `redis` crate's buffers, which are not zeroized.
///
/// # Failures
/// Every call is bounded by the connection's timeout. When Redis cannot answer, `create`
/// and `lookup` return [`RootKeyError::Unavailable`] (source: [`StoreError`]): minting
/// answers 503 and verification fails closed (503), never a pass.
#[derive(Clone)]
pub struct RedisRootKeyStore {
    conn: RedisConnection,
    ttl_without_expiry: Duration,
}

impl fmt::Debug for RedisRootKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRootKeyStore")
            .field("conn", &self.conn)
            .field("ttl_without_expiry", &self.ttl_without_expiry)
            .finish()
    }
}

impl RedisRootKeyStore {
    /// A builder for a store on `conn`.
    pub fn builder(conn: RedisConnection) -> RedisRootKeyStoreBuilder {
        RedisRootKeyStoreBuilder {
            conn,
            ttl_without_expiry: DEFAULT_TTL_WITHOUT_EXPIRY,
        }
    }

    /// A store on `conn` with the defaults.
    #[must_use]
    pub fn new(conn: RedisConnection) -> Self {
        RedisRootKeyStore {
            conn,
            ttl_without_expiry: DEFAULT_TTL_WITHOUT_EXPIRY,
        }
    }

    /// The Redis key holding the root key of `token_id`.
    #[must_use]
    pub fn redis_key(&self, token_id: &TokenId) -> String {
        self.conn.key(ROOT_KEY_KIND, &token_id.to_hex())
    }

    /// Milliseconds the key of a token expiring at `expires_at` lives, seen at `now`: at
    /// least one (`PX 0` is refused).
    fn ttl_ms(&self, expires_at: Option<SystemTime>, now: SystemTime) -> u64 {
        let ttl = match expires_at {
            Some(t) => t.duration_since(now).unwrap_or(Duration::ZERO),
            None => self.ttl_without_expiry,
        };
        u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
    }
}

impl RootKeyStore for RedisRootKeyStore {
    async fn create(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
    ) -> Result<RootKey, RootKeyError> {
        let key = RootKey::generate()?;
        let ttl_ms = self.ttl_ms(expires_at, SystemTime::now());
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(token_id))
            .arg(&key.expose_secret()[..])
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms);
        let reply: Value = self.conn.query(&cmd).await?;
        match reply {
            Value::Nil => Err(RootKeyError::AlreadyExists),
            Value::Okay => Ok(key),
            _ => Err(StoreError::UnexpectedReply.into()),
        }
    }

    async fn lookup(&self, token_id: &TokenId) -> Result<Vec<RootKey>, RootKeyError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(self.redis_key(token_id));
        let value: Option<Vec<u8>> = self.conn.query(&cmd).await?;
        let Some(value) = value.map(Zeroizing::new) else {
            return Ok(Vec::new());
        };
        let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(
            value
                .as_slice()
                .try_into()
                .map_err(|_| StoreError::Malformed)?,
        );
        Ok(vec![RootKey::from_bytes(*bytes)])
    }

    async fn revoke(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(self.redis_key(token_id));
        let _: i64 = self.conn.query(&cmd).await?;
        Ok(())
    }
}

/// Builds a [`RedisRootKeyStore`]. Setters consume and return the builder;
/// [`build`](Self::build) validates.
#[must_use]
#[derive(Debug)]
pub struct RedisRootKeyStoreBuilder {
    conn: RedisConnection,
    ttl_without_expiry: Duration,
}

impl RedisRootKeyStoreBuilder {
    /// How long the key of a token that never expires stays in Redis (default
    /// [`DEFAULT_TTL_WITHOUT_EXPIRY`]). Tokens with an expiry keep their key exactly as
    /// long as they are valid.
    pub fn ttl_without_expiry(mut self, ttl: Duration) -> Self {
        self.ttl_without_expiry = ttl;
        self
    }

    /// Builds the store.
    ///
    /// # Errors
    /// [`BuildError::TooShort`] if the TTL is under one millisecond.
    pub fn build(self) -> Result<RedisRootKeyStore, BuildError> {
        if self.ttl_without_expiry < Duration::from_millis(1) {
            return Err(BuildError::TooShort("ttl_without_expiry"));
        }
        Ok(RedisRootKeyStore {
            conn: self.conn,
            ttl_without_expiry: self.ttl_without_expiry,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn key_names_and_ttls() {
        let conn = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("p")
            .build()
            .unwrap();
        let store = RedisRootKeyStore::builder(conn.clone())
            .ttl_without_expiry(Duration::from_secs(60))
            .build()
            .unwrap();
        let id = TokenId::from_bytes([0xab; 32]);
        assert_eq!(store.redis_key(&id), format!("p:rk:{}", "ab".repeat(32)));
        let now = SystemTime::now();
        assert_eq!(store.ttl_ms(None, now), 60_000);
        assert_eq!(
            store.ttl_ms(Some(now + Duration::from_millis(1500)), now),
            1500
        );
        assert_eq!(store.ttl_ms(Some(now - Duration::from_secs(1)), now), 1);
        assert!(matches!(
            RedisRootKeyStore::builder(conn)
                .ttl_without_expiry(Duration::ZERO)
                .build(),
            Err(BuildError::TooShort(_))
        ));
    }
}
