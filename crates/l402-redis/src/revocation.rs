//! [`RedisRevocationList`]: a revocation list shared by a fleet, with a local cache.

use core::fmt;
use core::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use l402_core::{RevocationList, RootKeyError, TokenId};
use lru::LruCache;

use crate::connection::RedisConnection;
use crate::error::BuildError;

/// Key kind of revocations: `<prefix>:rev:<token id hex>`.
pub(crate) const REVOCATION_KIND: &str = "rev";

/// Default staleness bound of the local cache: five seconds.
///
/// A revocation made through another instance is seen here within this time. Five seconds
/// keeps Redis traffic to one `EXISTS` per token per five seconds per instance, and is far
/// shorter than anyone takes to notice a leaked token and revoke it.
pub const DEFAULT_STALENESS: Duration = Duration::from_secs(5);
/// Default capacity of the local cache: 100,000 tokens (a few MB).
pub const DEFAULT_CACHE_CAPACITY: usize = 100_000;

/// What the local cache knows about a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    /// Revoked: final (a revocation is never undone), kept until evicted.
    Revoked,
    /// Not revoked when Redis was asked at this instant.
    NotRevoked(Instant),
}

/// The bounded, staleness-limited local cache.
struct Cache {
    entries: Mutex<LruCache<TokenId, Entry>>,
    staleness: Duration,
}

