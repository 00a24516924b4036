//! [`MemoryRootKeyStore`]: one random root key per token, in memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use super::{RootKey, RootKeyError, RootKeyStore, lock};
use crate::TokenId;

/// How many creations pass between sweeps of expired keys.
const SWEEP_EVERY: u64 = 1024;

#[derive(Default)]
struct Inner {
    keys: HashMap<TokenId, (RootKey, Option<SystemTime>)>,
    creations: u64,
}

/// One random 32-byte root key per token, kept in this process (Aperture's model).
///
/// Keys of expired tokens are dropped (lazily on lookup, and in periodic sweeps), so memory
/// follows the number of live tokens. Revoking deletes the key. Tokens do not survive a
/// restart and are not shared between processes: use
/// [`DerivedRootKeyStore`](super::DerivedRootKeyStore) or a shared store for that.
#[derive(Default)]
pub struct MemoryRootKeyStore {
    inner: Mutex<Inner>,
}

impl MemoryRootKeyStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of keys held (live tokens, plus expired ones not yet swept).
    #[must_use]
    pub fn len(&self) -> usize {
        lock(&self.inner).keys.len()
    }

    /// Whether the store holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn create_now(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<RootKey, RootKeyError> {
        let key = RootKey::generate()?;
        let mut inner = lock(&self.inner);
        inner.creations = inner.creations.wrapping_add(1);
        if inner.creations.is_multiple_of(SWEEP_EVERY) {
            inner.keys.retain(|_, (_, exp)| exp.is_none_or(|e| e > now));
        }
        if inner.keys.contains_key(token_id) {
            return Err(RootKeyError::AlreadyExists);
        }
        inner.keys.insert(*token_id, (key.clone(), expires_at));
        Ok(key)
    }

    fn lookup_now(&self, token_id: &TokenId, now: SystemTime) -> Vec<RootKey> {
        let mut inner = lock(&self.inner);
        match inner.keys.get(token_id) {
            Some((key, exp)) if exp.is_none_or(|e| e > now) => vec![key.clone()],
            Some(_) => {
                inner.keys.remove(token_id);
                Vec::new()
            }
            None => Vec::new(),
        }
    }
}

impl RootKeyStore for MemoryRootKeyStore {
    async fn create(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
    ) -> Result<RootKey, RootKeyError> {
        self.create_now(token_id, expires_at, SystemTime::now())
    }

    async fn lookup(&self, token_id: &TokenId) -> Result<Vec<RootKey>, RootKeyError> {
        Ok(self.lookup_now(token_id, SystemTime::now()))
    }

    async fn revoke(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        lock(&self.inner).keys.remove(token_id);
        Ok(())
    }
}

impl core::fmt::Debug for MemoryRootKeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryRootKeyStore")
            .field("keys", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn keys_are_random_per_token_and_expire() {
        let store = MemoryRootKeyStore::new();
        let now = SystemTime::now();
        let a = TokenId::from_bytes([1; 32]);
        let b = TokenId::from_bytes([2; 32]);
        let ka = store
            .create_now(&a, Some(now + Duration::from_secs(10)), now)
            .unwrap();
        let kb = store.create_now(&b, None, now).unwrap();
        assert_ne!(ka.expose_secret(), kb.expose_secret());
        assert!(matches!(
            store.create_now(&a, None, now),
            Err(RootKeyError::AlreadyExists)
        ));
        assert_eq!(store.lookup_now(&a, now).len(), 1);
        assert!(
            store
                .lookup_now(&a, now + Duration::from_secs(10))
                .is_empty()
        );
        assert_eq!(store.len(), 1, "the expired key was dropped on lookup");
    }
}
