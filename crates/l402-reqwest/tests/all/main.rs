//! Integration tests: a real axum server behind `l402-tower` (or custom handlers) on
//! 127.0.0.1, a reqwest client with the middleware, payments through the mock network.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod basic;
mod concurrency;
mod money;
mod outcome;
mod payment;
mod recovery;
mod refusals;
mod servers;
mod support;
mod tower_payment;
