//! An in-house libmacaroons V2 codec and HMAC-SHA256 signature chain.
//!
//! L402 needs only first-party caveats, one binary format (V2) and one MAC (HMAC-SHA256),
//! so this module is small and strict. It does not use the `macaroon` crate: that crate
//! binds the deprecated libsodium (RUSTSEC-2021-0137), emits URL-safe base64 that Aperture
//! rejects and compares signatures in variable time (see `docs/security.md`).
//!
//! ```text
//! k      = HMAC-SHA256(key = "macaroons-key-generator", msg = root_key)
//! sig_0  = HMAC-SHA256(key = k, msg = identifier)
//! sig_i  = HMAC-SHA256(key = sig_{i-1}, msg = caveat_i)
//! ```
//!
//! ```
//! use l402_core::{Macaroon, RootKey};
//!
//! let key = RootKey::from_bytes([7; 32]);
//! let mut mac = Macaroon::new(&key, b"an identifier".to_vec(), Some("lsat".into())).unwrap();
//! mac.add_first_party_caveat("services=my_api:0").unwrap();
//! let b64 = mac.to_base64();
//! let back = Macaroon::from_base64(&b64).unwrap();
//! assert!(back.verify_signature(&key));
//! ```

mod codec;
mod crypto;

pub use codec::{
    DecodeError, MAX_CAVEAT_LEN, MAX_CAVEATS, MAX_IDENTIFIER_LEN, MAX_LOCATION_LEN,
    MAX_MACAROON_LEN, Section,
};
pub(crate) use crypto::{Chain, derive_key};

use core::fmt;

use crate::RootKey;
use crate::encoding::{base64_encode, hex_encode};

/// Why a macaroon could not be built or extended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The identifier is empty or longer than [`MAX_IDENTIFIER_LEN`].
    #[error("identifier must be 1 to {MAX_IDENTIFIER_LEN} bytes, got {0}")]
    IdentifierLength(usize),
    /// The location is longer than [`MAX_LOCATION_LEN`].
    #[error("location must be at most {MAX_LOCATION_LEN} bytes, got {0}")]
    LocationLength(usize),
    /// The caveat is empty or longer than [`MAX_CAVEAT_LEN`].
    #[error("caveat must be 1 to {MAX_CAVEAT_LEN} bytes, got {0}")]
    CaveatLength(usize),
    /// The macaroon already holds [`MAX_CAVEATS`] caveats.
    #[error("a macaroon holds at most {MAX_CAVEATS} caveats")]
    TooManyCaveats,
    /// The encoded macaroon would exceed [`MAX_MACAROON_LEN`] bytes.
    #[error("the encoded macaroon would exceed {MAX_MACAROON_LEN} bytes")]
    TooLong,
}

/// A macaroon with first-party caveats only, as L402 uses them.
///
/// Invariants (checked by [`Macaroon::new`], [`Macaroon::add_first_party_caveat`] and the
/// decoder): the identifier and every caveat are non-empty and within the size limits, the
/// location is non-empty when present, and the whole encoding fits in
/// [`MAX_MACAROON_LEN`] bytes. So every `Macaroon` value encodes, and every encoding
/// decodes back to an equal value.
#[derive(Clone, PartialEq, Eq)]
pub struct Macaroon {
    location: Option<String>,
    identifier: Vec<u8>,
    caveats: Vec<String>,
    signature: [u8; 32],
}

impl Macaroon {
    /// Creates a macaroon signed with `root_key`.
    ///
    /// An empty location is the same as none (the binary format cannot tell them apart).
    ///
    /// # Errors
    /// [`BuildError`] if the identifier or location break the size limits.
    pub fn new(
        root_key: &RootKey,
        identifier: Vec<u8>,
        location: Option<String>,
    ) -> Result<Self, BuildError> {
        let location = location.filter(|l| !l.is_empty());
        if identifier.is_empty() || identifier.len() > MAX_IDENTIFIER_LEN {
            return Err(BuildError::IdentifierLength(identifier.len()));
        }
        if let Some(loc) = &location
            && loc.len() > MAX_LOCATION_LEN
        {
            return Err(BuildError::LocationLength(loc.len()));
        }
        let signature = Chain::start(&derive_key(root_key), &identifier).finish();
        let mac = Macaroon {
            location,
            identifier,
            caveats: Vec::new(),
            signature,
        };
        if mac.encoded_len() > MAX_MACAROON_LEN {
            return Err(BuildError::TooLong);
        }
        Ok(mac)
    }

