//! [`RedisRateLimiter`]: token buckets shared by a fleet.

use core::fmt;

use l402_tower::{Decision, Rate, RateLimitError, RateLimiter};
use sha2::{Digest, Sha256};

use crate::connection::{RedisConnection, validate_name};
use crate::error::BuildError;

/// Key kind of rate-limit buckets: `<prefix>:rl:<scope>:<sha-256 of the bucket key>`.
pub(crate) const RATE_LIMIT_KIND: &str = "rl";
/// Default scope of a [`RedisRateLimiter`].
pub const DEFAULT_RATE_LIMIT_SCOPE: &str = "default";

/// GCRA in one atomic step, on Redis's clock (so instances with skewed clocks agree).
///
/// The key holds the theoretical arrival time (TAT) in microseconds. A request is allowed
/// when `max(TAT, now) + interval - interval * burst <= now`; then TAT moves on by one
/// interval and the key expires when the bucket is full again. Refused: nothing is
/// written, and the wait until a unit is free is returned. Microsecond times stay below
/// 2^53, exact in Lua's numbers.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.floor((new_tat - now) / 1000) + 1)
return {1, 0}
";

/// A [`RateLimiter`] whose buckets live in Redis: every instance of a fleet draws from
/// the same bucket for a key (a token id, a client network).
///
/// Each [`check`](RateLimiter::check) is one Lua script (GCRA: read, decide, write in
/// one atomic step, timed by Redis's own clock), so concurrent requests on several
/// instances never take more than the rate allows. A bucket's key expires when the
/// bucket is full again: storage follows the number of keys active within one period.
///
/// Key names are `<prefix>:rl:<scope>:<hex SHA-256 of the bucket key>`.
///
/// # Failures
/// Bounded by the connection's timeout. When Redis cannot answer, `check` returns
/// [`RateLimitError`]: the layer then lets the request through (fail open, the default)
/// or answers 503 (fail closed), as set with
/// [`rate_limit_fail_closed`](l402_tower::L402LayerBuilder::rate_limit_fail_closed).
/// Payments and revocations never depend on this choice.
pub struct RedisRateLimiter {
    conn: RedisConnection,
    rate: Rate,
    interval_us: u64,
    scope: String,
    script: redis::Script,
}

impl fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateLimiter")
            .field("conn", &self.conn)
            .field("rate", &self.rate)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// A builder for buckets of `rate`.
    pub fn builder(conn: RedisConnection, rate: Rate) -> RedisRateLimiterBuilder {
        RedisRateLimiterBuilder {
            conn,
            rate,
            scope: DEFAULT_RATE_LIMIT_SCOPE.to_owned(),
        }
    }

    /// The Redis key of `bucket`'s state.
    #[must_use]
    pub fn redis_key(&self, bucket: &str) -> String {
        let digest = Sha256::digest(bucket.as_bytes());
        let mut id = String::with_capacity(self.scope.len() + 1 + 64);
        id.push_str(&self.scope);
        id.push(':');
        for b in digest {
            id.push(char::from(HEX[usize::from(b >> 4)]));
            id.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        self.conn.key(RATE_LIMIT_KIND, &id)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[async_trait::async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn check(&self, key: &str) -> Result<Decision, RateLimitError> {
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(self.redis_key(key))
            .arg(self.interval_us)
            .arg(self.rate.burst());
        let invocation = &invocation;
        let (allowed, wait_us): (i64, i64) = self
            .conn
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await
            .map_err(|e| RateLimitError(Box::new(e)))?;
        if allowed == 1 {
            Ok(Decision::Allow)
        } else {
            let wait = u64::try_from(wait_us).unwrap_or(0);
            Ok(Decision::Refuse {
                retry_after: std::time::Duration::from_micros(wait),
            })
        }
    }
}

/// Builds a [`RedisRateLimiter`]. Setters consume and return the builder;
/// [`build`](Self::build) validates.
#[must_use]
#[derive(Debug)]
pub struct RedisRateLimiterBuilder {
    conn: RedisConnection,
    rate: Rate,
    scope: String,
}

impl RedisRateLimiterBuilder {
    /// Separates the buckets of several limiters that share a prefix (default
    /// [`DEFAULT_RATE_LIMIT_SCOPE`]; use one per limit, e.g. `paid` and `unpaid`): 1 to
    /// 64 of `A-Z a-z 0-9 _ - .`.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// Builds the limiter.
    ///
    /// # Errors
    /// [`BuildError::Prefix`] for an invalid scope, [`BuildError::TooShort`] for a rate
    /// refilling faster than one unit per microsecond.
    pub fn build(self) -> Result<RedisRateLimiter, BuildError> {
        validate_name(&self.scope).map_err(|()| BuildError::Prefix(self.scope.clone()))?;
        let interval_us = u64::try_from(self.rate.emission_interval().as_micros())
            .unwrap_or(u64::MAX)
            // Below 2^53 / 2: exact in Lua, with room for a burst.
            .min(1 << 40);
        if interval_us == 0 {
            return Err(BuildError::TooShort(
                "rate emission interval (in microseconds)",
            ));
        }
        Ok(RedisRateLimiter {
            conn: self.conn,
            rate: self.rate,
            interval_us,
            scope: self.scope,
            script: redis::Script::new(GCRA),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn keys_are_hashed_and_scoped_and_rates_checked() {
        let conn = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("p")
            .build()
            .unwrap();
        let l = RedisRateLimiter::builder(conn.clone(), Rate::per_second(5).unwrap())
            .scope("unpaid")
            .build()
            .unwrap();
        let key = l.redis_key("ip:203.0.113.0/24");
        assert!(key.starts_with("p:rl:unpaid:"), "{key}");
        assert!(!key.contains("203.0"));
        let fast = Rate::new(10_000, Duration::from_millis(1)).unwrap();
        assert!(matches!(
            RedisRateLimiter::builder(conn.clone(), fast).build(),
            Err(BuildError::TooShort(_))
        ));
        assert!(matches!(
            RedisRateLimiter::builder(conn, Rate::per_second(1).unwrap())
                .scope("a:b")
                .build(),
            Err(BuildError::Prefix(_))
        ));
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_an_error_not_a_decision() {
        let conn = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("p")
            .timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        let l = RedisRateLimiter::builder(conn, Rate::per_second(1).unwrap())
            .build()
            .unwrap();
        assert!(l.check("k").await.is_err());
    }
}
