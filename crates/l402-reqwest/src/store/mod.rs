//! Token stores: where paid tokens and pending payments live.
//!
//! * [`MemoryTokenStore`]: in the process, lost on exit.
//! * [`FileTokenStore`]: one JSON file per key in a directory, written atomically, mode
//!   0600, shareable by several processes.
//!
//! Implement [`TokenStore`] for anything else (a database, a keychain).

pub(crate) mod file;
mod memory;

pub use file::FileTokenStore;
pub use memory::MemoryTokenStore;

use core::fmt;
use std::any::Any;
use std::sync::Arc;
use std::time::SystemTime;

use l402_core::payment_scheme::PaymentChallenge;
use l402_core::{Amount, Credential, Macaroon, PaymentHash, Preimage, Scheme};
use serde::{Deserialize, Serialize};

use crate::error::StoreError;

/// A paid token: the macaroon and the preimage that proves its invoice was paid.
///
/// `Debug` shows neither the macaroon nor the preimage.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredToken {
    /// The macaroon from the challenge (standard base64 in the JSON form).
    #[serde(with = "serde_macaroon")]
    pub macaroon: Macaroon,
    /// The preimage (64 hex characters in the JSON form).
    pub preimage: Preimage,
    /// The invoice's payment hash.
    pub payment_hash: PaymentHash,
    /// What was paid, fees excluded, in msat.
    pub amount: Amount,
    /// The routing fee paid, in msat.
    pub fee: Amount,
    /// When the token was paid (unix seconds in the JSON form).
    #[serde(with = "serde_time")]
    pub created_at: SystemTime,
    /// The scheme to present it with: `L402`, or `LSAT` for a server that offered only
    /// that.
    #[serde(with = "serde_scheme", default = "default_scheme")]
    pub scheme: Scheme,
}

impl StoredToken {
    /// A paid token.
    #[must_use]
    pub fn new(
        macaroon: Macaroon,
        preimage: Preimage,
        amount: Amount,
        fee: Amount,
        created_at: SystemTime,
    ) -> Self {
        let payment_hash = preimage.payment_hash();
        StoredToken {
            macaroon,
            preimage,
            payment_hash,
            amount,
            fee,
            created_at,
            scheme: Scheme::L402,
        }
    }

    /// Sets the scheme to present the token with.
    #[must_use]
    pub fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// The credential to present.
    #[must_use]
    pub fn credential(&self) -> Credential {
        Credential::new(self.macaroon.clone(), self.preimage.clone())
    }
}

impl fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredToken")
            .field("payment_hash", &self.payment_hash)
            .field("amount", &self.amount)
            .field("fee", &self.fee)
            .field("created_at", &self.created_at)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// A payment that was about to be sent (or was sent) but whose outcome is not recorded
/// yet. Written before paying; replaced by a [`StoredToken`] once paid, or removed once
/// the node says the payment failed.
///
/// `Debug` does not show the macaroon.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PendingPayment {
    /// The macaroon from the challenge.
    #[serde(with = "serde_macaroon")]
    pub macaroon: Macaroon,
    /// The BOLT11 invoice being paid.
    pub invoice: String,
    /// Its payment hash, to look the payment up.
    pub payment_hash: PaymentHash,
    /// The invoice amount (zero in records written before it was kept: see
    /// [`amount_due`](Self::amount_due)).
    #[serde(default)]
    pub amount: Amount,
    /// The most routing fee the payment may cost, as reserved before paying (absent in
    /// older records: the policy's fee cap is used instead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fee: Option<Amount>,
    /// When the payment was started.
    #[serde(with = "serde_time")]
    pub created_at: SystemTime,
    /// The scheme the server offered.
    #[serde(with = "serde_scheme", default = "default_scheme")]
    pub scheme: Scheme,
}

impl PendingPayment {
    /// A pending payment.
    #[must_use]
    pub fn new(
        macaroon: Macaroon,
        invoice: impl Into<String>,
        payment_hash: PaymentHash,
        amount: Amount,
        created_at: SystemTime,
    ) -> Self {
        PendingPayment {
            macaroon,
            invoice: invoice.into(),
            payment_hash,
            amount,
            max_fee: None,
            created_at,
            scheme: Scheme::L402,
        }
    }

    /// Sets the scheme.
    #[must_use]
    pub fn with_scheme(mut self, scheme: Scheme) -> Self {
        self.scheme = scheme;
        self
    }

