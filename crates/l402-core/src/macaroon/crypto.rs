//! The HMAC-SHA256 signature chain.
//!
//! Every key in the chain is 32 bytes (the derived key, then each signature), so HMAC is
//! written here directly on the SHA-256 compression function of the `sha2` crate: one
//! scratch area (block and key states) reused for the whole chain and zeroized once at the
//! end, and no per-HMAC state objects or buffering. The result is plain RFC 2104
//! HMAC-SHA256; the tests check it against the RFC 4231 known answers and against the
//! `hmac` crate, and the interop vectors check the whole chain.
//!
//! The types keep the two ways of misusing such code out of reach:
//!
//! * **Key length.** [`Scratch::key`] takes a `&[u8; N]` and refuses, at compile time, any
//!   `N` over 32 bytes (the part of the block that is zeroized). Keys of any other length
//!   go through [`KeyStates::new`], which implements RFC 2104 in full (a key longer than a
//!   block is hashed first) and zeroizes the whole block. No key is ever truncated.
//! * **One MAC per keyed state.** Finishing a MAC consumes the inner and outer states, so
//!   [`Keyed::mac_into`] takes the keyed scratch by value: the only way to MAC again is to
//!   key (or load precomputed [`KeyStates`]) again.

use std::sync::LazyLock;

use sha2::compress256;
use sha2::digest::consts::U64;
use sha2::digest::generic_array::GenericArray;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

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

/// Most blocks handed to the compression function in one call by
/// [`compress_public_blocks`] (a kibibyte of stack).
const BATCH: usize = 16;

/// Hashes whole blocks of a public message (never key material: the copies are not
/// zeroized) in as few calls as possible. The `sha2` function takes a slice of its own
/// block type, so the blocks are copied into one, up to [`BATCH`] at a time: a few
/// instructions per block, against each call's fixed cost (the CPU-feature check, and
/// loading, byte-swapping and storing the state around the SHA extensions' rounds).
fn compress_public_blocks(state: &mut [u32; 8], blocks: &[Block]) {
    if let [one] = blocks {
        compress(state, one);
        return;
    }
    if blocks.is_empty() {
        return;
    }
    let mut batch: [GenericArray<u8, U64>; BATCH] = Default::default();
    for group in blocks.chunks(BATCH) {
        for (dst, src) in batch.iter_mut().zip(group) {
            dst.copy_from_slice(src);
        }
        compress256(state, batch.get(..group.len()).unwrap_or_default());
    }
}

/// Bytes of every key in the chain (the derived key, then each signature), and the most
/// [`Scratch::key`] accepts.
const KEY_LEN: usize = 32;

/// Working memory for HMACs keyed with secrets: the block being hashed and the key's
/// inner and outer states. Reused for a whole chain and zeroized once, on drop.
///
/// Secrets only ever occupy the first [`KEY_LEN`] bytes of the block: a padded key is the
/// key (at most 32 bytes, which [`Scratch::key`]'s type enforces) followed by the pad
/// constant, a hashed root key is 32 bytes followed by SHA-256 padding, and an outer
/// hash's input is the 32-byte inner hash followed by padding. The rest of the block only
/// ever holds those constants and public messages (identifiers and caveats), so only the
/// first 32 bytes are zeroized.
pub(crate) struct Scratch {
    block: Block,
    inner: [u32; 8],
    outer: [u32; 8],
}

/// A [`Scratch`] loaded with one key's states, good for exactly one MAC.
#[must_use = "a keyed state does nothing until it MACs a message"]
pub(crate) struct Keyed<'a>(&'a mut Scratch);

impl Scratch {
    pub(crate) fn new() -> Self {
        Scratch {
            block: [0; BLOCK],
            inner: IV,
            outer: IV,
        }
    }

    /// Loads the states for `key`. A key over [`KEY_LEN`] bytes does not compile (see
    /// [`Scratch`] for why; [`KeyStates::new`] takes keys of any length).
    pub(crate) fn key<const N: usize>(&mut self, key: &[u8; N]) -> Keyed<'_> {
        const {
            assert!(N <= KEY_LEN, "keys over 32 bytes go through KeyStates::new");
        }
        self.inner = IV;
        self.outer = IV;
        pad_key(&mut self.block, key, IPAD);
        compress(&mut self.inner, &self.block);
        pad_key(&mut self.block, key, OPAD);
        compress(&mut self.outer, &self.block);
        Keyed(self)
    }

    /// Loads precomputed states.
    pub(crate) fn load(&mut self, states: &KeyStates) -> Keyed<'_> {
        self.inner = states.inner;
        self.outer = states.outer;
        Keyed(self)
    }
}

