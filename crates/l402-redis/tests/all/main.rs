//! The integration-test binary of l402-redis: the stores against real `redis-server`
//! processes (see `support.rs` for how the tests find Redis and when they skip).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr,
    missing_docs,
    unreachable_pub,
    dead_code
)]

mod charges;
mod fleet;
#[cfg(feature = "ledger")]
mod ledger;
mod outage;
mod rate_limit;
mod stores;
mod support;