    /// Sets the fee cap reserved for the payment.
    #[must_use]
    pub fn with_max_fee(mut self, max_fee: Amount) -> Self {
        self.max_fee = Some(max_fee);
        self
    }

    /// What the payment is for, fees excluded: [`amount`](Self::amount), or, in a record
    /// without one (written by an older version), the amount of the stored invoice;
    /// zero if neither says.
    #[must_use]
    pub fn amount_due(&self) -> Amount {
        if self.amount != Amount::ZERO {
            return self.amount;
        }
        self.invoice
            .parse::<l402_core::lightning_invoice::Bolt11Invoice>()
            .ok()
            .and_then(|i| i.amount_milli_satoshis())
            .map_or(Amount::ZERO, Amount::from_msat)
    }
}

impl fmt::Debug for PendingPayment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PendingPayment")
            .field("payment_hash", &self.payment_hash)
            .field("amount", &self.amount)
            .field("max_fee", &self.max_fee)
            .field("created_at", &self.created_at)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// A `Payment` scheme charge (intent `charge`): pending while it is being paid, then paid
/// and not yet presented.
///
/// A charge credential is single use, so it is never kept as a reusable token: the
/// record exists from just before the invoice is paid until the paid request has been
/// answered, and is then removed. What survives a crash is the pending record (resolved
/// by looking the payment up by hash, like an L402 pending record) or the paid,
/// unpresented credential (presented by the next request to the same key that is
/// challenged, while its challenge has not expired). Stored under
/// [`charge_key`]`(key)`, so that it never replaces the key's L402 token.
///
/// `Debug` does not show the preimage.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ChargeRecord {
    /// The challenge paid, echoed unchanged in the credential.
    pub challenge: PaymentChallenge,
    /// The invoice's payment hash, to look the payment up.
    pub payment_hash: PaymentHash,
    /// The invoice amount (zero in records written before it was kept: see
    /// [`amount_due`](Self::amount_due)).
    #[serde(default)]
    pub amount: Amount,
    /// The preimage, once paid (`None` while pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preimage: Option<Preimage>,
    /// The routing fee paid, once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee: Option<Amount>,
    /// When the payment was started.
    #[serde(with = "serde_time")]
    pub created_at: SystemTime,
}

impl ChargeRecord {
    /// A charge about to be paid.
    #[must_use]
    pub fn pending(
        challenge: PaymentChallenge,
        payment_hash: PaymentHash,
        amount: Amount,
        created_at: SystemTime,
    ) -> Self {
        ChargeRecord {
            challenge,
            payment_hash,
            amount,
            preimage: None,
            fee: None,
            created_at,
        }
    }

    /// The same charge, paid.
    #[must_use]
    pub fn paid(mut self, preimage: Preimage, fee: Amount) -> Self {
        self.preimage = Some(preimage);
        self.fee = Some(fee);
        self
    }

    /// What the charge is for, fees excluded: [`amount`](Self::amount), or, in a record
    /// without one, the amount of the challenge's invoice; zero if neither says.
    #[must_use]
    pub fn amount_due(&self) -> Amount {
        if self.amount != Amount::ZERO {
            return self.amount;
        }
        self.challenge
            .charge_request()
            .ok()
            .and_then(|r| r.check_invoice().ok())
            .and_then(|i| i.amount_milli_satoshis())
            .map_or(Amount::ZERO, Amount::from_msat)
    }

    /// Whether the charge is still being paid (no preimage yet).
    #[must_use]
    pub fn is_pending(&self) -> bool {
        self.preimage.is_none()
    }
}

impl fmt::Debug for ChargeRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChargeRecord")
            .field("challenge_id", &self.challenge.id)
            .field("payment_hash", &self.payment_hash)
            .field("amount", &self.amount)
            .field("paid", &self.preimage.is_some())
            .field("fee", &self.fee)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// What [`charge_key`] appends to a token key.
pub const CHARGE_KEY_SUFFIX: &str = " payment-charge";

/// The store key of the `Payment` charge record of a token key: the key, then
/// [`CHARGE_KEY_SUFFIX`] (a space never occurs in a token key, which is a URL prefix).
#[must_use]
pub fn charge_key(key: &str) -> String {
    format!("{key}{CHARGE_KEY_SUFFIX}")
}