impl Keyed<'_> {
    /// Writes `HMAC(key, msg)` to `out`, using up the keyed states.
    pub(crate) fn mac_into(self, msg: &[u8], out: &mut [u8; 32]) {
        let s = self.0;
        finish(&mut s.inner, BLOCK, msg, &mut s.block);
        // The outer hash's message is the inner hash: one block with its padding. Written
        // straight into the scratch block, so no copy of it is left outside zeroized memory.
        for (chunk, word) in s.block.chunks_exact_mut(4).zip(&s.inner) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        finish_in_block(&mut s.outer, BLOCK, 32, &mut s.block);
        state_bytes_into(&s.outer, out);
    }

    /// Writes `HMAC(key, parts[0] ‖ parts[1] ‖ …)` to `out`, without joining the parts:
    /// a part's whole blocks go to the compression function in one call (see
    /// [`compress_public_blocks`]), only the bytes that straddle a block boundary are
    /// copied into the scratch block. The parts are a public message.
    pub(crate) fn mac_parts_into(self, parts: &[&[u8]], out: &mut [u8; 32]) {
        let s = self.0;
        // Bytes of the message waiting in the block, and bytes hashed so far.
        let (mut fill, mut hashed) = (0usize, BLOCK);
        for part in parts {
            let mut part = *part;
            if fill > 0 {
                let take = (BLOCK - fill).min(part.len());
                let (head, tail) = part.split_at(take);
                if let Some(dst) = s.block.get_mut(fill..fill + take) {
                    dst.copy_from_slice(head);
                }
                fill += take;
                part = tail;
                if fill < BLOCK {
                    continue;
                }
                compress(&mut s.inner, &s.block);
                hashed += BLOCK;
            }
            let (blocks, rest) = part.as_chunks::<BLOCK>();
            compress_public_blocks(&mut s.inner, blocks);
            hashed += blocks.len() * BLOCK;
            if let Some(dst) = s.block.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            fill = rest.len();
        }
        finish_in_block(&mut s.inner, hashed, fill, &mut s.block);
        for (chunk, word) in s.block.chunks_exact_mut(4).zip(&s.inner) {
            chunk.copy_from_slice(&word.to_be_bytes());
        }
        finish_in_block(&mut s.outer, BLOCK, 32, &mut s.block);
        state_bytes_into(&s.outer, out);
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

/// The inner and outer states of an HMAC key, computed once and reused for any number of
/// MACs (each MAC copies them into a [`Scratch`]). Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct KeyStates {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl KeyStates {
    /// The states for `key`, of any length, as RFC 2104 defines them: a key longer than
    /// the 64-byte block is replaced by its SHA-256 hash, a shorter one is padded with
    /// zeros. Every byte of working memory that held the key is zeroized.
    pub(crate) fn new(key: &[u8]) -> Self {
        let mut block = Zeroizing::new([0u8; BLOCK]);
        let mut hashed = Zeroizing::new([0u8; 32]);
        let key = if key.len() > BLOCK {
            let mut state = Zeroizing::new(IV);
            finish(&mut state, 0, key, &mut block);
            state_bytes_into(&state, &mut hashed);
            &hashed[..]
        } else {
            key
        };
        let mut states = KeyStates {
            inner: IV,
            outer: IV,
        };
        pad_key(&mut block, key, IPAD);
        compress(&mut states.inner, &block);
        pad_key(&mut block, key, OPAD);
        compress(&mut states.outer, &block);
        states
    }

    /// Writes `HMAC(key, msg)` to `out`.
    pub(crate) fn mac_into(&self, msg: &[u8], out: &mut [u8; 32]) {
        Scratch::new().load(self).mac_into(msg, out);
    }

    /// Writes `HMAC(key, parts[0] ‖ parts[1] ‖ …)` to `out`, without joining the parts.
    pub(crate) fn mac_parts_into(&self, parts: &[&[u8]], out: &mut [u8; 32]) {
        Scratch::new().load(self).mac_parts_into(parts, out);
    }
}

