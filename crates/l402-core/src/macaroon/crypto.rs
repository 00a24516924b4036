//! The HMAC-SHA256 signature chain.
//!
//! Every key in the chain is 32 bytes (the derived key, then each signature), so HMAC is
//! written here directly on the SHA-256 compression function of the `sha2` crate: one
//! scratch area (block and key states) reused for the whole chain and zeroized once at the
//! end, and no per-HMAC state objects or buffering. The result is plain RFC 2104 HMAC-SHA256; the tests check
//! it against the `hmac` crate and the interop vectors check the whole chain.

use std::sync::LazyLock;

use sha2::compress256;
use sha2::digest::consts::U64;
use sha2::digest::generic_array::GenericArray;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::RootKey;

/// The fixed key libmacaroons and go-macaroon use to derive the signing key from a root key.
const KEY_GENERATOR: &[u8; 23] = b"macaroons-key-generator";

/// SHA-256's initial state.
const IV: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

const BLOCK: usize = 64;
const IPAD: u8 = 0x36;
const OPAD: u8 = 0x5c;

type Block = [u8; BLOCK];

fn compress(state: &mut [u32; 8], block: &Block) {
    let block: &GenericArray<u8, U64> = block.into();
    compress256(state, core::slice::from_ref(block));
}

/// Bytes of every key in the chain (the derived key, then each signature).
const KEY_LEN: usize = 32;

/// Working memory for HMACs keyed with secrets: the block being hashed and the key's
/// inner and outer states. Reused for a whole chain and zeroized once, on drop.
///
/// Secrets only ever occupy the first [`KEY_LEN`] bytes of the block: a padded key is the
/// key (at most 32 bytes) followed by the pad constant, a hashed root key is 32 bytes
/// followed by SHA-256 padding, and an outer hash's input is the 32-byte inner hash
/// followed by padding. The rest of the block only ever holds those constants and public
/// messages (identifiers and caveats), so only the first 32 bytes are zeroized.
struct Scratch {
    block: Block,
    inner: [u32; 8],
    outer: [u32; 8],
}

impl Scratch {
    fn new() -> Self {
        Scratch {
            block: [0; BLOCK],
            inner: IV,
            outer: IV,
        }
    }

    /// Loads the states for `key` (every key here is 23 or 32 bytes; see [`Scratch`] for
    /// why it must not be longer).
    fn key(&mut self, key: &[u8]) {
        debug_assert!(key.len() <= KEY_LEN);
        self.inner = IV;
        self.outer = IV;
        pad_key(&mut self.block, key, IPAD);
        compress(&mut self.inner, &self.block);
        pad_key(&mut self.block, key, OPAD);
        compress(&mut self.outer, &self.block);
    }

