//! [`DerivedRootKeyStore`]: stateless root keys derived from a master secret.

use core::fmt;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{MemoryRevocationList, RevocationList, RootKey, RootKeyError, RootKeyStore};
use crate::TokenId;
use crate::encoding::hex_decode;
use crate::macaroon::KeyStates;

/// Shortest master secret accepted, in bytes.
pub const MIN_MASTER_SECRET_LEN: usize = 32;
/// Longest master secret accepted, in bytes.
pub const MAX_MASTER_SECRET_LEN: usize = 1024;

/// The secret every token's root key is derived from: at least 32 random bytes.
///
/// Held only as the HMAC inner and outer states of the secret, computed once when the
/// value is made (the secret bytes themselves are not kept), so each derivation costs two
/// SHA-256 compressions and never re-pads the secret. `Debug` is redacted and the states
/// are zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterSecret(KeyStates);

/// Why bytes are not a usable master secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MasterSecretError {
    /// Too short to be a secret, or unreasonably long.
    #[error(
        "master secret must be {MIN_MASTER_SECRET_LEN} to {MAX_MASTER_SECRET_LEN} bytes, got {0}"
    )]
    Length(usize),
    /// The text form is not hex.
    #[error("master secret is not hex")]
    NotHex,
}

impl MasterSecret {
    /// Wraps secret bytes.
    ///
    /// # Errors
    /// [`MasterSecretError::Length`] unless 32 to 1024 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MasterSecretError> {
        if !(MIN_MASTER_SECRET_LEN..=MAX_MASTER_SECRET_LEN).contains(&bytes.len()) {
            return Err(MasterSecretError::Length(bytes.len()));
        }
        Ok(MasterSecret(KeyStates::new(bytes)))
    }

    /// Parses hex (surrounding white space ignored, as in a file with a trailing newline).
    ///
    /// # Errors
    /// [`MasterSecretError`] if not hex or of the wrong length.
    pub fn from_hex(s: &str) -> Result<Self, MasterSecretError> {
        let bytes = Zeroizing::new(hex_decode(s.trim()).map_err(|_| MasterSecretError::NotHex)?);
        Self::from_bytes(&bytes)
    }

    /// 32 fresh random bytes.
    ///
    /// # Errors
    /// [`RootKeyError::Randomness`] if the operating system has no randomness to give.
    pub fn generate() -> Result<Self, RootKeyError> {
        let key = RootKey::generate()?;
        Ok(MasterSecret(KeyStates::new(key.expose_secret())))
    }

    /// `HMAC-SHA256(key = master secret, msg = label)`: a secret for another purpose,
    /// separated from the root keys by a label that is not 32 bytes long (token ids are).
    pub(crate) fn derive_labelled(&self, label: &[u8]) -> Zeroizing<[u8; 32]> {
        debug_assert_ne!(label.len(), 32);
        let mut out = Zeroizing::new([0u8; 32]);
        self.0.mac_into(label, &mut out);
        out
    }

    /// `root key = HMAC-SHA256(key = master secret, msg = token id)`, written straight
    /// into the [`RootKey`] (zeroized when the caller drops it) from working memory that
    /// is zeroized before this returns.
    fn derive(&self, token_id: &TokenId) -> RootKey {
        let mut key = RootKey::from_bytes([0; 32]);
        self.0.mac_into(token_id.as_bytes(), key.secret_mut());
        key
    }
}

impl fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterSecret(<redacted>)")
    }
}

struct Secrets {
    current: MasterSecret,
    previous: Vec<MasterSecret>,
}

/// Stateless root keys: `root key = HMAC-SHA256(master secret, token id)`.
///
/// Any number of server instances that share the master secret verify each other's tokens
/// with no shared database. Revocation goes through a [`RevocationList`] (in memory by
/// default; a shared one for a fleet).
///
/// **Rotation.** [`rotate`](Self::rotate) makes a new secret current: new tokens use it,
/// while tokens made under the old one stay valid (lookups return a key for each accepted
/// secret) until [`retire_previous`](Self::retire_previous) drops the old secrets, for
/// example once the longest token validity has passed.
///
/// **Revocation retention.** A revocation holds as long as the list remembers it
/// ([`RevocationList::retention`], reported as
/// [`RootKeyStore::revocation_retention`]); the in-memory list never forgets, a shared one
/// may. Tokens must expire within that time: `l402-tower`'s layer builder refuses to mint
/// tokens that would outlive their revocation.
///
/// **Revocation failures.** When the revocation list cannot answer, lookups fail (closed)
/// by default; [`fail_open_on_revocation_error`](Self::fail_open_on_revocation_error)
/// trades that for availability, logging each such lookup at `warn`.
pub struct DerivedRootKeyStore<R = MemoryRevocationList> {
    secrets: RwLock<Secrets>,
    revocations: R,
    fail_open: bool,
}

