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
pub use memory::{DEFAULT_MAX_UNPAID_KEYS, DEFAULT_UNPAID_GRACE, MemoryRootKeyStore};
pub use revocation::{MemoryRevocationList, RevocationList};

use core::fmt;
use core::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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
/// * [`create_unpaid`](RootKeyStore::create_unpaid) does the same for a token whose invoice
///   is not paid yet (a challenge): the store may forget the key once the invoice can no
///   longer be paid, unless [`mark_paid`](RootKeyStore::mark_paid) is called first. Unpaid
///   keys are what an anonymous flood of requests creates; a store that holds keys should
///   bound them (the default forwards to `create`).
/// * [`mark_paid`](RootKeyStore::mark_paid) is called after a token verified (signature,
///   preimage and caveats): its invoice is paid, so its key must now live as long as the
///   token. Idempotent; a no-op for keys created with `create` (the default does nothing).
/// * [`lookup`](RootKeyStore::lookup) returns every key that may have signed the token:
///   none when the token is unknown, expired from the store or revoked; one usually; more
///   than one while a rotated-out secret is still accepted. The verifier accepts a
///   signature made by any of them.
/// * [`revoke`](RootKeyStore::revoke) makes every later `lookup` of the token return no
///   key (within the staleness a distributed store documents). Idempotent.
/// * [`revocation_retention`](RootKeyStore::revocation_retention) says how long a
///   revocation holds: `None` (the default) for ever, else for that long after it is
///   made. A server must not mint tokens that outlive it.
/// * Errors mean "could not answer", never "no key": a verifier fails closed on them.
pub trait RootKeyStore: Send + Sync {
    /// Creates and stores the root key for a new token. `expires_at` is when the token
    /// stops being valid, if it ever does; a store may forget the key after that.
    fn create(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
    ) -> impl Future<Output = Result<RootKey, RootKeyError>> + Send;

    /// Creates and stores the root key for a new token whose invoice can be paid until
    /// `pay_by`. Unless [`mark_paid`](RootKeyStore::mark_paid) is called, the store may
    /// forget the key after `pay_by` (plus whatever grace it documents), or earlier to
    /// stay within a documented bound. The default calls [`create`](RootKeyStore::create).
    fn create_unpaid(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
        pay_by: SystemTime,
    ) -> impl Future<Output = Result<RootKey, RootKeyError>> + Send {
        let _ = pay_by;
        self.create(token_id, expires_at)
    }

    /// Records that the token verified, so its invoice is paid: its key now lives as long
    /// as the token (see [`create_unpaid`](RootKeyStore::create_unpaid)). Called only
    /// after full verification (a preimage alone proves nothing until the signature
    /// does), and idempotent. The default does nothing.
    fn mark_paid(
        &self,
        token_id: &TokenId,
    ) -> impl Future<Output = Result<(), RootKeyError>> + Send {
        let _ = token_id;
        core::future::ready(Ok(()))
    }

    /// The keys that may have signed this token; empty when unknown or revoked.
    fn lookup(
        &self,
        token_id: &TokenId,
    ) -> impl Future<Output = Result<Vec<RootKey>, RootKeyError>> + Send;

    /// Revokes the token: later lookups return no key.
    fn revoke(&self, token_id: &TokenId) -> impl Future<Output = Result<(), RootKeyError>> + Send;

    /// How long a revocation holds after it is made: `None` (the default) for ever. A
    /// store that forgets revocations (to bound its storage) returns how long it keeps
    /// them; tokens must expire within that time, or a revoked token comes back.
    fn revocation_retention(&self) -> Option<Duration> {
        None
    }
}

impl<T: RootKeyStore + ?Sized> RootKeyStore for Arc<T> {
    fn create(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
    ) -> impl Future<Output = Result<RootKey, RootKeyError>> + Send {
        (**self).create(token_id, expires_at)
    }

    fn create_unpaid(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
        pay_by: SystemTime,
    ) -> impl Future<Output = Result<RootKey, RootKeyError>> + Send {
        (**self).create_unpaid(token_id, expires_at, pay_by)
    }

    fn mark_paid(
        &self,
        token_id: &TokenId,
    ) -> impl Future<Output = Result<(), RootKeyError>> + Send {
        (**self).mark_paid(token_id)
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

    fn revocation_retention(&self) -> Option<Duration> {
        (**self).revocation_retention()
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
    /// See [`RootKeyStore::create_unpaid`].
    async fn create_unpaid_dyn(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
        pay_by: SystemTime,
    ) -> Result<RootKey, RootKeyError>;
    /// See [`RootKeyStore::mark_paid`].
    async fn mark_paid_dyn(&self, token_id: &TokenId) -> Result<(), RootKeyError>;
    /// See [`RootKeyStore::lookup`].
    async fn lookup_dyn(&self, token_id: &TokenId) -> Result<Vec<RootKey>, RootKeyError>;
    /// See [`RootKeyStore::revoke`].
    async fn revoke_dyn(&self, token_id: &TokenId) -> Result<(), RootKeyError>;
    /// See [`RootKeyStore::revocation_retention`].
    fn revocation_retention_dyn(&self) -> Option<Duration>;
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
    async fn create_unpaid_dyn(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
        pay_by: SystemTime,
    ) -> Result<RootKey, RootKeyError> {
        self.create_unpaid(token_id, expires_at, pay_by).await
    }
    async fn mark_paid_dyn(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        self.mark_paid(token_id).await
    }
    async fn lookup_dyn(&self, token_id: &TokenId) -> Result<Vec<RootKey>, RootKeyError> {
        self.lookup(token_id).await
    }
    async fn revoke_dyn(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        self.revoke(token_id).await
    }
    fn revocation_retention_dyn(&self) -> Option<Duration> {
        self.revocation_retention()
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
    async fn create_unpaid(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
        pay_by: SystemTime,
    ) -> Result<RootKey, RootKeyError> {
        self.create_unpaid_dyn(token_id, expires_at, pay_by).await
    }
    async fn mark_paid(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        self.mark_paid_dyn(token_id).await
    }
    async fn lookup(&self, token_id: &TokenId) -> Result<Vec<RootKey>, RootKeyError> {
        self.lookup_dyn(token_id).await
    }
    async fn revoke(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        self.revoke_dyn(token_id).await
    }
    fn revocation_retention(&self) -> Option<Duration> {
        self.revocation_retention_dyn()
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
