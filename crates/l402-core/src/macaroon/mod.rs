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
pub(crate) use crypto::{Chain, KeyStates, ct_eq_32, sha256_32};

use codec::{Layout, Span};

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
/// Held as its canonical V2 encoding in one buffer plus the positions of its parts, so
/// decoding allocates once and encoding is a copy.
///
/// Invariants (checked by [`Macaroon::new`], [`Macaroon::add_first_party_caveat`] and the
/// decoder): the identifier and every caveat are non-empty and within the size limits, the
/// location is non-empty when present, and the whole encoding fits in
/// [`MAX_MACAROON_LEN`] bytes. So every `Macaroon` value encodes, and every encoding
/// decodes back to an equal value.
#[derive(Clone, PartialEq, Eq)]
pub struct Macaroon {
    bytes: Vec<u8>,
    layout: Layout,
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
        let signature = Chain::start(root_key, &identifier).finish();
        let (bytes, layout) = codec::encode_header(
            location.as_deref().map(str::as_bytes),
            &identifier,
            &signature,
        );
        if bytes.len() > MAX_MACAROON_LEN {
            return Err(BuildError::TooLong);
        }
        Ok(Macaroon { bytes, layout })
    }

    /// Appends a first-party caveat and advances the signature. Anyone holding the
    /// macaroon can do this (attenuation); nobody can remove a caveat.
    ///
    /// # Errors
    /// [`BuildError`] if the caveat breaks the size limits.
    pub fn add_first_party_caveat(&mut self, caveat: impl AsRef<str>) -> Result<(), BuildError> {
        let caveat = caveat.as_ref().as_bytes();
        if caveat.is_empty() || caveat.len() > MAX_CAVEAT_LEN {
            return Err(BuildError::CaveatLength(caveat.len()));
        }
        if self.layout.caveat_count >= MAX_CAVEATS {
            return Err(BuildError::TooManyCaveats);
        }
        let added = codec::field_len(2, caveat.len()) + 1;
        if self.bytes.len() + added > MAX_MACAROON_LEN {
            return Err(BuildError::TooLong);
        }
        let mut chain = Chain::resume(*self.signature());
        chain.add(caveat);
        let signature = chain.finish();
        codec::push_caveat(&mut self.bytes, caveat, &signature);
        self.layout.caveat_count += 1;
        Ok(())
    }

    fn span(&self, span: Span) -> &[u8] {
        self.bytes.get(span.start..span.end).unwrap_or_default()
    }

    /// The location hint; not covered by the signature.
    #[must_use]
    pub fn location(&self) -> Option<&str> {
        self.layout
            .location
            .map(|span| core::str::from_utf8(self.span(span)).unwrap_or_default())
    }

    /// The identifier bytes (for L402, a 66-byte [`Identifier`](crate::Identifier)).
    #[must_use]
    pub fn identifier(&self) -> &[u8] {
        self.span(self.layout.identifier)
    }

    /// The first-party caveats, in order.
    #[must_use]
    pub fn caveats(&self) -> Caveats<'_> {
        let raw = self.caveat_bytes();
        Caveats {
            // One UTF-8 pass over the whole region (see `Caveats::next`).
            region: core::str::from_utf8(raw.rest).ok(),
            raw,
        }
    }

    /// The caveats as bytes, skipping the UTF-8 check (the decoder has made it).
    pub(crate) fn caveat_bytes(&self) -> CaveatBytes<'_> {
        let end = self.bytes.len().saturating_sub(codec::TAIL_LEN);
        CaveatBytes {
            rest: self
                .bytes
                .get(self.layout.caveats_start..end)
                .unwrap_or_default(),
            remaining: self.layout.caveat_count,
        }
    }

    /// The 32-byte signature.
    #[must_use]
    pub fn signature(&self) -> &[u8; 32] {
        self.bytes.last_chunk::<32>().unwrap_or(&[0; 32])
    }

    /// Recomputes the signature chain from `root_key` and compares it with the stored
    /// signature in constant time. Checks nothing else (caveats are the verifier's job).
    #[must_use]
    pub fn verify_signature(&self, root_key: &RootKey) -> bool {
        let mut chain = Chain::start(root_key, self.identifier());
        for c in self.caveat_bytes() {
            chain.add(c);
        }
        chain.ct_eq(self.signature())
    }

    /// The V2 binary encoding, borrowed.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The V2 binary encoding.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        self.bytes.clone()
    }

    /// Decodes the V2 binary encoding, strictly. See [`DecodeError`] for what is rejected.
    ///
    /// # Errors
    /// [`DecodeError`] for anything that is not a canonical first-party V2 macaroon within
    /// the size limits.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let layout = codec::parse(bytes)?;
        Ok(Macaroon {
            bytes: bytes.to_vec(),
            layout,
        })
    }

    /// Like [`Macaroon::decode`], keeping `bytes` as the macaroon's buffer.
    fn decode_owned(bytes: Vec<u8>) -> Result<Self, DecodeError> {
        let layout = codec::parse(&bytes)?;
        Ok(Macaroon { bytes, layout })
    }

    /// Standard base64 with padding, the form Aperture emits and accepts.
    #[must_use]
    pub fn to_base64(&self) -> String {
        base64_encode(&self.bytes)
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
        Self::decode_owned(bytes)
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
        Self::decode_owned(bytes)
    }

    /// Lower-case hex of the V2 binary encoding.
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex_encode(&self.bytes)
    }
}