impl DerivedRootKeyStore<MemoryRevocationList> {
    /// A store deriving from `secret`, with an in-memory revocation list.
    #[must_use]
    pub fn new(secret: MasterSecret) -> Self {
        Self::with_revocation_list(secret, MemoryRevocationList::new())
    }
}

impl<R: RevocationList> DerivedRootKeyStore<R> {
    /// A store deriving from `secret`, checking revocations in `revocations`.
    #[must_use]
    pub fn with_revocation_list(secret: MasterSecret, revocations: R) -> Self {
        DerivedRootKeyStore {
            secrets: RwLock::new(Secrets {
                current: secret,
                previous: Vec::new(),
            }),
            revocations,
            fail_open: false,
        }
    }

    /// Also accepts tokens made under `secret` (a secret rotated out on another instance
    /// or before a restart).
    #[must_use]
    pub fn with_previous_secret(self, secret: MasterSecret) -> Self {
        self.secrets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .previous
            .push(secret);
        self
    }

    /// When the revocation list cannot answer: `true` treats the token as not revoked
    /// (logged at `warn`), `false` (the default) fails the lookup.
    #[must_use]
    pub fn fail_open_on_revocation_error(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// Makes `secret` current; the old current secret is still accepted for verification.
    pub fn rotate(&self, secret: MasterSecret) {
        let mut s = self.secrets.write().unwrap_or_else(PoisonError::into_inner);
        let old = core::mem::replace(&mut s.current, secret);
        s.previous.insert(0, old);
    }

    /// Stops accepting tokens made under any secret but the current one.
    pub fn retire_previous(&self) {
        self.secrets
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .previous
            .clear();
    }

    /// The revocation list.
    pub fn revocation_list(&self) -> &R {
        &self.revocations
    }

    /// The keys the accepted secrets give for `token_id`, current first, without consulting
    /// the revocation list. A synchronous building block for callers that check revocation
    /// themselves.
    #[must_use]
    pub fn derive_keys(&self, token_id: &TokenId) -> Vec<RootKey> {
        let s = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        core::iter::once(&s.current)
            .chain(&s.previous)
            .map(|secret| secret.derive(token_id))
            .collect()
    }

    fn current_key(&self, token_id: &TokenId) -> RootKey {
        self.secrets
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .derive(token_id)
    }
}

impl<R: RevocationList> RootKeyStore for DerivedRootKeyStore<R> {
    async fn create(
        &self,
        token_id: &TokenId,
        _expires_at: Option<SystemTime>,
    ) -> Result<RootKey, RootKeyError> {
        Ok(self.current_key(token_id))
    }

    async fn lookup(&self, token_id: &TokenId) -> Result<Vec<RootKey>, RootKeyError> {
        match self.revocations.is_revoked(token_id).await {
            Ok(true) => Ok(Vec::new()),
            Ok(false) => Ok(self.derive_keys(token_id)),
            Err(e) if self.fail_open => {
                tracing::warn!(error = %e, "revocation list unavailable; accepting token (fail open)");
                Ok(self.derive_keys(token_id))
            }
            Err(e) => Err(e),
        }
    }

    async fn revoke(&self, token_id: &TokenId) -> Result<(), RootKeyError> {
        self.revocations.revoke(token_id).await
    }

    /// The revocation list's [`retention`](RevocationList::retention).
    fn revocation_retention(&self) -> Option<Duration> {
        self.revocations.retention()
    }
}

impl<R> fmt::Debug for DerivedRootKeyStore<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.secrets.read().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("DerivedRootKeyStore")
            .field("current", &s.current)
            .field("previous", &s.previous.len())
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pollster::block_on;