impl Cache {
    fn new(capacity: NonZeroUsize, staleness: Duration) -> Self {
        Cache {
            entries: Mutex::new(LruCache::new(capacity)),
            staleness,
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<TokenId, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached answer, if it is fresh enough to use at `now`.
    fn get(&self, id: &TokenId, now: Instant) -> Option<bool> {
        let mut entries = self.lock();
        match entries.get(id).copied() {
            Some(Entry::Revoked) => Some(true),
            Some(Entry::NotRevoked(at)) if now.saturating_duration_since(at) < self.staleness => {
                Some(false)
            }
            Some(Entry::NotRevoked(_)) => {
                entries.pop(id);
                None
            }
            None => None,
        }
    }

    /// Records what Redis answered at `at`. A revocation recorded meanwhile is kept.
    fn put(&self, id: &TokenId, revoked: bool, at: Instant) {
        let mut entries = self.lock();
        if revoked {
            entries.put(*id, Entry::Revoked);
        } else if self.staleness.is_zero() {
            // Nothing to cache.
        } else if entries.peek(id) != Some(&Entry::Revoked) {
            entries.put(*id, Entry::NotRevoked(at));
        }
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// A revocation list shared by every instance of a fleet through Redis, for
/// [`DerivedRootKeyStore`](l402_core::DerivedRootKeyStore) (stateless root keys from a
/// shared master secret).
///
/// * **revoke** records the token in this instance's cache at once, then writes
///   `<prefix>:rev:<token id hex>` with an expiry of the
///   [longest token lifetime](RedisRevocationListBuilder::max_token_lifetime), after which
///   the token is expired anyway: storage follows the number of revocations of live
///   tokens. That lifetime is the list's [`retention`](RevocationList::retention): a
///   layer whose tokens never expire, or live longer, is refused at build time.
/// * **is_revoked** answers from a bounded local LRU cache when it can, else asks Redis
///   (`EXISTS`) and caches the answer. A "revoked" answer is kept until evicted (a
///   revocation is final); a "not revoked" answer is used for at most the
///   [staleness bound](RedisRevocationListBuilder::staleness).
///
/// **Staleness.** A revocation made through any instance is seen by every other within the
/// staleness bound (default [`DEFAULT_STALENESS`]); a revocation made through this instance
/// applies here at once. With a staleness of zero every check asks Redis.
///
/// # Failures
/// Calls are bounded by the connection's timeout. When Redis cannot answer and the cache
/// has no fresh answer, `is_revoked` returns an error, and the
/// [`DerivedRootKeyStore`](l402_core::DerivedRootKeyStore) fails the lookup (503) or, with
/// [`fail_open_on_revocation_error(true)`](l402_core::DerivedRootKeyStore::fail_open_on_revocation_error),
/// accepts the token (logged at `warn`). Tokens known revoked stay rejected either way.
/// `revoke` returns an error when the write fails; the revocation still applies on this
/// instance, and should be retried to reach the others.
pub struct RedisRevocationList {
    conn: RedisConnection,
    cache: Cache,
    ttl_ms: u64,
}

impl fmt::Debug for RedisRevocationList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocationList")
            .field("conn", &self.conn)
            .field("staleness", &self.cache.staleness)
            .field("cached", &self.cache.len())
            .field("ttl_ms", &self.ttl_ms)
            .finish()
    }
}

impl RedisRevocationList {
    /// A builder for a list on `conn`. Required:
    /// [`max_token_lifetime`](RedisRevocationListBuilder::max_token_lifetime).
    pub fn builder(conn: RedisConnection) -> RedisRevocationListBuilder {
        RedisRevocationListBuilder {
            conn,
            staleness: DEFAULT_STALENESS,
            capacity: DEFAULT_CACHE_CAPACITY,
            max_token_lifetime: None,
        }
    }

    /// The Redis key marking `token_id` revoked.
    #[must_use]
    pub fn redis_key(&self, token_id: &TokenId) -> String {
        self.conn.key(REVOCATION_KIND, &token_id.to_hex())
    }

    /// The staleness bound.
    #[must_use]
    pub fn staleness(&self) -> Duration {
        self.cache.staleness
    }

    /// Number of tokens in the local cache.
    #[must_use]
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}

impl RevocationList for RedisRevocationList {
    async fn is_revoked(&self, token_id: &TokenId) -> Result<bool, RootKeyError> {
        let asked = Instant::now();
        if let Some(revoked) = self.cache.get(token_id, asked) {
            return Ok(revoked);
        }
        let mut cmd = redis::cmd("EXISTS");
        cmd.arg(self.redis_key(token_id));
        let found: i64 = self.conn.query(&cmd).await?;
        let revoked = found > 0;
        self.cache.put(token_id, revoked, asked);
        Ok(revoked)
    }

    /// [`max_token_lifetime`](RedisRevocationListBuilder::max_token_lifetime): revocations
    /// expire from Redis after that long.
    fn retention(&self) -> Option<Duration> {
        Some(Duration::from_millis(self.ttl_ms))
    }

    async fn revoke(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        self.cache.put(token_id, true, Instant::now());
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.redis_key(token_id))
            .arg(1)
            .arg("PX")
            .arg(self.ttl_ms);
        let _: redis::Value = self.conn.query(&cmd).await?;
        Ok(())
    }
}

/// Builds a [`RedisRevocationList`]. Setters consume and return the builder;
/// [`build`](Self::build) validates.
#[must_use]
#[derive(Debug)]
pub struct RedisRevocationListBuilder {
    conn: RedisConnection,
    staleness: Duration,
    capacity: usize,
    max_token_lifetime: Option<Duration>,
}

impl RedisRevocationListBuilder {
    /// The longest validity of any token of the deployment (the layer's
    /// [`validity`](l402_tower::L402LayerBuilder::validity)). Revocations expire from Redis
    /// after this long, when the token is expired anyway. Required: too short a value
    /// would bring revoked tokens back to life, so the list reports it as its
    /// [`retention`](RevocationList::retention) and the layer builder refuses to mint
    /// tokens without an expiry, or valid for longer, with a store using this list.
    pub fn max_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.max_token_lifetime = Some(lifetime);
        self
    }

    /// How long a "not revoked" answer is used before Redis is asked again (default
    /// [`DEFAULT_STALENESS`]; zero: ask Redis on every check).
    pub fn staleness(mut self, staleness: Duration) -> Self {
        self.staleness = staleness;
        self
    }

