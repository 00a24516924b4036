//! Root keys and where they live.
//!
//! Every token's macaroon is signed with a 32-byte [`RootKey`]. A [`RootKeyStore`] creates
//! the key when a token is minted and finds it again when the token is presented. Two
//! shapes ship here:
//!
//! * [`MemoryRootKeyStore`]: one random key per token, kept in memory (Aperture's model;
//!   revoking a token deletes its key). Use a shared store, such as the Redis one, for
//!   more than one server instance.
//! * [`DerivedRootKeyStore`]: no per-token state; each token's key is
//!   `HMAC-SHA256(master secret, token id)`, so any number of instances that share the
//!   master secret verify every token. It supports rotation (old secrets keep verifying
//!   until retired) and revocation through a [`RevocationList`].
//!
//! The traits are async so that stores backed by a network service fit; the stores here
//! never wait, so their futures are ready on first poll.

mod derived;
mod memory;
mod revocation;

pub use derived::{
    DerivedRootKeyStore, MAX_MASTER_SECRET_LEN, MIN_MASTER_SECRET_LEN, MasterSecret,
    MasterSecretError,
};
pub use memory::MemoryRootKeyStore;
pub use revocation::{MemoryRevocationList, RevocationList};

use core::fmt;
use core::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::TokenId;
use crate::encoding::{HexError, hex_decode_array};

/// Boxed error source, for store implementations.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The 32-byte secret a token's macaroon is signed with.
///
/// `Debug` is redacted, there is no `Display`, and the bytes are zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct RootKey([u8; 32]);

impl RootKey {
    /// Wraps 32 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        RootKey(bytes)
    }

    /// A fresh key from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`RootKeyError::Randomness`] if the operating system has no randomness to give.
    pub fn generate() -> Result<Self, RootKeyError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(RootKeyError::Randomness)?;
        Ok(RootKey(bytes))
    }

    /// Parses 64 hex characters of either case.
    ///
    /// # Errors
    /// [`HexError`] if the input is not exactly 32 bytes of hex.
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        let bytes = Zeroizing::new(hex_decode_array::<32>(s.trim())?);
        Ok(RootKey(*bytes))
    }

    /// The secret bytes.
    #[must_use]
    pub const fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }

    /// The bytes, for writing a key in place (so no copy is left outside the value).
    pub(crate) fn secret_mut(&mut self) -> &mut [u8; 32] {
        &mut self.0
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

/// Why a root-key store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootKeyError {
    /// The store could not be reached or answered with an error; retrying later may work.
    #[error("root key store unavailable")]
    Unavailable(#[source] BoxError),
    /// The operating system's random number generator failed.
    #[error("no randomness for a root key")]
    Randomness(#[source] getrandom::Error),
    /// A key for this token id already exists (token ids are random; this means a bug or
    /// an attack).
    #[error("a root key already exists for this token id")]
    AlreadyExists,
}

/// Finds, creates and revokes the root keys of tokens.
///
/// # Contract
/// * [`create`](RootKeyStore::create) stores a fresh random (or derived) key for a new
///   token id and returns it. It is called once per minted token.
/// * [`lookup`](RootKeyStore::lookup) returns every key that may have signed the token:
///   none when the token is unknown, expired from the store or revoked; one usually; more
///   than one while a rotated-out secret is still accepted. The verifier accepts a
///   signature made by any of them.
/// * [`revoke`](RootKeyStore::revoke) makes every later `lookup` of the token return no
///   key (within the staleness a distributed store documents). Idempotent.
/// * Errors mean "could not answer", never "no key": a verifier fails closed on them.
pub trait RootKeyStore: Send + Sync {
    /// Creates and stores the root key for a new token. `expires_at` is when the token
    /// stops being valid, if it ever does; a store may forget the key after that.
    fn create(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
    ) -> impl Future<Output = Result<RootKey, RootKeyError>> + Send;

    /// The keys that may have signed this token; empty when unknown or revoked.
    fn lookup(
        &self,
        token_id: &TokenId,
    ) -> impl Future<Output = Result<Vec<RootKey>, RootKeyError>> + Send;

    /// Revokes the token: later lookups return no key.
    fn revoke(&self, token_id: &TokenId) -> impl Future<Output = Result<(), RootKeyError>> + Send;
}

impl<T: RootKeyStore + ?Sized> RootKeyStore for Arc<T> {
    fn create(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
    ) -> impl Future<Output = Result<RootKey, RootKeyError>> + Send {
        (**self).create(token_id, expires_at)
    }

    fn lookup(
        &self,
        token_id: &TokenId,
    ) -> impl Future<Output = Result<Vec<RootKey>, RootKeyError>> + Send {
        (**self).lookup(token_id)
    }

    fn revoke(&self, token_id: &TokenId) -> impl Future<Output = Result<(), RootKeyError>> + Send {
        (**self).revoke(token_id)
    }
}

/// Object-safe form of [`RootKeyStore`], for choosing a store at run time.
///
/// Every `RootKeyStore` implements it; `Arc<dyn DynRootKeyStore>` implements
/// `RootKeyStore` again, so code generic over a store accepts the erased one.
#[async_trait::async_trait]
pub trait DynRootKeyStore: Send + Sync {
    /// See [`RootKeyStore::create`].
    async fn create_dyn(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
    ) -> Result<RootKey, RootKeyError>;
    /// See [`RootKeyStore::lookup`].
    async fn lookup_dyn(&self, token_id: &TokenId) -> Result<Vec<RootKey>, RootKeyError>;
    /// See [`RootKeyStore::revoke`].
    async fn revoke_dyn(&self, token_id: &TokenId) -> Result<(), RootKeyError>;
}

#[async_trait::async_trait]
impl<T: RootKeyStore> DynRootKeyStore for T {
    async fn create_dyn(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
    ) -> Result<RootKey, RootKeyError> {
        self.create(token_id, expires_at).await
    }
    async fn lookup_dyn(&self, token_id: &TokenId) -> Result<Vec<RootKey>, RootKeyError> {
        self.lookup(token_id).await
    }
    async fn revoke_dyn(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        self.revoke(token_id).await
    }
}

impl RootKeyStore for dyn DynRootKeyStore {
    async fn create(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
    ) -> Result<RootKey, RootKeyError> {
        self.create_dyn(token_id, expires_at).await
    }
    async fn lookup(&self, token_id: &TokenId) -> Result<Vec<RootKey>, RootKeyError> {
        self.lookup_dyn(token_id).await
    }
    async fn revoke(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        self.revoke_dyn(token_id).await
    }
}

/// Locks a mutex, recovering the data if another thread panicked while holding it (the
/// stores here keep their maps consistent at every await-free step).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_key_debug_is_redacted() {
        let k = RootKey::from_bytes([0x42; 32]);
        assert_eq!(format!("{k:?}"), "RootKey(<redacted>)");
    }

    #[test]
    fn erased_store_behaves_like_the_store() {
        let store: Arc<dyn DynRootKeyStore> = Arc::new(MemoryRootKeyStore::new());
        let id = TokenId::from_bytes([1; 32]);
        let key = pollster::block_on(store.create(&id, None)).unwrap();
        let found = pollster::block_on(store.lookup(&id)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].expose_secret(), key.expose_secret());
        pollster::block_on(store.revoke(&id)).unwrap();
        assert!(pollster::block_on(store.lookup(&id)).unwrap().is_empty());
    }
}