/// What a store holds for one key: a paid token, a pending payment, or (under a
/// [`charge_key`]) a `Payment` charge. One record per key, so that replacing a pending
/// record by the paid token is a single write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum TokenRecord {
    /// A paid token.
    Paid(StoredToken),
    /// A payment whose outcome is not recorded yet.
    Pending(PendingPayment),
    /// A `Payment` scheme charge, pending or paid and not presented yet.
    Charge(ChargeRecord),
}

impl TokenRecord {
    /// The payment hash of the token or pending payment.
    #[must_use]
    pub fn payment_hash(&self) -> &PaymentHash {
        match self {
            TokenRecord::Paid(t) => &t.payment_hash,
            TokenRecord::Pending(p) => &p.payment_hash,
            TokenRecord::Charge(c) => &c.payment_hash,
        }
    }
}

/// A lock on one key of a store, released on drop; from [`TokenStore::lock`].
pub struct StoreLock(#[allow(dead_code)] Option<Box<dyn Any + Send + Sync>>);

impl StoreLock {
    /// A lock that holds nothing (for stores used by one middleware only, whose
    /// in-process single flight is enough).
    #[must_use]
    pub fn none() -> Self {
        StoreLock(None)
    }

    /// A lock held as long as `guard` lives.
    #[must_use]
    pub fn new(guard: impl Any + Send + Sync) -> Self {
        StoreLock(Some(Box::new(guard)))
    }
}

impl fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreLock").finish_non_exhaustive()
    }
}

/// Where the middleware keeps tokens and pending payments, by key (an origin
/// `scheme://host:port`, or an origin and path prefix).
///
/// # Contract
///
/// * One [`TokenRecord`] per key. [`save`](Self::save) replaces the key's record as one
///   atomic step: a reader (in this process or another sharing the store) sees the old
///   record or the new one, never a mix, and never nothing in between. A successful
///   `save` is durable (survives a crash of the process; for a file store, of the
///   machine) before it returns, because the middleware pays right after saving a
///   pending record and retries right after saving a paid token.
/// * [`remove`](Self::remove) deletes the key's record only if its payment hash is the one
///   given, as one atomic compare-and-delete, so that one process never deletes a record
///   another has just replaced. It answers whether it deleted something.
/// * [`pending`](Self::pending) lists every pending record, for recovery at start-up.
/// * [`lock`](Self::lock) takes an exclusive lock on a key, held across a payment, so that
///   several middlewares (in one process or several) sharing the store pay for a key one
///   at a time. Stores used by one middleware may return [`StoreLock::none`] (the
///   default); the middleware has its own in-process single flight.
/// * Records hold secrets (preimages): keep them private (the file store uses mode 0600)
///   and never log them.
/// * Methods may be called concurrently from many tasks.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync + 'static {
    /// The key's record, if any.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read or the record does not parse.
    async fn load(&self, key: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// Replaces the key's record, atomically and durably.
    ///
    /// # Errors
    /// [`StoreError`] if the record could not be written; the old record is then intact.
    async fn save(&self, key: &str, record: &TokenRecord) -> Result<(), StoreError>;

    /// Deletes the key's record if its payment hash is `payment_hash`; `Ok(true)` if it
    /// did.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read or written.
    async fn remove(&self, key: &str, payment_hash: &PaymentHash) -> Result<bool, StoreError>;

    /// Every pending record, with its key.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read.
    async fn pending(&self) -> Result<Vec<(String, PendingPayment)>, StoreError>;

    /// Every `Payment` charge record (pending or paid and not presented), with its key,
    /// for recovery at start-up. The default lists none: a store that does not list
    /// them still has each one resolved before the next payment for its key, only not
    /// at start-up.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read.
    async fn charges(&self) -> Result<Vec<(String, ChargeRecord)>, StoreError> {
        Ok(Vec::new())
    }

    /// Every paid token, with its key (for an inventory: the `tokens` tool of
    /// `l402-mcp`, for example). The default lists none.
    ///
    /// # Errors
    /// [`StoreError`] if the store cannot be read.
    async fn tokens(&self) -> Result<Vec<(String, StoredToken)>, StoreError> {
        Ok(Vec::new())
    }

    /// Takes the key's payment lock, waiting for it if another holder has it.
    ///
    /// # Errors
    /// [`StoreError`] if the lock cannot be taken.
    async fn lock(&self, key: &str) -> Result<StoreLock, StoreError> {
        let _ = key;
        Ok(StoreLock::none())
    }
}