    /// Most tokens the local cache holds, least recently used evicted first (default
    /// [`DEFAULT_CACHE_CAPACITY`]).
    pub fn cache_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Builds the list.
    ///
    /// # Errors
    /// [`BuildError::MissingMaxTokenLifetime`], [`BuildError::TooShort`] for a lifetime
    /// under one millisecond, [`BuildError::ZeroCacheCapacity`].
    pub fn build(self) -> Result<RedisRevocationList, BuildError> {
        let lifetime = self
            .max_token_lifetime
            .ok_or(BuildError::MissingMaxTokenLifetime)?;
        let ttl_ms = u64::try_from(lifetime.as_millis()).unwrap_or(u64::MAX);
        if ttl_ms == 0 {
            return Err(BuildError::TooShort("max_token_lifetime"));
        }
        let capacity = NonZeroUsize::new(self.capacity).ok_or(BuildError::ZeroCacheCapacity)?;
        Ok(RedisRevocationList {
            conn: self.conn,
            cache: Cache::new(capacity, self.staleness),
            ttl_ms,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(b: u8) -> TokenId {
        TokenId::from_bytes([b; 32])
    }

    #[test]
    fn negative_answers_go_stale_revocations_do_not() {
        let cache = Cache::new(NonZeroUsize::new(10).unwrap(), Duration::from_secs(5));
        let t0 = Instant::now();
        assert_eq!(cache.get(&id(1), t0), None);
        cache.put(&id(1), false, t0);
        assert_eq!(cache.get(&id(1), t0 + Duration::from_secs(4)), Some(false));
        assert_eq!(cache.get(&id(1), t0 + Duration::from_secs(5)), None);
        cache.put(&id(2), true, t0);
        assert_eq!(
            cache.get(&id(2), t0 + Duration::from_secs(3600)),
            Some(true)
        );
    }

    #[test]
    fn a_late_negative_answer_does_not_hide_a_local_revocation() {
        let cache = Cache::new(NonZeroUsize::new(10).unwrap(), Duration::from_secs(5));
        let t0 = Instant::now();
        cache.put(&id(1), true, t0);
        cache.put(&id(1), false, t0);
        assert_eq!(cache.get(&id(1), t0), Some(true));
    }

    #[test]
    fn bounded_and_zero_staleness_caches_no_negatives() {
        let cache = Cache::new(NonZeroUsize::new(2).unwrap(), Duration::from_secs(5));
        let t0 = Instant::now();
        for b in 0..10 {
            cache.put(&id(b), b % 2 == 0, t0);
        }
        assert_eq!(cache.len(), 2);
        let none = Cache::new(NonZeroUsize::new(2).unwrap(), Duration::ZERO);
        none.put(&id(1), false, t0);
        assert_eq!(none.get(&id(1), t0), None);
        none.put(&id(1), true, t0);
        assert_eq!(none.get(&id(1), t0), Some(true));
    }

    #[tokio::test]
    async fn builder_validates() {
        let conn = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("p")
            .build()
            .unwrap();
        let b = || RedisRevocationList::builder(conn.clone());
        assert!(matches!(
            b().build(),
            Err(BuildError::MissingMaxTokenLifetime)
        ));
        assert!(matches!(
            b().max_token_lifetime(Duration::ZERO).build(),
            Err(BuildError::TooShort(_))
        ));
        assert!(matches!(
            b().max_token_lifetime(Duration::from_secs(1))
                .cache_capacity(0)
                .build(),
            Err(BuildError::ZeroCacheCapacity)
        ));
        let list = b()
            .max_token_lifetime(Duration::from_secs(1))
            .build()
            .unwrap();
        assert_eq!(list.staleness(), DEFAULT_STALENESS);
        assert_eq!(
            list.redis_key(&id(0xcd)),
            format!("p:rev:{}", "cd".repeat(32))
        );
    }
}
