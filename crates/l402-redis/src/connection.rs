//! [`RedisConnection`]: one auto-reconnecting connection, a key namespace and a timeout,
//! shared by every store of a deployment.

use core::fmt;
use core::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::{BuildError, StoreError};

/// Longest key prefix accepted, in bytes.
pub const MAX_PREFIX_LEN: usize = 64;
/// Default bound on every Redis call, including waiting for a (re)connection: 250 ms.
///
/// Long enough for a round trip to a Redis in the same data center under load, short
/// enough that a request never waits noticeably for a Redis that is gone.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

/// How many times the connection manager retries one reconnection before giving up until
/// the next call (each call while disconnected starts a new attempt).
const RECONNECT_RETRIES: usize = 2;
/// First delay between reconnection attempts.
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
/// Longest delay between reconnection attempts.
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);

/// A connection to Redis for the L402 stores: a [`ConnectionManager`] (one multiplexed
/// connection that reconnects by itself), the deployment's key prefix, and the timeout
/// every call is bounded by.
///
/// Cheap to clone; clones share the connection. Build it with
/// [`RedisConnection::builder`]. The connection is opened lazily, on the first call, so a
/// server starts even when Redis is down (the stores then answer errors until it is back).
///
/// `Debug` shows the prefix and the timeout, never the URL (it may hold a password).
#[derive(Clone)]
pub struct RedisConnection {
    manager: ConnectionManager,
    prefix: Arc<str>,
    timeout: Duration,
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnection")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisConnection {
    /// A builder for a connection to `url` (`redis://[user:password@]host:port/[db]`, or
    /// `rediss://` with a TLS feature of the `redis` crate enabled by the application).
    pub fn builder(url: impl Into<String>) -> RedisConnectionBuilder {
        RedisConnectionBuilder {
            url: url.into(),
            prefix: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The key prefix (the deployment's namespace).
    #[must_use]
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The bound on every call.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Sends `PING`: a health check for readiness probes.
    ///
    /// # Errors
    /// [`StoreError`] if Redis does not answer `PONG` within the timeout.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let pong: String = self.query(&redis::cmd("PING")).await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(StoreError::UnexpectedReply)
        }
    }

    /// `<prefix>:<kind>:<id>`: every key this crate writes.
    pub(crate) fn key(&self, kind: &str, id: &str) -> String {
        let mut key = String::with_capacity(self.prefix.len() + kind.len() + id.len() + 2);
        key.push_str(&self.prefix);
        key.push(':');
        key.push_str(kind);
        key.push(':');
        key.push_str(id);
        key
    }

    /// Sends `cmd`, bounded by the timeout (see [`run`](Self::run)).
    pub(crate) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, StoreError> {
        self.run(|mut conn| async move { cmd.query_async(&mut conn).await })
            .await
    }

    /// Runs one Redis call, bounded by the timeout.
    ///
    /// After an outage, the connection manager learns that the connection is gone from a
    /// failed call and only then reconnects; so a call that fails on the connection (not
    /// with an error reply) is tried once more, within the same timeout: the first request
    /// after Redis returns succeeds instead of failing. A retried write may have been
    /// applied once already; the callers tolerate that (`SET NX` then reports a
    /// duplicate, a free-allowance counter counts one more).
    pub(crate) async fn run<T, F, Fut>(&self, mut call: F) -> Result<T, StoreError>
    where
        F: FnMut(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let attempts = async {
            match call(self.manager.clone()).await {
                Err(error) if is_connection_error(&error) => {
                    tracing::debug!(%error, "l402-redis: connection error; trying once more");
                    call(self.manager.clone()).await
                }
                other => other,
            }
        };
        match tokio::time::timeout(self.timeout, attempts).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(StoreError::Redis(error)),
            Err(_) => Err(StoreError::Timeout(self.timeout)),
        }
    }
}

/// Whether the call failed on the connection rather than with an error reply.
fn is_connection_error(error: &redis::RedisError) -> bool {
    error.is_io_error() || error.is_connection_dropped() || error.is_connection_refusal()
}

