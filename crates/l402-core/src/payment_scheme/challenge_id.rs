//! The challenge id: a stateless HMAC binding of a challenge's parameters.
//!
//! ```text
//! id = base64url_nopad(HMAC-SHA256(secret, realm|method|intent|request|expires|digest|opaque))
//! ```
//!
//! Each absent field is an empty string; `|` is not escaped (so the input is never split:
//! the verifier recomputes it from the echoed fields); `description` is not bound. This is
//! Aperture's construction, so a fleet mixing Aperture and this crate can share a secret.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::encoding::base64url_encode;
use crate::macaroon::KeyStates;
use crate::root_key::MasterSecret;

/// Shortest challenge-id secret accepted, in bytes (128 bits). Use 32 random bytes.
pub const MIN_CHALLENGE_ID_SECRET_LEN: usize = 16;
/// Longest challenge-id secret accepted, in bytes.
pub const MAX_CHALLENGE_ID_SECRET_LEN: usize = 1024;

/// The label the id secret is derived under from a [`MasterSecret`]. Root keys are
/// `HMAC(master, token id)` with 32-byte token ids; this label is not 32 bytes long, so no
/// token id can make a root key equal to the id secret.
const DERIVATION_LABEL: &[u8] = b"l402 payment scheme: challenge id secret v1";

/// The secret that challenge ids are HMACs under. Every server of a fleet, and every
/// restart of one, must use the same secret, or credentials made against one will not
/// verify on another.
///
/// Held as the secret's bytes and its HMAC inner and outer states, computed once, so an
/// id costs no key padding. `Debug` is redacted, there is no `Display`, and both are
/// zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ChallengeIdSecret {
    bytes: Vec<u8>,
    states: KeyStates,
}

/// Why bytes are not a usable challenge-id secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChallengeIdSecretError {
    /// Too short to be a secret, or unreasonably long.
    #[error(
        "challenge id secret must be {MIN_CHALLENGE_ID_SECRET_LEN} to {MAX_CHALLENGE_ID_SECRET_LEN} bytes, got {0}"
    )]
    Length(usize),
}

impl ChallengeIdSecret {
    /// Wraps secret bytes (given explicitly, for example shared with an Aperture fleet).
    ///
    /// # Errors
    /// [`ChallengeIdSecretError::Length`] unless 16 to 1024 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ChallengeIdSecretError> {
        if !(MIN_CHALLENGE_ID_SECRET_LEN..=MAX_CHALLENGE_ID_SECRET_LEN).contains(&bytes.len()) {
            return Err(ChallengeIdSecretError::Length(bytes.len()));
        }
        Ok(ChallengeIdSecret {
            bytes: bytes.to_vec(),
            states: KeyStates::new(bytes),
        })
    }

    /// Derives the secret from the root-key master secret, domain-separated from the
    /// root keys: `HMAC-SHA256(master, "l402 payment scheme: challenge id secret v1")`.
    /// Every instance sharing the master secret derives the same id secret, so ids survive
    /// restarts and verify across a fleet with nothing more to distribute.
    #[must_use]
    pub fn derive_from(master: &MasterSecret) -> Self {
        let bytes = master.derive_labelled(DERIVATION_LABEL);
        ChallengeIdSecret {
            bytes: bytes.to_vec(),
            states: KeyStates::new(&bytes[..]),
        }
    }

    /// The secret bytes.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for ChallengeIdSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChallengeIdSecret(<redacted>)")
    }
}

/// The fields a challenge id binds, borrowed from a challenge or an echoed credential.
/// Absent optional fields are empty strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ChallengeBinding<'a> {
    /// `realm`.
    pub realm: &'a str,
    /// `method`.
    pub method: &'a str,
    /// `intent`.
    pub intent: &'a str,
    /// `request`.
    pub request: &'a str,
    /// `expires`, or empty.
    pub expires: &'a str,
    /// `digest`, or empty.
    pub digest: &'a str,
    /// `opaque`, or empty.
    pub opaque: &'a str,
}

impl<'a> ChallengeBinding<'a> {
    /// The binding of the four required fields, with every optional field empty.
    #[must_use]
    pub fn new(realm: &'a str, method: &'a str, intent: &'a str, request: &'a str) -> Self {
        ChallengeBinding {
            realm,
            method,
            intent,
            request,
            ..Default::default()
        }
    }

    /// Sets `expires`.
    #[must_use]
    pub fn expires(mut self, expires: &'a str) -> Self {
        self.expires = expires;
        self
    }

    /// Sets `digest`.
    #[must_use]
    pub fn digest(mut self, digest: &'a str) -> Self {
        self.digest = digest;
        self
    }