/// Shows the location, the identifier and the caveats; the values of `preimage=` caveats
/// and the signature are redacted. The signature is what makes the bytes a credential
/// (with the other fields it rebuilds the whole macaroon, which for a node macaroon is
/// all an attacker needs), and a `preimage=` caveat carries the proof of payment.
impl fmt::Debug for Macaroon {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Macaroon")
            .field("location", &self.location())
            .field("identifier", &hex_encode(self.identifier()))
            .field("caveats", &self.caveats())
            .field("signature", &Redacted)
            .finish()
    }
}

/// Debug-prints as `<redacted>`.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One caveat in a `Debug` listing: as it is, unless its condition is `preimage` (in any
/// case, with any white space around it), whose value is redacted.
struct DebugCaveat<'a>(&'a str);

impl fmt::Debug for DebugCaveat<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.split_once('=') {
            Some((condition, _))
                if condition
                    .trim()
                    .eq_ignore_ascii_case(crate::caveat::CONDITION_PREIMAGE) =>
            {
                write!(f, "\"{condition}=<redacted>\"")
            }
            _ => fmt::Debug::fmt(self.0, f),
        }
    }
}

/// The caveats of a [`Macaroon`], in order: see [`Macaroon::caveats`].
#[derive(Clone)]
pub struct Caveats<'a> {
    raw: CaveatBytes<'a>,
    /// The caveat region as text, when it is UTF-8 as a whole: always, unless a caveat is
    /// 128 bytes or longer (its length then takes a non-ASCII byte).
    region: Option<&'a str>,
}

impl<'a> Iterator for Caveats<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let caveat = self.raw.next()?;
        // The caveat ends just before the end-of-section byte that precedes what is left.
        let in_region = self.region.and_then(|region| {
            let end = region.len().checked_sub(self.raw.rest.len() + 1)?;
            region.get(end.checked_sub(caveat.len())?..end)
        });
        // The decoder and the builder only admit UTF-8 caveats.
        Some(in_region.unwrap_or_else(|| core::str::from_utf8(caveat).unwrap_or_default()))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.raw.size_hint()
    }
}

impl ExactSizeIterator for Caveats<'_> {}
impl core::iter::FusedIterator for Caveats<'_> {}

/// Lists the caveats, with the values of `preimage=` caveats redacted.
impl fmt::Debug for Caveats<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.clone().map(DebugCaveat))
            .finish()
    }
}

/// Serializes as a list of strings.
#[cfg(feature = "serde")]
impl serde::Serialize for Caveats<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.clone())
    }
}

/// The caveats of a [`Macaroon`] as bytes.
#[derive(Clone)]
pub(crate) struct CaveatBytes<'a> {
    rest: &'a [u8],
    remaining: usize,
}

impl<'a> Iterator for CaveatBytes<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        let next = codec::next_caveat(&mut self.rest);
        self.remaining = if next.is_some() {
            self.remaining - 1
        } else {
            0
        };
        next
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}
