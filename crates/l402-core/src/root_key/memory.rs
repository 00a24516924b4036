//! [`MemoryRootKeyStore`]: one random root key per token, in memory.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::{RootKey, RootKeyError, RootKeyStore, lock};
use crate::TokenId;

/// How many creations pass between full sweeps of expired keys.
const SWEEP_EVERY: u64 = 1024;

/// Default most keys of unpaid tokens held at once: 100,000, about 15 MB.
///
/// Every challenge (402) creates one; a flood of anonymous requests fills this bound, not
/// memory. A client that pays within the time the flood takes to create this many
/// challenges keeps its token; see [`MemoryRootKeyStore::max_unpaid`].
pub const DEFAULT_MAX_UNPAID_KEYS: usize = 100_000;

/// Default time the key of an unpaid token outlives its invoice: ten minutes.
///
/// A client may pay in the last second of the invoice and present the token a little
/// later (after a slow payment, a retry or a restart); the grace covers that.
pub const DEFAULT_UNPAID_GRACE: Duration = Duration::from_secs(600);

struct Entry {
    key: RootKey,
    /// When the token expires, if it does.
    expires_at: Option<SystemTime>,
    /// `Some` while the token is unpaid: the key is dropped at this instant unless the
    /// token verifies first.
    unpaid_until: Option<SystemTime>,
}

impl Entry {
    fn live(&self, now: SystemTime) -> bool {
        self.expires_at.is_none_or(|e| e > now) && self.unpaid_until.is_none_or(|u| u > now)
    }
}

#[derive(Default)]
struct Inner {
    keys: HashMap<TokenId, Entry>,
    /// Unpaid keys in creation order, with their deadlines. An element is stale when its
    /// key was since paid, revoked or dropped; stale elements are skipped when popped.
    unpaid: VecDeque<(TokenId, SystemTime)>,
    /// Number of entries of `keys` that are unpaid.
    unpaid_count: usize,
    creations: u64,
}

impl Inner {
    /// Whether the queue element `(id, until)` still stands for an unpaid key.
    fn is_current(&self, id: &TokenId, until: SystemTime) -> bool {
        self.keys
            .get(id)
            .is_some_and(|e| e.unpaid_until == Some(until))
    }

    fn remove(&mut self, id: &TokenId) {
        if let Some(entry) = self.keys.remove(id)
            && entry.unpaid_until.is_some()
        {
            self.unpaid_count -= 1;
        }
    }

    /// Drops unpaid keys past their deadline from the front of the queue, then the oldest
    /// unpaid keys until fewer than `max` remain. Amortised O(1): each queue element is
    /// pushed once and popped once.
    fn make_room(&mut self, now: SystemTime, max: usize) {
        while let Some(&(id, until)) = self.unpaid.front() {
            if !self.is_current(&id, until) {
                self.unpaid.pop_front();
            } else if until <= now || self.unpaid_count >= max {
                self.unpaid.pop_front();
                self.remove(&id);
            } else {
                break;
            }
        }
    }

    /// Drops every expired key (paid or not). O(n), run every [`SWEEP_EVERY`] creations.
    fn sweep(&mut self, now: SystemTime) {
        self.keys.retain(|_, e| e.live(now));
        self.unpaid_count = self
            .keys
            .values()
            .filter(|e| e.unpaid_until.is_some())
            .count();
        let keys = &self.keys;
        self.unpaid
            .retain(|(id, until)| keys.get(id).is_some_and(|e| e.unpaid_until == Some(*until)));
    }
}