    /// Sets `opaque`.
    #[must_use]
    pub fn opaque(mut self, opaque: &'a str) -> Self {
        self.opaque = opaque;
        self
    }

    /// The HMAC input, `realm|method|intent|request|expires|digest|opaque` (for tests and
    /// diagnostics).
    #[must_use]
    pub fn hmac_input(&self) -> String {
        self.fields().join("|")
    }

    fn fields(&self) -> [&'a str; 7] {
        [
            self.realm,
            self.method,
            self.intent,
            self.request,
            self.expires,
            self.digest,
            self.opaque,
        ]
    }

    /// The raw 32-byte HMAC under `secret`.
    #[must_use]
    pub fn mac(&self, secret: &ChallengeIdSecret) -> [u8; 32] {
        // The fields joined by `|`, hashed where they lie.
        let [realm, method, intent, request, expires, digest, opaque] =
            self.fields().map(str::as_bytes);
        let bar: &[u8] = b"|";
        let parts = [
            realm, bar, method, bar, intent, bar, request, bar, expires, bar, digest, bar, opaque,
        ];
        let mut out = [0u8; 32];
        secret.states.mac_parts_into(&parts, &mut out);
        out
    }

    /// The challenge id: the HMAC as 43 characters of unpadded base64url.
    #[must_use]
    pub fn id(&self, secret: &ChallengeIdSecret) -> String {
        base64url_encode(&self.mac(secret))
    }

    /// Whether `id` is the id of these fields under `secret`, compared in constant time
    /// (the length of `id` is not secret). The expected id is public (it is what the
    /// challenge carries), so it is built on the stack without zeroizing.
    #[must_use]
    pub fn matches(&self, secret: &ChallengeIdSecret, id: &str) -> bool {
        use base64::Engine as _;
        let mut expected = [0u8; 43];
        let written = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode_slice(self.mac(secret), &mut expected)
            .unwrap_or(0);
        let expected = &expected[..written];
        if expected.len() != id.len() {
            return false;
        }
        // Every byte compared, the differences folded into one (vectorised), then one
        // constant-time test behind an optimisation barrier.
        let diff = expected
            .iter()
            .zip(id.as_bytes())
            .fold(0u8, |d, (a, b)| d | (a ^ b));
        core::hint::black_box(diff).ct_eq(&0).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_checked_redacted_and_derived_apart() {
        assert_eq!(
            ChallengeIdSecret::from_bytes(&[1; 15]).unwrap_err(),
            ChallengeIdSecretError::Length(15)
        );
        let s = ChallengeIdSecret::from_bytes(&[0xab; 32]).unwrap();
        assert_eq!(format!("{s:?}"), "ChallengeIdSecret(<redacted>)");
        let master = MasterSecret::from_bytes(&[7; 32]).unwrap();
        let a = ChallengeIdSecret::derive_from(&master);
        let b = ChallengeIdSecret::derive_from(&MasterSecret::from_bytes(&[7; 32]).unwrap());
        assert_eq!(
            a.expose_secret(),
            b.expose_secret(),
            "stable across restarts"
        );
        assert_eq!(a.expose_secret().len(), 32);
        assert_ne!(
            a.expose_secret(),
            &[7; 32][..],
            "not the master secret itself"
        );
        let other = ChallengeIdSecret::derive_from(&MasterSecret::from_bytes(&[8; 32]).unwrap());
        assert_ne!(a.expose_secret(), other.expose_secret());
    }

    #[test]
    fn every_bound_field_changes_the_id_and_matching_is_exact() {
        let secret = ChallengeIdSecret::from_bytes(&[3; 32]).unwrap();
        let base = ChallengeBinding::new("r", "lightning", "charge", "cQ")
            .expires("2026-03-15T12:05:00Z")
            .digest("d")
            .opaque("o");
        let id = base.id(&secret);
        assert_eq!(id.len(), 43);
        assert!(base.matches(&secret, &id));
        assert!(!base.matches(&secret, &id[..42]));
        let variants = [
            ChallengeBinding { realm: "R", ..base },
            ChallengeBinding {
                method: "x",
                ..base
            },
            ChallengeBinding {
                intent: "session",
                ..base
            },
            ChallengeBinding {
                request: "cR",
                ..base
            },
            ChallengeBinding {
                expires: "2026-03-15T12:05:01Z",
                ..base
            },
            ChallengeBinding { digest: "", ..base },
            ChallengeBinding { opaque: "", ..base },
        ];
        for v in variants {
            assert!(!v.matches(&secret, &id), "{v:?}");
        }
        let other = ChallengeIdSecret::from_bytes(&[4; 32]).unwrap();
        assert!(!base.matches(&other, &id));
    }
}
