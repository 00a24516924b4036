//! [`RedisFreeAllowance`]: free requests counted once for the whole fleet.

use core::fmt;
use std::time::Duration;

use l402_tower::FreeAllowance;
use sha2::{Digest, Sha256};

use crate::connection::{RedisConnection, validate_name};
use crate::error::BuildError;

/// Key kind of allowance counters: `<prefix>:free:<scope>:<sha-256 of the client key>`.
pub(crate) const ALLOWANCE_KIND: &str = "free";
/// Default scope: several layers sharing a prefix need different scopes.
pub const DEFAULT_SCOPE: &str = "default";

/// Increments the counter and, on the first use in a window (or if the key somehow has no
/// expiry), starts the window: one atomic step, so no counter is ever left without expiry.
const CONSUME: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
";

/// A [`FreeAllowance`] counted in Redis: `per_key` free requests per client key per
/// window, for the whole fleet (a client gets `per_key` in total, not per instance).
///
/// Each [`try_consume`](FreeAllowance::try_consume) runs one Lua script: `INCR` the
/// client's counter and, when it was just created, `PEXPIRE` it by the window. The window
/// of a client starts at its first free request; the counter disappears when the window
/// ends, so storage follows the number of clients seen in one window.
///
/// Key names are `<prefix>:free:<scope>:<hex SHA-256 of the client key>`: the client key
/// (an IP address, an API key) never appears in Redis.
///
/// # Failures
/// Bounded by the connection's timeout. When Redis cannot answer, `try_consume` returns
/// `false` (logged at `warn`): the client is asked to pay rather than served free, as the
/// [`FreeAllowance`] contract requires.
pub struct RedisFreeAllowance {
    conn: RedisConnection,
    per_key: u32,
    window_ms: u64,
    scope: String,
    script: redis::Script,
}

impl fmt::Debug for RedisFreeAllowance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisFreeAllowance")
            .field("conn", &self.conn)
            .field("per_key", &self.per_key)
            .field("window_ms", &self.window_ms)
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

impl RedisFreeAllowance {
    /// A builder for `per_key` free requests per client key per window. Required:
    /// [`window`](RedisFreeAllowanceBuilder::window).
    pub fn builder(conn: RedisConnection, per_key: u32) -> RedisFreeAllowanceBuilder {
        RedisFreeAllowanceBuilder {
            conn,
            per_key,
            window: None,
            scope: DEFAULT_SCOPE.to_owned(),
        }
    }

    /// The Redis key counting the free requests of `client_key`.
    #[must_use]
    pub fn redis_key(&self, client_key: &str) -> String {
        let digest = Sha256::digest(client_key.as_bytes());
        let mut id = String::with_capacity(self.scope.len() + 1 + 64);
        id.push_str(&self.scope);
        id.push(':');
        for b in digest {
            id.push(char::from(HEX[usize::from(b >> 4)]));
            id.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        self.conn.key(ALLOWANCE_KIND, &id)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

#[async_trait::async_trait]
impl FreeAllowance for RedisFreeAllowance {
    async fn try_consume(&self, key: &str) -> bool {
        if self.per_key == 0 {
            return false;
        }
        let redis_key = self.redis_key(key);
        let mut invocation = self.script.prepare_invoke();
        invocation.key(redis_key).arg(self.window_ms);
        let invocation = &invocation;
        match self
            .conn
            .run(|mut conn| async move { invocation.invoke_async::<i64>(&mut conn).await })
            .await
        {
            Ok(used) => used <= i64::from(self.per_key),
            Err(error) => {
                tracing::warn!(%error, "l402-redis: free allowance unavailable; asking to pay");
                false
            }
        }
    }
}

/// Builds a [`RedisFreeAllowance`]. Setters consume and return the builder;
/// [`build`](Self::build) validates.
#[must_use]
#[derive(Debug)]
pub struct RedisFreeAllowanceBuilder {
    conn: RedisConnection,
    per_key: u32,
    window: Option<Duration>,
    scope: String,
}

impl RedisFreeAllowanceBuilder {
    /// The window: each client's counter resets this long after its first free request.
    /// Required (a counter without a window would never leave Redis).
    pub fn window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// Separates the counters of several allowances that share a prefix (default
    /// [`DEFAULT_SCOPE`]): 1 to 64 of `A-Z a-z 0-9 _ - .`.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = scope.into();
        self
    }

    /// Builds the allowance.
    ///
    /// # Errors
    /// [`BuildError::TooShort`] without a window of at least one millisecond,
    /// [`BuildError::Prefix`] for an invalid scope.
    pub fn build(self) -> Result<RedisFreeAllowance, BuildError> {
        let window_ms = self
            .window
            .map(|w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        if window_ms == 0 {
            return Err(BuildError::TooShort("window"));
        }
        validate_name(&self.scope).map_err(|()| BuildError::Prefix(self.scope.clone()))?;
        Ok(RedisFreeAllowance {
            conn: self.conn,
            per_key: self.per_key,
            window_ms,
            scope: self.scope,
            script: redis::Script::new(CONSUME),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn client_keys_are_hashed_and_scoped() {
        let conn = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("p")
            .build()
            .unwrap();
        let a = RedisFreeAllowance::builder(conn.clone(), 1)
            .window(Duration::from_secs(1))
            .scope("api")
            .build()
            .unwrap();
        let key = a.redis_key("sk_live_secret");
        assert!(key.starts_with("p:free:api:"), "{key}");
        assert!(!key.contains("secret"));
        assert_eq!(key.len(), "p:free:api:".len() + 64);
        assert_ne!(key, a.redis_key("sk_live_secreu"));
        assert!(matches!(
            RedisFreeAllowance::builder(conn.clone(), 1).build(),
            Err(BuildError::TooShort("window"))
        ));
        assert!(matches!(
            RedisFreeAllowance::builder(conn, 1)
                .window(Duration::from_secs(1))
                .scope("a:b")
                .build(),
            Err(BuildError::Prefix(_))
        ));
    }

    #[tokio::test]
    async fn zero_allowance_never_calls_redis() {
        // Port 1: nothing listens, yet the answer is immediate.
        let conn = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("p")
            .build()
            .unwrap();
        let a = RedisFreeAllowance::builder(conn, 0)
            .window(Duration::from_secs(1))
            .build()
            .unwrap();
        assert!(!a.try_consume("x").await);
    }
}
