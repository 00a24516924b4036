//! Free allowances (Aperture's "freebies"): a few requests per client before payment.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Default most keys a [`MemoryFreeAllowance`] tracks: about 10 MB of counters at most.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Counts free requests per client key.
///
/// The layer calls [`try_consume`](FreeAllowance::try_consume) for a request on a priced
/// route that carries no valid token, with the key its key function derived from the
/// request (an IP address, an API key…). `true` lets the request through free.
///
/// # Contract
/// * Return `true` at most as often as the allowance grants; each `true` uses one request.
/// * Fail closed: when the counter cannot be read or written (a shared store is down),
///   return `false`, so that the client is asked to pay rather than served free.
///
/// The trait is object safe (through `async-trait`), so a shared counter such as Redis
/// plugs in the same way as the in-memory one.
#[async_trait::async_trait]
pub trait FreeAllowance: Send + Sync + 'static {
    /// Uses one free request of `key`, if it has one left.
    async fn try_consume(&self, key: &str) -> bool;
}

#[async_trait::async_trait]
impl<T: FreeAllowance + ?Sized> FreeAllowance for Arc<T> {
    async fn try_consume(&self, key: &str) -> bool {
        (**self).try_consume(key).await
    }
}

/// An in-memory [`FreeAllowance`]: `per_key` free requests per key, optionally per time
/// window, in a map bounded to [`max_keys`](MemoryFreeAllowance::max_keys) entries.
///
/// When the map is full, keys it does not already track get no allowance (they pay) until
/// the window resets; this keeps memory bounded under a flood of invented keys. Counts are
/// per process: several instances each grant `per_key`. Use a shared store for an exact
/// global count.
#[derive(Debug)]
pub struct MemoryFreeAllowance {
    per_key: u32,
    max_keys: usize,
    window: Option<Duration>,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    used: HashMap<String, u32>,
    window_start: Instant,
}

impl MemoryFreeAllowance {
    /// `per_key` free requests per key, for the life of the process.
    #[must_use]
    pub fn new(per_key: u32) -> Self {
        MemoryFreeAllowance {
            per_key,
            max_keys: DEFAULT_MAX_KEYS,
            window: None,
            inner: Mutex::new(Inner {
                used: HashMap::new(),
                window_start: Instant::now(),
            }),
        }
    }

    /// Tracks at most `max_keys` keys (default [`DEFAULT_MAX_KEYS`]).
    #[must_use]
    pub fn max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys;
        self
    }

    /// Grants `per_key` requests per `window`: every counter resets when it elapses.
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = Some(window);
        self
    }

    /// Number of keys tracked.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().used.len()
    }

    /// Whether no key is tracked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn consume_now(&self, key: &str, now: Instant) -> bool {
        if self.per_key == 0 {
            return false;
        }
        let mut inner = self.lock();
        if let Some(window) = self.window
            && now.saturating_duration_since(inner.window_start) >= window
        {
            inner.used.clear();
            inner.window_start = now;
        }
        if let Some(used) = inner.used.get_mut(key) {
            if *used < self.per_key {
                *used += 1;
                return true;
            }
            return false;
        }
        if inner.used.len() >= self.max_keys {
            return false;
        }
        inner.used.insert(key.to_owned(), 1);
        true
    }
}

#[async_trait::async_trait]
impl FreeAllowance for MemoryFreeAllowance {
    async fn try_consume(&self, key: &str) -> bool {
        self.consume_now(key, Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_and_stays_bounded() {
        let a = MemoryFreeAllowance::new(2).max_keys(2);
        let now = Instant::now();
        assert!(a.consume_now("a", now));
        assert!(a.consume_now("a", now));
        assert!(!a.consume_now("a", now));
        assert!(a.consume_now("b", now));
        assert!(!a.consume_now("c", now), "map full: new keys pay");
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn window_resets_counters() {
        let a = MemoryFreeAllowance::new(1).window(Duration::from_secs(10));
        let now = Instant::now();
        assert!(a.consume_now("a", now));
        assert!(!a.consume_now("a", now + Duration::from_secs(5)));
        assert!(a.consume_now("a", now + Duration::from_secs(11)));
    }

    #[test]
    fn zero_allowance_grants_nothing() {
        let a = MemoryFreeAllowance::new(0);
        assert!(!a.consume_now("a", Instant::now()));
        assert!(a.is_empty());
    }
}
