//! Integration tests of the mock Lightning network (one test binary).

// clippy.toml allows these in `#[test]` functions only; the shared helpers need them too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod concurrency;
mod failures;
mod faults;
mod invoices;
mod observe;
mod payments;
mod support;
