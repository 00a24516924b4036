//! Integration tests: the CLN backend against the fake clnrest server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod create_rune;
mod credentials;
mod full_loop;
mod invoices;
mod payments;
mod support;
mod tls;
