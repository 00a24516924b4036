//! Errors: building the stores, and Redis calls failing.

use std::time::Duration;

use l402_core::RootKeyError;

/// Why a builder of this crate could not build.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// No key prefix was given.
    #[error("no key prefix: call prefix()")]
    MissingPrefix,
    /// The key prefix (or an allowance scope) is empty, too long, or has a character
    /// outside `A-Z a-z 0-9 _ - .`.
    #[error("invalid key name part {0:?}: use 1 to 64 of A-Z a-z 0-9 _ - .")]
    Prefix(String),
    /// The call timeout is zero.
    #[error("timeout must be positive")]
    ZeroTimeout,
    /// The Redis URL could not be parsed (the URL is not repeated: it may hold a password).
    #[error("invalid redis url")]
    Url(#[source] redis::RedisError),
    /// Not called within a tokio runtime.
    #[error("no tokio runtime: build the connection within one")]
    NoRuntime,
    /// The connection manager could not be created.
    #[error("redis connection manager could not be created")]
    Connect(#[source] redis::RedisError),
    /// The revocation list needs the longest token lifetime, to expire its entries.
    #[error("no max token lifetime: call max_token_lifetime()")]
    MissingMaxTokenLifetime,
    /// A duration that must be at least one millisecond (a window, a lifetime, a TTL) is
    /// shorter.
    #[error("{0} must be at least one millisecond")]
    TooShort(&'static str),
    /// The local cache capacity is zero.
    #[error("cache capacity must be positive")]
    ZeroCacheCapacity,
}

/// Why a Redis call failed. It travels as the source of
/// [`RootKeyError::Unavailable`] out of the stores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Redis did not answer within the timeout (down, unreachable, overloaded, or
    /// reconnecting).
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// The call failed: connection refused or lost, or an error reply.
    #[error("redis call failed")]
    Redis(#[source] redis::RedisError),
    /// A stored value is not what this crate writes (a root key of the wrong length):
    /// another writer uses the same prefix.
    #[error("redis holds a malformed value for this key")]
    Malformed,
    /// Redis answered something this crate did not ask for.
    #[error("unexpected reply from redis")]
    UnexpectedReply,
}

impl StoreError {
    /// Whether the call timed out.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, StoreError::Timeout(_))
    }
}

impl From<StoreError> for RootKeyError {
    fn from(e: StoreError) -> Self {
        RootKeyError::Unavailable(Box::new(e))
    }
}
