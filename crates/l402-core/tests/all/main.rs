//! Integration tests for l402-core: interop vectors, verification failures, fuzz seeds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod fuzz_corpus;
mod mpp_vectors;
mod payment_scheme;
mod vectors;
mod verify;