#[async_trait::async_trait]
impl<T: TokenStore + ?Sized> TokenStore for Arc<T> {
    async fn load(&self, key: &str) -> Result<Option<TokenRecord>, StoreError> {
        (**self).load(key).await
    }
    async fn save(&self, key: &str, record: &TokenRecord) -> Result<(), StoreError> {
        (**self).save(key, record).await
    }
    async fn remove(&self, key: &str, payment_hash: &PaymentHash) -> Result<bool, StoreError> {
        (**self).remove(key, payment_hash).await
    }
    async fn pending(&self) -> Result<Vec<(String, PendingPayment)>, StoreError> {
        (**self).pending().await
    }
    async fn charges(&self) -> Result<Vec<(String, ChargeRecord)>, StoreError> {
        (**self).charges().await
    }
    async fn tokens(&self) -> Result<Vec<(String, StoredToken)>, StoreError> {
        (**self).tokens().await
    }
    async fn lock(&self, key: &str) -> Result<StoreLock, StoreError> {
        (**self).lock(key).await
    }
}

fn default_scheme() -> Scheme {
    Scheme::L402
}

mod serde_macaroon {
    use l402_core::Macaroon;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(m: &Macaroon, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&m.to_base64())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Macaroon, D::Error> {
        let s = String::deserialize(d)?;
        Macaroon::from_base64(&s).map_err(D::Error::custom)
    }
}

mod serde_time {
    use std::time::{Duration, SystemTime};

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let secs = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        s.serialize_u64(secs)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SystemTime, D::Error> {
        let secs = u64::deserialize(d)?;
        Ok(SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .unwrap_or(SystemTime::UNIX_EPOCH))
    }
}

mod serde_scheme {
    use l402_core::Scheme;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &Scheme, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(v.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Scheme, D::Error> {
        let s = String::deserialize(d)?;
        Scheme::from_name(&s).ok_or_else(|| D::Error::custom("unknown scheme"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use l402_core::RootKey;

    pub(crate) fn token(n: u8) -> StoredToken {
        let mac = Macaroon::new(&RootKey::from_bytes([n; 32]), vec![n; 66], None).unwrap();
        StoredToken::new(
            mac,
            Preimage::from_bytes([n; 32]),
            Amount::from_msat(1_000),
            Amount::from_msat(3),
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        )
    }

    #[test]
    fn records_round_trip_through_json_without_leaking_in_debug() {
        let t = token(1).with_scheme(Scheme::Lsat);
        let rec = TokenRecord::Paid(t.clone());
        let json = serde_json::to_string(&rec).unwrap();
        assert!(json.contains("\"state\":\"paid\""));
        assert!(json.contains("\"scheme\":\"LSAT\""));
        assert!(json.contains("\"amount\":1000"));
        let back: TokenRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rec);
        let debug = format!("{rec:?}");
        assert!(!debug.contains(t.preimage.expose_hex().as_str()));
        assert!(!debug.contains(&t.macaroon.to_base64()));
    }

    #[test]
    fn charge_records_round_trip_without_leaking_the_preimage_in_debug() {
        use l402_core::payment_scheme::PaymentChallenge;
        let challenge =
            PaymentChallenge::new("id1", "api", "lightning", "charge", "e30").with_expires("x");
        let preimage = Preimage::from_bytes([5; 32]);
        let pending = ChargeRecord::pending(
            challenge,
            preimage.payment_hash(),
            Amount::from_msat(10_000),
            SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
        );
        assert!(pending.is_pending());
        let paid = pending.clone().paid(preimage.clone(), Amount::from_msat(7));
        assert!(!paid.is_pending());
        for rec in [pending, paid] {
            let rec = TokenRecord::Charge(rec);
            let json = serde_json::to_string(&rec).unwrap();
            assert!(json.contains("\"state\":\"charge\""), "{json}");
            let back: TokenRecord = serde_json::from_str(&json).unwrap();
            assert_eq!(back, rec);
            assert!(!format!("{rec:?}").contains(preimage.expose_hex().as_str()));
        }
        assert_eq!(charge_key("http://a:1"), "http://a:1 payment-charge");
    }
}
