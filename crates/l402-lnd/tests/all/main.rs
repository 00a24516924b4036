//! Integration tests: the LND backend against the fake LND REST server.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod bake;
mod credentials;
mod full_loop;
mod invoices;
mod payments;
mod support;
mod tls;