    fn secret(b: u8) -> MasterSecret {
        MasterSecret::from_bytes(&[b; 32]).unwrap()
    }

    #[test]
    fn instances_sharing_a_secret_agree() {
        let a = DerivedRootKeyStore::new(secret(1));
        let b = DerivedRootKeyStore::new(secret(1));
        let id = TokenId::from_bytes([9; 32]);
        let minted = block_on(a.create(&id, None)).unwrap();
        let found = block_on(b.lookup(&id)).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].expose_secret(), minted.expose_secret());
        let other = DerivedRootKeyStore::new(secret(2));
        assert_ne!(
            block_on(other.lookup(&id)).unwrap()[0].expose_secret(),
            minted.expose_secret()
        );
    }

    #[test]
    fn rotation_keeps_old_tokens_until_retired() {
        let store = DerivedRootKeyStore::new(secret(1));
        let id = TokenId::from_bytes([3; 32]);
        let old = block_on(store.create(&id, None)).unwrap();
        store.rotate(secret(2));
        let new = block_on(store.create(&id, None)).unwrap();
        assert_ne!(old.expose_secret(), new.expose_secret());
        let keys = block_on(store.lookup(&id)).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(
            keys.iter()
                .any(|k| k.expose_secret() == old.expose_secret())
        );
        store.retire_previous();
        let keys = block_on(store.lookup(&id)).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].expose_secret(), new.expose_secret());
    }

    #[test]
    fn revocation_hides_the_key() {
        let store = DerivedRootKeyStore::new(secret(1));
        let id = TokenId::from_bytes([4; 32]);
        block_on(store.revoke(&id)).unwrap();
        assert!(block_on(store.lookup(&id)).unwrap().is_empty());
        assert_eq!(
            block_on(store.lookup(&TokenId::from_bytes([5; 32])))
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn derivation_is_rfc_2104_hmac_for_every_accepted_secret_length() {
        use hmac::{Hmac, Mac};
        // Secrets over 64 bytes are hashed first; a truncating HMAC would give two secrets
        // that differ only after byte 64 the same keys.
        let id = TokenId::from_bytes([0x5c; 32]);
        for len in [32, 63, 64, 65, 100, 1024] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 11 + 3) as u8).collect();
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&bytes).unwrap();
            mac.update(id.as_bytes());
            let expected: [u8; 32] = mac.finalize().into_bytes().into();
            let store = DerivedRootKeyStore::new(MasterSecret::from_bytes(&bytes).unwrap());
            assert_eq!(
                store.derive_keys(&id)[0].expose_secret(),
                &expected,
                "{len}"
            );
        }
    }

    #[test]
    fn secrets_are_validated_and_redacted() {
        assert_eq!(
            MasterSecret::from_bytes(&[0; 31]).unwrap_err(),
            MasterSecretError::Length(31)
        );
        assert_eq!(
            MasterSecret::from_hex("zz").unwrap_err(),
            MasterSecretError::NotHex
        );
        assert!(MasterSecret::from_hex(&format!("{}\n", "ab".repeat(32))).is_ok());
        let dbg = format!("{:?}", DerivedRootKeyStore::new(secret(0xcd)));
        assert!(dbg.contains("<redacted>") && !dbg.contains("cd, "));
    }

    struct Broken;
    impl RevocationList for Broken {
        async fn is_revoked(&self, _: &TokenId) -> Result<bool, RootKeyError> {
            Err(RootKeyError::Unavailable("down".into()))
        }
        async fn revoke(&self, _: &TokenId) -> Result<(), RootKeyError> {
            Err(RootKeyError::Unavailable("down".into()))
        }
    }

    #[test]
    fn revocation_errors_fail_closed_unless_told_otherwise() {
        let id = TokenId::from_bytes([6; 32]);
        let closed = DerivedRootKeyStore::with_revocation_list(secret(1), Broken);
        assert!(matches!(
            block_on(closed.lookup(&id)),
            Err(RootKeyError::Unavailable(_))
        ));
        let open = DerivedRootKeyStore::with_revocation_list(secret(1), Broken)
            .fail_open_on_revocation_error(true);
        assert_eq!(block_on(open.lookup(&id)).unwrap().len(), 1);
    }
}
