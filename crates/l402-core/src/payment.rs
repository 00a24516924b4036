//! [`PaymentHash`] and [`Preimage`]: the proof-of-payment pair.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::encoding::{HexError, hex_decode_array, hex_encode};

/// The SHA-256 hash of a payment [`Preimage`], as found in a BOLT11 invoice and in the
/// L402 [`Identifier`](crate::Identifier).
///
/// Not secret: it is printed as 64 lower-case hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PaymentHash([u8; 32]);

impl PaymentHash {
    /// Wraps 32 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        PaymentHash(bytes)
    }

    /// The 32 bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex characters of either case.
    ///
    /// # Errors
    /// [`HexError`] if the input is not exactly 32 bytes of hex.
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        hex_decode_array(s).map(PaymentHash)
    }

    /// 64 lower-case hex characters.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }

    /// Whether `preimage` hashes to this payment hash, compared in constant time.
    #[must_use]
    pub fn matches(&self, preimage: &Preimage) -> bool {
        crate::macaroon::ct_eq_32(&preimage.payment_hash().0, &self.0)
    }
}

impl fmt::Display for PaymentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PaymentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PaymentHash({})", self.to_hex())
    }
}

impl core::str::FromStr for PaymentHash {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

impl From<lightning_invoice::Sha256> for PaymentHash {
    fn from(h: lightning_invoice::Sha256) -> Self {
        use bitcoin_hashes::Hash as _;
        PaymentHash(h.0.to_byte_array())
    }
}

impl From<&lightning_invoice::Bolt11Invoice> for PaymentHash {
    fn from(invoice: &lightning_invoice::Bolt11Invoice) -> Self {
        use bitcoin_hashes::Hash as _;
        PaymentHash(invoice.payment_hash().to_byte_array())
    }
}

/// The 32-byte secret whose SHA-256 is the [`PaymentHash`]; learning it is the proof that
/// an invoice was paid.
///
/// A secret: `Debug` is redacted, there is no `Display`, and the bytes are zeroized on
/// drop. Use [`Preimage::expose_hex`] where the value must be written out (the
/// `Authorization` header, a token file).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Preimage([u8; 32]);

impl Preimage {
    /// Wraps 32 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Preimage(bytes)
    }

    /// A fresh preimage from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`getrandom::Error`] if the operating system has no randomness to give.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(Preimage(bytes))
    }

    /// The secret bytes.
    #[must_use]
    pub const fn expose_secret(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hex characters of either case.
    ///
    /// # Errors
    /// [`HexError`] if the input is not exactly 32 bytes of hex.
    pub fn from_hex(s: &str) -> Result<Self, HexError> {
        let bytes = Zeroizing::new(hex_decode_array::<32>(s)?);
        Ok(Preimage(*bytes))
    }

    /// The secret as 64 lower-case hex characters, in a buffer that is zeroized on drop.
    #[must_use]
    pub fn expose_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex_encode(&self.0))
    }

    /// SHA-256 of the preimage.
    #[must_use]
    pub fn payment_hash(&self) -> PaymentHash {
        PaymentHash(crate::macaroon::sha256_32(&self.0))
    }
}

impl PartialEq for Preimage {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Preimage {}

impl fmt::Debug for Preimage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Preimage(<redacted>)")
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::*;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for PaymentHash {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&self.to_hex())
        }
    }

    impl<'de> Deserialize<'de> for PaymentHash {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            PaymentHash::from_hex(&s).map_err(D::Error::custom)
        }
    }

    /// Serialized as hex so that a token store can persist it; the serializer's output
    /// is then as secret as the preimage.
    impl Serialize for Preimage {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&self.expose_hex())
        }
    }

    impl<'de> Deserialize<'de> for Preimage {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = Zeroizing::new(String::deserialize(d)?);
            Preimage::from_hex(&s).map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preimage_hashes_to_known_payment_hash() {
        let mut one = [0u8; 32];
        one[31] = 1;
        let p = Preimage::from_bytes(one);
        assert_eq!(
            p.payment_hash().to_hex(),
            "ec4916dd28fc4c10d78e287ca5d9cc51ee1ae73cbfde08c6b37324cbfaac8bc5"
        );
        assert!(p.payment_hash().matches(&p));
        assert!(!PaymentHash::from_bytes([0; 32]).matches(&p));
    }

    #[test]
    fn preimage_debug_is_redacted() {
        let p = Preimage::from_bytes([0xab; 32]);
        let dbg = format!("{p:?}");
        assert_eq!(dbg, "Preimage(<redacted>)");
        assert!(!dbg.contains("ab"));
    }

    #[test]
    fn hex_parsing_accepts_upper_case() {
        let h = "EC4916DD28FC4C10D78E287CA5D9CC51EE1AE73CBFDE08C6B37324CBFAAC8BC5";
        assert_eq!(PaymentHash::from_hex(h).unwrap().to_hex(), h.to_lowercase());
        assert!(Preimage::from_hex(&h[..62]).is_err());
    }
}
