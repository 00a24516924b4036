//! Revocation lists for stateless root keys.

use core::future::Future;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use super::{RootKeyError, lock};
use crate::TokenId;

/// A set of revoked token ids.
///
/// # Contract
/// After `revoke(id)` returns `Ok`, `is_revoked(id)` returns `Ok(true)` (a distributed list
/// may take a documented, bounded time to show it everywhere). An `Err` from `is_revoked`
/// means "cannot tell"; the caller decides whether to fail open or closed. `revoke` is
/// idempotent.
pub trait RevocationList: Send + Sync {
    /// Whether the token was revoked.
    fn is_revoked(
        &self,
        token_id: &TokenId,
    ) -> impl Future<Output = Result<bool, RootKeyError>> + Send;

    /// Revokes the token.
    fn revoke(&self, token_id: &TokenId) -> impl Future<Output = Result<(), RootKeyError>> + Send;
}

impl<T: RevocationList + ?Sized> RevocationList for Arc<T> {
    fn is_revoked(
        &self,
        token_id: &TokenId,
    ) -> impl Future<Output = Result<bool, RootKeyError>> + Send {
        (**self).is_revoked(token_id)
    }

    fn revoke(&self, token_id: &TokenId) -> impl Future<Output = Result<(), RootKeyError>> + Send {
        (**self).revoke(token_id)
    }
}

/// A revocation list in this process's memory.
#[derive(Debug, Default)]
pub struct MemoryRevocationList {
    revoked: Mutex<HashSet<TokenId>>,
}

impl MemoryRevocationList {
    /// An empty list.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of revoked tokens.
    #[must_use]
    pub fn len(&self) -> usize {
        lock(&self.revoked).len()
    }

    /// Whether nothing is revoked.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl RevocationList for MemoryRevocationList {
    async fn is_revoked(&self, token_id: &TokenId) -> Result<bool, RootKeyError> {
        Ok(lock(&self.revoked).contains(token_id))
    }

    async fn revoke(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        lock(&self.revoked).insert(*token_id);
        Ok(())
    }
}
