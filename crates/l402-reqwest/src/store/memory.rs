//! The in-memory token store.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use l402_core::PaymentHash;

use super::{ChargeRecord, PendingPayment, StoreLock, StoredToken, TokenRecord, TokenStore};
use crate::error::StoreError;

#[derive(Default)]
struct State {
    records: HashMap<String, TokenRecord>,
    locks: HashMap<String, Arc<tokio::sync::Mutex<()>>>,
}

/// Tokens in memory, lost when the process exits. Cloning shares the store, so several
/// middlewares can use one (they then pay for a key one at a time).
#[derive(Clone, Default)]
pub struct MemoryTokenStore {
    state: Arc<Mutex<State>>,
}

impl MemoryTokenStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Nothing panics while holding the lock; recover the data if it ever did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Number of records (paid and pending).
    #[must_use]
    pub fn len(&self) -> usize {
        self.state().records.len()
    }

    /// Whether the store holds no record.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl core::fmt::Debug for MemoryTokenStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryTokenStore")
            .field("records", &self.len())
            .finish()
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self, key: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.state().records.get(key).cloned())
    }

    async fn save(&self, key: &str, record: &TokenRecord) -> Result<(), StoreError> {
        self.state().records.insert(key.to_owned(), record.clone());
        Ok(())
    }

    async fn remove(&self, key: &str, payment_hash: &PaymentHash) -> Result<bool, StoreError> {
        let mut state = self.state();
        if state
            .records
            .get(key)
            .is_some_and(|r| r.payment_hash() == payment_hash)
        {
            state.records.remove(key);
            return Ok(true);
        }
        Ok(false)
    }

    async fn pending(&self) -> Result<Vec<(String, PendingPayment)>, StoreError> {
        Ok(self
            .state()
            .records
            .iter()
            .filter_map(|(k, r)| match r {
                TokenRecord::Pending(p) => Some((k.clone(), p.clone())),
                _ => None,
            })
            .collect())
    }

    async fn charges(&self) -> Result<Vec<(String, ChargeRecord)>, StoreError> {
        Ok(self
            .state()
            .records
            .iter()
            .filter_map(|(k, r)| match r {
                TokenRecord::Charge(c) => Some((k.clone(), c.clone())),
                _ => None,
            })
            .collect())
    }

    async fn tokens(&self) -> Result<Vec<(String, StoredToken)>, StoreError> {
        Ok(self
            .state()
            .records
            .iter()
            .filter_map(|(k, r)| match r {
                TokenRecord::Paid(t) => Some((k.clone(), t.clone())),
                _ => None,
            })
            .collect())
    }

    async fn lock(&self, key: &str) -> Result<StoreLock, StoreError> {
        let lock = {
            let mut state = self.state();
            Arc::clone(state.locks.entry(key.to_owned()).or_default())
        };
        Ok(StoreLock::new(lock.lock_owned().await))
    }
}
