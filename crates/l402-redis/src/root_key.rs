//! [`RedisRootKeyStore`]: one random root key per token, shared by a fleet through Redis.

use core::fmt;
use core::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use l402_core::{DEFAULT_UNPAID_GRACE, RootKey, RootKeyError, RootKeyStore, TokenId};
use lru::LruCache;
use redis::Value;
use zeroize::Zeroizing;

use crate::connection::RedisConnection;
use crate::error::{BuildError, StoreError};

/// Key kind of root keys: `<prefix>:rk:<token id hex>`.
pub(crate) const ROOT_KEY_KIND: &str = "rk";
/// Key kind of the marker of an unpaid token's key: `<prefix>:rku:<token id hex>`, holding
/// how long the key lives once paid (`at:<unix ms>` or `ttl:<ms>`).
pub(crate) const UNPAID_KIND: &str = "rku";

/// Default number of token ids a store remembers having marked paid, so that it asks Redis
/// once per token rather than on every request: 100,000 (a few MB).
pub const DEFAULT_MARKED_CACHE: usize = 100_000;

/// Creates the key of an unpaid token and its marker, both expiring with the invoice.
/// KEYS: key, marker. ARGV: key bytes, milliseconds until the invoice's deadline, the
/// lifetime once paid.
const CREATE_UNPAID: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
  return 1
end
return 0
";

/// Gives a paid token's key its lifetime and drops the marker; nothing for keys that are
/// not unpaid. KEYS: key, marker.
const MARK_PAID: &str = r"
local spec = redis.call('GET', KEYS[2])
if not spec then return 0 end
redis.call('DEL', KEYS[2])
local at = string.match(spec, '^at:(%d+)$')
if at then return redis.call('PEXPIREAT', KEYS[1], at) end
local ttl = string.match(spec, '^ttl:(%d+)$')
if ttl then return redis.call('PEXPIRE', KEYS[1], ttl) end
return 0
";

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
/// * **create_unpaid** (the keys of challenges) writes the key and a marker
///   `<prefix>:rku:<token id hex>`, both expiring when the invoice can no longer be paid
///   plus the [grace](RedisRootKeyStoreBuilder::unpaid_grace) (one Lua script). **mark_paid**
///   (after the token first verifies, on any instance) gives the key the token's lifetime
///   and deletes the marker (one script, once per token per instance: a bounded local cache
///   remembers the tokens already marked). So the keys of challenges nobody pays leave
///   Redis within the invoice expiry, not the token's lifetime.
/// * **lookup** is one `GET`; there is no local cache, so a revocation is seen by every
///   instance on its next lookup.
/// * **revoke** is `DEL` (of the key and its marker).
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
    unpaid_grace: Duration,
    marked: Arc<Mutex<LruCache<TokenId, ()>>>,
    create_unpaid: redis::Script,
    mark_paid: redis::Script,
}

impl fmt::Debug for RedisRootKeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRootKeyStore")
            .field("conn", &self.conn)
            .field("ttl_without_expiry", &self.ttl_without_expiry)
            .field("unpaid_grace", &self.unpaid_grace)
            .finish_non_exhaustive()
    }
}

impl RedisRootKeyStore {
    /// A builder for a store on `conn`.
    pub fn builder(conn: RedisConnection) -> RedisRootKeyStoreBuilder {
        RedisRootKeyStoreBuilder {
            conn,
            ttl_without_expiry: DEFAULT_TTL_WITHOUT_EXPIRY,
            unpaid_grace: DEFAULT_UNPAID_GRACE,
            marked_cache: DEFAULT_MARKED_CACHE,
        }
    }

    /// A store on `conn` with the defaults.
    #[must_use]
    pub fn new(conn: RedisConnection) -> Self {
        Self::with(
            conn,
            DEFAULT_TTL_WITHOUT_EXPIRY,
            DEFAULT_UNPAID_GRACE,
            NonZeroUsize::new(DEFAULT_MARKED_CACHE).unwrap_or(NonZeroUsize::MIN),
        )
    }

    fn with(
        conn: RedisConnection,
        ttl_without_expiry: Duration,
        unpaid_grace: Duration,
        marked_cache: NonZeroUsize,
    ) -> Self {
        RedisRootKeyStore {
            conn,
            ttl_without_expiry,
            unpaid_grace,
            marked: Arc::new(Mutex::new(LruCache::new(marked_cache))),
            create_unpaid: redis::Script::new(CREATE_UNPAID),
            mark_paid: redis::Script::new(MARK_PAID),
        }
    }