/// One random 32-byte root key per token, kept in this process (Aperture's model).
///
/// **Paid and unpaid keys.** The key of a token minted for a challenge
/// ([`create_unpaid`](RootKeyStore::create_unpaid)) is held only until its invoice can no
/// longer be paid, plus a [grace](Self::unpaid_grace) (default [`DEFAULT_UNPAID_GRACE`]).
/// When the token first verifies ([`mark_paid`](RootKeyStore::mark_paid), which the layer
/// calls after a successful verification), its key is kept for the token's own lifetime,
/// or for the life of the process when the token never expires. So the keys of challenges
/// nobody pays go away on their own, and a paid token keeps working.
///
/// **Bounded under floods.** At most [`max_unpaid`](Self::max_unpaid) unpaid keys are held
/// (default [`DEFAULT_MAX_UNPAID_KEYS`]). When a new challenge would exceed it, the oldest
/// unpaid key is dropped: new challenges keep being answered, and the tokens dropped are
/// those whose holders took longest not to pay. A client whose payment takes longer than
/// the flood needs to create `max_unpaid` challenges would lose its token (it paid, and the
/// server no longer knows the token): put a rate or concurrency limit in front of the
/// layer so that no flood gets there. Paid keys are not bounded: each one was paid for.
///
/// Expired keys are dropped lazily on lookup, unpaid ones past their deadline on every
/// creation (amortised constant time), and all expired ones in periodic sweeps, so memory
/// follows the number of live tokens. Revoking deletes the key (for ever: the token id is
/// unknown from then on). Tokens do not survive a restart and are not shared between
/// processes: use [`DerivedRootKeyStore`](super::DerivedRootKeyStore) or a shared store for
/// that.
pub struct MemoryRootKeyStore {
    inner: Mutex<Inner>,
    max_unpaid: usize,
    unpaid_grace: Duration,
}

impl Default for MemoryRootKeyStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryRootKeyStore {
    /// An empty store with the default bounds.
    #[must_use]
    pub fn new() -> Self {
        MemoryRootKeyStore {
            inner: Mutex::new(Inner::default()),
            max_unpaid: DEFAULT_MAX_UNPAID_KEYS,
            unpaid_grace: DEFAULT_UNPAID_GRACE,
        }
    }

    /// Holds at most `max` keys of unpaid tokens (at least one; default
    /// [`DEFAULT_MAX_UNPAID_KEYS`]), dropping the oldest when a new one would exceed it.
    #[must_use]
    pub fn max_unpaid(mut self, max: usize) -> Self {
        self.max_unpaid = max.max(1);
        self
    }

    /// How long the key of an unpaid token outlives its invoice (default
    /// [`DEFAULT_UNPAID_GRACE`]).
    #[must_use]
    pub fn unpaid_grace(mut self, grace: Duration) -> Self {
        self.unpaid_grace = grace;
        self
    }

    /// Number of keys held (live tokens, plus expired ones not yet swept).
    #[must_use]
    pub fn len(&self) -> usize {
        lock(&self.inner).keys.len()
    }

    /// Number of keys of unpaid tokens held.
    #[must_use]
    pub fn unpaid_len(&self) -> usize {
        lock(&self.inner).unpaid_count
    }

    /// Whether the store holds no key.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every expired key now (paid or unpaid), and returns how many keys are left.
    /// The store also does this on its own, in periodic sweeps.
    pub fn sweep(&self) -> usize {
        let mut inner = lock(&self.inner);
        inner.sweep(SystemTime::now());
        inner.keys.len()
    }

