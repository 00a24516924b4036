//! Single-use consumption of charges: [`ChargeStore`] and the in-memory
//! [`MemoryChargeStore`].

use core::future::Future;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::PaymentHash;
use crate::root_key::{BoxError, lock};

/// Default capacity of a [`MemoryChargeStore`]: 1,048,576 live charges (about 60 MB at
/// most). At Aperture's 15-minute expiry that is over 1,000 paid requests a second.
pub const DEFAULT_CHARGE_STORE_CAPACITY: usize = 1 << 20;
/// How many consumptions pass between sweeps of expired charges.
const SWEEP_EVERY: u64 = 4096;
/// Least time between two sweeps forced by a full store (so that a full store does not
/// cost a sweep per request).
const FULL_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// What [`ChargeStore::consume`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Consumption {
    /// First use: the charge is now consumed.
    Fresh,
    /// Used before: a replay.
    AlreadyUsed,
}

/// Why a charge store could not answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChargeStoreError {
    /// The store could not be reached or answered with an error; retrying later may work.
    #[error("charge store unavailable")]
    Unavailable(#[source] BoxError),
    /// The store holds as many live charges as it may (it never forgets a live one,
    /// which would allow a replay).
    #[error("charge store is full")]
    Full,
}

/// Records which charges were used, so that each is accepted once.
///
/// # Contract
/// * [`consume`](ChargeStore::consume) atomically records `payment_hash` and returns
///   [`Consumption::Fresh`] the first time, [`Consumption::AlreadyUsed`] every later time
///   until `expires_at` (after which the verifier refuses the credential anyway, so the
///   record may be dropped). Among concurrent calls for one hash, across every server
///   sharing the store, exactly one sees `Fresh`.
/// * A call that is retried after a lost reply must still report `Fresh` if it was the
///   first (a paying client must not be refused because of a network hiccup).
/// * Errors mean "could not answer": the server fails closed (503) and the charge stays
///   unconsumed.
pub trait ChargeStore: Send + Sync {
    /// Consumes the charge of `payment_hash`, kept until `expires_at`.
    fn consume(
        &self,
        payment_hash: &PaymentHash,
        expires_at: SystemTime,
    ) -> impl Future<Output = Result<Consumption, ChargeStoreError>> + Send;
}

impl<T: ChargeStore + ?Sized> ChargeStore for Arc<T> {
    fn consume(
        &self,
        payment_hash: &PaymentHash,
        expires_at: SystemTime,
    ) -> impl Future<Output = Result<Consumption, ChargeStoreError>> + Send {
        (**self).consume(payment_hash, expires_at)
    }
}

/// Object-safe form of [`ChargeStore`], for choosing a store at run time;
/// `dyn DynChargeStore` implements `ChargeStore` again.
#[async_trait::async_trait]
pub trait DynChargeStore: Send + Sync {
    /// See [`ChargeStore::consume`].
    async fn consume_dyn(
        &self,
        payment_hash: &PaymentHash,
        expires_at: SystemTime,
    ) -> Result<Consumption, ChargeStoreError>;
}

#[async_trait::async_trait]
impl<T: ChargeStore> DynChargeStore for T {
    async fn consume_dyn(
        &self,
        payment_hash: &PaymentHash,
        expires_at: SystemTime,
    ) -> Result<Consumption, ChargeStoreError> {
        self.consume(payment_hash, expires_at).await
    }
}

impl ChargeStore for dyn DynChargeStore {
    async fn consume(
        &self,
        payment_hash: &PaymentHash,
        expires_at: SystemTime,
    ) -> Result<Consumption, ChargeStoreError> {
        self.consume_dyn(payment_hash, expires_at).await
    }
}

/// Hashes a [`PaymentHash`] with a cheap fold and mix: it is already a SHA-256 output, of
/// a preimage the server's node chose, and only verified charges are stored, so no client
/// can pick keys that collide. (SipHash would cost more than the rest of the look-up.) The
/// final mix (MurmurHash3's) keeps even structured keys spread over the table.
#[derive(Default)]
struct HashOfHash(u64);

impl core::hash::Hasher for HashOfHash {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            if let Some(head) = w.get_mut(..chunk.len()) {
                head.copy_from_slice(chunk);
            }
            self.0 = self.0.rotate_left(23) ^ u64::from_le_bytes(w);
        }
    }

    fn write_usize(&mut self, _len: usize) {
        // The length prefix of the 32-byte array: constant, nothing to mix.
    }
}

type HashOfHashes = core::hash::BuildHasherDefault<HashOfHash>;

struct Inner {
    used: HashMap<PaymentHash, SystemTime, HashOfHashes>,
    consumptions: u64,
    last_full_sweep: Option<SystemTime>,
}

