//! The L402 token [`Identifier`] (version 0) and its random [`TokenId`].
//!
//! ```text
//! offset size field
//! 0      2    version, u16 big-endian; only 0 exists
//! 2      32   payment hash
//! 34     32   token id (32 random bytes)
//! ```

use core::fmt;

use crate::PaymentHash;
use crate::encoding::{HexError, hex_decode_array, hex_encode};

/// The only identifier version that exists.
pub const IDENTIFIER_VERSION_0: u16 = 0;

/// Length in bytes of an encoded version-0 identifier.
pub const IDENTIFIER_LEN: usize = 2 + 32 + 32;

/// 32 random bytes that name one token (older texts call it the "user id").
///
/// Printed as 64 lower-case hex characters. Not secret: it is inside every macaroon.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenId([u8; 32]);

impl TokenId {
    /// Wraps 32 bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        TokenId(bytes)
    }

    /// A fresh token id from the operating system's CSPRNG.
    ///
    /// # Errors
    /// [`getrandom::Error`] if the operating system has no randomness to give.
    pub fn random() -> Result<Self, getrandom::Error> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes)?;
        Ok(TokenId(bytes))
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
        hex_decode_array(s).map(TokenId)
    }

    /// 64 lower-case hex characters.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex_encode(&self.0)
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenId({})", self.to_hex())
    }
}

impl core::str::FromStr for TokenId {
    type Err = HexError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

/// Why bytes are not a version-0 L402 identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentifierError {
    /// Fewer than two bytes: not even a version.
    #[error("identifier too short to hold a version ({0} bytes)")]
    TooShort(usize),
    /// A version other than 0.
    #[error("unknown identifier version {0}")]
    UnknownVersion(u16),
    /// Version 0 with a length other than 66 bytes.
    #[error("identifier is {0} bytes, version 0 needs exactly 66")]
    WrongLength(usize),
}

/// The identifier of an L402 macaroon: version, payment hash and token id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Identifier {
    payment_hash: PaymentHash,
    token_id: TokenId,
}

impl Identifier {
    /// A version-0 identifier.
    #[must_use]
    pub const fn new(payment_hash: PaymentHash, token_id: TokenId) -> Self {
        Identifier {
            payment_hash,
            token_id,
        }
    }

    /// The version; always [`IDENTIFIER_VERSION_0`].
    #[must_use]
    pub const fn version(&self) -> u16 {
        IDENTIFIER_VERSION_0
    }

    /// The payment hash of the invoice that pays for the token.
    #[must_use]
    pub const fn payment_hash(&self) -> &PaymentHash {
        &self.payment_hash
    }

    /// The token id.
    #[must_use]
    pub const fn token_id(&self) -> &TokenId {
        &self.token_id
    }

    /// The 66-byte encoding.
    #[must_use]
    pub fn encode(&self) -> [u8; IDENTIFIER_LEN] {
        let mut out = [0u8; IDENTIFIER_LEN];
        let (version, rest) = out.split_at_mut(2);
        let (hash, id) = rest.split_at_mut(32);
        version.copy_from_slice(&IDENTIFIER_VERSION_0.to_be_bytes());
        hash.copy_from_slice(self.payment_hash.as_bytes());
        id.copy_from_slice(self.token_id.as_bytes());
        out
    }

    /// Decodes a version-0 identifier.
    ///
    /// # Errors
    /// [`IdentifierError`] for any other version or any length but 66.
    pub fn decode(bytes: &[u8]) -> Result<Self, IdentifierError> {
        let (version, rest) = match bytes {
            [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
            _ => return Err(IdentifierError::TooShort(bytes.len())),
        };
        if version != IDENTIFIER_VERSION_0 {
            return Err(IdentifierError::UnknownVersion(version));
        }
        let (hash, id) = match rest.split_first_chunk::<32>() {
            Some((hash, id)) if id.len() == 32 => (*hash, id),
            _ => return Err(IdentifierError::WrongLength(bytes.len())),
        };
        let id: [u8; 32] = id
            .try_into()
            .map_err(|_| IdentifierError::WrongLength(bytes.len()))?;
        Ok(Identifier {
            payment_hash: PaymentHash::from_bytes(hash),
            token_id: TokenId::from_bytes(id),
        })
    }
}

#[cfg(feature = "serde")]
mod serde_impls {
    use super::*;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    impl Serialize for TokenId {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_str(&self.to_hex())
        }
    }

    impl<'de> Deserialize<'de> for TokenId {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let s = String::deserialize(d)?;
            TokenId::from_hex(&s).map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_other_versions_and_lengths() {
        let mut bytes = Identifier::new(
            PaymentHash::from_bytes([1; 32]),
            TokenId::from_bytes([2; 32]),
        )
        .encode();
        assert!(Identifier::decode(&bytes).is_ok());
        assert_eq!(
            Identifier::decode(&bytes[..65]),
            Err(IdentifierError::WrongLength(65))
        );
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(
            Identifier::decode(&long),
            Err(IdentifierError::WrongLength(67))
        );
        bytes[1] = 1;
        assert_eq!(
            Identifier::decode(&bytes),
            Err(IdentifierError::UnknownVersion(1))
        );
        assert_eq!(Identifier::decode(&[0]), Err(IdentifierError::TooShort(1)));
    }

    proptest! {
        #[test]
        fn identifier_round_trips(hash in any::<[u8; 32]>(), id in any::<[u8; 32]>()) {
            let ident = Identifier::new(PaymentHash::from_bytes(hash), TokenId::from_bytes(id));
            let bytes = ident.encode();
            prop_assert_eq!(Identifier::decode(&bytes).unwrap(), ident);
        }

        #[test]
        fn identifier_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = Identifier::decode(&bytes);
        }
    }
}