/// Builds a [`RedisConnection`]. Setters consume and return the builder;
/// [`build`](Self::build) validates.
///
/// Required: a [`prefix`](Self::prefix), the deployment's namespace.
#[must_use]
pub struct RedisConnectionBuilder {
    url: String,
    prefix: Option<String>,
    timeout: Duration,
}

impl fmt::Debug for RedisConnectionBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnectionBuilder")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisConnectionBuilder {
    /// The namespace of every key, one per deployment (e.g. `weather-prod`): 1 to
    /// [`MAX_PREFIX_LEN`] of `A-Z a-z 0-9 _ - .`. Required.
    ///
    /// Instances that must share tokens, revocations and allowances use the same prefix;
    /// deployments sharing a Redis use different ones. No `:` is allowed, so one prefix is
    /// never the start of another's keys.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The bound on every call, including waiting for a reconnection (default
    /// [`DEFAULT_TIMEOUT`]). A call that takes longer fails with
    /// [`StoreError::Timeout`]; the request it serves is answered at once (a 503, or
    /// the documented degraded behaviour).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Validates the configuration and creates the connection manager. Does not connect:
    /// the connection opens on the first call, and reopens by itself after a failure.
    ///
    /// Must be called within a tokio runtime (the manager spawns its reconnection task).
    ///
    /// # Errors
    /// [`BuildError`] for a missing or invalid prefix, a zero timeout, an invalid URL, or
    /// no tokio runtime.
    pub fn build(self) -> Result<RedisConnection, BuildError> {
        let prefix = self.prefix.ok_or(BuildError::MissingPrefix)?;
        validate_name(&prefix).map_err(|()| BuildError::Prefix(prefix.clone()))?;
        if self.timeout.is_zero() {
            return Err(BuildError::ZeroTimeout);
        }
        let client = redis::Client::open(self.url.as_str()).map_err(BuildError::Url)?;
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BuildError::NoRuntime);
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_min_delay(RECONNECT_MIN_DELAY)
            .set_max_delay(RECONNECT_MAX_DELAY);
        let manager =
            ConnectionManager::new_lazy_with_config(client, config).map_err(BuildError::Connect)?;
        Ok(RedisConnection {
            manager,
            prefix: prefix.into(),
            timeout: self.timeout,
        })
    }
}

/// 1 to [`MAX_PREFIX_LEN`] bytes of `A-Z a-z 0-9 _ - .`.
pub(crate) fn validate_name(name: &str) -> Result<(), ()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_PREFIX_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok { Ok(()) } else { Err(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        for ok in ["a", "weather-prod", "eu_1.api", &"x".repeat(MAX_PREFIX_LEN)] {
            assert_eq!(validate_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a:b",
            "a b",
            "a*",
            "é",
            "{tag}",
            &"x".repeat(MAX_PREFIX_LEN + 1),
        ] {
            assert_eq!(validate_name(bad), Err(()), "{bad}");
        }
    }

    #[test]
    fn builder_validates_before_connecting() {
        let err = RedisConnection::builder("redis://127.0.0.1:1/")
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::MissingPrefix), "{err}");
        let err = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("a:b")
            .build()
            .unwrap_err();
        assert!(
            matches!(err, BuildError::Prefix(ref p) if p == "a:b"),
            "{err}"
        );
        let err = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("ok")
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::ZeroTimeout), "{err}");
        let err = RedisConnection::builder("nonsense://x")
            .prefix("ok")
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::Url(_)), "{err}");
        // Outside a runtime: an error, not the manager's panic.
        let err = RedisConnection::builder("redis://127.0.0.1:1/")
            .prefix("ok")
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::NoRuntime), "{err}");
    }

    #[tokio::test]
    async fn debug_hides_the_url_and_keys_are_namespaced() {
        let conn = RedisConnection::builder("redis://user:hunter2@127.0.0.1:1/")
            .prefix("dep")
            .build()
            .unwrap();
        let dbg = format!("{conn:?}");
        assert!(!dbg.contains("hunter2") && dbg.contains("dep"), "{dbg}");
        assert_eq!(conn.key("rk", "00ff"), "dep:rk:00ff");
    }
}
