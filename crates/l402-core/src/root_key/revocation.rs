//! Revocation lists for stateless root keys.

use core::future::Future;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{RootKeyError, lock};
use crate::TokenId;

/// A set of revoked token ids.
///
/// # Contract
/// After `revoke(id)` returns `Ok`, `is_revoked(id)` returns `Ok(true)` (a distributed list
/// may take a documented, bounded time to show it everywhere). An `Err` from `is_revoked`
/// means "cannot tell"; the caller decides whether to fail open or closed. `revoke` is
/// idempotent. A revocation holds for [`retention`](RevocationList::retention) after it is
/// made: for ever unless the list says otherwise.
pub trait RevocationList: Send + Sync {
    /// Whether the token was revoked.
    fn is_revoked(
        &self,
        token_id: &TokenId,
    ) -> impl Future<Output = Result<bool, RootKeyError>> + Send;

    /// Revokes the token.
    fn revoke(&self, token_id: &TokenId) -> impl Future<Output = Result<(), RootKeyError>> + Send;

    /// How long a revocation is remembered after it is made: `None` (the default) for
    /// ever. A list that forgets revocations to bound its storage returns how long it
    /// keeps them; every token must expire within that time, or a revoked token is
    /// accepted again once its revocation is forgotten.
    fn retention(&self) -> Option<Duration> {
        None
    }
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

    fn retention(&self) -> Option<Duration> {
        (**self).retention()
    }
}

/// A revocation list in this process's memory. Revocations are kept for ever
/// ([`retention`](RevocationList::retention) is `None`).
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