/// Used charges in this process's memory: bounded, each dropped after its expiry.
///
/// For one server. A fleet needs one shared store (`l402-redis`'s `RedisChargeStore`):
/// with one store per instance, a credential could be spent once on each. A restart
/// forgets every charge, so a credential could be replayed once more until it expires
/// (keep expiries short, as the default 15 minutes is).
///
/// When full of live charges, it refuses new ones ([`ChargeStoreError::Full`]) rather
/// than forget one, which would allow its replay.
pub struct MemoryChargeStore {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl Default for MemoryChargeStore {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CHARGE_STORE_CAPACITY)
    }
}

impl MemoryChargeStore {
    /// An empty store of [`DEFAULT_CHARGE_STORE_CAPACITY`].
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store holding at most `capacity` live charges (at least one).
    #[must_use]
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryChargeStore {
            inner: Mutex::new(Inner {
                used: HashMap::default(),
                consumptions: 0,
                last_full_sweep: None,
            }),
            capacity: capacity.max(1),
        }
    }

    /// Charges held (live ones, plus expired ones not yet swept).
    #[must_use]
    pub fn len(&self) -> usize {
        lock(&self.inner).used.len()
    }

    /// Whether the store holds no charge.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// [`ChargeStore::consume`] at the time `now`, synchronously.
    ///
    /// # Errors
    /// [`ChargeStoreError::Full`].
    pub fn consume_at(
        &self,
        payment_hash: &PaymentHash,
        expires_at: SystemTime,
        now: SystemTime,
    ) -> Result<Consumption, ChargeStoreError> {
        let mut inner = lock(&self.inner);
        if inner.used.get(payment_hash).is_some_and(|exp| *exp > now) {
            return Ok(Consumption::AlreadyUsed);
        }
        inner.consumptions = inner.consumptions.wrapping_add(1);
        let len = inner.used.len();
        let full = len >= self.capacity && !inner.used.contains_key(payment_hash);
        let due = inner.consumptions.is_multiple_of(SWEEP_EVERY);
        let may_sweep_full = inner.last_full_sweep.is_none_or(|t| {
            now.duration_since(t)
                .map_or(true, |d| d >= FULL_SWEEP_INTERVAL)
        });
        if due || (full && may_sweep_full) {
            inner.used.retain(|_, exp| *exp > now);
            if full {
                inner.last_full_sweep = Some(now);
            }
        }
        if inner.used.len() >= self.capacity && !inner.used.contains_key(payment_hash) {
            return Err(ChargeStoreError::Full);
        }
        inner.used.insert(*payment_hash, expires_at);
        Ok(Consumption::Fresh)
    }
}

impl ChargeStore for MemoryChargeStore {
    async fn consume(
        &self,
        payment_hash: &PaymentHash,
        expires_at: SystemTime,
    ) -> Result<Consumption, ChargeStoreError> {
        self.consume_at(payment_hash, expires_at, SystemTime::now())
    }
}

impl core::fmt::Debug for MemoryChargeStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("MemoryChargeStore")
            .field("charges", &self.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(b: u8) -> PaymentHash {
        PaymentHash::from_bytes([b; 32])
    }

    #[test]
    fn consumes_once_until_expiry() {
        let s = MemoryChargeStore::new();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let exp = now + Duration::from_secs(900);
        assert_eq!(s.consume_at(&h(1), exp, now).unwrap(), Consumption::Fresh);
        assert_eq!(
            s.consume_at(&h(1), exp, now).unwrap(),
            Consumption::AlreadyUsed
        );
        assert_eq!(
            s.consume_at(&h(1), exp, exp - Duration::from_secs(1))
                .unwrap(),
            Consumption::AlreadyUsed
        );
        assert_eq!(s.consume_at(&h(2), exp, now).unwrap(), Consumption::Fresh);
        let erased: Arc<dyn DynChargeStore> = Arc::new(MemoryChargeStore::new());
        assert_eq!(
            pollster::block_on(erased.consume(&h(3), SystemTime::now() + Duration::from_secs(60)))
                .unwrap(),
            Consumption::Fresh
        );
        assert_eq!(
            pollster::block_on(erased.consume(&h(3), SystemTime::now() + Duration::from_secs(60)))
                .unwrap(),
            Consumption::AlreadyUsed
        );
    }

    #[test]
    fn full_store_refuses_rather_than_forgets_and_drops_expired() {
        let s = MemoryChargeStore::with_capacity(2);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let soon = now + Duration::from_secs(10);
        let late = now + Duration::from_secs(900);
        s.consume_at(&h(1), soon, now).unwrap();
        s.consume_at(&h(2), late, now).unwrap();
        assert!(matches!(
            s.consume_at(&h(3), late, now),
            Err(ChargeStoreError::Full)
        ));
        // A replay of a live charge is still refused, full or not.
        assert_eq!(
            s.consume_at(&h(2), late, now).unwrap(),
            Consumption::AlreadyUsed
        );
        // Once the first expires, its room is reused.
        let later = soon + Duration::from_secs(1);
        assert_eq!(
            s.consume_at(&h(3), late, later).unwrap(),
            Consumption::Fresh
        );
        assert_eq!(s.len(), 2);
        assert_eq!(
            s.consume_at(&h(2), late, later).unwrap(),
            Consumption::AlreadyUsed
        );
    }
}