/// `block = key ‖ 0… ^ pad`, for a key of at most one block (both callers guarantee it).
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

fn state_bytes_into(state: &[u32; 8], out: &mut [u8; 32]) {
    for (chunk, word) in out.chunks_exact_mut(4).zip(state) {
        chunk.copy_from_slice(&word.to_be_bytes());
    }
}

/// The inner and outer states of the (public, constant) generator key, computed once:
/// each derivation then costs two SHA-256 compressions instead of four.
static KEY_GENERATOR_STATES: LazyLock<KeyStates> = LazyLock::new(|| KeyStates::new(KEY_GENERATOR));

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
        chain
            .scratch
            .load(&KEY_GENERATOR_STATES)
            .mac_into(root_key.expose_secret(), &mut chain.signature);
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
        self.scratch
            .key(&self.signature)
            .mac_into(caveat, &mut self.signature);
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
    let mut out = [0u8; 32];
    state_bytes_into(&state, &mut out);
    out
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
    use crate::encoding::hex_decode;
    use hmac::{Hmac, Mac};
    use proptest::prelude::*;

    fn reference(key: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
        mac.update(msg);
        mac.finalize().into_bytes().into()
    }

    fn ours<const N: usize>(key: &[u8; N], msg: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        Scratch::new().key(key).mac_into(msg, &mut out);
        out
    }

    fn precomputed(key: &[u8], msg: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        KeyStates::new(key).mac_into(msg, &mut out);
        out
    }

    /// RFC 4231 section 4 (HMAC-SHA-256), as (key, data, expected prefix in hex); case 5
    /// is the truncated one.
    fn rfc4231() -> Vec<(Vec<u8>, Vec<u8>, &'static str)> {
        let t7 = b"This is a test using a larger than block-size key and a larger than \
                   block-size data. The key needs to be hashed before being used by the \
                   HMAC algorithm.";
        vec![
            (
                vec![0x0b; 20],
                b"Hi There".to_vec(),
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe".to_vec(),
                b"what do ya want for nothing?".to_vec(),
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                vec![0xaa; 20],
                vec![0xdd; 50],
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
            ),
            (
                (1..=25).collect(),
                vec![0xcd; 50],
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
            ),
            (
                vec![0x0c; 20],
                b"Test With Truncation".to_vec(),
                "a3b6167473100ee06e0c796c2955552b",
            ),
            (
                vec![0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec(),
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
            (
                vec![0xaa; 131],
                t7.to_vec(),
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ),
        ]
    }

    #[test]
    fn rfc4231_known_answers_with_short_keys_in_the_chain_scratch() {
        // Cases 1 to 5 have keys of at most 32 bytes, the only ones `Scratch::key` takes.
        let cases = rfc4231();
        let expect = |i: usize| hex_decode(cases[i].2).unwrap();
        let key20 = |i: usize| -> [u8; 20] { cases[i].0.as_slice().try_into().unwrap() };
        assert_eq!(ours(&key20(0), &cases[0].1)[..], expect(0)[..]);
        assert_eq!(ours(b"Jefe", &cases[1].1)[..], expect(1)[..]);
        assert_eq!(ours(&key20(2), &cases[2].1)[..], expect(2)[..]);
        let key25: [u8; 25] = cases[3].0.as_slice().try_into().unwrap();
        assert_eq!(ours(&key25, &cases[3].1)[..], expect(3)[..]);
        assert_eq!(ours(&key20(4), &cases[4].1)[..16], expect(4)[..]);
    }

    #[test]
    fn rfc4231_known_answers_for_every_case_with_precomputed_states() {
        // Cases 6 and 7 use a 131-byte key, which RFC 2104 hashes first.
        for (i, (key, data, expected)) in rfc4231().into_iter().enumerate() {
            let expected = hex_decode(expected).unwrap();
            let mac = precomputed(&key, &data);
            assert_eq!(
                mac[..expected.len()],
                expected[..],
                "RFC 4231 case {}",
                i + 1
            );
        }
    }

    #[test]
    fn matches_the_hmac_crate_at_every_padding_boundary() {
        // Lengths around 55/56 (length fits / spills) and 64 (a whole block), and beyond,
        // with a 32-byte chain key and the 23-byte generator key.
        let key = [0xa5u8; 32];
        for len in 0..300 {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            assert_eq!(ours(&key, &msg), reference(&key, &msg), "length {len}");
            assert_eq!(
                ours(KEY_GENERATOR, &msg),
                reference(KEY_GENERATOR, &msg),
                "generator key, length {len}"
            );
            let mut out = [0u8; 32];
            Scratch::new()
                .load(&KEY_GENERATOR_STATES)
                .mac_into(&msg, &mut out);
            assert_eq!(out, reference(KEY_GENERATOR, &msg), "precomputed, {len}");
        }
    }

    #[test]
    fn parts_are_hashed_as_their_concatenation_at_every_boundary() {
        // Splits at, around and across block boundaries, with empty parts between.
        let key = [0x3cu8; 32];
        let states = KeyStates::new(&key);
        for len in [0, 1, 55, 56, 63, 64, 65, 127, 128, 129, 200] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 11 + 3) as u8).collect();
            for cut in 0..=len {
                let (a, b) = msg.split_at(cut);
                let mut out = [0u8; 32];
                states.mac_parts_into(&[a, b"", b], &mut out);
                assert_eq!(out, reference(&key, &msg), "length {len}, cut {cut}");
            }
        }
    }

    #[test]
    fn long_parts_are_hashed_in_batches_as_their_concatenation() {
        // Parts of more whole blocks than one call to the compression function takes
        // (BATCH), and of exactly that many, cut at and around block boundaries.
        let key = [0x5au8; 32];
        let states = KeyStates::new(&key);
        for len in [
            BATCH * BLOCK - 1,
            BATCH * BLOCK,
            BATCH * BLOCK + 1,
            (BATCH + 1) * BLOCK,
            (2 * BATCH + 1) * BLOCK + 17,
        ] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 13 + 5) as u8).collect();
            for cut in [0, 1, BLOCK - 1, BLOCK, len / 2, len - BLOCK, len - 1, len] {
                let (a, b) = msg.split_at(cut);
                let mut out = [0u8; 32];
                states.mac_parts_into(&[a, b], &mut out);
                assert_eq!(out, reference(&key, &msg), "length {len}, cut {cut}");
            }
        }
    }

    proptest! {
        #[test]
        fn parts_match_the_hmac_crate(
            key in proptest::collection::vec(any::<u8>(), 0..100),
            parts in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..150), 0..12),
        ) {
            let joined: Vec<u8> = parts.concat();
            let slices: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
            let mut out = [0u8; 32];
            KeyStates::new(&key).mac_parts_into(&slices, &mut out);
            prop_assert_eq!(out, reference(&key, &joined));
        }
    }

    #[test]
    fn key_lengths_around_the_block_size_are_hashed_or_padded_not_truncated() {
        // 64 bytes is padded, 65 is hashed; a truncating implementation would give two
        // keys that differ only past byte 64 the same MAC.
        for len in [0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 1024] {
            let key: Vec<u8> = (0..len).map(|i| (i * 13 + 1) as u8).collect();
            assert_eq!(
                precomputed(&key, b"m"),
                reference(&key, b"m"),
                "key length {len}"
            );
        }
        let a = [7u8; 65];
        let mut b = a;
        b[64] = 8;
        assert_ne!(precomputed(&a, b"m"), precomputed(&b, b"m"));
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
        fn random_keys_match_the_hmac_crate_at_any_message_length(
            key32 in any::<[u8; 32]>(),
            key23 in any::<[u8; 23]>(),
            key in proptest::collection::vec(any::<u8>(), 0..300),
            len in 0usize..300,
        ) {
            let msg: Vec<u8> = (0..len).map(|i| (i * 31 + 5) as u8).collect();
            prop_assert_eq!(ours(&key32, &msg), reference(&key32, &msg));
            prop_assert_eq!(ours(&key23, &msg), reference(&key23, &msg));
            prop_assert_eq!(precomputed(&key, &msg), reference(&key, &msg));
        }

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