    /// The Redis key holding the root key of `token_id`.
    #[must_use]
    pub fn redis_key(&self, token_id: &TokenId) -> String {
        self.conn.key(ROOT_KEY_KIND, &token_id.to_hex())
    }

    /// The Redis key marking the key of `token_id` unpaid (present only while it is).
    #[must_use]
    pub fn unpaid_marker_key(&self, token_id: &TokenId) -> String {
        self.conn.key(UNPAID_KIND, &token_id.to_hex())
    }

    /// What the marker of an unpaid token records: its key's lifetime once paid.
    fn paid_lifetime(&self, expires_at: Option<SystemTime>) -> String {
        match expires_at {
            Some(t) => {
                let ms = t
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO)
                    .as_millis();
                format!("at:{}", ms.max(1))
            }
            None => format!(
                "ttl:{}",
                u64::try_from(self.ttl_without_expiry.as_millis()).unwrap_or(u64::MAX)
            ),
        }
    }

    fn marked(&self) -> MutexGuard<'_, LruCache<TokenId, ()>> {
        self.marked.lock().unwrap_or_else(PoisonError::into_inner)
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

    async fn create_unpaid(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
        pay_by: SystemTime,
    ) -> Result<RootKey, RootKeyError> {
        let key = RootKey::generate()?;
        let now = SystemTime::now();
        let deadline = pay_by.checked_add(self.unpaid_grace).unwrap_or(pay_by);
        let unpaid_ms = self
            .ttl_ms(Some(deadline), now)
            .min(self.ttl_ms(expires_at, now));
        let mut invocation = self.create_unpaid.prepare_invoke();
        invocation
            .key(self.redis_key(token_id))
            .key(self.unpaid_marker_key(token_id))
            .arg(&key.expose_secret()[..])
            .arg(unpaid_ms)
            .arg(self.paid_lifetime(expires_at));
        let invocation = &invocation;
        let created: i64 = self
            .conn
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        match created {
            1 => Ok(key),
            _ => Err(RootKeyError::AlreadyExists),
        }
    }

    async fn mark_paid(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        if self.marked().get(token_id).is_some() {
            return Ok(());
        }
        let mut invocation = self.mark_paid.prepare_invoke();
        invocation
            .key(self.redis_key(token_id))
            .key(self.unpaid_marker_key(token_id));
        let invocation = &invocation;
        let _: i64 = self
            .conn
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        self.marked().put(*token_id, ());
        Ok(())
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
        cmd.arg(self.redis_key(token_id))
            .arg(self.unpaid_marker_key(token_id));
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
    unpaid_grace: Duration,
    marked_cache: usize,
}

impl RedisRootKeyStoreBuilder {
    /// How long the key of a token that never expires stays in Redis (default
    /// [`DEFAULT_TTL_WITHOUT_EXPIRY`]). Tokens with an expiry keep their key exactly as
    /// long as they are valid.
    pub fn ttl_without_expiry(mut self, ttl: Duration) -> Self {
        self.ttl_without_expiry = ttl;
        self
    }

    /// How long the key of an unpaid token outlives its invoice (default
    /// [`DEFAULT_UNPAID_GRACE`], as the in-memory store): time for a payment made in the
    /// invoice's last seconds to be presented.
    pub fn unpaid_grace(mut self, grace: Duration) -> Self {
        self.unpaid_grace = grace;
        self
    }

    /// How many token ids the store remembers having marked paid, least recently used
    /// forgotten first (default [`DEFAULT_MARKED_CACHE`]). A token it forgot costs one
    /// more script call on its next verification.
    pub fn marked_cache_capacity(mut self, capacity: usize) -> Self {
        self.marked_cache = capacity;
        self
    }

    /// Builds the store.
    ///
    /// # Errors
    /// [`BuildError::TooShort`] if the TTL is under one millisecond,
    /// [`BuildError::ZeroCacheCapacity`].
    pub fn build(self) -> Result<RedisRootKeyStore, BuildError> {
        if self.ttl_without_expiry < Duration::from_millis(1) {
            return Err(BuildError::TooShort("ttl_without_expiry"));
        }
        let capacity = NonZeroUsize::new(self.marked_cache).ok_or(BuildError::ZeroCacheCapacity)?;
        Ok(RedisRootKeyStore::with(
            self.conn,
            self.ttl_without_expiry,
            self.unpaid_grace,
            capacity,
        ))
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