    /// Appends a first-party caveat and advances the signature. Anyone holding the
    /// macaroon can do this (attenuation); nobody can remove a caveat.
    ///
    /// # Errors
    /// [`BuildError`] if the caveat breaks the size limits.
    pub fn add_first_party_caveat(&mut self, caveat: impl Into<String>) -> Result<(), BuildError> {
        let caveat = caveat.into();
        if caveat.is_empty() || caveat.len() > MAX_CAVEAT_LEN {
            return Err(BuildError::CaveatLength(caveat.len()));
        }
        if self.caveats.len() >= MAX_CAVEATS {
            return Err(BuildError::TooManyCaveats);
        }
        let added = codec::field_len(2, caveat.len()) + 1;
        if self.encoded_len() + added > MAX_MACAROON_LEN {
            return Err(BuildError::TooLong);
        }
        self.signature = Chain::resume(self.signature)
            .caveat(caveat.as_bytes())
            .finish();
        self.caveats.push(caveat);
        Ok(())
    }

    /// The location hint; not covered by the signature.
    #[must_use]
    pub fn location(&self) -> Option<&str> {
        self.location.as_deref()
    }

    /// The identifier bytes (for L402, a 66-byte [`Identifier`](crate::Identifier)).
    #[must_use]
    pub fn identifier(&self) -> &[u8] {
        &self.identifier
    }

    /// The first-party caveats, in order.
    #[must_use]
    pub fn caveats(&self) -> &[String] {
        &self.caveats
    }

    /// The 32-byte signature.
    #[must_use]
    pub const fn signature(&self) -> &[u8; 32] {
        &self.signature
    }

    /// Recomputes the signature chain from `root_key` and compares it with the stored
    /// signature in constant time. Checks nothing else (caveats are the verifier's job).
    #[must_use]
    pub fn verify_signature(&self, root_key: &RootKey) -> bool {
        self.verify_signature_with_derived(&derive_key(root_key))
    }

    pub(crate) fn verify_signature_with_derived(&self, derived: &[u8; 32]) -> bool {
        let mut chain = Chain::start(derived, &self.identifier);
        for c in &self.caveats {
            chain = chain.caveat(c.as_bytes());
        }
        chain.ct_eq(&self.signature)
    }

    /// The V2 binary encoding.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        codec::encode(self)
    }

    /// Decodes the V2 binary encoding, strictly. See [`DecodeError`] for what is rejected.
    ///
    /// # Errors
    /// [`DecodeError`] for anything that is not a canonical first-party V2 macaroon within
    /// the size limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        codec::decode(bytes)
    }

    /// Standard base64 with padding, the form Aperture emits and accepts.
    #[must_use]
    pub fn to_base64(&self) -> String {
        base64_encode(&self.encode())
    }

    /// Decodes base64 in either alphabet, padded or not, then the V2 binary.
    ///
    /// # Errors
    /// [`DecodeError::Base64`] or any binary decoding error; input longer than the base64
    /// form of [`MAX_MACAROON_LEN`] bytes is refused before decoding.
    pub fn from_base64(s: &str) -> Result<Self, DecodeError> {
        if s.len() > codec::MAX_MACAROON_BASE64_LEN {
            return Err(DecodeError::TooLong(s.len()));
        }
        let bytes = crate::encoding::base64_decode(s).map_err(DecodeError::Base64)?;
        codec::decode(&bytes)
    }

    /// Decodes hex of either case, then the V2 binary (the form of the `Macaroon` and
    /// `Grpc-Metadata-Macaroon` headers).
    ///
    /// # Errors
    /// [`DecodeError::Hex`] or any binary decoding error; input longer than the hex form of
    /// [`MAX_MACAROON_LEN`] bytes is refused before decoding.
    pub fn from_hex(s: &str) -> Result<Self, DecodeError> {
        if s.len() > 2 * MAX_MACAROON_LEN {
            return Err(DecodeError::TooLong(s.len()));
        }
        let bytes = crate::encoding::hex_decode(s).map_err(DecodeError::Hex)?;
        codec::decode(&bytes)
    }

    /// Lower-case hex of the V2 binary encoding.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex_encode(&self.encode())
    }

    fn encoded_len(&self) -> usize {
        codec::encoded_len(self)
    }
}

impl fmt::Debug for Macaroon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Macaroon")
            .field("location", &self.location)
            .field("identifier", &hex_encode(&self.identifier))
            .field("caveats", &self.caveats)
            .field("signature", &hex_encode(&self.signature))
            .finish()
    }
}
