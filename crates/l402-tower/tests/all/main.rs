//! The integration-test binary of l402-tower.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    unreachable_pub,
    dead_code
)]

mod cross_route;
mod extract;
mod flood;
mod fuzz_corpus;
mod layer;
mod observe;
mod payment;
mod pricer;
mod ratelimit;
mod revocation;
mod support;
mod tcp;