    fn insert(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
        pay_by: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<RootKey, RootKeyError> {
        let key = RootKey::generate()?;
        // The key lives until the invoice can no longer be paid (plus the grace), and
        // never longer than the token itself.
        let unpaid_until = pay_by.map(|p| {
            let until = p.checked_add(self.unpaid_grace).unwrap_or(p);
            expires_at.map_or(until, |e| e.min(until))
        });
        let mut inner = lock(&self.inner);
        inner.creations = inner.creations.wrapping_add(1);
        if inner.creations.is_multiple_of(SWEEP_EVERY) {
            inner.sweep(now);
        }
        match inner.keys.get(token_id) {
            Some(e) if e.live(now) => return Err(RootKeyError::AlreadyExists),
            Some(_) => inner.remove(token_id),
            None => {}
        }
        if let Some(until) = unpaid_until {
            inner.make_room(now, self.max_unpaid);
            inner.unpaid.push_back((*token_id, until));
            inner.unpaid_count += 1;
        }
        inner.keys.insert(
            *token_id,
            Entry {
                key: key.clone(),
                expires_at,
                unpaid_until,
            },
        );
        Ok(key)
    }

    fn lookup_now(&self, token_id: &TokenId, now: SystemTime) -> Vec<RootKey> {
        let mut inner = lock(&self.inner);
        match inner.keys.get(token_id) {
            Some(entry) if entry.live(now) => vec![entry.key.clone()],
            Some(_) => {
                inner.remove(token_id);
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    fn mark_paid_now(&self, token_id: &TokenId, now: SystemTime) {
        let mut inner = lock(&self.inner);
        let Some(entry) = inner.keys.get_mut(token_id) else {
            return;
        };
        if !entry.live(now) || entry.unpaid_until.is_none() {
            return;
        }
        // Its queue element is now stale and is skipped when popped.
        entry.unpaid_until = None;
        inner.unpaid_count -= 1;
    }
}

impl RootKeyStore for MemoryRootKeyStore {
    async fn create(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
    ) -> Result<RootKey, RootKeyError> {
        self.insert(token_id, expires_at, None, SystemTime::now())
    }

    async fn create_unpaid(
        &self,
        token_id: &TokenId,
        expires_at: Option<SystemTime>,
        pay_by: SystemTime,
    ) -> Result<RootKey, RootKeyError> {
        self.insert(token_id, expires_at, Some(pay_by), SystemTime::now())
    }

    async fn mark_paid(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        self.mark_paid_now(token_id, SystemTime::now());
        Ok(())
    }

    async fn lookup(&self, token_id: &TokenId) -> Result<Vec<RootKey>, RootKeyError> {
        Ok(self.lookup_now(token_id, SystemTime::now()))
    }

    async fn revoke(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        lock(&self.inner).remove(token_id);
        Ok(())
    }
}

impl core::fmt::Debug for MemoryRootKeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let inner = lock(&self.inner);
        f.debug_struct("MemoryRootKeyStore")
            .field("keys", &inner.keys.len())
            .field("unpaid", &inner.unpaid_count)
            .field("max_unpaid", &self.max_unpaid)
            .field("unpaid_grace", &self.unpaid_grace)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> TokenId {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&n.to_be_bytes());
        TokenId::from_bytes(b)
    }

    #[test]
    fn keys_are_random_per_token_and_expire() {
        let store = MemoryRootKeyStore::new();
        let now = SystemTime::now();
        let a = TokenId::from_bytes([1; 32]);
        let b = TokenId::from_bytes([2; 32]);
        let ka = store
            .insert(&a, Some(now + Duration::from_secs(10)), None, now)
            .unwrap();
        let kb = store.insert(&b, None, None, now).unwrap();
        assert_ne!(ka.expose_secret(), kb.expose_secret());
        assert!(matches!(
            store.insert(&a, None, None, now),
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

    #[test]
    fn unpaid_keys_die_with_their_invoice_paid_ones_live_on() {
        let store = MemoryRootKeyStore::new().unpaid_grace(Duration::from_secs(5));
        let t0 = SystemTime::now();
        let pay_by = t0 + Duration::from_secs(60);
        let (paid, unpaid) = (id(1), id(2));
        store.insert(&paid, None, Some(pay_by), t0).unwrap();
        store.insert(&unpaid, None, Some(pay_by), t0).unwrap();
        assert_eq!(store.unpaid_len(), 2);
        store.mark_paid_now(&paid, t0 + Duration::from_secs(30));
        store.mark_paid_now(&paid, t0 + Duration::from_secs(31));
        assert_eq!(store.unpaid_len(), 1);
        // Within the grace the unpaid key still verifies (a last-second payment).
        let late = t0 + Duration::from_secs(64);
        assert_eq!(store.lookup_now(&unpaid, late).len(), 1);
        let after = t0 + Duration::from_secs(65);
        assert!(store.lookup_now(&unpaid, after).is_empty());
        // The paid token never expires: its key stays.
        let much_later = t0 + Duration::from_secs(10 * 365 * 86_400);
        assert_eq!(store.lookup_now(&paid, much_later).len(), 1);
        assert_eq!((store.len(), store.unpaid_len()), (1, 0));
        // Marking an expired unpaid key paid does not revive it.
        store.insert(&id(3), None, Some(pay_by), t0).unwrap();
        store.mark_paid_now(&id(3), after);
        assert!(store.lookup_now(&id(3), after).is_empty());
    }

    #[test]
    fn an_unpaid_key_never_outlives_its_token() {
        let store = MemoryRootKeyStore::new();
        let t0 = SystemTime::now();
        let a = id(1);
        store
            .insert(
                &a,
                Some(t0 + Duration::from_secs(2)),
                Some(t0 + Duration::from_secs(3600)),
                t0,
            )
            .unwrap();
        assert!(store.lookup_now(&a, t0 + Duration::from_secs(2)).is_empty());
    }

    #[test]
    fn creations_sweep_expired_unpaid_keys_and_respect_the_cap() {
        let store = MemoryRootKeyStore::new()
            .max_unpaid(100)
            .unpaid_grace(Duration::ZERO);
        let t0 = SystemTime::now();
        let pay_by = t0 + Duration::from_secs(10);
        for n in 0..1_000 {
            store.insert(&id(n), None, Some(pay_by), t0).unwrap();
            assert!(store.unpaid_len() <= 100);
        }
        assert_eq!(store.len(), 100);
        // The newest were kept, the oldest dropped.
        assert_eq!(store.lookup_now(&id(999), t0).len(), 1);
        assert!(store.lookup_now(&id(0), t0).is_empty());
        // One creation after the deadline drops every expired unpaid key.
        let later = t0 + Duration::from_secs(11);
        store
            .insert(
                &id(5_000),
                None,
                Some(later + Duration::from_secs(10)),
                later,
            )
            .unwrap();
        assert_eq!(store.len(), 1);
        assert_eq!(
            lock(&store.inner).unpaid.len(),
            1,
            "the queue is drained too"
        );
    }

    #[test]
    fn paid_keys_are_never_evicted_by_unpaid_ones() {
        let store = MemoryRootKeyStore::new().max_unpaid(10);
        let t0 = SystemTime::now();
        let pay_by = t0 + Duration::from_secs(3600);
        store.insert(&id(0), None, Some(pay_by), t0).unwrap();
        store.mark_paid_now(&id(0), t0);
        for n in 1..1_000 {
            store.insert(&id(n), None, Some(pay_by), t0).unwrap();
        }
        assert_eq!(store.lookup_now(&id(0), t0).len(), 1);
        assert_eq!((store.len(), store.unpaid_len()), (11, 10));
        let inner = lock(&store.inner);
        assert!(inner.unpaid.len() <= 11, "{}", inner.unpaid.len());
    }

    #[test]
    fn revoking_an_unpaid_key_keeps_the_count_right() {
        let store = MemoryRootKeyStore::new().max_unpaid(2);
        let t0 = SystemTime::now();
        let pay_by = t0 + Duration::from_secs(60);
        store.insert(&id(1), None, Some(pay_by), t0).unwrap();
        pollster::block_on(store.revoke(&id(1))).unwrap();
        assert_eq!(store.unpaid_len(), 0);
        store.insert(&id(2), None, Some(pay_by), t0).unwrap();
        store.insert(&id(3), None, Some(pay_by), t0).unwrap();
        assert_eq!(
            store.lookup_now(&id(2), t0).len(),
            1,
            "no eviction below the cap"
        );
        assert_eq!(store.unpaid_len(), 2);
    }
}
