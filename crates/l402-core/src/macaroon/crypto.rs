//! The HMAC-SHA256 signature chain.

use std::sync::LazyLock;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::RootKey;

type HmacSha256 = Hmac<Sha256>;

/// The fixed key libmacaroons and go-macaroon use to derive the signing key from a root key.
const KEY_GENERATOR: &[u8; 23] = b"macaroons-key-generator";

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail; the fallback keeps
    // this function total without a panic path.
    match HmacSha256::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(msg);
            mac.finalize().into_bytes().into()
        }
        Err(_) => [0u8; 32],
    }
}

/// HMAC state keyed with the (public, constant) generator key, computed once: each
/// derivation then costs two SHA-256 compressions instead of four.
static KEY_GENERATOR_MAC: LazyLock<Option<HmacSha256>> =
    LazyLock::new(|| HmacSha256::new_from_slice(KEY_GENERATOR).ok());

/// `k = HMAC-SHA256(key = "macaroons-key-generator", msg = root_key)`.
pub(crate) fn derive_key(root_key: &RootKey) -> Zeroizing<[u8; 32]> {
    match KEY_GENERATOR_MAC.as_ref() {
        Some(mac) => {
            let mut mac = mac.clone();
            mac.update(root_key.expose_secret());
            Zeroizing::new(mac.finalize().into_bytes().into())
        }
        None => Zeroizing::new(hmac(KEY_GENERATOR, root_key.expose_secret())),
    }
}

/// A signature chain in progress. The running value is secret until the chain is
/// finished (it would let anyone add caveats to a prefix), so it is zeroized on drop.
pub(crate) struct Chain(Zeroizing<[u8; 32]>);

impl Chain {
    /// `sig_0 = HMAC(k, identifier)`.
    pub(crate) fn start(derived_key: &[u8; 32], identifier: &[u8]) -> Self {
        Chain(Zeroizing::new(hmac(derived_key, identifier)))
    }

    /// Continues from a published signature (attenuation by a holder).
    pub(crate) fn resume(signature: [u8; 32]) -> Self {
        Chain(Zeroizing::new(signature))
    }

    /// `sig_i = HMAC(sig_{i-1}, caveat_i)`.
    pub(crate) fn caveat(self, caveat: &[u8]) -> Self {
        Chain(Zeroizing::new(hmac(&*self.0, caveat)))
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        *self.0
    }

    /// Constant-time comparison with a presented signature.
    pub(crate) fn ct_eq(&self, signature: &[u8; 32]) -> bool {
        self.0.ct_eq(signature).into()
    }
}