    /// `HMAC(key, msg)` for the loaded key.
    fn mac(&mut self, msg: &[u8]) -> [u8; 32] {
        finish(&mut self.inner, BLOCK, msg, &mut self.block);
        // The outer hash's message is the inner hash: one block with its padding. Written
        // straight into the scratch block, so no copy of it is left outside zeroized memory.
        for (chunk, word) in self.block.chunks_exact_mut(4).zip(&self.inner) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        finish_in_block(&mut self.outer, BLOCK, 32, &mut self.block);
        state_bytes(&self.outer)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(secret) = self.block.first_chunk_mut::<KEY_LEN>() {
            secret.zeroize();
        }
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

/// `block = key ‖ 0… ^ pad`, for a key of at most one block.
fn pad_key(block: &mut Block, key: &[u8], pad: u8) {
    block.fill(pad);
    for (b, k) in block.iter_mut().zip(key) {
        *b ^= k;
    }
}

/// Hashes `msg` into `state`, which has already absorbed `prefix_len` bytes (whole
/// blocks), then pads and hashes the length.
fn finish(state: &mut [u32; 8], prefix_len: usize, msg: &[u8], block: &mut Block) {
    let mut blocks = msg.chunks_exact(BLOCK);
    for b in &mut blocks {
        if let Ok(b) = <&Block>::try_from(b) {
            compress(state, b);
        }
    }
    let rest = blocks.remainder();
    if let Some(head) = block.get_mut(..rest.len()) {
        head.copy_from_slice(rest);
    }
    finish_in_block(
        state,
        prefix_len + msg.len() - rest.len(),
        rest.len(),
        block,
    );
}

/// Pads and hashes the last `len` (< 64) message bytes, already at the start of `block`;
/// `before` bytes were hashed earlier.
fn finish_in_block(state: &mut [u32; 8], before: usize, len: usize, block: &mut Block) {
    if let Some(pad) = block.get_mut(len..) {
        pad.fill(0);
    }
    if let Some(b) = block.get_mut(len) {
        *b = 0x80;
    }
    // Eight bytes of length must fit after the 0x80; otherwise they take another block.
    if len >= BLOCK - 8 {
        compress(state, block);
        block.fill(0);
    }
    let bits = ((before + len) as u64) * 8;
    if let Some(tail) = block.last_chunk_mut::<8>() {
        *tail = bits.to_be_bytes();
    }
    compress(state, block);
}

fn state_bytes(state: &[u32; 8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
    out
}

/// The inner and outer states of the (public, constant) generator key, computed once:
/// each derivation then costs two SHA-256 compressions instead of four.
static KEY_GENERATOR_STATES: LazyLock<([u32; 8], [u32; 8])> = LazyLock::new(|| {
    let mut s = Scratch::new();
    s.key(KEY_GENERATOR);
    (s.inner, s.outer)
});

/// A signature chain in progress. The running value is secret until the chain is
/// finished (it would let anyone add caveats to a prefix), so it and the scratch memory
/// that held key material are zeroized on drop.
pub(crate) struct Chain {
    signature: Zeroizing<[u8; 32]>,
    scratch: Scratch,
}

impl Chain {
    /// `sig_0 = HMAC(k, identifier)` with `k` derived from `root_key`, in one scratch area.
    pub(crate) fn start(root_key: &RootKey, identifier: &[u8]) -> Self {
        let mut chain = Chain::resume([0; 32]);
        (chain.scratch.inner, chain.scratch.outer) = *KEY_GENERATOR_STATES;
        *chain.signature = chain.scratch.mac(root_key.expose_secret());
        chain.add(identifier);
        chain
    }

    /// Continues from a published signature (attenuation by a holder).
    pub(crate) fn resume(signature: [u8; 32]) -> Self {
        Chain {
            signature: Zeroizing::new(signature),
            scratch: Scratch::new(),
        }
    }

    /// `sig_i = HMAC(sig_{i-1}, caveat_i)`, in place (the chain is too big to move per
    /// caveat on the hot path).
    pub(crate) fn add(&mut self, caveat: &[u8]) {
        self.scratch.key(&*self.signature);
        *self.signature = self.scratch.mac(caveat);
    }

    pub(crate) fn finish(self) -> [u8; 32] {
        *self.signature
    }

    /// Constant-time comparison with a presented signature.
    pub(crate) fn ct_eq(&self, signature: &[u8; 32]) -> bool {
        ct_eq_32(&self.signature, signature)
    }
}

/// SHA-256 of 32 bytes (a preimage): one compression, no buffering. The block that held
/// the input is zeroized.
pub(crate) fn sha256_32(data: &[u8; 32]) -> [u8; 32] {
    let mut block = [0u8; BLOCK];
    let mut state = IV;
    if let Some(head) = block.first_chunk_mut::<32>() {
        *head = *data;
    }
    finish_in_block(&mut state, 0, 32, &mut block);
    // The rest of the block is padding.
    if let Some(head) = block.first_chunk_mut::<32>() {
        head.zeroize();
    }
    state_bytes(&state)
}

/// Compares two 32-byte secrets in constant time: the differences are OR-ed together with
/// no branch on the data, and the result passes an optimisation barrier before `subtle`
/// turns it into a boolean.
pub(crate) fn ct_eq_32(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    core::hint::black_box(diff).ct_eq(&0).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;

    fn reference(key: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(msg);
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn matches_the_hmac_crate_at_every_padding_boundary() {
        // Lengths around 55/56 (length fits / spills) and 64 (a whole block), and beyond.
        let key = [0xa5u8; 32];
        for len in 0..300 {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut s = Scratch::new();
            s.key(&key);
            let ours = s.mac(&msg);
            assert_eq!(ours, reference(&key, &msg), "length {len}");
        }
    }

    #[test]
    fn starts_from_the_derived_key_like_the_hmac_crate() {
        // k = HMAC("macaroons-key-generator", root key), then sig_0 = HMAC(k, identifier).
        for seed in [0u8, 3, 0xff] {
            let root = RootKey::from_bytes([seed; 32]);
            let id = [seed ^ 0x5a; 66];
            let derived = reference(KEY_GENERATOR, root.expose_secret());
            assert_eq!(Chain::start(&root, &id).finish(), reference(&derived, &id));
        }
    }

    #[test]
    fn hashes_32_bytes_like_sha2() {
        use sha2::Digest;
        for seed in 0..=255u8 {
            let data = [seed; 32];
            let expected: [u8; 32] = sha2::Sha256::digest(data).into();
            assert_eq!(sha256_32(&data), expected);
        }
    }

    #[test]
    fn constant_time_comparison_compares() {
        let a = [1u8; 32];
        let mut b = a;
        assert!(ct_eq_32(&a, &b));
        for i in 0..32 {
            b = a;
            b[i] ^= 0x80;
            assert!(!ct_eq_32(&a, &b));
        }
    }

    proptest! {
        #[test]
        fn chain_matches_nested_reference_hmacs(
            key in any::<[u8; 32]>(),
            id in proptest::collection::vec(any::<u8>(), 1..200),
            caveats in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..150), 0..5),
        ) {
            let mut expected = reference(&key, &id);
            let mut chain = Chain::resume(key);
            chain.add(&id);
            for c in &caveats {
                expected = reference(&expected, c);
                chain.add(c);
            }
            prop_assert_eq!(chain.finish(), expected);
        }
    }
}
